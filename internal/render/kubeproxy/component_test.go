package kubeproxy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/distribution/reference"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/pool"
)

func podSpec(g Gomega, c Component, cg *hotelv1alpha1.Concierge) corev1.PodSpec {
	data, err := json.Marshal(c.PodSpec(cg, pool.Config{Hash: "abc", ConfigMapName: "cg-kube-proxy-abc"}))
	g.Expect(err).NotTo(HaveOccurred())
	var pod corev1.PodSpec
	g.Expect(json.Unmarshal(data, &pod)).To(Succeed())
	return pod
}

func TestComponentPodSpecRunsKubeProxyAsKubeadmDoes(t *testing.T) {
	g := NewWithT(t)
	c := Component{DefaultImage: "registry.k8s.io/kube-proxy:v1.37.2", ServiceAccount: "innkeeper-kube-proxy"}
	pod := podSpec(g, c, &hotelv1alpha1.Concierge{})
	g.Expect(pod.HostNetwork).To(BeTrue())
	g.Expect(pod.ServiceAccountName).To(Equal("innkeeper-kube-proxy"))
	g.Expect(pod.Containers).To(HaveLen(1))
	kp := pod.Containers[0]
	g.Expect(kp.Image).To(Equal("registry.k8s.io/kube-proxy:v1.37.2"))
	g.Expect(kp.Command).To(Equal([]string{"/usr/local/bin/kube-proxy", "--config=/var/lib/kube-proxy/config.conf", "--hostname-override=$(NODE_NAME)"}))
	g.Expect(kp.SecurityContext.Privileged).To(Equal(ptr.To(true)))
	g.Expect(kp.ReadinessProbe.HTTPGet.Port.IntValue()).To(Equal(DefaultHealthzPort))
	g.Expect(kp.VolumeMounts).To(ContainElements(
		corev1.VolumeMount{Name: pool.ConfigVolume, MountPath: "/var/lib/kube-proxy", ReadOnly: true},
		corev1.VolumeMount{Name: "xtables-lock", MountPath: "/run/xtables.lock"},
		corev1.VolumeMount{Name: "lib-modules", MountPath: "/lib/modules", ReadOnly: true},
	))
	fileOrCreate := corev1.HostPathFileOrCreate
	for _, e := range kp.Env {
		g.Expect(e.Name).NotTo(Equal("KUBERNETES_SERVICE_HOST"), "no API server address known: the in-cluster default")
	}
	withServer := podSpec(g, Component{APIServer: "https://cp.example.com"}, &hotelv1alpha1.Concierge{})
	g.Expect(withServer.Containers[0].Env).To(ContainElements(
		corev1.EnvVar{Name: "KUBERNETES_SERVICE_HOST", Value: "cp.example.com"},
		corev1.EnvVar{Name: "KUBERNETES_SERVICE_PORT", Value: "443"}))
	g.Expect(pod.Volumes).To(ContainElement(corev1.Volume{Name: "xtables-lock", VolumeSource: corev1.VolumeSource{
		HostPath: &corev1.HostPathVolumeSource{Path: "/run/xtables.lock", Type: &fileOrCreate}}}))
}

func TestComponentPodSpecFollowsTheSpec(t *testing.T) {
	g := NewWithT(t)
	cg := &hotelv1alpha1.Concierge{Spec: hotelv1alpha1.ConciergeSpec{
		Image:     ptr.To("mirror.example/kube-proxy:v1.37.1"),
		KubeProxy: hotelv1alpha1.KubeProxySpec{HealthzBindAddress: ptr.To("0.0.0.0:12256")},
	}}
	pod := podSpec(g, Component{DefaultImage: "registry.k8s.io/kube-proxy:v1.37.2"}, cg)
	g.Expect(pod.Containers[0].Image).To(Equal("mirror.example/kube-proxy:v1.37.1"))
	g.Expect(pod.Containers[0].ReadinessProbe.HTTPGet.Port.IntValue()).To(Equal(12256))
}

// kube-proxy's resources: the default is what every earlier release rendered; the installation's
// replace it.
func TestComponentResources(t *testing.T) {
	g := NewWithT(t)
	resources := func(c Component) corev1.ResourceRequirements {
		data, err := json.Marshal(c.PodSpec(&hotelv1alpha1.Concierge{}, pool.Config{Hash: "h", ConfigMapName: "cg-kube-proxy-h"}))
		g.Expect(err).NotTo(HaveOccurred())
		var pod corev1.PodSpec
		g.Expect(json.Unmarshal(data, &pod)).To(Succeed())
		return pod.Containers[0].Resources
	}
	g.Expect(resources(Component{DefaultImage: "kp"})).To(Equal(corev1.ResourceRequirements{Requests: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")}}))
	custom := corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")}}
	g.Expect(resources(Component{DefaultImage: "kp", Resources: &custom})).To(Equal(custom))
}

// The image goes into every pod of the pool: one that is no image reference must stop at render
// time (InvalidSpec), before any Node's kube-proxy is replaced by a pod that cannot pull (#15).
func TestComponentRenderChecksTheImage(t *testing.T) {
	for image, wantErr := range map[string]string{
		"registry.k8s.io/kube-proxy:v1.37.2":                          "",
		"mirror.example:5000/k8s/kube-proxy:v1.37.2@sha256:" + sha256: "",
		"kube-proxy:v1.37.2":                                          "",
		"registry.k8s.io/kube-proxy:v1.37.2 --v=10":                   "spec.image: Invalid value",
		"registry.k8s.io/kube-proxy:v1.37.2\n":                        "spec.image: Invalid value",
		"../../etc/passwd":                                            "spec.image: Invalid value",
		"Registry.k8s.io/Kube-Proxy:v1":                               "spec.image: Invalid value",
		"registry.k8s.io/kube-proxy@sha256:abc":                       "spec.image: Invalid value",
	} {
		t.Run(image, func(t *testing.T) {
			g := NewWithT(t)
			cg := &hotelv1alpha1.Concierge{Spec: hotelv1alpha1.ConciergeSpec{Image: ptr.To(image)}}
			_, err := Component{}.Render(cg, pool.Inputs{})
			if wantErr == "" {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			g.Expect(err).To(MatchError(ContainSubstring(wantErr)))
		})
	}
}

const sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// Admission checks an image by the grammar of the package the renderer parses it with: the
// CRD's rule holds that package's own regular expression, character for character.
func TestAdmissionHoldsTheReferenceGrammar(t *testing.T) {
	g := NewWithT(t)
	crd, err := os.ReadFile(filepath.Join("..", "..", "..", "config", "crd", "bases", "hotel.innkeeper.dev_concierges.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(crd)).To(ContainSubstring("rule: self.matches(r'" + reference.ReferenceRegexp.String() + "')"))
}
