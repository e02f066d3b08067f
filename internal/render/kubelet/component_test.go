package kubelet

import (
	"encoding/json"
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/pool"
	"github.com/innkeeper-dev/innkeeper/internal/render"
)

func TestComponentRender(t *testing.T) {
	g := NewWithT(t)
	c := Component{AgentImage: "img", AgentServiceAccount: "sa"}
	fm := &hotelv1alpha1.FloorManager{Spec: hotelv1alpha1.FloorManagerSpec{
		Kubelet: hotelv1alpha1.KubeletSpec{MaxPods: ptr.To[int32](7)}}}
	files, err := c.Render(fm, pool.Inputs{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(files).To(HaveKey(DropInFile))
	g.Expect(files[DropInFile]).To(ContainSubstring("maxPods: 7\n"))
}

func TestComponentPodSpec(t *testing.T) {
	g := NewWithT(t)
	c := Component{AgentImage: "registry.example/innkeeper:v1", AgentServiceAccount: "innkeeper-kubelet-agent"}
	ac := c.PodSpec(&hotelv1alpha1.FloorManager{}, pool.Config{Hash: "abc", ConfigMapName: "fm-kubelet-abc"})
	data, err := json.Marshal(ac)
	g.Expect(err).NotTo(HaveOccurred())
	var pod corev1.PodSpec
	g.Expect(json.Unmarshal(data, &pod)).To(Succeed())

	g.Expect(pod.ServiceAccountName).To(Equal("innkeeper-kubelet-agent"))
	g.Expect(pod.HostPID).To(BeTrue(), "the agent restarts the kubelet on the host")
	g.Expect(pod.HostNetwork).To(BeTrue(), "the agent checks the kubelet's healthz on the host's loopback")
	g.Expect(pod.Containers).To(HaveLen(1))
	agent := pod.Containers[0]
	g.Expect(agent.Image).To(Equal("registry.example/innkeeper:v1"))
	g.Expect(agent.Args).To(ContainElements("agent", "--component=kubelet", "--config-hash=abc"))
	// Byte for byte as rendered since v0.1.0 added --metrics-port: a change changes the pod
	// template, and so rolls every FloorManager's DaemonSet (the agents then find the drop-in
	// unchanged and restart nothing, but the pods are all replaced).
	g.Expect(agent.Args).To(Equal([]string{"agent", "--component=kubelet", "--config=/etc/innkeeper/50-innkeeper.conf",
		"--config-hash=abc", "--host-root=/host", "--metrics-port=10290", "--health-port=10288"}))
	g.Expect(agent.Ports).To(Equal([]corev1.ContainerPort{{Name: "metrics", ContainerPort: 10290, Protocol: corev1.ProtocolTCP}}))
	g.Expect(agent.SecurityContext.Privileged).To(Equal(ptr.To(true)))
	g.Expect(agent.ReadinessProbe.HTTPGet.Path).To(Equal("/readyz"))
	g.Expect(agent.Resources.Requests).To(HaveKey(corev1.ResourceCPU))
	g.Expect(agent.Resources.Limits).To(HaveKey(corev1.ResourceMemory))
	g.Expect(agent.VolumeMounts).To(ContainElement(HaveField("Name", pool.ConfigVolume)))
	var hostPaths []string
	for _, v := range pod.Volumes {
		if v.HostPath != nil {
			hostPaths = append(hostPaths, v.HostPath.Path)
		}
	}
	g.Expect(hostPaths).To(ConsistOf("/etc/kubernetes/kubelet.conf.d", "/run/dbus"))
	g.Expect(agent.VolumeMounts).To(ContainElement(corev1.VolumeMount{Name: "kubelet-drop-ins", MountPath: "/host/etc/kubernetes/kubelet.conf.d"}))
	g.Expect(agent.Env).To(ContainElement(corev1.EnvVar{Name: "DBUS_SYSTEM_BUS_ADDRESS", Value: "unix:path=/run/dbus/system_bus_socket"}))
	g.Expect(agent.SecurityContext.RunAsUser).To(Equal(ptr.To[int64](0)), "systemd takes restart requests from root only")
	g.Expect(agent.ReadinessProbe.HTTPGet.Port.IntValue()).To(Equal(AgentHealthPort))
	g.Expect(agent.Args).To(ContainElement(fmt.Sprintf("--health-port=%d", AgentHealthPort)))
	for _, m := range agent.VolumeMounts {
		found := m.Name == pool.ConfigVolume
		for _, v := range pod.Volumes {
			found = found || v.Name == m.Name
		}
		g.Expect(found).To(BeTrue(), "mount %s has no volume", m.Name)
	}
}

// Drains are the agent's default; a FloorManager that skips them says so to its agent.
func TestComponentPodSpecSkipsDrains(t *testing.T) {
	g := NewWithT(t)
	fm := &hotelv1alpha1.FloorManager{}
	fm.Spec.Rollout.Drain.Policy = hotelv1alpha1.DrainPolicySkip
	ac := Component{AgentImage: "img"}.PodSpec(fm, pool.Config{Hash: "abc"})
	g.Expect(ac.Containers[0].Args).To(ContainElement("--drain=false"))
	fm.Spec.Rollout.Drain.Policy = hotelv1alpha1.DrainPolicyDrain
	ac = Component{AgentImage: "img"}.PodSpec(fm, pool.Config{Hash: "abc"})
	g.Expect(ac.Containers[0].Args).NotTo(ContainElement(HavePrefix("--drain")))
}

// The agent's defaults, which render cannot take from this package (it imports render), are this
// package's: a difference would add a flag to every DaemonSet, and roll every Node again.
func TestAgentDefaultsAreTheKubelets(t *testing.T) {
	g := NewWithT(t)
	d := render.DefaultAgentFlags()
	g.Expect(d.DropInDir).To(Equal(DropInDir))
	g.Expect(d.HealthPort).To(Equal(AgentHealthPort))
	g.Expect(d.Component).To(Equal(Name))
}
