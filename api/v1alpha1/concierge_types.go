package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DeletionPolicy says what becomes of a Concierge's kube-proxy DaemonSet when the Concierge is deleted.
// +kubebuilder:validation:Enum=Delete;Orphan
type DeletionPolicy string

const (
	// DeletionPolicyDelete deletes the DaemonSet with the Concierge: the pool's Nodes lose kube-proxy.
	DeletionPolicyDelete DeletionPolicy = "Delete"
	// DeletionPolicyOrphan leaves the DaemonSet and its ConfigMaps running, without an owner, so that
	// Services keep working on the pool's Nodes.
	DeletionPolicyOrphan DeletionPolicy = "Orphan"
)

// ConciergeSpec is the desired kube-proxy of a pool of Nodes.
type ConciergeSpec struct {
	PoolSpec `json:",inline"`

	// kubeProxy holds the KubeProxyConfiguration (kubeproxy.config.k8s.io/v1alpha1) fields that
	// innkeeper manages. It is the whole configuration of the pool's kube-proxy: fields not set here
	// take kube-proxy's defaults.
	// +required
	KubeProxy KubeProxySpec `json:"kubeProxy"`

	// image is the kube-proxy image, such as registry.k8s.io/kube-proxy:v1.37.2. By default, the
	// image of the API server's version. Admission checks it by the grammar the kubelet and
	// containerd parse images with (github.com/distribution/reference's own regular expression, held
	// to it by a test, its checks of the digest and of an image ID, and its bound of 255 characters
	// on the repository path); the manager parses it again with that package before it renders.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.matches(r'^((?:(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\\[(?:[a-fA-F0-9:]+)\\])(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*)*)(?::([\\w][\\w.-]{0,127}))?(?:@([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][[:xdigit:]]{32,}))?$')",message="image must be an image reference such as registry.k8s.io/kube-proxy:v1.37.2 or kube-proxy@sha256:<64 hex digits>: no spaces, line breaks or path elements such as ../, and a lower-case repository"
	// +kubebuilder:validation:XValidation:rule="!self.contains('@') || self.split('@')[1].matches('^(sha256:[a-f0-9]{64}|sha384:[a-f0-9]{96}|sha512:[a-f0-9]{128})$')",message="image: the digest after @ must be sha256, sha384 or sha512 with 64, 96 or 128 lower-case hex digits"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[a-f0-9]{64}$')",message="image: 64 hex digits alone are an image ID, not a reference"
	// +kubebuilder:validation:XValidation:rule="[self.split('@')[0]].all(n, [n.lastIndexOf(':') > n.lastIndexOf('/') ? n.substring(0, n.lastIndexOf(':')) : n].all(m, [m.split('/')[0]].all(first, m.contains('/') && (first.contains('.') || first.contains(':') || first == 'localhost' || first.lowerAscii() != first) ? size(m) - size(first) - 1 <= ((first == 'docker.io' || first == 'index.docker.io') && !m.substring(size(first) + 1).contains('/') ? 247 : 255) : size(m) <= (m.contains('/') ? 255 : 247))))",message="image: the repository path (the name without its registry host, tag and digest, library/ added to a one-word name on Docker Hub) must be at most 255 characters, as the kubelet's image parser requires"
	Image *string `json:"image,omitempty"`

	// takeOver lets innkeeper take the pool's Nodes from a kube-proxy DaemonSet it does not manage,
	// such as kubeadm's kube-system/kube-proxy: it narrows that DaemonSet's node affinity to keep it
	// off the Nodes admitted to this Concierge's rollout (remembering the DaemonSet's own affinity in
	// an annotation), so that the Nodes change kube-proxy in the rollout's waves, and gives the Nodes
	// back when the Concierge is deleted. Without it, a Concierge whose Nodes run another kube-proxy
	// stalls with reason ForeignKubeProxy. The
	// installation must allow take-over in that DaemonSet's namespace (the chart's
	// concierge.takeOver, off by default); where it does not, the Concierge stalls with reason
	// ForeignKubeProxy and a message saying how to allow it, and changes nothing.
	// +optional
	TakeOver bool `json:"takeOver,omitempty"`

	// deletionPolicy is what becomes of the kube-proxy DaemonSet when the Concierge is deleted:
	// Delete (the default) deletes it, and the pool's Nodes lose kube-proxy; Orphan leaves it (and
	// its ConfigMaps) running without an owner, so that Services keep working there.
	// +optional
	// +kubebuilder:default=Delete
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
}

// KubeProxySpec is the typed subset of KubeProxyConfiguration that innkeeper rolls out.
//
// +kubebuilder:validation:XValidation:rule="!has(self.ipvs) || (has(self.mode) && self.mode == 'ipvs')",message="ipvs settings need mode: ipvs"
// +kubebuilder:validation:XValidation:rule="!has(self.nftables) || (has(self.mode) && self.mode == 'nftables')",message="nftables settings need mode: nftables"
// +kubebuilder:validation:XValidation:rule="!has(self.detectLocal) || !has(self.detectLocal.bridgeInterface) || (has(self.detectLocalMode) && self.detectLocalMode == 'BridgeInterface')",message="detectLocal.bridgeInterface needs detectLocalMode: BridgeInterface"
// +kubebuilder:validation:XValidation:rule="!has(self.detectLocal) || !has(self.detectLocal.interfaceNamePrefix) || (has(self.detectLocalMode) && self.detectLocalMode == 'InterfaceNamePrefix')",message="detectLocal.interfaceNamePrefix needs detectLocalMode: InterfaceNamePrefix"
// +kubebuilder:validation:XValidation:rule="!has(self.detectLocalMode) || self.detectLocalMode != 'ClusterCIDR' || has(self.clusterCIDR)",message="detectLocalMode ClusterCIDR needs clusterCIDR"
// +kubebuilder:validation:XValidation:rule="!has(self.clusterCIDR) || size(self.clusterCIDR.split(',')) != 2 || (has(self.detectLocalMode) && self.detectLocalMode != 'ClusterCIDR') || !self.clusterCIDR.split(',').all(c, isCIDR(c)) || cidr(self.clusterCIDR.split(',')[0]).ip().family() != cidr(self.clusterCIDR.split(',')[1]).ip().family()",message="clusterCIDR's two CIDRs must be one IPv4 and one IPv6 (a dual-stack pair): kube-proxy refuses two of one family when detectLocalMode is ClusterCIDR, its default",fieldPath=".clusterCIDR"
// +kubebuilder:validation:XValidation:rule="!has(self.detectLocalMode) || self.detectLocalMode != 'BridgeInterface' || (has(self.detectLocal) && has(self.detectLocal.bridgeInterface))",message="detectLocalMode BridgeInterface needs detectLocal.bridgeInterface"
// +kubebuilder:validation:XValidation:rule="!has(self.detectLocalMode) || self.detectLocalMode != 'InterfaceNamePrefix' || (has(self.detectLocal) && has(self.detectLocal.interfaceNamePrefix))",message="detectLocalMode InterfaceNamePrefix needs detectLocal.interfaceNamePrefix"
type KubeProxySpec struct {
	// mode is how kube-proxy programs Services: iptables (the default on Linux), ipvs or nftables.
	// A mode the Node's kernel cannot do makes kube-proxy exit.
	// +optional
	// +kubebuilder:validation:Enum=iptables;ipvs;nftables
	Mode *string `json:"mode,omitempty"`

	// clusterCIDR is the pods' CIDR range, or two comma-separated ranges (IPv4 and IPv6) on a
	// dual-stack cluster, such as "10.244.0.0/16,fd00:10:244::/56". Traffic from outside it to a
	// Service is masqueraded.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.split(',').all(c, isCIDR(c))",message="clusterCIDR must be one CIDR, or two separated by a comma"
	// +kubebuilder:validation:XValidation:rule="size(self.split(',')) <= 2",message="clusterCIDR must be one CIDR, or two separated by a comma"
	ClusterCIDR *string `json:"clusterCIDR,omitempty"`

	// detectLocalMode is how kube-proxy tells local traffic: ClusterCIDR, NodeCIDR, BridgeInterface or
	// InterfaceNamePrefix.
	// +optional
	// +kubebuilder:validation:Enum=ClusterCIDR;NodeCIDR;BridgeInterface;InterfaceNamePrefix
	DetectLocalMode *string `json:"detectLocalMode,omitempty"`

	// detectLocal holds the settings of the BridgeInterface and InterfaceNamePrefix detectLocalModes.
	// +optional
	DetectLocal *DetectLocal `json:"detectLocal,omitempty"`

	// nodePortAddresses are the CIDRs of the Node addresses on which NodePort Services accept
	// connections, and kube-proxy's keywords: "primary" for the Node's primary addresses,
	// "localhost" for the loopback ranges, "all" for every address. Empty: kube-proxy's default.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.all(a, a in ['primary', 'localhost', 'all'] || isCIDR(a))",message="nodePortAddresses must be CIDRs or the keywords primary, localhost and all"
	// +kubebuilder:validation:XValidation:rule="['primary', 'localhost', 'all'].all(k, size(self.filter(a, a == k)) <= 1)",message="nodePortAddresses must hold each keyword (primary, localhost, all) at most once: kube-proxy refuses a keyword twice"
	NodePortAddresses []string `json:"nodePortAddresses,omitempty"`

	// metricsBindAddress is the IP:port of kube-proxy's metrics endpoint, such as "127.0.0.1:10249"
	// (the default) or "0.0.0.0:10249" to let Prometheus scrape it.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^(\\\\[[0-9a-fA-F:.]+\\\\]|[0-9.]+):[0-9]{1,5}$') && isIP(self.substring(0, self.lastIndexOf(':')).replace('[', '').replace(']', '')) && int(self.substring(self.lastIndexOf(':') + 1)) > 0 && int(self.substring(self.lastIndexOf(':') + 1)) <= 65535",message="metricsBindAddress must be IP:port, such as 0.0.0.0:10249 or [::]:10249"
	MetricsBindAddress *string `json:"metricsBindAddress,omitempty"`

	// healthzBindAddress is the IP:port of kube-proxy's health endpoint, by default 0.0.0.0:10256.
	// The DaemonSet's readiness probe uses its port.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^(\\\\[[0-9a-fA-F:.]+\\\\]|[0-9.]+):[0-9]{1,5}$') && isIP(self.substring(0, self.lastIndexOf(':')).replace('[', '').replace(']', '')) && int(self.substring(self.lastIndexOf(':') + 1)) > 0 && int(self.substring(self.lastIndexOf(':') + 1)) <= 65535",message="healthzBindAddress must be IP:port, such as 0.0.0.0:10256 or [::]:10256"
	HealthzBindAddress *string `json:"healthzBindAddress,omitempty"`

	// conntrack sets the kernel's connection-tracking table and timeouts.
	// +optional
	Conntrack *Conntrack `json:"conntrack,omitempty"`

	// iptables holds the settings of the iptables mode.
	// +optional
	IPTables *IPTables `json:"iptables,omitempty"`

	// ipvs holds the settings of the ipvs mode; only with mode: ipvs.
	// +optional
	IPVS *IPVS `json:"ipvs,omitempty"`

	// nftables holds the settings of the nftables mode; only with mode: nftables.
	// +optional
	NFTables *NFTables `json:"nftables,omitempty"`

	// configSyncPeriod is how often kube-proxy refreshes its view of Services and EndpointSlices
	// from the API server, such as "15m". Above 0.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('2562047h')",message="must be a duration of at most 2562047h: a longer one overflows the 64-bit nanoseconds every Go program (the component included) holds it in"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="configSyncPeriod must be above 0: kube-proxy replaces 0 with its default, 15m; leave configSyncPeriod unset for that"
	ConfigSyncPeriod *metav1.Duration `json:"configSyncPeriod,omitempty"`

	// featureGates turns kube-proxy feature gates on or off by their CamelCase names. Admission
	// checks them against Kubernetes v1.37's table as a FloorManager's (unknown, locked, dependent
	// gates, AllAlpha and AllBeta); mode: ipvs needs KubeProxyIPVS on.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(g, g.matches('^[A-Z][A-Za-z0-9]*$'))",message="featureGates names must be CamelCase"
	FeatureGates FeatureGates `json:"featureGates,omitempty"`

	// The rules between these settings and featureGates, generated from Kubernetes' gate table.
	KubeProxyGateRules `json:",inline"`
}

// DetectLocal holds the interface settings of the detectLocalModes that need one.
type DetectLocal struct {
	// bridgeInterface is the bridge whose traffic is local (detectLocalMode: BridgeInterface).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=15
	BridgeInterface *string `json:"bridgeInterface,omitempty"`
	// interfaceNamePrefix is the prefix of the interfaces whose traffic is local (detectLocalMode:
	// InterfaceNamePrefix).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=15
	InterfaceNamePrefix *string `json:"interfaceNamePrefix,omitempty"`
}

// Conntrack sets the kernel's connection tracking.
type Conntrack struct {
	// maxPerCore is the most tracked connections per CPU core; 0 leaves the kernel's limit as it is.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=2147483647
	MaxPerCore *int32 `json:"maxPerCore,omitempty"`
	// min is the least connection-tracking capacity, whatever maxPerCore gives.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=2147483647
	Min *int32 `json:"min,omitempty"`
	// tcpEstablishedTimeout is how long an idle established TCP connection is tracked, such as "24h".
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('2562047h')",message="must be a duration of at most 2562047h: a longer one overflows the 64-bit nanoseconds every Go program (the component included) holds it in"
	TCPEstablishedTimeout *metav1.Duration `json:"tcpEstablishedTimeout,omitempty"`
	// tcpCloseWaitTimeout is how long a TCP connection in CLOSE_WAIT is tracked, such as "1h".
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('2562047h')",message="must be a duration of at most 2562047h: a longer one overflows the 64-bit nanoseconds every Go program (the component included) holds it in"
	TCPCloseWaitTimeout *metav1.Duration `json:"tcpCloseWaitTimeout,omitempty"`
	// tcpBeLiberal makes conntrack accept out-of-window TCP packets instead of marking them INVALID.
	// +optional
	TCPBeLiberal *bool `json:"tcpBeLiberal,omitempty"`
	// udpTimeout is how long an unreplied UDP flow is tracked, such as "30s".
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('2562047h')",message="must be a duration of at most 2562047h: a longer one overflows the 64-bit nanoseconds every Go program (the component included) holds it in"
	UDPTimeout *metav1.Duration `json:"udpTimeout,omitempty"`
	// udpStreamTimeout is how long a UDP stream is tracked, such as "2m".
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('2562047h')",message="must be a duration of at most 2562047h: a longer one overflows the 64-bit nanoseconds every Go program (the component included) holds it in"
	UDPStreamTimeout *metav1.Duration `json:"udpStreamTimeout,omitempty"`
}

// IPTables holds the settings of the iptables mode.
//
// +kubebuilder:validation:XValidation:rule="(has(self.minSyncPeriod) && duration(self.minSyncPeriod) != duration('0s') ? duration(self.minSyncPeriod) : duration('1s')) <= duration(has(self.syncPeriod) ? self.syncPeriod : '30s')",message="minSyncPeriod (0 or unset: 1s) must not exceed syncPeriod (default 30s): kube-proxy replaces a 0 with its default"
type IPTables struct {
	// masqueradeBit is the fwmark bit, 0 to 31, that marks packets to masquerade. Default 14.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=31
	MasqueradeBit *int32 `json:"masqueradeBit,omitempty"`
	// masqueradeAll masquerades all traffic to Service cluster IPs.
	// +optional
	MasqueradeAll *bool `json:"masqueradeAll,omitempty"`
	// localhostNodePorts lets NodePort Services answer on 127.0.0.1 (IPv4 only).
	// +optional
	LocalhostNodePorts *bool `json:"localhostNodePorts,omitempty"`
	// syncPeriod is the longest time between two full resyncs of the rules, such as "30s". Above 0.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('2562047h')",message="must be a duration of at most 2562047h: a longer one overflows the 64-bit nanoseconds every Go program (the component included) holds it in"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="syncPeriod must be above 0: kube-proxy replaces 0 with its default, 30s; leave syncPeriod unset for that"
	SyncPeriod *metav1.Duration `json:"syncPeriod,omitempty"`
	// minSyncPeriod is the shortest time between two resyncs, such as "1s"; at most syncPeriod.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('2562047h')",message="must be a duration of at most 2562047h: a longer one overflows the 64-bit nanoseconds every Go program (the component included) holds it in"
	MinSyncPeriod *metav1.Duration `json:"minSyncPeriod,omitempty"`
}

// IPVS holds the settings of the ipvs mode.
type IPVS struct {
	// scheduler is the IPVS scheduler, such as rr (round robin, the default), lc or sh.
	// +optional
	// +kubebuilder:validation:Enum=rr;wrr;lc;wlc;lblc;lblcr;sh;dh;sed;nq;mh
	Scheduler *string `json:"scheduler,omitempty"`
	// excludeCIDRs are CIDRs whose IPVS rules kube-proxy leaves alone when it cleans up.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.all(c, isCIDR(c))",message="excludeCIDRs must be CIDRs"
	ExcludeCIDRs []string `json:"excludeCIDRs,omitempty"`
	// strictARP makes the Node answer ARP only for addresses on the interface asked, as MetalLB needs.
	// +optional
	StrictARP *bool `json:"strictARP,omitempty"`
	// tcpTimeout is the IPVS timeout of idle TCP sessions, such as "900s"; 0 keeps the kernel's.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('2562047h')",message="must be a duration of at most 2562047h: a longer one overflows the 64-bit nanoseconds every Go program (the component included) holds it in"
	TCPTimeout *metav1.Duration `json:"tcpTimeout,omitempty"`
	// tcpFinTimeout is the IPVS timeout of TCP sessions after FIN, such as "120s"; 0 keeps the kernel's.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('2562047h')",message="must be a duration of at most 2562047h: a longer one overflows the 64-bit nanoseconds every Go program (the component included) holds it in"
	TCPFinTimeout *metav1.Duration `json:"tcpFinTimeout,omitempty"`
	// udpTimeout is the IPVS timeout of UDP packets, such as "300s"; 0 keeps the kernel's.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('2562047h')",message="must be a duration of at most 2562047h: a longer one overflows the 64-bit nanoseconds every Go program (the component included) holds it in"
	UDPTimeout *metav1.Duration `json:"udpTimeout,omitempty"`
}

// NFTables holds the settings of the nftables mode.
//
// +kubebuilder:validation:XValidation:rule="(has(self.minSyncPeriod) && duration(self.minSyncPeriod) != duration('0s') ? duration(self.minSyncPeriod) : duration('1s')) <= duration(has(self.syncPeriod) ? self.syncPeriod : '30s')",message="minSyncPeriod (0 or unset: 1s) must not exceed syncPeriod (default 30s): kube-proxy replaces a 0 with its default"
type NFTables struct {
	// masqueradeBit is the fwmark bit, 0 to 31, that marks packets to masquerade. Default 14.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=31
	MasqueradeBit *int32 `json:"masqueradeBit,omitempty"`
	// syncPeriod is the longest time between two full resyncs of the rules, such as "30s". Above 0.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('2562047h')",message="must be a duration of at most 2562047h: a longer one overflows the 64-bit nanoseconds every Go program (the component included) holds it in"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="syncPeriod must be above 0: kube-proxy replaces 0 with its default, 30s; leave syncPeriod unset for that"
	SyncPeriod *metav1.Duration `json:"syncPeriod,omitempty"`
	// minSyncPeriod is the shortest time between two resyncs, such as "1s"; at most syncPeriod.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('2562047h')",message="must be a duration of at most 2562047h: a longer one overflows the 64-bit nanoseconds every Go program (the component included) holds it in"
	MinSyncPeriod *metav1.Duration `json:"minSyncPeriod,omitempty"`
}

// ConciergeStatus is the observed state of a Concierge's pool and rollout.
type ConciergeStatus struct {
	PoolStatus `json:",inline"`
}

// Concierge declares the kube-proxy of a pool of Nodes: its DaemonSet is kube-proxy, run as kubeadm
// runs it, with the configuration innkeeper renders, rolled out at the pool's pace.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=cg,categories=innkeeper
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 63",message="metadata.name must be at most 63 characters: it names the pool's DaemonSet and labels its objects"
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Nodes",type=string,JSONPath=`.status.nodesReady`,description="Nodes updated and Ready, of the Nodes the nodeSelector selects"
// +kubebuilder:printcolumn:name="Updated",type=integer,JSONPath=`.status.nodes.updated`,description="Nodes that run the current configuration"
// +kubebuilder:printcolumn:name="Degraded",type=integer,JSONPath=`.status.nodes.degraded`,description="Nodes that failed to apply the configuration"
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Config",type=string,JSONPath=`.status.configHash`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Concierge struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired kube-proxy configuration and the pool it applies to.
	// +required
	Spec ConciergeSpec `json:"spec"`

	// status is what innkeeper observed of the pool and the rollout.
	// +optional
	Status ConciergeStatus `json:"status,omitzero"`
}

// +kubebuilder:object:root=true

// ConciergeList is a list of Concierges.
type ConciergeList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Concierge `json:"items"`
}

func init() {
	register(&Concierge{}, &ConciergeList{})
}

// PoolSpec returns the Concierge's pool and rollout settings.
func (c *Concierge) PoolSpec() *PoolSpec { return &c.Spec.PoolSpec }

// PoolStatus returns the Concierge's status.
func (c *Concierge) PoolStatus() *PoolStatus { return &c.Status.PoolStatus }
