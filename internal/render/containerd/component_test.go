package containerd

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/pool"
	"github.com/innkeeper-dev/innkeeper/internal/render"
)

func roomServiceWithCAs(refs ...*hotelv1alpha1.ConfigMapKeyReference) *hotelv1alpha1.RoomService {
	rs := &hotelv1alpha1.RoomService{Spec: hotelv1alpha1.RoomServiceSpec{Containerd: hotelv1alpha1.ContainerdSpec{ConfigVersion: 2}}}
	for i, ref := range refs {
		rs.Spec.Containerd.Registries = append(rs.Spec.Containerd.Registries, hotelv1alpha1.RegistryHost{
			Host:    fmt.Sprintf("registry-%d.example.com", i),
			Mirrors: []hotelv1alpha1.RegistryMirror{{URL: "https://mirror.example.com", CABundle: ref}},
		})
	}
	return rs
}

func TestComponentReferencesEachCABundleConfigMapOnce(t *testing.T) {
	g := NewWithT(t)
	rs := roomServiceWithCAs(
		&hotelv1alpha1.ConfigMapKeyReference{Name: "a", Key: "ca.crt"},
		&hotelv1alpha1.ConfigMapKeyReference{Name: "b", Key: "other.pem"},
		&hotelv1alpha1.ConfigMapKeyReference{Name: "a", Key: "second.pem"},
		nil,
	)
	g.Expect(Component{}.References(rs)).To(Equal([]string{"a", "b"}))
	g.Expect(Component{}.References(&hotelv1alpha1.FloorManager{})).To(BeEmpty())
}

func TestComponentRenderTakesCABundlesFromTheInputs(t *testing.T) {
	g := NewWithT(t)
	pem, err := os.ReadFile("testdata/ca-one.pem")
	g.Expect(err).NotTo(HaveOccurred())
	rs := roomServiceWithCAs(&hotelv1alpha1.ConfigMapKeyReference{Name: "mirror-ca"}) // key defaults to ca.crt

	files, err := Component{}.Render(rs, pool.Inputs{ConfigMaps: map[string]map[string]string{"mirror-ca": {"ca.crt": string(pem)}}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(files).To(ContainElement(string(pem)))

	_, err = Component{}.Render(rs, pool.Inputs{ConfigMaps: map[string]map[string]string{"mirror-ca": {"tls.crt": string(pem)}}})
	g.Expect(err).To(MatchError(ContainSubstring("ca.crt")), "a key missing from the ConfigMap is named")
}

func TestComponentPodSpec(t *testing.T) {
	g := NewWithT(t)
	c := Component{AgentImage: "registry.example/innkeeper:v1", AgentServiceAccount: "innkeeper-containerd-agent"}
	ac := c.PodSpec(&hotelv1alpha1.RoomService{}, pool.Config{Hash: "abc", ConfigMapName: "rs-containerd-abc"})
	data, err := json.Marshal(ac)
	g.Expect(err).NotTo(HaveOccurred())
	var pod corev1.PodSpec
	g.Expect(json.Unmarshal(data, &pod)).To(Succeed())

	g.Expect(pod.ServiceAccountName).To(Equal("innkeeper-containerd-agent"))
	g.Expect(pod.HostNetwork).To(BeTrue(), "the agent must not need the pod network while containerd restarts")
	g.Expect(pod.Containers).To(HaveLen(1))
	agent := pod.Containers[0]
	g.Expect(agent.Args).To(ContainElements("agent", "--component=containerd", "--config=/etc/innkeeper",
		"--config-hash=abc", "--cri-socket=/run/containerd/containerd.sock", fmt.Sprintf("--health-port=%d", AgentHealthPort)))
	// Byte for byte as rendered since v0.1.0 added --metrics-port: a change changes the pod
	// template, and so rolls every RoomService's DaemonSet (the agents then find the files
	// unchanged and restart nothing, but the pods are all replaced).
	g.Expect(agent.Args).To(Equal([]string{"agent", "--component=containerd", "--config=/etc/innkeeper", "--config-hash=abc",
		"--host-root=/host", "--cri-socket=/run/containerd/containerd.sock", "--metrics-port=10291", "--health-port=10289"}))
	g.Expect(agent.Ports).To(Equal([]corev1.ContainerPort{{Name: "metrics", ContainerPort: 10291, Protocol: corev1.ProtocolTCP}}))
	g.Expect(agent.SecurityContext.Privileged).To(Equal(ptr.To(true)))
	g.Expect(agent.ReadinessProbe.HTTPGet.Port.IntValue()).To(Equal(AgentHealthPort))
	g.Expect(AgentHealthPort).NotTo(Equal(10288), "the kubelet agent's port: a Node may run both agents")
	hostPaths := map[string]string{}
	for _, v := range pod.Volumes {
		if v.HostPath != nil {
			hostPaths[v.Name] = v.HostPath.Path
		}
	}
	g.Expect(hostPaths).To(Equal(map[string]string{
		"containerd-config": "/etc/containerd", "docker-certs": "/etc/docker/certs.d", "containerd-run": "/run/containerd",
		"dbus": "/run/dbus"}))
	g.Expect(agent.VolumeMounts).To(ContainElements(
		corev1.VolumeMount{Name: "containerd-config", MountPath: "/host/etc/containerd"},
		corev1.VolumeMount{Name: "docker-certs", MountPath: "/host/etc/docker/certs.d", ReadOnly: true},
		corev1.VolumeMount{Name: pool.ConfigVolume, MountPath: "/etc/innkeeper", ReadOnly: true},
	))
	// The agent trusts that it sees every one of AgentHostDirs: each is mounted under its host root.
	mounted := map[string]bool{}
	for _, m := range agent.VolumeMounts {
		for _, v := range pod.Volumes {
			if v.Name == m.Name && v.HostPath != nil && m.MountPath == "/host"+v.HostPath.Path {
				mounted[v.HostPath.Path] = true
			}
		}
	}
	for _, dir := range AgentHostDirs {
		g.Expect(mounted).To(HaveKey(dir), "the agent's pod does not mount %s under /host", dir)
	}
}

func TestRenderRefusesWhatNoConfigMapHolds(t *testing.T) {
	g := NewWithT(t)
	pem, err := os.ReadFile("testdata/ca-one.pem")
	g.Expect(err).NotTo(HaveOccurred())
	big := strings.Repeat(string(pem), MaxConfigSize/len(pem)/20+1)
	ref := hotelv1alpha1.ConfigMapKeyReference{Name: "big", Key: "ca.crt"}
	spec := hotelv1alpha1.ContainerdSpec{ConfigVersion: 3}
	for i := range 21 {
		spec.Registries = append(spec.Registries, hotelv1alpha1.RegistryHost{Host: fmt.Sprintf("r%d.example.com", i),
			Mirrors: []hotelv1alpha1.RegistryMirror{{URL: "https://mirror.example.com", CABundle: &ref}}})
	}
	_, err = Render(&spec, map[hotelv1alpha1.ConfigMapKeyReference]string{ref: big})
	g.Expect(err).To(MatchError(ContainSubstring("spec.containerd.registries: Too long")))

	spec.Registries = spec.Registries[:1]
	_, err = Render(&spec, map[hotelv1alpha1.ConfigMapKeyReference]string{ref: big})
	g.Expect(err).NotTo(HaveOccurred())
}

func TestDialTimeoutNeedsConfigVersion3(t *testing.T) {
	g := NewWithT(t)
	spec := hotelv1alpha1.ContainerdSpec{ConfigVersion: 2, Registries: []hotelv1alpha1.RegistryHost{{Host: "docker.io",
		Mirrors: []hotelv1alpha1.RegistryMirror{{URL: "https://m.example.com", DialTimeout: &metav1.Duration{Duration: time.Second}}}}}}
	_, err := Render(&spec, nil)
	g.Expect(err).To(MatchError(ContainSubstring("spec.containerd.registries[0].mirrors[0].dialTimeout: Forbidden: dialTimeout needs containerd 2.1")))
	spec.ConfigVersion = 3
	_, err = Render(&spec, nil)
	g.Expect(err).NotTo(HaveOccurred())
}

// The agent's default CRI socket, which render cannot take from this package (it imports render),
// is where this package mounts it.
func TestAgentDefaultSocketIsContainerds(t *testing.T) {
	NewWithT(t).Expect(render.DefaultAgentFlags().CRISocket).To(Equal(criSocketDir + "/containerd.sock"))
}
