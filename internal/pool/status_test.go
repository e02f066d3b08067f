package pool

import (
	"errors"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// node builds a Node for tests: Ready unless a condition in conds says otherwise.
func node(name string, conds map[corev1.NodeConditionType]corev1.ConditionStatus, annotations map[string]string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations}}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	for t, s := range conds {
		if t == corev1.NodeReady {
			n.Status.Conditions[0].Status = s
			continue
		}
		n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: t, Status: s})
	}
	n.Status.Capacity = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("8Gi"),
		corev1.ResourcePods: resource.MustParse("110"), corev1.ResourceEphemeralStorage: resource.MustParse("50Gi")}
	n.Status.Allocatable = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m"), corev1.ResourceMemory: resource.MustParse("7Gi"),
		corev1.ResourcePods: resource.MustParse("110"), corev1.ResourceEphemeralStorage: resource.MustParse("45Gi")}
	return n
}

func nodes(names ...string) []*corev1.Node {
	out := make([]*corev1.Node, len(names))
	for i, n := range names {
		out[i] = node(n, nil, nil)
	}
	return out
}

// daemonSet builds a DaemonSet whose controller has observed its spec and wants a pod on every one
// of `updated` Nodes, all updated, `available` of whose pods are available.
func daemonSet(hash string, updated, available int32) *appsv1.DaemonSet {
	return daemonSetOn(hash, updated, updated, available)
}

// daemonSetOn builds a DaemonSet that wants `desired` pods, `updated` of them on the current template,
// and `available` pods available, old or new.
func daemonSetOn(hash string, desired, updated, available int32) *appsv1.DaemonSet {
	ds := &appsv1.DaemonSet{}
	ds.Generation = 2
	ds.Spec.Template.Annotations = map[string]string{AnnotationHash: hash}
	ds.Status = appsv1.DaemonSetStatus{ObservedGeneration: 2, DesiredNumberScheduled: desired,
		UpdatedNumberScheduled: updated, NumberAvailable: available}
	return ds
}

func appliedAnnotations(hash string) map[string]string {
	return map[string]string{
		hotelv1alpha1.AgentAnnotation("kubelet", hotelv1alpha1.AgentAnnotationConfig): hash,
		hotelv1alpha1.AgentAnnotation("kubelet", hotelv1alpha1.AgentAnnotationState):  hotelv1alpha1.AgentStateApplied,
	}
}

func degradedAnnotations(message string) map[string]string {
	return map[string]string{
		hotelv1alpha1.AgentAnnotation("kubelet", "state"):   hotelv1alpha1.AgentStateDegraded,
		hotelv1alpha1.AgentAnnotation("kubelet", "message"): message,
	}
}

type wantCondition struct {
	status metav1.ConditionStatus
	reason string
}

func TestAggregateStatus(t *testing.T) {
	now := metav1.NewTime(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	one := intstr.FromInt32(1)
	tests := []struct {
		name string
		// What the reconcile observed, decided and left.
		o          observed
		d          decision
		a          acted
		wantNodes  hotelv1alpha1.NodeCounts
		wantConds  map[string]wantCondition
		wantHealth hotelv1alpha1.NodeConditionCounts
	}{
		{
			// Not Ready, so that kubectl wait --for=condition=Ready does not pass on a selector
			// with a typo; not in progress and not stalled, as kstatus reads a pool that may
			// simply have no Node yet.
			name: "selector matches no Node: not Ready, not Reconciling, not Stalled",
			o:    observed{desired: Config{Hash: "h1"}, maxUnavailable: one},
			a:    acted{appliedHash: "h1", daemonSet: daemonSet("h1", 0, 0)},
			wantConds: map[string]wantCondition{
				hotelv1alpha1.ConditionReady:       {metav1.ConditionFalse, hotelv1alpha1.ReasonNoNodesSelected},
				hotelv1alpha1.ConditionReconciling: {metav1.ConditionFalse, hotelv1alpha1.ReasonNoNodesSelected},
				hotelv1alpha1.ConditionStalled:     {metav1.ConditionFalse, hotelv1alpha1.ReasonAsExpected},
			},
		},
		{
			name: "selector matches no Node while paused: not Ready",
			o:    observed{paused: true, desired: Config{Hash: "h2"}, maxUnavailable: one},
			a:    acted{appliedHash: "h1", daemonSet: daemonSet("h1", 0, 0)},
			wantConds: map[string]wantCondition{
				hotelv1alpha1.ConditionReady:       {metav1.ConditionFalse, hotelv1alpha1.ReasonNoNodesSelected},
				hotelv1alpha1.ConditionReconciling: {metav1.ConditionFalse, hotelv1alpha1.ReasonNoNodesSelected},
				hotelv1alpha1.ConditionStalled:     {metav1.ConditionFalse, hotelv1alpha1.ReasonAsExpected},
				hotelv1alpha1.ConditionPaused:      {metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutPaused},
			},
		},
		{
			name:      "one Node, rollout done",
			o:         observed{desired: Config{Hash: "h1"}, nodes: nodes("a"), maxUnavailable: one},
			a:         acted{appliedHash: "h1", daemonSet: daemonSet("h1", 1, 1)},
			wantNodes: hotelv1alpha1.NodeCounts{Selected: 1, Updated: 1, Ready: 1},
			wantConds: map[string]wantCondition{
				hotelv1alpha1.ConditionReady:        {metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutComplete},
				hotelv1alpha1.ConditionReconciling:  {metav1.ConditionFalse, hotelv1alpha1.ReasonRolloutComplete},
				hotelv1alpha1.ConditionNodesHealthy: {metav1.ConditionTrue, hotelv1alpha1.ReasonAsExpected},
				hotelv1alpha1.ConditionDegraded:     {metav1.ConditionFalse, hotelv1alpha1.ReasonAsExpected},
				hotelv1alpha1.ConditionPaused:       {metav1.ConditionFalse, hotelv1alpha1.ReasonNotPaused},
			},
		},
		{
			name:      "DaemonSet just changed: its status is about the old template",
			o:         observed{desired: Config{Hash: "h2"}, nodes: nodes("a", "b", "c"), maxUnavailable: one},
			a:         acted{appliedHash: "h2", daemonSet: daemonSet("h1", 3, 3), daemonSetChanged: true},
			wantNodes: hotelv1alpha1.NodeCounts{Selected: 3, Unavailable: 3},
			wantConds: map[string]wantCondition{
				hotelv1alpha1.ConditionReady:       {metav1.ConditionFalse, hotelv1alpha1.ReasonRolloutInProgress},
				hotelv1alpha1.ConditionReconciling: {metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutInProgress},
			},
		},
		{
			name:      "no DaemonSet yet",
			o:         observed{desired: Config{Hash: "h1"}, nodes: nodes("a"), maxUnavailable: one},
			a:         acted{appliedHash: "h1"},
			wantNodes: hotelv1alpha1.NodeCounts{Selected: 1, Unavailable: 1},
			wantConds: map[string]wantCondition{
				hotelv1alpha1.ConditionReconciling: {metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutInProgress},
			},
		},
		{
			name:      "applying failed: in progress, not ready, not stalled",
			o:         observed{desired: Config{Hash: "h2"}, nodes: nodes("a"), maxUnavailable: one},
			a:         acted{appliedHash: "h1", daemonSet: daemonSet("h1", 1, 1), err: errors.New(`daemonsets.apps "x" is forbidden`)},
			wantNodes: hotelv1alpha1.NodeCounts{Selected: 1, Updated: 1, Ready: 1},
			wantConds: map[string]wantCondition{
				hotelv1alpha1.ConditionReconciling: {metav1.ConditionTrue, hotelv1alpha1.ReasonApplyFailed},
				hotelv1alpha1.ConditionReady:       {metav1.ConditionFalse, hotelv1alpha1.ReasonApplyFailed},
				hotelv1alpha1.ConditionStalled:     {metav1.ConditionFalse, hotelv1alpha1.ReasonAsExpected},
			},
		},
		{
			name:      "counters never exceed the selected Nodes",
			o:         observed{desired: Config{Hash: "h1"}, nodes: nodes("a", "b"), maxUnavailable: one},
			a:         acted{appliedHash: "h1", daemonSet: daemonSet("h1", 5, 5)},
			wantNodes: hotelv1alpha1.NodeCounts{Selected: 2, Updated: 2, Ready: 2},
			wantConds: map[string]wantCondition{
				hotelv1alpha1.ConditionReady: {metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutComplete},
			},
		},
		{
			name: "rolled out, but a Node is NotReady and one is under disk pressure",
			o: observed{desired: Config{Hash: "h1"}, maxUnavailable: one, nodes: []*corev1.Node{
				node("a", nil, nil),
				node("b", map[corev1.NodeConditionType]corev1.ConditionStatus{corev1.NodeReady: corev1.ConditionUnknown}, nil),
				node("c", map[corev1.NodeConditionType]corev1.ConditionStatus{corev1.NodeDiskPressure: corev1.ConditionTrue}, nil),
			}},
			a:          acted{appliedHash: "h1", daemonSet: daemonSet("h1", 3, 3)},
			wantNodes:  hotelv1alpha1.NodeCounts{Selected: 3, Updated: 3, Ready: 2, Unavailable: 1},
			wantHealth: hotelv1alpha1.NodeConditionCounts{NotReady: 1, DiskPressure: 1},
			wantConds: map[string]wantCondition{
				hotelv1alpha1.ConditionReady:        {metav1.ConditionFalse, hotelv1alpha1.ReasonNodesUnhealthy},
				hotelv1alpha1.ConditionReconciling:  {metav1.ConditionFalse, hotelv1alpha1.ReasonRolloutComplete},
				hotelv1alpha1.ConditionNodesHealthy: {metav1.ConditionFalse, hotelv1alpha1.ReasonNodesUnhealthy},
			},
		},
		{
			name: "agent records: Nodes on the current hash count, whatever the DaemonSet says",
			o: observed{nodeAgent: true, desired: Config{Hash: "h2"}, maxUnavailable: one, nodes: []*corev1.Node{
				node("a", nil, appliedAnnotations("h2")),
				node("b", map[corev1.NodeConditionType]corev1.ConditionStatus{corev1.NodeReady: corev1.ConditionFalse}, appliedAnnotations("h2")),
				node("c", nil, appliedAnnotations("h1")),
			}},
			a:          acted{appliedHash: "h2", daemonSet: daemonSet("h2", 0, 0)},
			wantNodes:  hotelv1alpha1.NodeCounts{Selected: 3, Updated: 2, Ready: 1, Unavailable: 2},
			wantHealth: hotelv1alpha1.NodeConditionCounts{NotReady: 1},
			wantConds: map[string]wantCondition{
				hotelv1alpha1.ConditionReconciling: {metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutInProgress},
			},
		},
		{
			name: "agent records: every Node applied",
			o: observed{nodeAgent: true, desired: Config{Hash: "h2"}, maxUnavailable: one,
				nodes: []*corev1.Node{node("a", nil, appliedAnnotations("h2")), node("b", nil, appliedAnnotations("h2"))}},
			a:         acted{appliedHash: "h2"},
			wantNodes: hotelv1alpha1.NodeCounts{Selected: 2, Updated: 2, Ready: 2},
			wantConds: map[string]wantCondition{
				hotelv1alpha1.ConditionReady: {metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutComplete},
			},
		},
		{
			name: "agent records while paused: Nodes on the held-back hash do not count",
			o: observed{nodeAgent: true, paused: true, desired: Config{Hash: "h3"}, maxUnavailable: one,
				nodes: []*corev1.Node{node("a", nil, appliedAnnotations("h2"))}},
			a:         acted{appliedHash: "h2"},
			wantNodes: hotelv1alpha1.NodeCounts{Selected: 1, Updated: 1, Ready: 1},
			wantConds: map[string]wantCondition{
				hotelv1alpha1.ConditionPaused: {metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutPaused},
			},
		},
		{
			name:      "paused with a newer configuration held back",
			o:         observed{paused: true, desired: Config{Hash: "h2"}, nodes: nodes("a", "b"), maxUnavailable: one},
			a:         acted{appliedHash: "h1", daemonSet: daemonSet("h1", 2, 2)},
			wantNodes: hotelv1alpha1.NodeCounts{Selected: 2, Updated: 2, Ready: 2},
			wantConds: map[string]wantCondition{
				hotelv1alpha1.ConditionPaused:      {metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutPaused},
				hotelv1alpha1.ConditionReady:       {metav1.ConditionFalse, hotelv1alpha1.ReasonRolloutPaused},
				hotelv1alpha1.ConditionReconciling: {metav1.ConditionFalse, hotelv1alpha1.ReasonRolloutPaused},
			},
		},
		{
			name:      "paused with nothing held back",
			o:         observed{paused: true, desired: Config{Hash: "h1"}, nodes: nodes("a"), maxUnavailable: one},
			a:         acted{appliedHash: "h1", daemonSet: daemonSet("h1", 1, 1)},
			wantNodes: hotelv1alpha1.NodeCounts{Selected: 1, Updated: 1, Ready: 1},
			wantConds: map[string]wantCondition{
				hotelv1alpha1.ConditionPaused: {metav1.ConditionFalse, hotelv1alpha1.ReasonRolloutComplete},
				hotelv1alpha1.ConditionReady:  {metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutComplete},
			},
		},
		{
			name:      "invalid spec: what runs stays, and the object is stalled",
			o:         observed{nodes: nodes("a"), maxUnavailable: one},
			a:         acted{appliedHash: "h1", daemonSet: daemonSet("h1", 1, 1)},
			d:         decision{stall: &stall{reason: hotelv1alpha1.ReasonInvalidSpec, message: "bad"}},
			wantNodes: hotelv1alpha1.NodeCounts{Selected: 1, Updated: 1, Ready: 1},
			wantConds: map[string]wantCondition{
				hotelv1alpha1.ConditionStalled:     {metav1.ConditionTrue, hotelv1alpha1.ReasonInvalidSpec},
				hotelv1alpha1.ConditionReady:       {metav1.ConditionFalse, hotelv1alpha1.ReasonInvalidSpec},
				hotelv1alpha1.ConditionReconciling: {metav1.ConditionFalse, hotelv1alpha1.ReasonInvalidSpec},
			},
		},
		{
			name: "one degraded Node below a 50% maxUnavailable of 4 Nodes: degraded, not blocked",
			o: observed{desired: Config{Hash: "h1"}, maxUnavailable: intstr.FromString("50%"),
				nodes: []*corev1.Node{node("a", nil, nil), node("b", nil, degradedAnnotations("healthz timed out")), node("c", nil, nil), node("d", nil, nil)}},
			a:         acted{appliedHash: "h1", daemonSet: daemonSet("h1", 2, 2)},
			wantNodes: hotelv1alpha1.NodeCounts{Selected: 4, Updated: 2, Ready: 2, Unavailable: 2, Degraded: 1},
			wantConds: map[string]wantCondition{
				hotelv1alpha1.ConditionDegraded:    {metav1.ConditionTrue, hotelv1alpha1.ReasonNodesDegraded},
				hotelv1alpha1.ConditionStalled:     {metav1.ConditionFalse, hotelv1alpha1.ReasonAsExpected},
				hotelv1alpha1.ConditionReconciling: {metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutInProgress},
			},
		},
		{
			name: "blocked by degraded Nodes (see decide): stalled",
			o: observed{desired: Config{Hash: "h1"}, maxUnavailable: intstr.FromString("25%"),
				nodes: []*corev1.Node{node("a", nil, degradedAnnotations("x")), node("b", nil, degradedAnnotations("y")),
					node("c", nil, nil), node("d", nil, nil), node("e", nil, nil), node("f", nil, nil), node("g", nil, nil), node("h", nil, nil)}},
			d:         decision{action: actHold, stall: &stall{reason: hotelv1alpha1.ReasonRolloutBlocked, message: "2 of 8 Nodes are Degraded"}},
			a:         acted{appliedHash: "h1", daemonSet: daemonSet("h1", 4, 4)},
			wantNodes: hotelv1alpha1.NodeCounts{Selected: 8, Updated: 4, Ready: 4, Unavailable: 4, Degraded: 2},
			wantConds: map[string]wantCondition{
				hotelv1alpha1.ConditionStalled:     {metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutBlocked},
				hotelv1alpha1.ConditionReady:       {metav1.ConditionFalse, hotelv1alpha1.ReasonRolloutBlocked},
				hotelv1alpha1.ConditionReconciling: {metav1.ConditionFalse, hotelv1alpha1.ReasonRolloutBlocked},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			tt.o.generation = 4
			tt.o.component = "kubelet"
			st := aggregateStatus(&hotelv1alpha1.PoolStatus{}, tt.o, tt.d, tt.a, now)
			g.Expect(st.ObservedGeneration).To(Equal(int64(4)))
			g.Expect(st.ConfigHash).To(Equal(tt.a.appliedHash))
			g.Expect(st.Nodes).To(Equal(tt.wantNodes))
			g.Expect(st.NodeConditions).To(Equal(tt.wantHealth))
			g.Expect(st.Conditions).To(HaveLen(6))
			for _, c := range st.Conditions {
				g.Expect(c.ObservedGeneration).To(Equal(int64(4)))
				g.Expect(c.Message).NotTo(BeEmpty(), c.Type)
			}
			for typ, want := range tt.wantConds {
				c := meta.FindStatusCondition(st.Conditions, typ)
				g.Expect(c).NotTo(BeNil(), typ)
				g.Expect(c.Status).To(Equal(want.status), "%s: %s", typ, c.Message)
				g.Expect(c.Reason).To(Equal(want.reason), "%s: %s", typ, c.Message)
			}
		})
	}
}

func TestAggregateStatusKeepsTransitionTimes(t *testing.T) {
	g := NewWithT(t)
	earlier := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	later := metav1.NewTime(earlier.Add(time.Hour))
	o := observed{generation: 1, component: "kubelet", desired: Config{Hash: "h1"}, nodes: nodes("a"), maxUnavailable: intstr.FromInt32(1)}
	a := acted{appliedHash: "h1", daemonSet: daemonSet("h1", 1, 1)}
	first := aggregateStatus(&hotelv1alpha1.PoolStatus{}, o, decision{}, a, earlier)
	second := aggregateStatus(&first, o, decision{}, a, later)
	g.Expect(second).To(Equal(first), "an unchanged pool must yield an identical status, or every reconcile writes")

	o.nodes[0].Status.Conditions[0].Status = corev1.ConditionFalse
	third := aggregateStatus(&second, o, decision{}, a, later)
	g.Expect(meta.FindStatusCondition(third.Conditions, hotelv1alpha1.ConditionNodesHealthy).LastTransitionTime).To(Equal(later))
	g.Expect(meta.FindStatusCondition(third.Conditions, hotelv1alpha1.ConditionStalled).LastTransitionTime).To(Equal(earlier))
}

func TestAggregateStatusTellsWhatToDoAboutAnEmptyPool(t *testing.T) {
	g := NewWithT(t)
	o := observed{generation: 1, component: "kubelet", desired: Config{Hash: "h1"}, maxUnavailable: intstr.FromInt32(1)}
	st := aggregateStatus(&hotelv1alpha1.PoolStatus{}, o, decision{}, acted{appliedHash: "h1", daemonSet: daemonSet("h1", 0, 0)}, metav1.Now())
	ready := meta.FindStatusCondition(st.Conditions, hotelv1alpha1.ConditionReady)
	g.Expect(ready.Message).To(ContainSubstring("selects no Node"))
	g.Expect(ready.Message).To(ContainSubstring("Label Nodes"))
	g.Expect(ready.Message).To(ContainSubstring("spec.nodeSelector"))
	g.Expect(st.NodesReady).To(Equal("0/0"))
}

func TestAggregateStatusSumsResourcesAndListsDegradedNodes(t *testing.T) {
	g := NewWithT(t)
	var ns []*corev1.Node
	for _, name := range []string{"n12", "n03", "n07", "n01", "n11", "n02", "n10", "n05", "n09", "n04", "n08", "n06"} {
		ns = append(ns, node(name, nil, degradedAnnotations("failed on "+name)))
	}
	st := aggregateStatus(&hotelv1alpha1.PoolStatus{}, observed{component: "kubelet", nodes: ns, maxUnavailable: intstr.FromInt32(1)},
		decision{}, acted{},
		metav1.Now())
	g.Expect(st.Capacity).To(Equal(corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("24"), corev1.ResourceMemory: resource.MustParse("96Gi"),
		corev1.ResourcePods: resource.MustParse("1320"), corev1.ResourceEphemeralStorage: resource.MustParse("600Gi"),
	}))
	g.Expect(st.Allocatable[corev1.ResourceCPU]).To(Equal(resource.MustParse("18")))
	g.Expect(st.Nodes.Degraded).To(Equal(int32(12)))
	g.Expect(st.NodesReady).To(Equal("0/12"), "kubectl's NODES column: ready of selected")
	g.Expect(st.DegradedNodes).To(HaveLen(maxDegradedNodes))
	g.Expect(st.DegradedNodes[0]).To(Equal(hotelv1alpha1.DegradedNode{
		Name: "n01", Reason: hotelv1alpha1.ReasonHealthCheckFailed, Message: "failed on n01"}))
	g.Expect(st.DegradedNodes[9].Name).To(Equal("n10"))
	g.Expect(meta.FindStatusCondition(st.Conditions, hotelv1alpha1.ConditionDegraded).Message).
		To(ContainSubstring("12 Nodes are Degraded: n01, n02, n03, n04, n05 and 7 more"))

	empty := aggregateStatus(&hotelv1alpha1.PoolStatus{}, observed{maxUnavailable: intstr.FromInt32(1)}, decision{}, acted{}, metav1.Now())
	g.Expect(empty.Capacity).To(BeNil())
	g.Expect(empty.DegradedNodes).To(BeNil())
	g.Expect(empty.NodesReady).To(Equal("0/0"))
}

// A Node whose agent reports its files changed by hand and left so (driftPolicy Report) is
// counted as drifted, and still as updated: it was not a failure to apply.
func TestAggregateStatusCountsDriftedNodes(t *testing.T) {
	g := NewWithT(t)
	drifted := appliedAnnotations("h1")
	drifted[hotelv1alpha1.AgentAnnotation("kubelet", hotelv1alpha1.AgentAnnotationReason)] = hotelv1alpha1.ReasonDrifted
	o := observed{desired: Config{Hash: "h1"}, component: "kubelet", nodeAgent: true,
		nodes: []*corev1.Node{node("a", nil, drifted), node("b", nil, appliedAnnotations("h1"))}}
	now := metav1.NewTime(time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC))
	st := aggregateStatus(&hotelv1alpha1.PoolStatus{}, o, decision{action: actApply},
		acted{appliedHash: "h1", daemonSet: daemonSet("h1", 2, 2)}, now)
	g.Expect(st.Nodes.Drifted).To(Equal(int32(1)))
	g.Expect(st.Nodes.Updated).To(Equal(int32(2)))
	g.Expect(st.Nodes.Degraded).To(BeZero())
}

func TestAggregateStatusSaysTheCanary(t *testing.T) {
	g := NewWithT(t)
	o := observed{generation: 1, component: "kubelet", desired: Config{Hash: "h2"}, nodes: nodes("a", "b", "c"),
		maxUnavailable: intstr.FromInt32(2)}
	a := acted{appliedHash: "h2", daemonSet: daemonSet("h1", 3, 3), daemonSetChanged: true}
	st := aggregateStatus(&hotelv1alpha1.PoolStatus{}, o, decision{canary: 1}, a, metav1.Now())
	g.Expect(meta.FindStatusCondition(st.Conditions, hotelv1alpha1.ConditionReconciling).Message).To(
		HaveSuffix("; the canary (1 Node) first, then at most 2 Nodes at a time."))

	held := decision{canary: 1, wait: &stall{reason: hotelv1alpha1.ReasonCanaryInProgress, message: "Canary: ..."}}
	st = aggregateStatus(&hotelv1alpha1.PoolStatus{}, o, held, a, metav1.Now())
	for _, typ := range []string{hotelv1alpha1.ConditionReconciling, hotelv1alpha1.ConditionReady} {
		c := meta.FindStatusCondition(st.Conditions, typ)
		g.Expect(c.Reason).To(Equal(hotelv1alpha1.ReasonCanaryInProgress), typ)
		g.Expect(c.Message).To(HaveSuffix(". Canary: ..."), typ)
	}
}

// With a soak, the last Nodes updated are not done until their pods have stayed Ready for it: Ready
// would otherwise let kubectl wait pass, and the health gate end, before the last wave soaked.
func TestAggregateStatusWaitsForTheLastWaveToSoak(t *testing.T) {
	g := NewWithT(t)
	o := observed{generation: 1, component: "kubelet", nodeAgent: true, soakSeconds: 15,
		desired: Config{Hash: "h2"}, applied: Config{Hash: "h2"}, maxUnavailable: intstr.FromString("50%"),
		nodes: []*corev1.Node{node("a", nil, appliedAnnotations("h2")), node("b", nil, appliedAnnotations("h2"))}}
	soaking := daemonSet("h2", 2, 1)
	soaking.Status.NumberUnavailable = 1
	o.daemonSet = soaking
	st := aggregateStatus(&hotelv1alpha1.PoolStatus{}, o, decision{action: actApply}, acted{appliedHash: "h2", daemonSet: soaking}, metav1.Now())
	g.Expect(st.Nodes).To(Equal(hotelv1alpha1.NodeCounts{Selected: 2, Updated: 2, Ready: 2}))
	reconciling := meta.FindStatusCondition(st.Conditions, hotelv1alpha1.ConditionReconciling)
	g.Expect(reconciling.Status).To(Equal(metav1.ConditionTrue))
	g.Expect(reconciling.Reason).To(Equal(hotelv1alpha1.ReasonRolloutInProgress))
	g.Expect(reconciling.Message).To(Equal("2 of 2 Nodes run configuration h2, 2 of them Ready; 1 Node soaking " +
		"(Ready for less than soakSeconds, 15 s); updating at most 50% of the Nodes at a time."))
	g.Expect(meta.FindStatusCondition(st.Conditions, hotelv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionFalse))

	soaked := daemonSet("h2", 2, 2)
	o.daemonSet = soaked
	st = aggregateStatus(&hotelv1alpha1.PoolStatus{}, o, decision{action: actApply}, acted{appliedHash: "h2", daemonSet: soaked}, metav1.Now())
	g.Expect(meta.FindStatusCondition(st.Conditions, hotelv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))

	// Without a soak, a pod not yet available does not hold Ready: the agents' records say.
	o.soakSeconds, o.daemonSet = 0, soaking
	st = aggregateStatus(&hotelv1alpha1.PoolStatus{}, o, decision{action: actApply}, acted{appliedHash: "h2", daemonSet: soaking}, metav1.Now())
	g.Expect(meta.FindStatusCondition(st.Conditions, hotelv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
}

func TestPaceCount(t *testing.T) {
	for mu, want := range map[string]string{"1": "1 Node", "3": "3 Nodes", "10%": "10% of the Nodes"} {
		if got := paceCount(intstr.Parse(mu)); got != want {
			t.Errorf("paceCount(%s) = %q, want %q", mu, got, want)
		}
	}
}
