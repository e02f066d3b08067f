package pool

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

func TestUnconfigured(t *testing.T) {
	gpu := labels.SelectorFromSet(labels.Set{"pool": "gpu"})
	views := func(fmHash string, cgRolledOut bool) []kindView {
		return []kindView{
			{kind: "FloorManager", component: "kubelet", nodeAgent: true, objects: []objectView{
				{name: "gpu", uid: "fm-uid", selector: gpu, configHash: fmHash},
				{name: "cpu", uid: "fm-cpu", selector: labels.SelectorFromSet(labels.Set{"pool": "cpu"}), configHash: "c1"},
			}},
			{kind: "Concierge", component: "kube-proxy", objects: []objectView{
				{name: "all", uid: "cg-uid", selector: labels.Everything(), configHash: "k1", rolledOut: cgRolledOut},
			}},
			{kind: "RoomService", component: "containerd", nodeAgent: true},
		}
	}
	// joined is a gpu Node: admitted to the objects named by uid, running the kubelet configuration hash.
	joined := func(kubeletHash string, admittedTo ...string) *corev1.Node {
		n := &corev1.Node{}
		n.Labels = map[string]string{"pool": "gpu"}
		for _, uid := range admittedTo {
			switch uid {
			case "fm-uid":
				n.Labels[AdmittedLabel("kubelet")] = uid
			case "cg-uid":
				n.Labels[AdmittedLabel("kube-proxy")] = uid
			}
		}
		if kubeletHash != "" {
			n.Annotations = appliedAnnotations(kubeletHash)
		}
		return n
	}
	tests := []struct {
		name  string
		node  *corev1.Node
		views []kindView
		want  []string
	}{
		{name: "admitted nowhere yet: waits for every object that selects it", node: joined(""),
			views: views("g1", true), want: []string{"Concierge all", "FloorManager gpu"}},
		{name: "admitted, not configured yet", node: joined("", "fm-uid", "cg-uid"),
			views: views("g1", false), want: []string{"Concierge all", "FloorManager gpu"}},
		{name: "the agent reports the configuration, but its component unhealthy", node: func() *corev1.Node {
			n := joined("g1", "fm-uid", "cg-uid")
			n.Annotations[hotelv1alpha1.AgentAnnotation("kubelet", hotelv1alpha1.AgentAnnotationState)] = hotelv1alpha1.AgentStateDegraded
			return n
		}(), views: views("g1", true), want: []string{"FloorManager gpu"}},
		{name: "the agent reports an older configuration", node: joined("g0", "fm-uid", "cg-uid"),
			views: views("g1", true), want: []string{"FloorManager gpu"}},
		{name: "configured by every object that selects it", node: joined("g1", "fm-uid", "cg-uid"),
			views: views("g1", true)},
		{name: "an object with no configuration yet has not configured it", node: joined("", "fm-uid", "cg-uid"),
			views: views("", true), want: []string{"FloorManager gpu"}},
		{name: "selected by nothing: waits for nothing", node: &corev1.Node{},
			views: []kindView{{kind: "FloorManager", component: "kubelet", nodeAgent: true,
				objects: []objectView{{name: "gpu", uid: "fm-uid", selector: gpu, configHash: "g1"}}}}},
		{name: "an invalid selector selects nothing", node: joined(""),
			views: []kindView{{kind: "FloorManager", component: "kubelet", nodeAgent: true,
				objects: []objectView{{name: "bad", uid: "x"}}}}},
		{name: "a label left by a deleted object: waits for the objects that select it", node: joined("g1", "cg-uid"),
			views: []kindView{{kind: "Concierge", component: "kube-proxy",
				objects: []objectView{{name: "new", uid: types.UID("cg-new"), selector: labels.Everything(), rolledOut: true}}}},
			want: []string{"Concierge new"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(unconfigured(tt.node, tt.views)).To(Equal(tt.want))
		})
	}
}
