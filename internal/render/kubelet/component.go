package kubelet

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/pool"
	"github.com/innkeeper-dev/innkeeper/internal/render"
)

// Name is the component's name in object names, labels and node annotations, and its agent's
// --component.
const Name = render.KubeletComponent

// AgentHealthPort is the host port of the node agent's /readyz. The agent runs in the host's
// network namespace, to reach the kubelet's healthz on 127.0.0.1:10248.
const AgentHealthPort = 10288

// AgentMetricsPort is the host port of the node agent's /metrics.
const AgentMetricsPort = 10290

// DropInDir is the kubelet's --config-dir on the Nodes, where the agent writes DropInFile.
const DropInDir = "/etc/kubernetes/kubelet.conf.d"

// agentConfigDir is where the agent's pod mounts the rendered configuration.
const agentConfigDir = "/etc/innkeeper"

// AgentFlags returns the command line of the node agent that applies the configuration of this
// hash: the drop-in, mounted from its ConfigMap, into DropInDir.
func AgentFlags(hash string) render.AgentFlags {
	f := render.DefaultAgentFlags()
	f.Component = Name
	f.Config = agentConfigDir + "/" + DropInFile
	f.ConfigHash = hash
	f.HealthPort = AgentHealthPort
	f.MetricsPort = AgentMetricsPort
	f.DropInDir = DropInDir
	return f
}

// Component renders FloorManagers for the rollout engine: the kubelet drop-in, applied on each
// Node by the node agent.
type Component struct {
	// AgentImage is the image of the node agent (innkeeper's own image).
	AgentImage string
	// AgentServiceAccount is the ServiceAccount the agent runs as: it may read and annotate its Node.
	AgentServiceAccount string
	// AgentResources are the agent container's resources; nil means render.DefaultAgentResources.
	AgentResources *corev1.ResourceRequirements
}

var _ pool.Component = Component{}

// Name returns "kubelet".
func (Component) Name() string { return Name }

// NodeAgent returns true: the node agent applies the drop-in and reports on the Node.
func (Component) NodeAgent() bool { return true }

// Render returns the kubelet drop-in of a FloorManager.
func (Component) Render(obj pool.Object, _ pool.Inputs) (map[string]string, error) {
	fm, ok := obj.(*hotelv1alpha1.FloorManager)
	if !ok {
		return nil, fmt.Errorf("kubelet component got a %T, not a FloorManager", obj)
	}
	data, err := Render(&fm.Spec.Kubelet)
	if err != nil {
		return nil, err
	}
	return map[string]string{DropInFile: string(data)}, nil
}

// PodSpec returns the node agent's pod: privileged, as root, in the host's PID namespace (to read
// the kubelet's command line) and network namespace (to reach the kubelet's healthz on loopback),
// with the kubelet's drop-in directory and the system D-Bus socket, through which it restarts the
// kubelet.
func (c Component) PodSpec(obj pool.Object, cfg pool.Config) *corev1ac.PodSpecApplyConfiguration {
	flags := AgentFlags(cfg.Hash)
	flags.SetObject(obj)
	flags.Drain = obj.PoolSpec().Rollout.Drain.Policy != hotelv1alpha1.DrainPolicySkip
	return corev1ac.PodSpec().
		WithServiceAccountName(c.AgentServiceAccount).
		WithHostPID(true).
		WithHostNetwork(true).
		WithDNSPolicy(corev1.DNSClusterFirstWithHostNet).
		// The agent finishes or abandons a write within this; the file is never left half-written.
		WithTerminationGracePeriodSeconds(30).
		WithContainers(render.AgentContainer(c.AgentImage, flags, c.AgentResources).
			WithVolumeMounts(
				corev1ac.VolumeMount().WithName(pool.ConfigVolume).WithMountPath(agentConfigDir).WithReadOnly(true),
				corev1ac.VolumeMount().WithName("kubelet-drop-ins").WithMountPath(flags.HostRoot+flags.DropInDir),
				corev1ac.VolumeMount().WithName("dbus").WithMountPath("/run/dbus"),
			)).
		WithVolumes(
			render.HostPathVolume("kubelet-drop-ins", DropInDir, corev1.HostPathDirectoryOrCreate),
			render.HostPathVolume("dbus", "/run/dbus", corev1.HostPathDirectory),
		)
}
