package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RoomServiceSpec is the desired container runtime (containerd) configuration of a pool of Nodes.
type RoomServiceSpec struct {
	PoolSpec `json:",inline"`

	// containerd holds the containerd settings that innkeeper manages: a configuration drop-in
	// (/etc/containerd/conf.d/50-innkeeper.toml, which the main config.toml must import) and one
	// hosts.toml per registry host under /etc/containerd/certs.d. Settings not given here keep
	// what the Node's own config.toml says.
	// +required
	Containerd ContainerdSpec `json:"containerd"`

	NodeFiles `json:",inline"`
}

// ContainerdSpec is the part of containerd's configuration that innkeeper rolls out.
//
// +kubebuilder:validation:XValidation:rule="!has(self.defaultRuntimeName) || (has(self.runtimes) && self.runtimes.exists(r, r.name == self.defaultRuntimeName))",message="defaultRuntimeName must name one of runtimes",fieldPath=".defaultRuntimeName"
// +kubebuilder:validation:XValidation:rule="!has(self.systemdCgroup) || !has(self.runtimes) || self.runtimes.all(r, r.name != 'runc' || r.runtimeType == 'io.containerd.runc.v2')",message="systemdCgroup also sets SystemdCgroup on the runtime named runc, which must then be of type io.containerd.runc.v2",fieldPath=".runtimes"
// +kubebuilder:validation:XValidation:rule="self.configVersion != 2 || !has(self.registries) || self.registries.all(r, !has(r.mirrors) || r.mirrors.all(m, !has(m.dialTimeout)))",message="dialTimeout needs containerd 2.1 or later (configVersion 3): containerd 1.7 ignores it",fieldPath=".registries"
// +kubebuilder:validation:XValidation:rule="self.configVersion != 2 || !has(self.runtimes) || size(self.runtimes) == 0 || has(self.defaultRuntimeName) || has(self.systemdCgroup) || self.runtimes.exists(r, r.name == 'runc')",message="with configVersion 2, runtimes need a runtime named runc, a defaultRuntimeName or systemdCgroup (which adds runc): where config.toml has no CRI section, containerd 1.7 takes the drop-in's runtimes in place of its own, and its default runtime runc would be gone",fieldPath=".runtimes"
// +kubebuilder:validation:XValidation:rule="self.configVersion != 3 || !has(self.enableCDI) || self.enableCDI",message="enableCDI: false needs configVersion 2: containerd 2.x always enables CDI and ignores it",fieldPath=".enableCDI"
type ContainerdSpec struct {
	// configVersion is the version of containerd's configuration format the drop-in is written in:
	// that of the Nodes' config.toml, 2 (containerd 1.7, or 2.x with a config.toml not migrated;
	// CRI plugin io.containerd.grpc.v1.cri) or 3 (containerd 2.x; io.containerd.cri.v1.images and
	// io.containerd.cri.v1.runtime). The node agent refuses, with reason ConfigVersionMismatch, a
	// version other than config.toml's.
	// +required
	// +kubebuilder:validation:Enum=2;3
	ConfigVersion int32 `json:"configVersion"`

	// sandboxImage is the pause image of pod sandboxes, such as registry.k8s.io/pause:3.10.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^[^\s]+$`
	SandboxImage *string `json:"sandboxImage,omitempty"`

	// defaultRuntimeName is the runtime handler of pods without a RuntimeClass; it must name one of
	// runtimes.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	DefaultRuntimeName *string `json:"defaultRuntimeName,omitempty"`

	// runtimes are runtime handlers, by name. A pod uses one through a RuntimeClass whose handler is
	// the name. A runtime of the same name in the Node's config.toml is merged with this one.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Runtimes []ContainerdRuntime `json:"runtimes,omitempty"`

	// systemdCgroup sets options.SystemdCgroup on every runc runtime (io.containerd.runc.v2) that does
	// not set its own, and on the runtime named "runc" (containerd's default), which must then be of
	// that type. It must agree with the kubelet's cgroupDriver (true for systemd); innkeeper does not
	// check that it does.
	// +optional
	SystemdCgroup *bool `json:"systemdCgroup,omitempty"`

	// maxConcurrentDownloads is how many image layers containerd pulls at once, per image.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=64
	MaxConcurrentDownloads *int32 `json:"maxConcurrentDownloads,omitempty"`

	// snapshotter is the snapshotter of the CRI's containers, such as overlayfs (the default),
	// native, zfs, btrfs or devmapper. It must be one the Node's containerd has.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Snapshotter *string `json:"snapshotter,omitempty"`

	// enableCDI turns on the Container Device Interface, through which device plugins hand devices
	// to containers. containerd 2.x (configVersion 3) always has it on and ignores this setting, so
	// false is refused there and true is not written (containerd 2.4 no longer knows the key).
	// +optional
	EnableCDI *bool `json:"enableCDI,omitempty"`

	// registries configure how containerd reaches image registries, one hosts.toml per host.
	// Changing only registries needs no containerd restart: containerd reads hosts.toml at each pull.
	// +optional
	// +listType=map
	// +listMapKey=host
	// +kubebuilder:validation:MaxItems=32
	Registries []RegistryHost `json:"registries,omitempty"`
}

// ContainerdRuntime is one runtime handler.
//
// +kubebuilder:validation:XValidation:rule="self.runtimeType == 'io.containerd.runc.v2' || (!has(self.systemdCgroup) && !has(self.binaryName))",message="systemdCgroup and binaryName are options of runc (io.containerd.runc.v2) only"
type ContainerdRuntime struct {
	// name is the runtime handler's name, as a RuntimeClass's handler names it, such as runc,
	// nvidia, runsc or kata.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// runtimeType is the containerd shim, io.containerd.<name>.v<n>, such as io.containerd.runc.v2,
	// io.containerd.runsc.v1 or io.containerd.kata.v2.
	// +required
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^io\.containerd\.[a-z0-9]([-a-z0-9.]*[a-z0-9])?\.v[0-9]+$`
	RuntimeType string `json:"runtimeType"`

	// systemdCgroup overrides spec.containerd.systemdCgroup for this runc runtime.
	// +optional
	SystemdCgroup *bool `json:"systemdCgroup,omitempty"`

	// binaryName is the OCI runtime binary a runc runtime runs instead of runc, such as
	// /usr/bin/nvidia-container-runtime.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^[^\s]+$`
	BinaryName *string `json:"binaryName,omitempty"`

	// configPath is the shim's own configuration file, for runtimes that have one (runsc, kata),
	// such as /etc/kata-containers/configuration.toml.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^/[^\s]*$`
	ConfigPath *string `json:"configPath,omitempty"`

	// podAnnotations are the pod annotations (or prefixes ending in *) passed to the runtime, such
	// as io.katacontainers.*.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^[^\s]+$`
	PodAnnotations []string `json:"podAnnotations,omitempty"`
}

// RegistryHost is how containerd reaches one registry host: its hosts.toml.
//
// +kubebuilder:validation:XValidation:rule="has(self.server) || (has(self.mirrors) && size(self.mirrors) > 0)",message="a registry needs a server or at least one mirror"
// +kubebuilder:validation:XValidation:rule="self.host != '_default' || !has(self.server)",message="_default applies to every registry, so it cannot name one server"
type RegistryHost struct {
	// host is the registry's name as images refer to it, with its port if not 443, such as
	// docker.io, registry.example.com:5000, or _default for every registry without its own entry.
	// At most 230 characters: it names the ConfigMap keys of its files.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=230
	// +kubebuilder:validation:Pattern=`^(_default|[a-zA-Z0-9]([-a-zA-Z0-9.]*[a-zA-Z0-9])?(:[0-9]{1,5})?)$`
	// +kubebuilder:validation:XValidation:rule="!self.contains(':') || (int(self.substring(self.lastIndexOf(':') + 1)) >= 1 && int(self.substring(self.lastIndexOf(':') + 1)) <= 65535)",message="port must be from 1 to 65535"
	Host string `json:"host"`

	// server is the registry's own URL, tried after every mirror, such as
	// https://registry-1.docker.io. By default https://<host>.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.contains('#') || (isURL(self) && (self.startsWith('http://') || self.startsWith('https://')) && url(self).getHost() != '')",message="server must be an http or https URL with a host (scheme in lower case)"
	// +kubebuilder:validation:XValidation:rule="!self.contains('#')",message="server must not hold a fragment (#...): containerd drops it, so the host would not be the URL written"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[a-z]+://[^/?#]*@')",message="server must not hold user info: innkeeper writes no registry credentials"
	Server *string `json:"server,omitempty"`

	// mirrors are tried in order before the server.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:XValidation:rule="self.all(m, self.exists_one(n, n.url == m.url))",message="mirror URLs must be unique"
	Mirrors []RegistryMirror `json:"mirrors,omitempty"`
}

// RegistryCapability is what containerd may do with a registry host.
// +kubebuilder:validation:Enum=pull;resolve;push
type RegistryCapability string

// RegistryMirror is one host containerd tries for a registry: a [host."<url>"] table of hosts.toml.
type RegistryMirror struct {
	// url is the mirror's URL, such as https://mirror.example.com. containerd appends /v2 to its
	// path unless overridePath is set.
	// +required
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.contains('#') || (isURL(self) && (self.startsWith('http://') || self.startsWith('https://')) && url(self).getHost() != '')",message="url must be an http or https URL with a host (scheme in lower case)"
	// +kubebuilder:validation:XValidation:rule="!self.contains('#')",message="url must not hold a fragment (#...): containerd drops it, so the host would not be the URL written"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[a-z]+://[^/?#]*@')",message="url must not hold user info: innkeeper writes no registry credentials"
	URL string `json:"url"`

	// capabilities are what the mirror may be used for: pull (fetch content by digest), resolve (turn
	// a tag into a digest) and push. containerd's default is all three; a mirror usually gets pull
	// and resolve, or pull alone when tags must come from the registry itself.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	Capabilities []RegistryCapability `json:"capabilities,omitempty"`

	// caBundle is a ConfigMap key, in innkeeper's namespace, holding the PEM certificates that the
	// mirror's TLS certificate must chain to. innkeeper copies it to the Nodes with the
	// configuration, so changing the ConfigMap rolls out a new configuration.
	// +optional
	CABundle *ConfigMapKeyReference `json:"caBundle,omitempty"`

	// skipVerify turns off verifying the mirror's TLS certificate. Only for testing.
	// +optional
	SkipVerify *bool `json:"skipVerify,omitempty"`

	// headers are HTTP headers containerd sends to the mirror.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Headers []HTTPHeader `json:"headers,omitempty"`

	// overridePath says that url already holds the registry API's path: containerd does not append
	// /v2.
	// +optional
	OverridePath *bool `json:"overridePath,omitempty"`

	// dialTimeout bounds connecting to the mirror, such as "5s" (containerd's default is 30s). Only
	// containerd 2.1 and later read it, so it needs configVersion 3.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('2562047h')",message="must be a duration of at most 2562047h: a longer one overflows the 64-bit nanoseconds every Go program (the component included) holds it in"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="dialTimeout must be above 0"
	DialTimeout *metav1.Duration `json:"dialTimeout,omitempty"`
}

// HTTPHeader is one HTTP header and its values.
type HTTPHeader struct {
	// name is the header's name, such as X-Mirror-Token.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[!#$%&'*+.^_|~0-9A-Za-z-]+$`
	Name string `json:"name"`
	// values are the header's values.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=1024
	// +kubebuilder:validation:items:Pattern=`^[^\r\n]*$`
	Values []string `json:"values"`
}

// ConfigMapKeyReference names a key of a ConfigMap in innkeeper's namespace (innkeeper-system by
// default).
type ConfigMapKeyReference struct {
	// name is the ConfigMap's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Name string `json:"name"`
	// key is the ConfigMap's key; ca.crt by default.
	// +optional
	// +kubebuilder:default=ca.crt
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key,omitempty"`
}

// RoomServiceStatus is the observed state of a RoomService's pool and rollout.
type RoomServiceStatus struct {
	PoolStatus `json:",inline"`
}

// RoomService declares the container runtime (containerd) configuration of a pool of Nodes and
// rolls it out node by node: a node agent writes a containerd drop-in and registry hosts files,
// restarts containerd only when the drop-in changed, checks its health through the CRI socket and
// rolls back if containerd does not come back.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=rms,categories=innkeeper
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 63",message="metadata.name must be at most 63 characters: it names the pool's DaemonSet and labels its objects"
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Nodes",type=string,JSONPath=`.status.nodesReady`,description="Nodes updated and Ready, of the Nodes the nodeSelector selects"
// +kubebuilder:printcolumn:name="Updated",type=integer,JSONPath=`.status.nodes.updated`,description="Nodes that run the current configuration"
// +kubebuilder:printcolumn:name="Degraded",type=integer,JSONPath=`.status.nodes.degraded`,description="Nodes that failed to apply the configuration"
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Config",type=string,JSONPath=`.status.configHash`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type RoomService struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired containerd configuration and the pool it applies to.
	// +required
	Spec RoomServiceSpec `json:"spec"`

	// status is what innkeeper observed of the pool and the rollout.
	// +optional
	Status RoomServiceStatus `json:"status,omitzero"`
}

// +kubebuilder:object:root=true

// RoomServiceList is a list of RoomServices.
type RoomServiceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RoomService `json:"items"`
}

func init() {
	register(&RoomService{}, &RoomServiceList{})
}

// PoolSpec returns the RoomService's pool and rollout settings.
func (r *RoomService) PoolSpec() *PoolSpec { return &r.Spec.PoolSpec }

// PoolStatus returns the RoomService's status.
func (r *RoomService) PoolStatus() *PoolStatus { return &r.Status.PoolStatus }

// NodeFilesSpec returns what the RoomService does about its Nodes' files.
func (r *RoomService) NodeFilesSpec() NodeFiles { return r.Spec.NodeFiles }
