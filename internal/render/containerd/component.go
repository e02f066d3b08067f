package containerd

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/pool"
	"github.com/innkeeper-dev/innkeeper/internal/render"
)

// AgentHealthPort is the host port of the containerd agent's /readyz; the kubelet agent's is 10288,
// and a Node may run both.
const AgentHealthPort = 10289

// AgentMetricsPort is the host port of the containerd agent's /metrics; the kubelet agent's is 10290.
const AgentMetricsPort = 10291

// agentConfigDir is where the agent's pod mounts the rendered configuration, all its files.
const agentConfigDir = "/etc/innkeeper"

// criSocketDir holds containerd's CRI socket on the Nodes.
const criSocketDir = "/run/containerd"

// AgentFlags returns the command line of the node agent that applies the configuration of this
// hash: every file of it, mounted from its ConfigMap, checked with containerd over its CRI socket.
func AgentFlags(hash string) render.AgentFlags {
	f := render.DefaultAgentFlags()
	f.Component = Name
	f.Config = agentConfigDir
	f.ConfigHash = hash
	f.HealthPort = AgentHealthPort
	f.MetricsPort = AgentMetricsPort
	f.CRISocket = criSocketDir + "/containerd.sock"
	return f
}

// Component renders RoomServices for the rollout engine: the containerd drop-in and the registry
// hosts files, applied on each Node by the node agent.
type Component struct {
	// AgentImage is the image of the node agent (innkeeper's own image).
	AgentImage string
	// AgentServiceAccount is the ServiceAccount the agent runs as: it may read and annotate its Node.
	AgentServiceAccount string
	// AgentResources are the agent container's resources; nil means render.DefaultAgentResources.
	AgentResources *corev1.ResourceRequirements
}

var (
	_ pool.Component   = Component{}
	_ pool.Referencing = Component{}
)

// Name returns "containerd".
func (Component) Name() string { return Name }

// NodeAgent returns true: the node agent applies the files and reports on the Node.
func (Component) NodeAgent() bool { return true }

// References returns the ConfigMaps holding the CA bundles of the RoomService's registry mirrors.
func (Component) References(obj pool.Object) []string {
	rs, ok := obj.(*hotelv1alpha1.RoomService)
	if !ok {
		return nil
	}
	var names []string
	for _, ref := range CABundles(&rs.Spec.Containerd) {
		if !slices.Contains(names, ref.Name) {
			names = append(names, ref.Name)
		}
	}
	return names
}

// Render returns the drop-in, hosts files and CA bundles of a RoomService. A CA bundle key missing
// from its ConfigMap fails the render, naming the field.
func (Component) Render(obj pool.Object, in pool.Inputs) (map[string]string, error) {
	rs, ok := obj.(*hotelv1alpha1.RoomService)
	if !ok {
		return nil, fmt.Errorf("containerd component got a %T, not a RoomService", obj)
	}
	bundles := map[hotelv1alpha1.ConfigMapKeyReference]string{}
	for _, ref := range CABundles(&rs.Spec.Containerd) {
		if data, ok := in.ConfigMaps[ref.Name][ref.Key]; ok {
			bundles[ref] = data
		}
	}
	return Render(&rs.Spec.Containerd, bundles)
}

// PodSpec returns the node agent's pod: privileged, as root, in the host's network namespace (its
// readiness probe is on the host's loopback, and it must not depend on the pod network while it
// restarts the runtime), with containerd's configuration directory, its socket's directory and the
// system D-Bus socket, through which it restarts containerd. Restarting containerd leaves running
// containers, the agent's own included, running: their shims outlive it.
func (c Component) PodSpec(obj pool.Object, cfg pool.Config) *corev1ac.PodSpecApplyConfiguration {
	flags := AgentFlags(cfg.Hash)
	flags.SetObject(obj)
	return corev1ac.PodSpec().
		WithServiceAccountName(c.AgentServiceAccount).
		WithHostNetwork(true).
		WithDNSPolicy(corev1.DNSClusterFirstWithHostNet).
		// The agent finishes or abandons a write within this; no file is ever left half-written.
		WithTerminationGracePeriodSeconds(30).
		WithContainers(render.AgentContainer(c.AgentImage, flags, c.AgentResources).
			WithVolumeMounts(
				corev1ac.VolumeMount().WithName(pool.ConfigVolume).WithMountPath(agentConfigDir).WithReadOnly(true),
				corev1ac.VolumeMount().WithName("containerd-config").WithMountPath(flags.HostRoot+AgentHostDirs[0]),
				// Read only: the agent only looks whether the drop-in would hide hosts files there.
				corev1ac.VolumeMount().WithName("docker-certs").WithMountPath(flags.HostRoot+DockerCertsDir).WithReadOnly(true),
				corev1ac.VolumeMount().WithName("containerd-run").WithMountPath(criSocketDir),
				corev1ac.VolumeMount().WithName("dbus").WithMountPath("/run/dbus"),
			)).
		WithVolumes(
			render.HostPathVolume("containerd-config", AgentHostDirs[0], corev1.HostPathDirectoryOrCreate),
			render.HostPathVolume("docker-certs", DockerCertsDir, corev1.HostPathDirectoryOrCreate),
			render.HostPathVolume("containerd-run", criSocketDir, corev1.HostPathDirectory),
			render.HostPathVolume("dbus", "/run/dbus", corev1.HostPathDirectory),
		)
}
