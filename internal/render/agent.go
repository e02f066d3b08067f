package render

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// Components the node agent configures, as its --component names them. The kubelet and containerd
// render packages name their components by them.
const (
	KubeletComponent    = "kubelet"
	ContainerdComponent = "containerd"
)

// nodeNameEnv holds the Node's name in the agent's container (from the downward API): the default
// of its --node-name.
const nodeNameEnv = "NODE_NAME"

// The agent's flags, by name, for both Bind and Args.
const (
	flagComponent         = "component"
	flagConfig            = "config"
	flagConfigHash        = "config-hash"
	flagHostRoot          = "host-root"
	flagHealthPort        = "health-port"
	flagMetricsPort       = "metrics-port"
	flagNodeName          = "node-name"
	flagHealthTimeout     = "health-timeout"
	flagDropInDir         = "drop-in-dir"
	flagKubeletHealthzURL = "kubelet-healthz-url"
	flagProcRoot          = "proc-root"
	flagContainerdConfig  = "containerd-config"
	flagCRISocket         = "cri-socket"
	flagKubeconfig        = "kubeconfig"
	flagObjectUID         = "object-uid"
	flagDriftPolicy       = "drift-policy"
	flagDriftInterval     = "drift-interval"
	flagDrain             = "drain"
)

// AgentFlags is the node agent's command line (`innkeeper agent`): the contract between a
// component's DaemonSet, whose renderer fills it and passes its Args, and the agent, which parses
// them with the flags Bind defines. Start from DefaultAgentFlags.
type AgentFlags struct {
	// Component is the node component to configure: KubeletComponent or ContainerdComponent.
	Component string
	// Config is the rendered configuration, mounted from its ConfigMap: one file, or the directory
	// of all its files.
	Config string
	// ConfigHash is the configuration's hash, from the pod template; the agent checks the files
	// against it.
	ConfigHash string
	// HostRoot is where the pod mounts the host's root filesystem (the parts the agent needs).
	HostRoot string
	// HealthPort is the agent's port on 127.0.0.1 for /healthz and /readyz; the pod's readiness
	// probe asks it.
	HealthPort int
	// MetricsPort is the agent's port, on every address of the host, for /metrics over HTTPS, to
	// callers the API server authorizes for GET /metrics (as the manager's); 0 serves none.
	MetricsPort int
	// NodeName is this Node's name; by default $NODE_NAME, which AgentContainer sets.
	NodeName string
	// HealthTimeout is how long the agent waits for the component to be healthy after a restart
	// before it rolls back.
	HealthTimeout time.Duration
	// DropInDir is the kubelet's --config-dir on the host.
	DropInDir string
	// KubeletHealthzURL is the kubelet's healthz endpoint.
	KubeletHealthzURL string
	// ProcRoot is the host's /proc (the kubelet agent's pod shares the host's PID namespace).
	ProcRoot string
	// ContainerdConfig is containerd's main configuration file on the host.
	ContainerdConfig string
	// CRISocket is containerd's CRI socket, as mounted in the agent's pod.
	CRISocket string
	// Kubeconfig is the path of a kubeconfig; empty for the in-cluster configuration.
	Kubeconfig string
	// ObjectUID is the UID of the object whose configuration the agent applies. The agent watches
	// its Node's admission label (hotelv1alpha1.AdmittedLabel) for it: the UID asks it to apply, its
	// revert value (hotelv1alpha1.RevertValue) to revert the Node. Empty: it applies, and watches
	// nothing (a DaemonSet from before reverts existed).
	ObjectUID string
	// DriftPolicy is what the agent does when the configuration's files on the host change after
	// it applied them: Correct (put them back) or Report (record it on the Node).
	DriftPolicy string
	// DriftInterval is how often the agent checks the files once applied; 0: never.
	DriftInterval time.Duration
	// Drain: a change that needs the Node drained (spec.rollout.drain) waits until the manager has
	// drained it; false: the component restarts under the Node's pods.
	Drain bool
}

// DefaultAgentFlags returns what the agent takes when a flag is not given; the Node's name, which
// comes from $NODE_NAME, aside.
func DefaultAgentFlags() AgentFlags {
	return AgentFlags{
		Component:         KubeletComponent,
		HostRoot:          "/host",
		HealthPort:        10288,
		HealthTimeout:     2 * time.Minute,
		DropInDir:         "/etc/kubernetes/kubelet.conf.d",
		KubeletHealthzURL: "http://127.0.0.1:10248/healthz",
		ProcRoot:          "/proc",
		ContainerdConfig:  "/etc/containerd/config.toml",
		CRISocket:         "/run/containerd/containerd.sock",
		DriftPolicy:       "Correct",
		DriftInterval:     30 * time.Second,
		Drain:             true,
	}
}

// Bind defines the agent's flags on fs, each setting its field of f, with DefaultAgentFlags as
// their defaults and $NODE_NAME as --node-name's.
func (f *AgentFlags) Bind(fs *flag.FlagSet) {
	d := DefaultAgentFlags()
	fs.StringVar(&f.Component, flagComponent, d.Component,
		"The node component to configure: "+KubeletComponent+" or "+ContainerdComponent+".")
	fs.StringVar(&f.Config, flagConfig, d.Config,
		"The rendered configuration, mounted from its ConfigMap: one file, or the directory of all its files.")
	fs.StringVar(&f.ConfigHash, flagConfigHash, d.ConfigHash,
		"Hash of the configuration, from the pod template; the agent checks the file against it.")
	fs.StringVar(&f.HostRoot, flagHostRoot, d.HostRoot, "Where the host's root filesystem is mounted.")
	fs.IntVar(&f.HealthPort, flagHealthPort, d.HealthPort, "Port on 127.0.0.1 for /healthz and /readyz.")
	fs.IntVar(&f.MetricsPort, flagMetricsPort, d.MetricsPort,
		"Port on every address of the host for /metrics, over HTTPS, to callers the API server authorizes for GET /metrics; 0 serves none.")
	fs.StringVar(&f.NodeName, flagNodeName, os.Getenv(nodeNameEnv), "This Node's name (default: $"+nodeNameEnv+").")
	fs.DurationVar(&f.HealthTimeout, flagHealthTimeout, d.HealthTimeout,
		"How long to wait for the component to be healthy after a restart before rolling back.")
	fs.StringVar(&f.DropInDir, flagDropInDir, d.DropInDir,
		"The kubelet's --config-dir on the host (the pod mounts only this directory).")
	fs.StringVar(&f.KubeletHealthzURL, flagKubeletHealthzURL, d.KubeletHealthzURL, "The kubelet's healthz endpoint.")
	fs.StringVar(&f.ProcRoot, flagProcRoot, d.ProcRoot, "The host's /proc (the pod shares the host's PID namespace).")
	fs.StringVar(&f.ContainerdConfig, flagContainerdConfig, d.ContainerdConfig,
		"containerd's main configuration file on the host, which must import the drop-in directory.")
	fs.StringVar(&f.CRISocket, flagCRISocket, d.CRISocket, "containerd's CRI socket, as mounted in the agent's pod.")
	fs.StringVar(&f.Kubeconfig, flagKubeconfig, d.Kubeconfig, "Path to a kubeconfig; default: in-cluster.")
	fs.StringVar(&f.DriftPolicy, flagDriftPolicy, d.DriftPolicy,
		"What to do when the configuration's files on the host change after they were applied: Correct (put them back) or Report (record it on the Node).")
	fs.DurationVar(&f.DriftInterval, flagDriftInterval, d.DriftInterval,
		"How often to check, once the configuration is applied, that the host's files still hold it; 0 checks never.")
	fs.BoolVar(&f.Drain, flagDrain, d.Drain,
		"Wait, before a change that needs it (the kubelet's CPU or topology manager policy, a reservation that grows), "+
			"until the manager has drained the Node; false restarts under the Node's pods.")
	fs.StringVar(&f.ObjectUID, flagObjectUID, d.ObjectUID,
		"UID of the object whose configuration this is: the agent applies it while its Node's admission label holds the UID, "+
			"and reverts the Node when it holds revert.<UID>. Empty: apply, and watch nothing.")
}

// Args returns f as the agent's arguments after "agent", as the DaemonSet's pod template passes
// them: first the flags the pod is built around, always (the component, its configuration and its
// hash, the host's root, and for containerd the CRI socket, whose directory the pod mounts); then
// every other flag whose value is not the agent's default; last the health port, which the pod's
// readiness probe asks too. The order is fixed, so that the pod template, and with it the
// DaemonSet's rollout, changes only when a value does.
func (f AgentFlags) Args() []string {
	d := DefaultAgentFlags()
	args := []string{
		agentArg(flagComponent, f.Component),
		agentArg(flagConfig, f.Config),
		agentArg(flagConfigHash, f.ConfigHash),
		agentArg(flagHostRoot, f.HostRoot),
	}
	if f.Component == ContainerdComponent || f.CRISocket != d.CRISocket {
		args = append(args, agentArg(flagCRISocket, f.CRISocket))
	}
	for _, o := range []struct{ name, value, def string }{
		{flagNodeName, f.NodeName, d.NodeName},
		{flagHealthTimeout, f.HealthTimeout.String(), d.HealthTimeout.String()},
		{flagDropInDir, f.DropInDir, d.DropInDir},
		{flagKubeletHealthzURL, f.KubeletHealthzURL, d.KubeletHealthzURL},
		{flagProcRoot, f.ProcRoot, d.ProcRoot},
		{flagContainerdConfig, f.ContainerdConfig, d.ContainerdConfig},
		{flagKubeconfig, f.Kubeconfig, d.Kubeconfig},
		{flagObjectUID, f.ObjectUID, d.ObjectUID},
		{flagDriftPolicy, f.DriftPolicy, d.DriftPolicy},
		{flagDriftInterval, f.DriftInterval.String(), d.DriftInterval.String()},
		{flagDrain, strconv.FormatBool(f.Drain), strconv.FormatBool(d.Drain)},
		{flagMetricsPort, strconv.Itoa(f.MetricsPort), strconv.Itoa(d.MetricsPort)},
	} {
		if o.value != o.def {
			args = append(args, agentArg(o.name, o.value))
		}
	}
	return append(args, agentArg(flagHealthPort, strconv.Itoa(f.HealthPort)))
}

// Validate returns an error unless the agent can run with f: a component it configures, a
// configuration, its hash and the Node's name.
func (f AgentFlags) Validate() error {
	var missing []string
	for _, required := range []struct{ name, value string }{
		{flagConfig, f.Config}, {flagConfigHash, f.ConfigHash}, {flagNodeName, f.NodeName},
	} {
		if required.value == "" {
			missing = append(missing, "--"+required.name)
		}
	}
	if len(missing) > 0 || (f.Component != KubeletComponent && f.Component != ContainerdComponent) {
		return fmt.Errorf("need %s or %s, and %v",
			agentArg(flagComponent, KubeletComponent), agentArg(flagComponent, ContainerdComponent), missing)
	}
	if f.DriftPolicy != "Correct" && f.DriftPolicy != "Report" {
		return fmt.Errorf("--%s must be Correct or Report, not %q", flagDriftPolicy, f.DriftPolicy)
	}
	return nil
}

func agentArg(name, value string) string { return "--" + name + "=" + value }

// AgentContainer returns the node agent's container (`innkeeper agent` with flags' Args), as every
// component that runs the agent runs it: privileged and as root, since systemd accepts restart
// requests over D-Bus from root only (the system bus's socket is at /run/dbus, which the caller
// mounts with the component's own directories); the Node's name from the downward API; Ready once
// its /readyz on the host's loopback says the configuration is applied, which is what paces the
// DaemonSet's rollout.
//
// resources are the installation's; nil for DefaultAgentResources.
func AgentContainer(image string, flags AgentFlags, resources *corev1.ResourceRequirements) *corev1ac.ContainerApplyConfiguration {
	c := corev1ac.Container()
	if flags.MetricsPort > 0 {
		// The pod runs in the host's network: the port is the host's too, named for a PodMonitor.
		c.WithPorts(corev1ac.ContainerPort().WithName("metrics").WithContainerPort(int32(flags.MetricsPort)).
			WithProtocol(corev1.ProtocolTCP))
	}
	return c.
		WithName("agent").
		WithImage(image).
		WithArgs(append([]string{"agent"}, flags.Args()...)...).
		WithEnv(
			corev1ac.EnvVar().WithName(nodeNameEnv).WithValueFrom(corev1ac.EnvVarSource().
				WithFieldRef(corev1ac.ObjectFieldSelector().WithFieldPath("spec.nodeName"))),
			corev1ac.EnvVar().WithName("DBUS_SYSTEM_BUS_ADDRESS").WithValue("unix:path=/run/dbus/system_bus_socket"),
		).
		WithSecurityContext(corev1ac.SecurityContext().WithPrivileged(true).WithRunAsUser(0).WithRunAsNonRoot(false)).
		WithReadinessProbe(corev1ac.Probe().
			WithHTTPGet(corev1ac.HTTPGetAction().WithHost("127.0.0.1").WithPath("/readyz").
				WithPort(intstr.FromInt32(int32(flags.HealthPort)))).
			WithPeriodSeconds(5).
			WithFailureThreshold(3)).
		WithResources(Resources(resources, DefaultAgentResources()))
}

// SetObject sets the flags that come from the object whose configuration the agent applies: its
// UID, and, for an object whose agents write files on its Nodes (hotelv1alpha1.NodeFilesObject),
// its driftPolicy when it sets one.
func (f *AgentFlags) SetObject(obj metav1.Object) {
	f.ObjectUID = string(obj.GetUID())
	if nf, ok := obj.(hotelv1alpha1.NodeFilesObject); ok && nf.NodeFilesSpec().DriftPolicy != "" {
		f.DriftPolicy = string(nf.NodeFilesSpec().DriftPolicy)
	}
}

// HostPathVolume returns a volume of the host's path, of type t ("" checks nothing).
func HostPathVolume(name, path string, t corev1.HostPathType) *corev1ac.VolumeApplyConfiguration {
	return corev1ac.Volume().WithName(name).WithHostPath(corev1ac.HostPathVolumeSource().WithPath(path).WithType(t))
}

// DefaultAgentResources are the node agent's resources unless the installation sets others: a
// small request, so that it is scheduled on a full Node, and a memory limit well above what it
// uses (about 20 MiB).
func DefaultAgentResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
	}
}

// Resources returns a container's resources, r as the installation sets them or def when it sets
// none (r nil), as an apply configuration that sets only what they set: empty ones set nothing.
func Resources(r *corev1.ResourceRequirements, def corev1.ResourceRequirements) *corev1ac.ResourceRequirementsApplyConfiguration {
	if r == nil {
		r = &def
	}
	ac := corev1ac.ResourceRequirements()
	if len(r.Requests) > 0 {
		ac.WithRequests(r.Requests)
	}
	if len(r.Limits) > 0 {
		ac.WithLimits(r.Limits)
	}
	return ac
}
