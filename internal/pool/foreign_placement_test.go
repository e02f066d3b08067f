package pool

import (
	"slices"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
)

// byImage treats DaemonSets whose first container's image contains "proxy" as the component.
type byImage struct{}

func (byImage) Foreign(ds *appsv1.DaemonSet) bool {
	return strings.Contains(ds.Spec.Template.Spec.Containers[0].Image, "proxy")
}
func (byImage) ForeignReason() string { return "ForeignProxy" }
func (byImage) TakeOver(Object) bool  { return false }

func TestForeignDaemonSets(t *testing.T) {
	ds := func(ns, name, image string, mutate func(*corev1.PodSpec)) appsv1.DaemonSet {
		d := appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
		d.Spec.Template.Spec.Containers = []corev1.Container{{Image: image}}
		if mutate != nil {
			mutate(&d.Spec.Template.Spec)
		}
		return d
	}
	nodeWith := func(name string, nodeLabels map[string]string, taints ...corev1.Taint) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: nodeLabels}, Spec: corev1.NodeSpec{Taints: taints}}
	}
	selected := []*corev1.Node{
		nodeWith("b", map[string]string{"pool": "gpu"}),
		nodeWith("a", map[string]string{"pool": "gpu"}),
		nodeWith("tainted", map[string]string{"pool": "gpu"}, corev1.Taint{Key: "gpu", Effect: corev1.TaintEffectNoSchedule}),
		nodeWith("cordoned", map[string]string{"pool": "gpu"}, corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}),
	}
	ours := ds("innkeeper-system", "cg-kube-proxy", "kube-proxy", nil)
	ours.Labels = map[string]string{LabelManagedBy: ManagedByValue}
	excluding := ds("kube-system", "kube-proxy", "kube-proxy", func(p *corev1.PodSpec) {
		p.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
				{Key: "pool", Operator: corev1.NodeSelectorOpNotIn, Values: []string{"gpu"}}}}}}}}
	})

	tests := []struct {
		name string
		dss  []appsv1.DaemonSet
		want []foreignOverlap
	}{
		{name: "none", dss: nil},
		{name: "innkeeper's own is not foreign", dss: []appsv1.DaemonSet{ours}},
		{name: "nor the object's own DaemonSet that lost innkeeper's label: applying puts it back",
			dss: []appsv1.DaemonSet{ds("innkeeper-system", "cg-kube-proxy", "kube-proxy", nil)}},
		{name: "another component", dss: []appsv1.DaemonSet{ds("kube-system", "cni", "cilium", nil)}},
		{name: "kubeadm's, on every Node it tolerates", dss: []appsv1.DaemonSet{ds("kube-system", "kube-proxy", "kube-proxy", nil)},
			want: []foreignOverlap{{daemonSet: "kube-system/kube-proxy", nodes: []string{"a", "b", "cordoned"}}}},
		{name: "one that tolerates every taint", dss: []appsv1.DaemonSet{ds("kube-system", "kube-proxy", "kube-proxy", func(p *corev1.PodSpec) {
			p.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
		})}, want: []foreignOverlap{{daemonSet: "kube-system/kube-proxy", nodes: []string{"a", "b", "cordoned", "tainted"}}}},
		{name: "one whose affinity excludes the pool", dss: []appsv1.DaemonSet{excluding}},
		{name: "one whose nodeSelector misses the pool", dss: []appsv1.DaemonSet{ds("kube-system", "kube-proxy-windows", "kube-proxy", func(p *corev1.PodSpec) {
			p.NodeSelector = map[string]string{"kubernetes.io/os": "windows"}
		})}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			NewWithT(t).Expect(foreignDaemonSets(byImage{}, tt.dss, selected, "innkeeper-system/cg-kube-proxy")).To(Equal(tt.want))
		})
	}
}

func TestExcludingAffinity(t *testing.T) {
	key := AdmittedLabel("kube-proxy")
	nodeLabels := []map[string]string{
		{}, {"os": "windows"}, {key: "uid-a"}, {key: "uid-b"}, {key: "uid-c"}, {key: "uid-a", "os": "windows"},
		{key: "revert.uid-a"},
	}
	linuxOnly := &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
			{Key: "os", Operator: corev1.NodeSelectorOpNotIn, Values: []string{"windows"}}}}}}}}
	twoTerms := &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{
			{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "os", Operator: corev1.NodeSelectorOpIn, Values: []string{"windows"}}}},
			{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "os", Operator: corev1.NodeSelectorOpDoesNotExist}}},
		}}}}
	tests := []struct {
		name     string
		original *corev1.Affinity
		uids     []string
	}{
		{name: "no affinity, one object", uids: []string{"uid-a"}},
		{name: "no affinity, two objects", uids: []string{"uid-b", "uid-a"}},
		{name: "an affinity of its own", original: linuxOnly, uids: []string{"uid-a"}},
		{name: "terms of its own, each narrowed", original: twoTerms, uids: []string{"uid-a", "uid-c"}},
		{name: "no object: the original", original: linuxOnly},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			original := tt.original.DeepCopy()
			got := excludingAffinity(tt.original, key, tt.uids)
			g.Expect(tt.original).To(Equal(original), "the original is not changed")
			// On every Node: it runs the DaemonSet exactly when the original allowed it and the Node is
			// not admitted to one of the objects' rollouts.
			for _, labels := range nodeLabels {
				node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: labels}}
				allowed, _ := nodeaffinity.GetRequiredNodeAffinity(&corev1.Pod{Spec: corev1.PodSpec{Affinity: tt.original}}).Match(node)
				runs, _ := nodeaffinity.GetRequiredNodeAffinity(&corev1.Pod{Spec: corev1.PodSpec{Affinity: got}}).Match(node)
				g.Expect(runs).To(Equal(allowed && !slices.Contains(tt.uids, labels[key])), "node %v", labels)
			}
			ds := &appsv1.DaemonSet{}
			ds.Spec.Template.Spec.Affinity = got
			for _, uid := range tt.uids {
				g.Expect(keptOff(ds, key, types.UID(uid))).To(BeTrue(), uid)
			}
			g.Expect(keptOff(ds, key, "uid-other")).To(BeFalse())
		})
	}
}
