package pool

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

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

// The cache may not hold yet an object created a moment before a Node registered: a Node that waits
// for nothing in the cache loses the taint only if the objects read from the API server agree.
func TestRegistrationConfirmsWithTheAPIServer(t *testing.T) {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(hotelv1alpha1.AddToScheme(scheme))
	taint := corev1.Taint{Key: hotelv1alpha1.TaintUnconfigured, Effect: corev1.TaintEffectNoSchedule}
	newNode := func() *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "gpu-0", Labels: map[string]string{"pool": "gpu"}},
			Spec: corev1.NodeSpec{Taints: []corev1.Taint{taint}}}
	}
	selecting := &hotelv1alpha1.FloorManager{ObjectMeta: metav1.ObjectMeta{Name: "gpu", UID: "fm-uid"},
		Spec: hotelv1alpha1.FloorManagerSpec{PoolSpec: hotelv1alpha1.PoolSpec{
			NodeSelector: hotelv1alpha1.NodeSelector{MatchLabels: map[string]hotelv1alpha1.LabelValue{"pool": "gpu"}}}}}
	tests := []struct {
		name        string
		cached      []client.Object
		live        []client.Object
		wantTainted bool
	}{
		{name: "the cache and the API server hold no object that selects it: it loses the taint"},
		{name: "only the API server holds the FloorManager that selects it: it keeps the taint",
			live: []client.Object{selecting}, wantTainted: true},
		{name: "the cache holds it too: it keeps the taint",
			cached: []client.Object{selecting}, live: []client.Object{selecting}, wantTainted: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			cached := fake.NewClientBuilder().WithScheme(scheme).WithObjects(append(tt.cached, newNode())...).Build()
			live := fake.NewClientBuilder().WithScheme(scheme).WithObjects(append(tt.live, newNode())...).Build()
			r := &Reconciler{kind: Kind{Component: kubeletLike{}, NewObject: newFloorManager},
				gvk: hotelv1alpha1.GroupVersion.WithKind("FloorManager"), objects: cached}
			reg := &Registration{client: cached, live: live, kinds: []*Reconciler{r}, recorder: events.NewFakeRecorder(10)}

			_, err := reg.Reconcile(ctx, ctrl.Request{NamespacedName: types.NamespacedName{Name: "gpu-0"}})
			g.Expect(err).NotTo(HaveOccurred())
			n := &corev1.Node{}
			g.Expect(cached.Get(ctx, client.ObjectKey{Name: "gpu-0"}, n)).To(Succeed())
			if tt.wantTainted {
				g.Expect(n.Spec.Taints).To(ContainElement(HaveField("Key", taint.Key)))
			} else {
				g.Expect(n.Spec.Taints).To(BeEmpty())
			}
		})
	}
}
