package pool

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// kubeletLike is a Component named kubelet that renders nothing.
type kubeletLike struct{}

func (kubeletLike) Name() string                                     { return "kubelet" }
func (kubeletLike) NodeAgent() bool                                  { return true }
func (kubeletLike) Render(Object, Inputs) (map[string]string, error) { return nil, nil }
func (kubeletLike) PodSpec(Object, Config) *corev1ac.PodSpecApplyConfiguration {
	return corev1ac.PodSpec()
}

// The Node updates that reconcile a pool: those NodeChanged reports, and for an exclusive component
// (a foreign guard), placement taints.
func TestNodeChanged(t *testing.T) {
	base := func() *corev1.Node {
		n := node("a", nil, map[string]string{"other": "x"})
		n.Labels = map[string]string{"pool": "gpu"}
		n.Status.Conditions[0].LastHeartbeatTime = metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		n.Status.Images = []corev1.ContainerImage{{Names: []string{"img"}}}
		return n
	}
	tests := []struct {
		name   string
		change func(*corev1.Node)
		// exclusive is true for a component that another DaemonSet must not run beside (kube-proxy).
		exclusive bool
		want      bool
	}{
		{name: "heartbeat", change: func(n *corev1.Node) {
			n.Status.Conditions[0].LastHeartbeatTime = metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 10, 0, time.UTC))
		}},
		{name: "condition message", change: func(n *corev1.Node) { n.Status.Conditions[0].Message = "still fine" }},
		{name: "images", change: func(n *corev1.Node) { n.Status.Images = nil }},
		{name: "an annotation of someone else's", change: func(n *corev1.Node) { n.Annotations["other"] = "y" }},
		{name: "another component's agent annotation", change: func(n *corev1.Node) {
			n.Annotations[hotelv1alpha1.AgentAnnotation("containerd", "state")] = hotelv1alpha1.AgentStateDegraded
		}},
		{name: "label", change: func(n *corev1.Node) { n.Labels["pool"] = "cpu" }, want: true},
		{name: "condition status", change: func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionFalse }, want: true},
		{name: "new condition", change: func(n *corev1.Node) {
			n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: corev1.NodePIDPressure, Status: corev1.ConditionTrue})
		}, want: true},
		{name: "allocatable", change: func(n *corev1.Node) {
			n.Status.Allocatable[corev1.ResourcePods] = n.Status.Capacity[corev1.ResourceCPU]
		}, want: true},
		{name: "this component's agent state", change: func(n *corev1.Node) {
			n.Annotations[hotelv1alpha1.AgentAnnotation("kubelet", "state")] = hotelv1alpha1.AgentStateDegraded
		}, want: true},
		// A taint decides where another kube-proxy's DaemonSet places its pods.
		{name: "a taint, for an exclusive component", change: func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}
		}, exclusive: true, want: true},
		{name: "a taint, for another component", change: func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}
		}},
		{name: "a PreferNoSchedule taint places nothing", change: func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectPreferNoSchedule}}
		}, exclusive: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oldNode, newNode := base(), base()
			tt.change(newNode)
			r := &Reconciler{kind: Kind{Component: kubeletLike{}}}
			if tt.exclusive {
				r.foreign = &foreignGuard{ex: byImage{}}
			}
			update := event.UpdateEvent{ObjectOld: oldNode, ObjectNew: newNode}
			NewWithT(t).Expect(r.nodeChangePredicate().Update(update)).To(Equal(tt.want))
		})
	}
}

// The update event of the reconciler's own status write queues no reconcile; any other update of
// an object does, and so does any update of an object that does not decode, whose reconcile
// reports it.
func TestNotOwnStatusWrite(t *testing.T) {
	computed := hotelv1alpha1.PoolStatus{ObservedGeneration: 1, ConfigHash: "abc",
		Conditions: []metav1.Condition{{Type: hotelv1alpha1.ConditionReady, Status: metav1.ConditionTrue,
			Reason: hotelv1alpha1.ReasonAsExpected, LastTransitionTime: metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))}}}
	version := func(rv string, generation int64, period string, status hotelv1alpha1.PoolStatus) *unstructured.Unstructured {
		fm := &hotelv1alpha1.FloorManager{ObjectMeta: metav1.ObjectMeta{Name: "a", ResourceVersion: rv, Generation: generation},
			Status: hotelv1alpha1.FloorManagerStatus{PoolStatus: status}}
		content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(fm)
		if err != nil {
			t.Fatal(err)
		}
		if period != "" {
			content["spec"] = map[string]any{"kubelet": map[string]any{"evictionPressureTransitionPeriod": period}}
		}
		return &unstructured.Unstructured{Object: content}
	}
	other := *computed.DeepCopy()
	other.ConfigHash = "def"
	tests := []struct {
		name       string
		old, new   *unstructured.Unstructured
		noComputed bool
		want       bool
	}{
		{name: "the reconciler's own status write", old: version("1", 1, "", hotelv1alpha1.PoolStatus{}),
			new: version("2", 1, "", computed)},
		{name: "a status someone else wrote", old: version("1", 1, "", computed), new: version("2", 1, "", other), want: true},
		{name: "a new spec", old: version("1", 1, "", computed), new: version("2", 2, "", computed), want: true},
		{name: "a status written before the manager started", old: version("1", 1, "", hotelv1alpha1.PoolStatus{}),
			new: version("2", 1, "", computed), noComputed: true, want: true},
		{name: "a status write to an object that does not decode", old: version("1", 1, "2562048h", hotelv1alpha1.PoolStatus{}),
			new: version("2", 1, "2562048h", computed), want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Reconciler{kind: Kind{NewObject: func() Object { return &hotelv1alpha1.FloorManager{} }},
				gvk: hotelv1alpha1.GroupVersion.WithKind("FloorManager")}
			if !tt.noComputed {
				r.computed.Store("a", computed)
			}
			update := event.UpdateEvent{ObjectOld: tt.old, ObjectNew: tt.new}
			NewWithT(t).Expect(r.notOwnStatusWrite().Update(update)).To(Equal(tt.want))
		})
	}
}

// A Node joining or leaving a pool reconciles the oldest object that selects it and every newer
// one: a newer object's conflict can change through an object that starts or stops holding.
func TestClaimsAffectedBy(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	byPool := func(name string) metav1.LabelSelector {
		return metav1.LabelSelector{MatchLabels: map[string]string{"pool": name}}
	}
	peers := []Object{
		floorManager("gpu-newest", t0.Add(3*time.Minute), byPool("gpu")),
		floorManager("cpu", t0, byPool("cpu")),
		floorManager("everything", t0.Add(time.Minute), metav1.LabelSelector{}),
		floorManager("arm", t0.Add(2*time.Minute), byPool("arm")),
	}
	names := func(objs []Object) []string {
		var n []string
		for _, o := range objs {
			n = append(n, o.GetName())
		}
		return n
	}
	tests := []struct {
		name   string
		labels map[string]string
		want   []string
	}{
		{name: "the oldest pool's Node", labels: map[string]string{"pool": "cpu"},
			want: []string{"gpu-newest", "cpu", "everything", "arm"}},
		{name: "a Node only newer objects select", labels: map[string]string{"pool": "gpu"},
			want: []string{"gpu-newest", "everything", "arm"}},
		{name: "an unlabeled Node, which only an empty selector selects", labels: nil, want: []string{"gpu-newest", "everything", "arm"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			NewWithT(t).Expect(names(claimsAffectedBy(tt.labels, peers))).To(Equal(tt.want))
		})
	}
	NewWithT(t).Expect(claimsAffectedBy(map[string]string{"pool": "gpu"}, peers[:2])).To(Equal(peers[:1]),
		"an object older than every one that selects the Node is not affected")
	NewWithT(t).Expect(claimsAffectedBy(map[string]string{"pool": "gpu"}, peers[1:2])).To(BeEmpty(), "no object selects it")
}

func TestPoolMembershipChange(t *testing.T) {
	g := NewWithT(t)
	labeled := func(l map[string]string) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "a", Labels: l}}
	}
	p := poolMembershipChange()
	g.Expect(p.Create(event.CreateEvent{Object: labeled(nil)})).To(BeTrue())
	g.Expect(p.Delete(event.DeleteEvent{Object: labeled(nil)})).To(BeTrue())
	g.Expect(p.Update(event.UpdateEvent{ObjectOld: labeled(map[string]string{"pool": "gpu"}),
		ObjectNew: labeled(map[string]string{"pool": "cpu"})})).To(BeTrue(), "a label change")
	heartbeat := labeled(map[string]string{"pool": "gpu"})
	heartbeat.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	g.Expect(p.Update(event.UpdateEvent{ObjectOld: labeled(map[string]string{"pool": "gpu"}),
		ObjectNew: heartbeat})).To(BeFalse(), "anything but labels")
}
