package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FloorManagerSpec is the desired kubelet configuration of a pool of Nodes.
type FloorManagerSpec struct {
	PoolSpec `json:",inline"`

	// kubelet holds the KubeletConfiguration (kubelet.config.k8s.io/v1beta1) fields that innkeeper
	// manages. Only the fields set here are written, as a drop-in that the kubelet merges over its
	// own configuration (/etc/kubernetes/kubelet.conf.d/50-innkeeper.conf, read through the kubelet's
	// --config-dir); every other setting stays as the node has it. Fields that can cut a node off
	// from the cluster or weaken its security (cgroupDriver, clusterDNS, clusterDomain,
	// staticPodPath, authentication, authorization, TLS files, failSwapOn) are deliberately not
	// offered.
	// +required
	Kubelet KubeletSpec `json:"kubelet"`

	NodeFiles `json:",inline"`
}

// KubeletSpec is the typed subset of KubeletConfiguration that innkeeper rolls out. The rules below
// are the kubelet's own (pkg/kubelet/apis/config/validation), checked at admission so that a
// configuration the kubelet would refuse at start never reaches a node.
//
// +kubebuilder:validation:XValidation:rule="!has(self.imageGCHighThresholdPercent) || !has(self.imageGCLowThresholdPercent) || self.imageGCLowThresholdPercent < self.imageGCHighThresholdPercent",message="imageGCLowThresholdPercent must be lower than imageGCHighThresholdPercent"
// +kubebuilder:validation:XValidation:rule="!has(self.imageGCHighThresholdPercent) || has(self.imageGCLowThresholdPercent) || self.imageGCHighThresholdPercent > 80",message="imageGCHighThresholdPercent set alone must be above the kubelet's default imageGCLowThresholdPercent (80); set imageGCLowThresholdPercent as well",fieldPath=".imageGCHighThresholdPercent"
// +kubebuilder:validation:XValidation:rule="!has(self.imageGCLowThresholdPercent) || has(self.imageGCHighThresholdPercent) || self.imageGCLowThresholdPercent < 85",message="imageGCLowThresholdPercent set alone must be below the kubelet's default imageGCHighThresholdPercent (85); set imageGCHighThresholdPercent as well",fieldPath=".imageGCLowThresholdPercent"
// +kubebuilder:validation:XValidation:rule="!has(self.imageMaximumGCAge) || duration(self.imageMaximumGCAge) == duration('0s') || duration(self.imageMaximumGCAge) > (has(self.imageMinimumGCAge) && duration(self.imageMinimumGCAge) != duration('0s') ? duration(self.imageMinimumGCAge) : duration('2m'))",message="imageMaximumGCAge must be 0 (no maximum) or greater than imageMinimumGCAge (0 or unset: the kubelet's default, 2m)"
// +kubebuilder:validation:XValidation:rule="!has(self.maxParallelImagePulls) || self.maxParallelImagePulls <= 1 || (has(self.serializeImagePulls) && !self.serializeImagePulls)",message="maxParallelImagePulls greater than 1 needs serializeImagePulls: false"
// +kubebuilder:validation:XValidation:rule="!has(self.shutdownGracePeriodCriticalPods) || duration(self.shutdownGracePeriodCriticalPods) <= duration(has(self.shutdownGracePeriod) ? self.shutdownGracePeriod : '0s')",message="shutdownGracePeriodCriticalPods must not exceed shutdownGracePeriod"
// +kubebuilder:validation:XValidation:rule="!has(self.evictionSoft) || self.evictionSoft.all(s, has(self.evictionSoftGracePeriod) && s in self.evictionSoftGracePeriod)",message="every evictionSoft signal needs an evictionSoftGracePeriod entry"
// +kubebuilder:validation:XValidation:rule="!has(self.cpuManagerPolicy) || self.cpuManagerPolicy != 'static' || (has(self.kubeReserved) && has(self.kubeReserved.cpu) && quantity(string(self.kubeReserved.cpu)).isGreaterThan(quantity('499u'))) || (has(self.systemReserved) && has(self.systemReserved.cpu) && quantity(string(self.systemReserved.cpu)).isGreaterThan(quantity('499u')))",message="cpuManagerPolicy static needs a CPU reservation: set kubeReserved.cpu or systemReserved.cpu to at least 1m (the kubelet rounds each to whole millicores)"
type KubeletSpec struct {
	// maxPods is the largest number of pods that can run on the node.
	// The kubelet's default is 110. 0 is refused: the kubelet reads it as its default, not as no
	// limit, and the drop-in would override the Node's own maxPods with 110.
	// +optional
	// +kubebuilder:validation:Maximum=2147483647
	// +kubebuilder:validation:XValidation:rule="self >= 1",message="maxPods must be at least 1: the kubelet replaces 0 with its default, 110 (it is no 'unlimited'), which would override the Node's own maxPods; leave maxPods unset to keep it"
	MaxPods *int32 `json:"maxPods,omitempty"`

	// podsPerCore is the largest number of pods per CPU core; the node's pod limit is the lower of
	// this times its cores and maxPods. 0 disables the per-core limit.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=2147483647
	PodsPerCore *int32 `json:"podsPerCore,omitempty"`

	// podPidsLimit is the largest number of process IDs a pod may use; -1 means no limit.
	// +optional
	// +kubebuilder:validation:Minimum=-1
	PodPidsLimit *int64 `json:"podPidsLimit,omitempty"`

	// kubeReserved reserves node resources for Kubernetes system daemons (kubelet, container
	// runtime). They are subtracted from the node's allocatable resources.
	// +optional
	KubeReserved *ReservedResources `json:"kubeReserved,omitempty"`

	// systemReserved reserves node resources for operating-system daemons (sshd, udev, ...).
	// They are subtracted from the node's allocatable resources.
	// +optional
	SystemReserved *ReservedResources `json:"systemReserved,omitempty"`

	// evictionHard maps eviction signals to thresholds at which the kubelet evicts pods at once,
	// for example {"memory.available": "500Mi", "nodefs.available": "10%"}. Signals:
	// memory.available, nodefs.available, nodefs.inodesFree, imagefs.available, imagefs.inodesFree,
	// containerfs.available, containerfs.inodesFree, pid.available. A threshold is a positive
	// quantity or a percentage of the resource. The kubelet merges these entries over its own
	// thresholds signal by signal: a drop-in cannot remove a signal, but "0%" switches one off.
	// +optional
	// +kubebuilder:validation:MaxProperties=8
	// +kubebuilder:validation:XValidation:rule="self.all(s, s in ['memory.available', 'nodefs.available', 'nodefs.inodesFree', 'imagefs.available', 'imagefs.inodesFree', 'containerfs.available', 'containerfs.inodesFree', 'pid.available'])",messageExpression="'evictionHard keys must be eviction signals, not ' + self.filter(s, !(s in ['memory.available', 'nodefs.available', 'nodefs.inodesFree', 'imagefs.available', 'imagefs.inodesFree', 'containerfs.available', 'containerfs.inodesFree', 'pid.available']))[0] + ' (signals: memory.available, nodefs.available, nodefs.inodesFree, imagefs.available, imagefs.inodesFree, containerfs.available, containerfs.inodesFree, pid.available)'"
	EvictionHard map[string]Threshold `json:"evictionHard,omitempty"`

	// evictionSoft maps eviction signals to thresholds at which the kubelet evicts pods once the
	// signal has stayed past the threshold for its evictionSoftGracePeriod. Signals and thresholds
	// are as for evictionHard; every signal here needs an evictionSoftGracePeriod entry.
	// +optional
	// +kubebuilder:validation:MaxProperties=8
	// +kubebuilder:validation:XValidation:rule="self.all(s, s in ['memory.available', 'nodefs.available', 'nodefs.inodesFree', 'imagefs.available', 'imagefs.inodesFree', 'containerfs.available', 'containerfs.inodesFree', 'pid.available'])",messageExpression="'evictionSoft keys must be eviction signals, not ' + self.filter(s, !(s in ['memory.available', 'nodefs.available', 'nodefs.inodesFree', 'imagefs.available', 'imagefs.inodesFree', 'containerfs.available', 'containerfs.inodesFree', 'pid.available']))[0] + ' (signals: memory.available, nodefs.available, nodefs.inodesFree, imagefs.available, imagefs.inodesFree, containerfs.available, containerfs.inodesFree, pid.available)'"
	EvictionSoft map[string]Threshold `json:"evictionSoft,omitempty"`

	// evictionSoftGracePeriod maps each evictionSoft signal to how long the signal must stay past
	// its threshold before the kubelet evicts, as a duration such as "90s" or "1m30s".
	// An entry without an evictionSoft threshold here is allowed: the kubelet ignores it, and the
	// threshold may come from the Node's own configuration.
	// +optional
	// +kubebuilder:validation:MaxProperties=8
	// +kubebuilder:validation:XValidation:rule="self.all(s, s in ['memory.available', 'nodefs.available', 'nodefs.inodesFree', 'imagefs.available', 'imagefs.inodesFree', 'containerfs.available', 'containerfs.inodesFree', 'pid.available'])",messageExpression="'evictionSoftGracePeriod keys must be eviction signals, not ' + self.filter(s, !(s in ['memory.available', 'nodefs.available', 'nodefs.inodesFree', 'imagefs.available', 'imagefs.inodesFree', 'containerfs.available', 'containerfs.inodesFree', 'pid.available']))[0] + ' (signals: memory.available, nodefs.available, nodefs.inodesFree, imagefs.available, imagefs.inodesFree, containerfs.available, containerfs.inodesFree, pid.available)'"
	EvictionSoftGracePeriod map[string]GracePeriod `json:"evictionSoftGracePeriod,omitempty"`

	// evictionMinimumReclaim maps eviction signals to the least the kubelet reclaims once it
	// starts evicting for that signal, as a quantity or a percentage.
	// +optional
	// +kubebuilder:validation:MaxProperties=8
	// +kubebuilder:validation:XValidation:rule="self.all(s, s in ['memory.available', 'nodefs.available', 'nodefs.inodesFree', 'imagefs.available', 'imagefs.inodesFree', 'containerfs.available', 'containerfs.inodesFree', 'pid.available'])",messageExpression="'evictionMinimumReclaim keys must be eviction signals, not ' + self.filter(s, !(s in ['memory.available', 'nodefs.available', 'nodefs.inodesFree', 'imagefs.available', 'imagefs.inodesFree', 'containerfs.available', 'containerfs.inodesFree', 'pid.available']))[0] + ' (signals: memory.available, nodefs.available, nodefs.inodesFree, imagefs.available, imagefs.inodesFree, containerfs.available, containerfs.inodesFree, pid.available)'"
	EvictionMinimumReclaim map[string]MinimumReclaim `json:"evictionMinimumReclaim,omitempty"`

	// evictionPressureTransitionPeriod is how long the kubelet waits before it clears a node
	// pressure condition, as a duration such as "5m". The kubelet's default is 5m.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('2562047h')",message="must be a duration of at most 2562047h: a longer one overflows the 64-bit nanoseconds every Go program (the component included) holds it in"
	EvictionPressureTransitionPeriod *metav1.Duration `json:"evictionPressureTransitionPeriod,omitempty"`

	// evictionMaxPodGracePeriod is the longest termination grace period, in seconds, that the
	// kubelet gives a pod it evicts for a soft threshold; a pod whose own grace period is shorter
	// gets its own. 0 gives evicted pods no grace period at all.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=2147483647
	EvictionMaxPodGracePeriod *int32 `json:"evictionMaxPodGracePeriod,omitempty"`

	// imageGCHighThresholdPercent is the disk usage, in percent, above which the kubelet always
	// garbage-collects images. 0 to 100, above imageGCLowThresholdPercent. The kubelet's default is 85.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	ImageGCHighThresholdPercent *int32 `json:"imageGCHighThresholdPercent,omitempty"`

	// imageGCLowThresholdPercent is the disk usage, in percent, below which the kubelet never
	// garbage-collects images. 0 to 100, below imageGCHighThresholdPercent. The kubelet's default is 80.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	ImageGCLowThresholdPercent *int32 `json:"imageGCLowThresholdPercent,omitempty"`

	// imageMinimumGCAge is how long an unused image must stay unused before the kubelet may
	// garbage-collect it, as a duration such as "2m". The kubelet's default is 2m.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('2562047h')",message="must be a duration of at most 2562047h: a longer one overflows the 64-bit nanoseconds every Go program (the component included) holds it in"
	ImageMinimumGCAge *metav1.Duration `json:"imageMinimumGCAge,omitempty"`

	// imageMaximumGCAge is how long an image may stay unused before the kubelet garbage-collects
	// it whatever the disk usage, as a duration such as "168h". "0s" (the default) means no maximum;
	// otherwise it must exceed imageMinimumGCAge.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('2562047h')",message="must be a duration of at most 2562047h: a longer one overflows the 64-bit nanoseconds every Go program (the component included) holds it in"
	ImageMaximumGCAge *metav1.Duration `json:"imageMaximumGCAge,omitempty"`

	// serializeImagePulls, when true (the kubelet's default), makes the kubelet pull one image at a
	// time. Set it to false to allow maxParallelImagePulls.
	// +optional
	SerializeImagePulls *bool `json:"serializeImagePulls,omitempty"`

	// maxParallelImagePulls is the largest number of image pulls in flight at once. At least 1;
	// above 1 only with serializeImagePulls: false.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=2147483647
	MaxParallelImagePulls *int32 `json:"maxParallelImagePulls,omitempty"`

	// registryPullQPS limits image pulls to this many per second; 0 means no limit. The kubelet's
	// default is 5.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=2147483647
	RegistryPullQPS *int32 `json:"registryPullQPS,omitempty"`

	// registryBurst is the largest burst of image pulls, above registryPullQPS, for a short time.
	// The kubelet's default is 10.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=2147483647
	RegistryBurst *int32 `json:"registryBurst,omitempty"`

	// containerLogMaxSize is the size a container log file may reach before the kubelet rotates
	// it, as a whole number of bytes such as "10Mi". The kubelet's default is 10Mi.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="isQuantity(self) && quantity(self).isGreaterThan(quantity('0'))",message="containerLogMaxSize must be a positive quantity such as 10Mi"
	// +kubebuilder:validation:XValidation:rule="!isQuantity(self) || quantity(self).isInteger()",message="containerLogMaxSize must be a whole number of bytes written without a fraction of a binary unit, such as 10Mi, 1500k or 1.5M: the kubelet refuses to start on 1.5, 500m or 1.5Ki"
	ContainerLogMaxSize *string `json:"containerLogMaxSize,omitempty"`

	// containerLogMaxFiles is the number of log files, the current one included, that the kubelet
	// keeps per container. At least 2; the kubelet's default is 5.
	// +optional
	// +kubebuilder:validation:Minimum=2
	// +kubebuilder:validation:Maximum=2147483647
	ContainerLogMaxFiles *int32 `json:"containerLogMaxFiles,omitempty"`

	// cpuManagerPolicy is the kubelet's CPU manager policy: none (the default) or static, which
	// gives Guaranteed pods with integer CPU requests exclusive cores and needs a CPU reservation
	// (kubeReserved.cpu or systemReserved.cpu). A change drains each Node first (see
	// spec.rollout.drain), and the agent removes the CPU manager's checkpoint
	// (/var/lib/kubelet/cpu_manager_state), on which the kubelet would refuse the new policy.
	// +optional
	// +kubebuilder:validation:Enum=none;static
	CPUManagerPolicy *string `json:"cpuManagerPolicy,omitempty"`

	// topologyManagerPolicy is the topology manager's policy for aligning CPU and device
	// allocations on NUMA nodes: none (the default), best-effort, restricted or single-numa-node.
	// +optional
	// +kubebuilder:validation:Enum=none;best-effort;restricted;single-numa-node
	TopologyManagerPolicy *string `json:"topologyManagerPolicy,omitempty"`

	// topologyManagerScope is the granularity of topology alignment: container (the default) or pod.
	// +optional
	// +kubebuilder:validation:Enum=container;pod
	TopologyManagerScope *string `json:"topologyManagerScope,omitempty"`

	// shutdownGracePeriod is how long the node delays its shutdown so that pods can terminate, as
	// a duration such as "30s". 0 (the default) disables graceful node shutdown; otherwise at least 1s.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('2562047h')",message="must be a duration of at most 2562047h: a longer one overflows the 64-bit nanoseconds every Go program (the component included) holds it in"
	// +kubebuilder:validation:XValidation:rule="duration(self) == duration('0s') || duration(self) >= duration('1s')",message="shutdownGracePeriod must be 0 or at least 1s"
	ShutdownGracePeriod *metav1.Duration `json:"shutdownGracePeriod,omitempty"`

	// shutdownGracePeriodCriticalPods is the part of shutdownGracePeriod kept for critical pods,
	// which terminate after the others. 0 or at least 1s, and at most shutdownGracePeriod.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('2562047h')",message="must be a duration of at most 2562047h: a longer one overflows the 64-bit nanoseconds every Go program (the component included) holds it in"
	// +kubebuilder:validation:XValidation:rule="duration(self) == duration('0s') || duration(self) >= duration('1s')",message="shutdownGracePeriodCriticalPods must be 0 or at least 1s"
	ShutdownGracePeriodCriticalPods *metav1.Duration `json:"shutdownGracePeriodCriticalPods,omitempty"`

	// featureGates turns kubelet feature gates on or off by their CamelCase names, for example
	// {"MemoryQoS": false}. A gate that the Nodes' kubelet version does not know makes the kubelet
	// refuse to start. Admission checks the gates against Kubernetes v1.37's table: unknown gates,
	// gates locked to their default set otherwise, a gate on (set so or by default) while one it
	// depends on is off, AllAlpha and AllBeta, and gates the kubelet needs for the settings above
	// (shutdownGracePeriod needs GracefulNodeShutdown) are refused, each naming the gate.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(g, g.matches('^[A-Z][A-Za-z0-9]*$'))",message="featureGates names must be CamelCase, such as KubeletTracing"
	FeatureGates FeatureGates `json:"featureGates,omitempty"`

	// The rules between these settings and featureGates, generated from Kubernetes' gate table.
	KubeletGateRules `json:",inline"`
}

// Threshold is an eviction threshold: a positive quantity such as "500Mi", or a percentage of the
// resource such as "10%". "0%" and "100%" switch the signal off.
//
// +kubebuilder:validation:MaxLength=32
// +kubebuilder:validation:XValidation:rule="self.endsWith('%') ? (self.matches('^[0-9]+([.][0-9]+)?%$') && double(self.substring(0, size(self) - 1)) <= 100.0) : (isQuantity(self) && quantity(self).isGreaterThan(quantity('0')))",message="must be a positive quantity (500Mi) or a percentage from 0% to 100%"
type Threshold string

// MinimumReclaim is how much the kubelet reclaims beyond an eviction threshold: a non-negative
// quantity such as "500Mi", or a positive percentage of the resource such as "5%".
//
// +kubebuilder:validation:MaxLength=32
// +kubebuilder:validation:XValidation:rule="self.endsWith('%') ? (self.matches('^[0-9]+([.][0-9]+)?%$') && double(self.substring(0, size(self) - 1)) > 0.0 && double(self.substring(0, size(self) - 1)) <= 100.0) : (isQuantity(self) && !quantity(self).isLessThan(quantity('0')))",message="must be a non-negative quantity (500Mi) or a percentage above 0% and at most 100%"
type MinimumReclaim string

// GracePeriod is a duration in Go's notation, such as "90s" or "1m30s".
//
// +kubebuilder:validation:MaxLength=32
// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$')",message="must be a duration such as 90s or 1m30s"
// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || duration(self) <= duration('2562047h')",message="must be a duration of at most 2562047h: a longer one overflows the 64-bit nanoseconds every Go program (the component included) holds it in"
type GracePeriod string

// ReservedResources is an amount of node resources held back from pods.
//
// +kubebuilder:validation:XValidation:rule="[has(self.cpu) ? string(self.cpu) : '0', has(self.memory) ? string(self.memory) : '0', has(self.ephemeral__dash__storage) ? string(self.ephemeral__dash__storage) : '0', has(self.pid) ? string(self.pid) : '0'].all(q, !quantity(q).isLessThan(quantity('0')))",message="reserved resources must not be negative"
type ReservedResources struct {
	// cpu to reserve, such as "500m"; at most a million cores (1M): the kubelet refuses a
	// reservation above the Node's capacity, and its arithmetic on the reservation, in millionths
	// of a core, overflows far above that.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!quantity(string(self)).isGreaterThan(quantity('1M'))",message="cpu must be at most 1M (a million cores): the kubelet refuses a reservation above the Node's capacity, and its arithmetic overflows on a much larger one (1E reads as 0)"
	CPU *resource.Quantity `json:"cpu,omitempty"`
	// memory to reserve, such as "1Gi".
	// +optional
	Memory *resource.Quantity `json:"memory,omitempty"`
	// ephemeral-storage to reserve, such as "10Gi".
	// +optional
	EphemeralStorage *resource.Quantity `json:"ephemeral-storage,omitempty"`
	// pid is the number of process IDs to reserve, such as "1000".
	// +optional
	PID *resource.Quantity `json:"pid,omitempty"`
}

// FloorManagerStatus is the observed state of a FloorManager's pool and rollout.
type FloorManagerStatus struct {
	PoolStatus `json:",inline"`
}

// FloorManager declares the kubelet configuration of a pool of Nodes and rolls it out node by node:
// a node agent writes a kubelet drop-in, restarts the kubelet, checks its health and rolls back if
// the kubelet does not come back.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=fm,categories=innkeeper
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 63",message="metadata.name must be at most 63 characters: it names the pool's DaemonSet and labels its objects"
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Nodes",type=string,JSONPath=`.status.nodesReady`,description="Nodes updated and Ready, of the Nodes the nodeSelector selects"
// +kubebuilder:printcolumn:name="Updated",type=integer,JSONPath=`.status.nodes.updated`,description="Nodes that run the current configuration"
// +kubebuilder:printcolumn:name="Degraded",type=integer,JSONPath=`.status.nodes.degraded`,description="Nodes that failed to apply the configuration"
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Config",type=string,JSONPath=`.status.configHash`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type FloorManager struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired kubelet configuration and the pool it applies to.
	// +required
	Spec FloorManagerSpec `json:"spec"`

	// status is what innkeeper observed of the pool and the rollout.
	// +optional
	Status FloorManagerStatus `json:"status,omitzero"`
}

// +kubebuilder:object:root=true

// FloorManagerList is a list of FloorManagers.
type FloorManagerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []FloorManager `json:"items"`
}

func init() {
	register(&FloorManager{}, &FloorManagerList{})
}

// PoolSpec returns the FloorManager's pool and rollout settings.
func (f *FloorManager) PoolSpec() *PoolSpec { return &f.Spec.PoolSpec }

// PoolStatus returns the FloorManager's status.
func (f *FloorManager) PoolStatus() *PoolStatus { return &f.Status.PoolStatus }

// NodeFilesSpec returns what the FloorManager does about its Nodes' files.
func (f *FloorManager) NodeFilesSpec() NodeFiles { return f.Spec.NodeFiles }
