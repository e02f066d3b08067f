package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// PoolObject is an innkeeper object: it selects a pool of Nodes with a PoolSpec and reports a
// PoolStatus. The shared rollout engine works on this interface, so every kind is handled alike.
// +kubebuilder:object:generate=false
type PoolObject interface {
	// PoolSpec returns the object's pool and rollout settings.
	PoolSpec() *PoolSpec
	// PoolStatus returns the object's status, to read and to write.
	PoolStatus() *PoolStatus
}

// PoolSpec selects a pool of Nodes and says how fast a new configuration may roll out across it.
// Every innkeeper kind embeds it.
type PoolSpec struct {
	// nodeSelector selects the Nodes of the pool by their labels. It is required; an empty
	// selector ({}) selects every Node of the cluster. A Node may belong to at most one pool of
	// each kind: where two objects of one kind select the same Node, the older object keeps it
	// and the newer one stalls with reason PoolConflict until the overlap is gone. An object so
	// stalled keeps no Node, so it stalls no newer object in turn.
	// +required
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn', 'Exists', 'DoesNotExist'])",message="nodeSelector.matchExpressions[].operator must be one of In, NotIn, Exists, DoesNotExist"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, !(e.operator in ['In', 'NotIn', 'Exists', 'DoesNotExist']) || (e.operator in ['In', 'NotIn']) == (has(e.values) && size(e.values) > 0))",message="nodeSelector.matchExpressions[].values must be non-empty for In and NotIn and empty for Exists and DoesNotExist"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchLabels) || self.matchLabels.all(k, !format.qualifiedName().validate(k).hasValue())",messageExpression="'nodeSelector.matchLabels keys must be label keys (an optional DNS subdomain prefix and /, then at most 63 letters, digits, -, _ or ., starting and ending with a letter or digit), not ' + self.matchLabels.filter(k, format.qualifiedName().validate(k).hasValue())[0]"
	NodeSelector NodeSelector `json:"nodeSelector"`

	// rollout paces the rollout of a new configuration across the pool.
	// +optional
	// +kubebuilder:default={}
	Rollout RolloutSpec `json:"rollout,omitempty"`
}

// NodeSelector selects Nodes by their labels: a metav1.LabelSelector (LabelSelector converts it),
// with bounds on its sizes so that the API server can check every key and value at admission
// within its CEL cost budget.
// +structType=atomic
type NodeSelector struct {
	// matchLabels selects the Nodes that have every one of these labels, key and value.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	MatchLabels map[string]LabelValue `json:"matchLabels,omitempty"`

	// matchExpressions selects the Nodes whose labels meet every one of these requirements.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	MatchExpressions []NodeSelectorRequirement `json:"matchExpressions,omitempty"`
}

// NodeSelectorRequirement is a requirement on one label: a metav1.LabelSelectorRequirement.
type NodeSelectorRequirement struct {
	// key is the label's key, such as node.kubernetes.io/pool.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=317
	// +kubebuilder:validation:XValidation:rule="!format.qualifiedName().validate(self).hasValue()",messageExpression="'key must be a label key (an optional DNS subdomain prefix and /, then at most 63 letters, digits, -, _ or ., starting and ending with a letter or digit), not ' + self"
	Key string `json:"key"`

	// operator is how the label relates to values: In, NotIn, Exists or DoesNotExist.
	// +required
	Operator metav1.LabelSelectorOperator `json:"operator"`

	// values are the label values for In and NotIn; empty for Exists and DoesNotExist.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=256
	Values []LabelValue `json:"values,omitempty"`
}

// LabelValue is a label's value: empty, or at most 63 letters, digits, -, _ or ., starting and
// ending with a letter or digit.
// +kubebuilder:validation:MaxLength=63
// +kubebuilder:validation:XValidation:rule="!format.labelValue().validate(self).hasValue()",messageExpression="'must be a label value (empty, or at most 63 letters, digits, -, _ or ., starting and ending with a letter or digit), not ' + self"
type LabelValue string

// LabelSelector returns the selector as a metav1.LabelSelector.
func (s *NodeSelector) LabelSelector() *metav1.LabelSelector {
	sel := &metav1.LabelSelector{}
	if s.MatchLabels != nil {
		sel.MatchLabels = make(map[string]string, len(s.MatchLabels))
		for k, v := range s.MatchLabels {
			sel.MatchLabels[k] = string(v)
		}
	}
	for _, e := range s.MatchExpressions {
		r := metav1.LabelSelectorRequirement{Key: e.Key, Operator: e.Operator}
		for _, v := range e.Values {
			r.Values = append(r.Values, string(v))
		}
		sel.MatchExpressions = append(sel.MatchExpressions, r)
	}
	return sel
}

// NodeSelectorOf returns sel as a NodeSelector.
func NodeSelectorOf(sel metav1.LabelSelector) NodeSelector {
	var s NodeSelector
	if sel.MatchLabels != nil {
		s.MatchLabels = make(map[string]LabelValue, len(sel.MatchLabels))
		for k, v := range sel.MatchLabels {
			s.MatchLabels[k] = LabelValue(v)
		}
	}
	for _, e := range sel.MatchExpressions {
		r := NodeSelectorRequirement{Key: e.Key, Operator: e.Operator}
		for _, v := range e.Values {
			r.Values = append(r.Values, LabelValue(v))
		}
		s.MatchExpressions = append(s.MatchExpressions, r)
	}
	return s
}

// RolloutSpec paces a rollout.
type RolloutSpec struct {
	// maxUnavailable is the largest number of the pool's Nodes that may be updating, or unready after
	// an update, at the same time: an integer of at least 1, or a percentage of the pool from 1% to
	// 100% (rounded up, as for a DaemonSet). A Node whose update fails counts as unavailable, so a
	// failing configuration stops spreading once this many Nodes have failed. Default 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 1 : self.matches('^([1-9][0-9]?|100)%$')",message="maxUnavailable must be an integer of at least 1 or a percentage from 1% to 100%"
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`

	// soakSeconds is how long a Node's updated pod must stay Ready before the rollout counts the
	// Node as done and moves on (the DaemonSet's minReadySeconds): the time the health gate has to
	// see an updated Node turn NotReady or come under pressure before further Nodes start. The
	// kubelet reports memory, disk and PID pressure every 10 s, so a soak of at least 15 s lets the
	// gate see what a new configuration does to them. Default 0: no soak, and the gate halts the
	// rollout only as fast as it sees a Node turn unhealthy, which may be after further Nodes
	// started. From 0 to 3600.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=3600
	SoakSeconds int32 `json:"soakSeconds,omitempty"`

	// canary, if set, is how many of the pool's Nodes a new configuration reaches first: an integer
	// of at least 1, or a percentage of the pool from 1% to 100% (rounded up), and never more than
	// maxUnavailable allows at once. Those Nodes update together; then no further Node starts until
	// every one of them runs the configuration with its pod Ready for soakSeconds, and the health
	// gate has seen none of them turn unhealthy; the rest of the pool follows at maxUnavailable.
	// While it waits, Reconciling and Ready say so (reason CanaryInProgress). It applies to every new
	// configuration and to a new object's first rollout; Nodes that join a pool whose configuration
	// has passed its canary are admitted at maxUnavailable. Unset: no canary.
	// +optional
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 1 : self.matches('^([1-9][0-9]?|100)%$')",message="canary must be an integer of at least 1 or a percentage from 1% to 100%"
	Canary *intstr.IntOrString `json:"canary,omitempty"`

	// paused, when true, stops the rollout where it is: no Node receives a newer configuration and
	// every Node keeps what it has. Set it back to false to resume.
	// +optional
	Paused bool `json:"paused,omitempty"`

	// healthGate, Enforce (the default), holds a rollout in progress while a Node that already runs
	// the configuration being rolled out has turned NotReady or come under memory, disk or PID
	// pressure since the rollout began: no further Node is updated, and Reconciling and Ready say
	// which Nodes and why (reason RolloutHalted). The rollout goes on by itself once they recover. Ignore lets it go on regardless, for a Node you
	// know is unhealthy for another reason; set Enforce again afterwards. A new configuration (a fix)
	// is always rolled out: the gate holds only the configuration that Nodes turned unhealthy on.
	// +optional
	// +kubebuilder:default=Enforce
	HealthGate HealthGatePolicy `json:"healthGate,omitempty"`

	// drain says how a Node is drained before a change that needs it: a FloorManager change of a
	// field that moves pods' resources under them (the CPU, memory and topology managers' policies,
	// kubeReserved, systemReserved, reservedSystemCPUs, reservedMemory, enforceNodeAllocatable)
	// cordons the Node and evicts its pods, PodDisruptionBudgets respected, before the kubelet
	// restarts, and uncordons it once the kubelet is healthy again. Other changes, and the other
	// kinds, restart without a drain. Default: drain, each attempt bounded by 600 s.
	// +optional
	// +kubebuilder:default={}
	Drain DrainSpec `json:"drain,omitempty"`

	// maintenance, if set, limits when Nodes start updating to its windows: outside every window no
	// Node starts updating (nor joins the rollout) and a Node already updating finishes; the
	// rollout waits, Reconciling and Ready saying until when (reason OutsideMaintenanceWindow), and
	// goes on when the next window opens. Unset: at any time.
	// +optional
	Maintenance *Maintenance `json:"maintenance,omitempty"`
}

// DrainSpec says how a Node is drained before a change that needs it.
type DrainSpec struct {
	// policy is Drain (the default): cordon the Node and evict its pods before a change that needs
	// it; or Skip: restart the kubelet under its running pods, as for any other change (for Nodes
	// whose pods you move yourself).
	// +optional
	// +kubebuilder:default=Drain
	Policy DrainPolicy `json:"policy,omitempty"`

	// timeoutSeconds bounds one attempt to drain a Node: pods still there when it passes (a
	// PodDisruptionBudget that allows no eviction, a pod that does not terminate) fail the
	// attempt, which is reported (reason DrainFailed, in an Event and in Reconciling) and tried
	// again a minute later; the Node stays cordoned and its kubelet untouched meanwhile. From 30 to
	// 86400; default 600.
	// +optional
	// +kubebuilder:default=600
	// +kubebuilder:validation:Minimum=30
	// +kubebuilder:validation:Maximum=86400
	TimeoutSeconds int32 `json:"timeoutSeconds,omitempty"`
}

// DrainPolicy says whether a change that needs a drain drains the Node first.
// +kubebuilder:validation:Enum=Drain;Skip
type DrainPolicy string

const (
	// DrainPolicyDrain cordons and drains a Node before a change that needs it.
	DrainPolicyDrain DrainPolicy = "Drain"
	// DrainPolicySkip restarts the component under the Node's running pods.
	DrainPolicySkip DrainPolicy = "Skip"
)

// Maintenance is a set of weekly windows in one time zone.
type Maintenance struct {
	// timeZone is the IANA name of the windows' time zone, such as Europe/Berlin or America/New_York;
	// default UTC. Daylight saving time is followed: a window starts at its local time.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$`
	TimeZone string `json:"timeZone,omitempty"`

	// windows are the weekly windows; a Node may start updating while any of them is open.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	Windows []MaintenanceWindow `json:"windows"`
}

// MaintenanceWindow opens at the same local time on some days of the week, for a while.
type MaintenanceWindow struct {
	// days are the days of the week on which the window opens.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=7
	Days []Weekday `json:"days"`

	// start is the local time, HH:MM on a 24-hour clock, at which the window opens.
	// +required
	// +kubebuilder:validation:Pattern=`^([01][0-9]|2[0-3]):[0-5][0-9]$`
	Start string `json:"start"`

	// duration is how long the window stays open, from 1m to 168h (a week); it may run past
	// midnight into the next days.
	// +required
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m') && duration(self) <= duration('168h')",message="duration must be from 1m to 168h"
	Duration metav1.Duration `json:"duration"`
}

// Weekday is a day of the week, as its first three letters.
// +kubebuilder:validation:Enum=Mon;Tue;Wed;Thu;Fri;Sat;Sun
type Weekday string

// HealthGatePolicy says whether unhealthy updated Nodes hold a rollout.
// +kubebuilder:validation:Enum=Enforce;Ignore
type HealthGatePolicy string

const (
	// HealthGateEnforce holds a rollout while an updated Node is unhealthy.
	HealthGateEnforce HealthGatePolicy = "Enforce"
	// HealthGateIgnore lets a rollout go on whatever the health of updated Nodes.
	HealthGateIgnore HealthGatePolicy = "Ignore"
)

// PoolStatus is what innkeeper observed of a pool and its rollout. Every innkeeper kind embeds it.
type PoolStatus struct {
	// observedGeneration is the metadata.generation that this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// configHash identifies the rendered configuration now being rolled out (or, while paused or
	// stalled, the one most recently rolled out). Nodes that run it count as updated.
	// +optional
	ConfigHash string `json:"configHash,omitempty"`

	// nodes counts the pool's Nodes by rollout state.
	// +optional
	Nodes NodeCounts `json:"nodes,omitzero"`

	// nodesReady is nodes.ready of nodes.selected, such as "3/4": Nodes that run the current
	// configuration and are Ready, of the Nodes the pool selects (kubectl's NODES column).
	// +optional
	// +kubebuilder:validation:MaxLength=32
	NodesReady string `json:"nodesReady,omitempty"`

	// nodeConditions counts the pool's Nodes by the node conditions that need attention.
	// +optional
	NodeConditions NodeConditionCounts `json:"nodeConditions,omitzero"`

	// capacity is the sum of the pool's Nodes' capacity (cpu, memory, pods, ephemeral-storage).
	// +optional
	Capacity corev1.ResourceList `json:"capacity,omitempty"`

	// allocatable is the sum of the pool's Nodes' allocatable resources (cpu, memory, pods,
	// ephemeral-storage): what remains for pods once the reserved resources are taken.
	// +optional
	Allocatable corev1.ResourceList `json:"allocatable,omitempty"`

	// degradedNodes names up to 10 Nodes that failed to apply the configuration, sorted by name,
	// each with the reason and the node agent's message. nodes.degraded gives the full count.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=10
	DegradedNodes []DegradedNode `json:"degradedNodes,omitempty"`

	// conditions are Ready, Reconciling, Stalled, Degraded, NodesHealthy and Paused. What each means,
	// and what to do about each reason, is in https://github.com/innkeeper-dev/innkeeper/tree/main/docs
	// (concepts.md, and node-agent.md: Troubleshooting).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
}

// NodeCounts counts a pool's Nodes by rollout state, as a MachineConfigPool does.
type NodeCounts struct {
	// selected is the number of Nodes the nodeSelector selects.
	// +optional
	Selected int32 `json:"selected"`
	// updated is the number of selected Nodes that run the current configuration.
	// +optional
	Updated int32 `json:"updated"`
	// ready is the number of selected Nodes that are updated and Ready.
	// +optional
	Ready int32 `json:"ready"`
	// unavailable is the number of selected Nodes that are updating, not Ready, or degraded.
	// +optional
	Unavailable int32 `json:"unavailable"`
	// degraded is the number of selected Nodes that failed to apply the configuration.
	// +optional
	Degraded int32 `json:"degraded"`
	// drifted is the number of selected Nodes whose agent reports innkeeper's files there changed by
	// someone else and left so (driftPolicy Report; reason Drifted on the Node).
	// +optional
	Drifted int32 `json:"drifted,omitempty"`
}

// NodeConditionCounts counts a pool's Nodes by node condition.
type NodeConditionCounts struct {
	// notReady is the number of selected Nodes whose Ready condition is not True.
	// +optional
	NotReady int32 `json:"notReady"`
	// memoryPressure is the number of selected Nodes with MemoryPressure=True.
	// +optional
	MemoryPressure int32 `json:"memoryPressure"`
	// diskPressure is the number of selected Nodes with DiskPressure=True.
	// +optional
	DiskPressure int32 `json:"diskPressure"`
	// pidPressure is the number of selected Nodes with PIDPressure=True.
	// +optional
	PIDPressure int32 `json:"pidPressure"`
}

// DegradedNode is a Node that failed to apply the configuration.
type DegradedNode struct {
	// name is the Node's name.
	// +required
	Name string `json:"name"`
	// reason is a CamelCase word for why the Node is degraded, such as HealthCheckFailed.
	// +optional
	Reason string `json:"reason,omitempty"`
	// message is the node agent's account of the failure.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
}
