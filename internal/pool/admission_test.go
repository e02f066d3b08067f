package pool

import (
	"errors"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

const testUID = "uid-gpu"

// poolNode is a Node of a test pool: Ready or not, admitted to the test object's rollout or not,
// and running the configuration hash by its agent's record ("" for none).
func poolNode(name string, ready, isAdmitted bool, hash string) *corev1.Node {
	status := corev1.ConditionTrue
	if !ready {
		status = corev1.ConditionFalse
	}
	var annotations map[string]string
	if hash != "" {
		annotations = appliedAnnotations(hash)
	}
	n := node(name, map[corev1.NodeConditionType]corev1.ConditionStatus{corev1.NodeReady: status}, annotations)
	if isAdmitted {
		n.Labels = map[string]string{AdmittedLabel("kubelet"): testUID}
	}
	return n
}

// gatedDaemonSet is daemonSet with the admission gate in its pod template.
func gatedDaemonSet(ds *appsv1.DaemonSet) *appsv1.DaemonSet {
	ds.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{
				{Key: "pool", Operator: corev1.NodeSelectorOpIn, Values: []string{"gpu"}},
				{Key: AdmittedLabel("kubelet"), Operator: corev1.NodeSelectorOpIn, Values: []string{testUID}},
			},
		}}},
	}}
	return ds
}

func TestAdmit(t *testing.T) {
	errInvalid := errors.New(`"Has" is not a valid label selector operator`)
	cfg := Config{Hash: "new", ConfigMapName: "gpu-kubelet-new"}
	old := Config{Hash: "old", ConfigMapName: "gpu-kubelet-old"}
	two := intstr.FromInt32(2)
	// base is an agent component's object whose gated DaemonSet rolls out the newest configuration
	// (applied), with maxUnavailable 2, on a pool of five Ready Nodes that none is admitted to yet.
	base := func(change func(*observed, *decision)) (observed, decision) {
		o := observed{component: "kubelet", nodeAgent: true, uid: testUID, maxUnavailable: two,
			desired: cfg, applied: cfg, daemonSet: gatedDaemonSet(daemonSet("new", 0, 0))}
		for _, name := range []string{"n1", "n2", "n3", "n4", "n5"} {
			o.nodes = append(o.nodes, poolNode(name, true, false, ""))
		}
		d := decision{action: actApply, config: cfg}
		change(&o, &d)
		return o, d
	}
	tests := []struct {
		name        string
		change      func(*observed, *decision)
		wantAdmit   []string
		wantRelease []string
		wantWaiting int
		wantBehind  []string
	}{
		{name: "first wave: maxUnavailable Nodes, by name", change: func(*observed, *decision) {},
			wantAdmit: []string{"n1", "n2"}, wantWaiting: 3},
		{name: "no DaemonSet yet: nobody, the first wave waits for it", change: func(o *observed, d *decision) {
			o.daemonSet, o.applied = nil, Config{}
		}, wantWaiting: 5},
		{name: "two admitted Nodes still updating: nobody more, and they are named", change: func(o *observed, d *decision) {
			o.nodes[0], o.nodes[1] = poolNode("n1", true, true, ""), poolNode("n2", true, true, "old")
		}, wantWaiting: 3, wantBehind: []string{"n1", "n2"}},
		{name: "one admitted Node updated, one updating: one more", change: func(o *observed, d *decision) {
			o.nodes[0], o.nodes[1] = poolNode("n1", true, true, "new"), poolNode("n2", true, true, "")
		}, wantAdmit: []string{"n3"}, wantWaiting: 2},
		{name: "an updated Node that turned NotReady counts as changing", change: func(o *observed, d *decision) {
			o.nodes[0], o.nodes[1] = poolNode("n1", false, true, "new"), poolNode("n2", true, true, "new")
		}, wantAdmit: []string{"n3"}, wantWaiting: 2},
		{name: "a Node where the configuration failed counts as changing", change: func(o *observed, d *decision) {
			o.nodes[0] = poolNode("n1", true, true, "old")
			o.nodes[0].Annotations = map[string]string{
				hotelv1alpha1.AgentAnnotation("kubelet", hotelv1alpha1.AgentAnnotationState):  hotelv1alpha1.AgentStateDegraded,
				hotelv1alpha1.AgentAnnotation("kubelet", hotelv1alpha1.AgentAnnotationTarget): "new",
			}
		}, wantAdmit: []string{"n2"}, wantWaiting: 3},
		{name: "Ready Nodes first, then by name", change: func(o *observed, d *decision) {
			o.nodes[0], o.nodes[2] = poolNode("n1", false, false, ""), poolNode("n3", false, false, "")
		}, wantAdmit: []string{"n2", "n4"}, wantWaiting: 3},
		{name: "a percentage of the pool, rounded up", change: func(o *observed, d *decision) {
			o.maxUnavailable = intstr.FromString("50%")
		}, wantAdmit: []string{"n1", "n2", "n3"}, wantWaiting: 2},
		{name: "a Node that already runs the configuration is admitted at no cost", change: func(o *observed, d *decision) {
			o.nodes[0], o.nodes[1] = poolNode("n1", true, true, ""), poolNode("n2", true, true, "")
			o.nodes[4] = poolNode("n5", true, false, "new")
		}, wantAdmit: []string{"n5"}, wantWaiting: 2},
		{name: "a Node whose agent reports the configuration but its component unhealthy is not admitted at no cost", change: func(o *observed, d *decision) {
			o.nodes[0], o.nodes[1] = poolNode("n1", true, true, ""), poolNode("n2", true, true, "")
			o.nodes[4] = poolNode("n5", true, false, "new")
			o.nodes[4].Annotations[hotelv1alpha1.AgentAnnotation("kubelet", hotelv1alpha1.AgentAnnotationState)] = hotelv1alpha1.AgentStateDegraded
		}, wantWaiting: 3},
		{name: "a DaemonSet gated for another object of the same name: every Node at once", change: func(o *observed, d *decision) {
			o.daemonSet = gatedDaemonSet(daemonSet("new", 5, 5))
			o.uid = "uid-gpu-again"
		}, wantAdmit: []string{"n1", "n2", "n3", "n4", "n5"}},
		{name: "all admitted: nothing to do", change: func(o *observed, d *decision) {
			for i, n := range o.nodes {
				o.nodes[i] = poolNode(n.Name, true, true, "new")
			}
		}},
		{name: "a DaemonSet from before admission: every Node at once, it runs there", change: func(o *observed, d *decision) {
			o.daemonSet = daemonSet("new", 5, 5)
			o.nodes[0] = poolNode("n1", true, true, "")
		}, wantAdmit: []string{"n2", "n3", "n4", "n5"}},
		{name: "so too while paused", change: func(o *observed, d *decision) {
			o.daemonSet, o.paused, d.action = daemonSet("new", 5, 5), true, actHold
		}, wantAdmit: []string{"n1", "n2", "n3", "n4", "n5"}},
		{name: "paused: nobody new", change: func(o *observed, d *decision) {
			o.paused, d.action = true, actHold
		}, wantWaiting: 5},
		{name: "paused: a Node that runs the configuration is still admitted", change: func(o *observed, d *decision) {
			o.paused, d.action = true, actHold
			o.nodes[1] = poolNode("n2", true, false, "new")
		}, wantAdmit: []string{"n2"}, wantWaiting: 4},
		{name: "a new configuration on its way: nobody new until the DaemonSet rolls it out", change: func(o *observed, d *decision) {
			o.applied = old
			o.daemonSet = gatedDaemonSet(daemonSet("old", 0, 0))
		}, wantWaiting: 5},
		{name: "a stalled object admits nobody", change: func(o *observed, d *decision) {
			d.action, d.stall = actNone, &stall{reason: hotelv1alpha1.ReasonInvalidSpec}
		}, wantWaiting: 5},
		{name: "nor one whose DaemonSet goes", change: func(o *observed, d *decision) {
			d.action, d.stall = actRemoveDaemonSet, &stall{reason: hotelv1alpha1.ReasonPoolConflict}
		}, wantWaiting: 5},
		{name: "Nodes the pool no longer selects are released", change: func(o *observed, d *decision) {
			d.action = actNone
			o.admittedElsewhere = []*corev1.Node{poolNode("x2", true, true, ""), poolNode("x1", true, true, "")}
		}, wantRelease: []string{"x1", "x2"}, wantWaiting: 5},
		{name: "but not on an invalid selector, which selects nothing", change: func(o *observed, d *decision) {
			d.action, o.nodes = actNone, nil
			o.selectorErr = errInvalid
			o.admittedElsewhere = []*corev1.Node{poolNode("x1", true, true, "")}
		}},

		{name: "with a soak, an updated Node whose pod is not available yet counts as changing", change: func(o *observed, d *decision) {
			o.soakSeconds = 30
			o.nodes[0], o.nodes[1] = poolNode("n1", true, true, "new"), poolNode("n2", true, true, "new")
			o.daemonSet = gatedDaemonSet(daemonSetOn("new", 2, 2, 1))
		}, wantAdmit: []string{"n3"}, wantWaiting: 2},
		{name: "with a soak, a status behind its spec: every admitted Node counts as changing", change: func(o *observed, d *decision) {
			o.soakSeconds = 30
			o.nodes[0], o.nodes[1] = poolNode("n1", true, true, "new"), poolNode("n2", true, true, "new")
			o.daemonSet = gatedDaemonSet(daemonSetOn("new", 2, 2, 2))
			o.daemonSet.Generation = 3
		}, wantWaiting: 3},
		{name: "with a soak, both pods available: two more", change: func(o *observed, d *decision) {
			o.soakSeconds = 30
			o.nodes[0], o.nodes[1] = poolNode("n1", true, true, "new"), poolNode("n2", true, true, "new")
			o.daemonSet = gatedDaemonSet(daemonSetOn("new", 2, 2, 2))
		}, wantAdmit: []string{"n3", "n4"}, wantWaiting: 1},
		{name: "no agent: the DaemonSet's status counts the available Nodes", change: func(o *observed, d *decision) {
			o.nodeAgent = false
			o.nodes[0], o.nodes[1] = poolNode("n1", true, true, ""), poolNode("n2", true, true, "")
			o.daemonSet = gatedDaemonSet(daemonSetOn("new", 2, 2, 1))
		}, wantAdmit: []string{"n3"}, wantWaiting: 2},
		{name: "no agent, a status behind its spec: every admitted Node counts as changing", change: func(o *observed, d *decision) {
			o.nodeAgent = false
			o.nodes[0], o.nodes[1] = poolNode("n1", true, true, ""), poolNode("n2", true, true, "")
			o.daemonSet = gatedDaemonSet(daemonSetOn("new", 2, 2, 2))
			o.daemonSet.Generation = 3
		}, wantWaiting: 3},
		{name: "no agent: a Node is never admitted for what it runs", change: func(o *observed, d *decision) {
			o.nodeAgent = false
			o.maxUnavailable = intstr.FromInt32(1)
			o.nodes[4] = poolNode("n5", true, false, "new")
		}, wantAdmit: []string{"n1"}, wantWaiting: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			got := admit(base(tt.change))
			g.Expect(got.admit).To(Equal(tt.wantAdmit), "admitted")
			g.Expect(got.release).To(Equal(tt.wantRelease), "released")
			g.Expect(got.waiting).To(Equal(tt.wantWaiting), "waiting")
			if tt.wantBehind != nil {
				g.Expect(got.behind).To(Equal(tt.wantBehind), "behind")
			}
		})
	}
}

// A reconcile that reads the cache before it shows the Nodes an earlier one admitted counts them as
// admitted all the same, until the cache shows them, they leave the pool, or a minute passes.
func TestExpectAdmitted(t *testing.T) {
	g := NewWithT(t)
	r := &Reconciler{kind: Kind{Component: kubeletLike{}}}
	t0 := time.Date(2026, 12, 5, 20, 0, 0, 0, time.UTC)
	n1, n2, n3 := poolNode("n1", true, false, ""), poolNode("n2", true, false, ""), poolNode("n3", true, false, "")
	g.Expect(r.expectAdmitted(testUID, []*corev1.Node{n1, n2, n3}, t0)).To(BeEmpty(), "nothing admitted yet")

	r.rememberAdmitted(testUID, []string{"n1", "n2"}, t0)
	g.Expect(r.expectAdmitted(testUID, []*corev1.Node{n1, n2, n3}, t0.Add(time.Second))).
		To(Equal(map[string]bool{"n1": true, "n2": true}), "the cache does not show them yet")
	g.Expect(r.expectAdmitted("another", []*corev1.Node{n1, n2, n3}, t0)).To(BeEmpty(), "another object's")

	seen := poolNode("n1", true, true, "")
	g.Expect(r.expectAdmitted(testUID, []*corev1.Node{seen, n3}, t0.Add(2*time.Second))).To(BeEmpty(),
		"n1 is shown admitted, n2 left the pool")
	r.rememberAdmitted(testUID, []string{"n3"}, t0)
	g.Expect(r.expectAdmitted(testUID, []*corev1.Node{n3}, t0.Add(2*time.Minute))).To(BeEmpty(), "expired")

	// admit counts them: with n1 and n2 expected, a maxUnavailable of 2 admits nobody more.
	o := observed{component: "kubelet", nodeAgent: true, uid: testUID, maxUnavailable: intstr.FromInt32(2),
		desired: Config{Hash: "new"}, applied: Config{Hash: "new"}, daemonSet: gatedDaemonSet(daemonSet("new", 0, 0)),
		nodes: []*corev1.Node{n1, n2, n3}, admitting: map[string]bool{"n1": true, "n2": true}}
	got := admit(o, decision{action: actApply, config: Config{Hash: "new"}})
	g.Expect(got.admit).To(BeEmpty())
	g.Expect(got.waiting).To(Equal(1))
}

// A DaemonSet from before admission on more Nodes than one reconcile labels: the Nodes are admitted
// a chunk at a time, and the DaemonSet is left as it is until the last chunk.
func TestDecideAdoptsInChunks(t *testing.T) {
	g := NewWithT(t)
	cfg := Config{Hash: "new", ConfigMapName: "gpu-kubelet-new"}
	o := observed{component: "kubelet", nodeAgent: true, uid: testUID, maxUnavailable: intstr.FromInt32(1),
		desired: cfg, applied: cfg, daemonSet: daemonSet("new", adoptChunk+2, adoptChunk+2)}
	for i := range adoptChunk + 2 {
		o.nodes = append(o.nodes, poolNode(fmt.Sprintf("n%04d", i), true, false, "new"))
	}
	d := decide(o)
	g.Expect(d.admission.admit).To(HaveLen(adoptChunk))
	g.Expect(d.admission.waiting).To(Equal(2))
	g.Expect(d.action).To(Equal(actNone), "the DaemonSet keeps its template while Nodes are left")

	for _, n := range o.nodes[:adoptChunk] {
		n.Labels = map[string]string{AdmittedLabel("kubelet"): testUID}
	}
	d = decide(o)
	g.Expect(d.admission.admit).To(Equal([]string{fmt.Sprintf("n%04d", adoptChunk), fmt.Sprintf("n%04d", adoptChunk+1)}))
	g.Expect(d.action).To(Equal(actApply), "the last chunk: the template is gated")
}
