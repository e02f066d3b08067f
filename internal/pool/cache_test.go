package pool

import (
	"reflect"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// kubeadmKubeProxy is a DaemonSet as kubeadm deploys kube-proxy, with what a live object carries.
func kubeadmKubeProxy() *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "kube-system", Name: "kube-proxy", UID: "uid-1", ResourceVersion: "7", Generation: 3,
			Labels: map[string]string{"k8s-app": "kube-proxy"},
			Annotations: map[string]string{
				"deprecated.daemonset.template.generation":         "3",
				"kubectl.kubernetes.io/last-applied-configuration": "{...}",
				AnnotationTakenOverBy:                              "general",
			},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubeadm"}},
		},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-proxy"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"k8s-app": "kube-proxy"}},
				Spec: corev1.PodSpec{
					NodeSelector: map[string]string{"kubernetes.io/os": "linux"},
					Affinity:     &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{}},
					Tolerations:  []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
					Containers: []corev1.Container{{
						Name: "kube-proxy", Image: "registry.k8s.io/kube-proxy:v1.37.2",
						Command:      []string{"/usr/local/bin/kube-proxy", "--config=/var/lib/kube-proxy/config.conf"},
						Env:          []corev1.EnvVar{{Name: "NODE_NAME"}},
						VolumeMounts: []corev1.VolumeMount{{Name: "kube-proxy", MountPath: "/var/lib/kube-proxy"}},
					}},
					Volumes:           []corev1.Volume{{Name: "kube-proxy"}},
					HostNetwork:       true,
					PriorityClassName: "system-node-critical",
				},
			},
		},
		Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 5000, NumberReady: 4999},
	}
}

func TestSlimDaemonSet(t *testing.T) {
	t.Run("another DaemonSet keeps its identity and placement", func(t *testing.T) {
		g := NewWithT(t)
		out, err := SlimDaemonSet(kubeadmKubeProxy())
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(out).To(Equal(&appsv1.DaemonSet{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: "kube-system", Name: "kube-proxy", UID: "uid-1", ResourceVersion: "7", Generation: 3,
				Labels:      map[string]string{"k8s-app": "kube-proxy"},
				Annotations: map[string]string{AnnotationTakenOverBy: "general"},
			},
			Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				NodeSelector: map[string]string{"kubernetes.io/os": "linux"},
				Affinity:     &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{}},
				Tolerations:  []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
				HostNetwork:  true,
				Containers: []corev1.Container{{Name: "kube-proxy", Image: "registry.k8s.io/kube-proxy:v1.37.2",
					Command: []string{"/usr/local/bin/kube-proxy", "--config=/var/lib/kube-proxy/config.conf"}}},
			}}},
		}))
	})
	t.Run("innkeeper's own stays whole, managed fields included", func(t *testing.T) {
		g := NewWithT(t)
		ours := kubeadmKubeProxy()
		ours.Labels[LabelManagedBy] = ManagedByValue
		want := ours.DeepCopy()
		out, err := SlimDaemonSet(ours)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(out).To(Equal(want))
	})
	t.Run("a tombstone passes through", func(t *testing.T) {
		g := NewWithT(t)
		out, err := SlimDaemonSet("tombstone")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(out).To(Equal("tombstone"))
	})
}

func TestStripNodeSharesResourceLists(t *testing.T) {
	g := NewWithT(t)
	withMemory := func(name, memory string) *corev1.Node {
		n := node(name, nil, nil)
		n.Status.Capacity[corev1.ResourceMemory] = resource.MustParse(memory)
		n.Status.Capacity["hugepages-2Mi"] = resource.MustParse("0")
		return n
	}
	stripper := NewNodeStripper()
	strip := func(n *corev1.Node) *corev1.Node {
		out, err := stripper.Strip(n)
		g.Expect(err).NotTo(HaveOccurred())
		return out.(*corev1.Node)
	}
	a, b := strip(withMemory("a", "8Gi")), strip(withMemory("b", "8Gi"))
	// Another spelling of the same amount is the same list.
	c := strip(withMemory("c", "8388608Ki"))
	other := strip(withMemory("other", "16Gi"))

	addr := func(l corev1.ResourceList) uintptr { return reflect.ValueOf(l).Pointer() }
	g.Expect(addr(a.Status.Capacity)).To(Equal(addr(b.Status.Capacity)), "same capacity, one map")
	g.Expect(addr(a.Status.Capacity)).To(Equal(addr(c.Status.Capacity)))
	g.Expect(addr(a.Status.Allocatable)).To(Equal(addr(other.Status.Allocatable)), "allocatable is the same")
	g.Expect(addr(a.Status.Capacity)).NotTo(Equal(addr(other.Status.Capacity)))
	g.Expect(other.Status.Capacity).To(HaveLen(4), "only the summed resources")
	g.Expect(other.Status.Capacity[corev1.ResourceMemory]).To(Equal(resource.MustParse("16Gi")))
	g.Expect(NodeChanged(a, c, "kubelet")).To(BeFalse())
	g.Expect(NodeChanged(a, other, "kubelet")).To(BeTrue())
}

// A host-network kube-proxy runs on a Node whose network is not up yet (the DaemonSet controller
// tolerates the taint for it), and the slimmed copy in the cache must still say so.
func TestSlimDaemonSetKeepsWhatPlacementNeeds(t *testing.T) {
	g := NewWithT(t)
	ds := kubeadmKubeProxy()
	ds.Spec.Template.Spec.Tolerations = nil
	ds.Spec.Template.Spec.Affinity = nil
	ds.Spec.Template.Spec.Containers[0].Image = "registry.k8s.io/kube-proxy:v1.37.2"
	slim, err := SlimDaemonSet(ds)
	g.Expect(err).NotTo(HaveOccurred())
	newNode := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "new", Labels: map[string]string{"kubernetes.io/os": "linux"}},
		Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: corev1.TaintNodeNetworkUnavailable, Effect: corev1.TaintEffectNoSchedule}}}}
	g.Expect(foreignDaemonSets(byImage{}, []appsv1.DaemonSet{*slim.(*appsv1.DaemonSet)}, []*corev1.Node{newNode}, "innkeeper-system/cg-kube-proxy")).
		To(HaveLen(1), "the slimmed DaemonSet must place a pod where the whole one does")
}

func TestStripNode(t *testing.T) {
	g := NewWithT(t)
	n := node("a", map[corev1.NodeConditionType]corev1.ConditionStatus{corev1.NodeDiskPressure: corev1.ConditionTrue}, map[string]string{
		"hotel.innkeeper.dev/kubelet-config": "h1", "node.alpha.kubernetes.io/ttl": "0"})
	n.Labels = map[string]string{"pool": "gpu"}
	n.ResourceVersion, n.UID = "42", "uid-a"
	n.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubelet"}}
	n.Spec.Taints = []corev1.Taint{{Key: "gpu", Effect: corev1.TaintEffectNoSchedule}}
	n.Status.Images = []corev1.ContainerImage{{Names: []string{"img"}, SizeBytes: 1}}
	n.Status.Conditions[0].Message = "kubelet is posting ready status"
	n.Status.Conditions[0].LastHeartbeatTime = metav1.Now()
	n.Status.Capacity["hugepages-2Mi"] = resource.MustParse("1Gi")
	n.Status.NodeInfo.KubeletVersion = "v1.37.2"

	stripper := NewNodeStripper()
	out, err := stripper.Strip(n)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(Equal(&corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "a", UID: "uid-a", ResourceVersion: "42", Labels: map[string]string{"pool": "gpu"},
			Annotations: map[string]string{"hotel.innkeeper.dev/kubelet-config": "h1"}},
		Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: "gpu", Effect: corev1.TaintEffectNoSchedule}}},
		Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue},
				{Type: corev1.NodeDiskPressure, Status: corev1.ConditionTrue}},
			Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("8Gi"),
				corev1.ResourcePods: resource.MustParse("110"), corev1.ResourceEphemeralStorage: resource.MustParse("50Gi")},
			Allocatable: n.Status.Allocatable,
		},
	}))

	other := &schema.GroupVersionKind{}
	passed, err := stripper.Strip(other)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(passed).To(BeIdenticalTo(other))
}
