package pool

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// markedNode is a Node marked for revert by the test object; reverted when its agent says so.
func markedNode(name string, reverted bool) *corev1.Node {
	n := poolNode(name, true, false, "new")
	if reverted {
		n.Annotations = map[string]string{
			hotelv1alpha1.AgentAnnotation("kubelet", hotelv1alpha1.AgentAnnotationState):  hotelv1alpha1.AgentStateReverted,
			hotelv1alpha1.AgentAnnotation("kubelet", hotelv1alpha1.AgentAnnotationTarget): hotelv1alpha1.AgentTargetRevert,
		}
	}
	n.Labels = map[string]string{AdmittedLabel("kubelet"): hotelv1alpha1.RevertValue(testUID)}
	return n
}

// failedRevert is a Node whose agent failed to revert it.
func failedRevert(name string) *corev1.Node {
	n := markedNode(name, false)
	n.Annotations[hotelv1alpha1.AgentAnnotation("kubelet", hotelv1alpha1.AgentAnnotationState)] = hotelv1alpha1.AgentStateDegraded
	n.Annotations[hotelv1alpha1.AgentAnnotation("kubelet", hotelv1alpha1.AgentAnnotationTarget)] = hotelv1alpha1.AgentTargetRevert
	return n
}

func TestPlanReverts(t *testing.T) {
	cfg := Config{Hash: "new", ConfigMapName: "gpu-kubelet-new"}
	deadline := time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC)
	// base is an object whose Nodes are reverted, rolling out its newest configuration with
	// maxUnavailable 2 over a pool of four Nodes that run it; n5 and n6, admitted, have left the pool.
	base := func(change func(*observed)) observed {
		o := observed{component: "kubelet", nodeAgent: true, uid: testUID, maxUnavailable: intstr.FromInt32(2),
			desired: cfg, applied: cfg, daemonSet: gatedDaemonSet(daemonSet("new", 4, 4)), reverts: true,
			revertDeadline: deadline}
		for _, name := range []string{"n1", "n2", "n3", "n4"} {
			o.nodes = append(o.nodes, poolNode(name, true, true, "new"))
		}
		o.admittedElsewhere = []*corev1.Node{poolNode("n6", true, true, "new"), poolNode("n5", true, true, "new")}
		change(&o)
		return o
	}
	tests := []struct {
		name                                    string
		o                                       observed
		wantRevert, wantReverting, wantReleased []string
		wantStuck                               []string
		wantRelease                             []string
		wantAdmit                               []string
		wantWaiting                             int // left to mark
		wantDone                                bool
	}{
		{name: "Nodes that left the pool are marked for revert, maxUnavailable at a time", o: base(func(*observed) {}),
			wantRevert: []string{"n5", "n6"}, wantDone: true},
		{name: "Ready ones first", o: base(func(o *observed) {
			o.admittedElsewhere = append(o.admittedElsewhere, poolNode("n0", false, true, "new"))
		}), wantRevert: []string{"n5", "n6"}, wantWaiting: 1},
		{name: "Nodes being reverted take the budget; reverted ones are released", o: base(func(o *observed) {
			o.reverting = []*corev1.Node{markedNode("n7", false), markedNode("n8", true)}
		}), wantRevert: []string{"n5"}, wantReverting: []string{"n7"}, wantReleased: []string{"n8"}, wantWaiting: 1},
		{name: "a Node with no record yet is not reverted: its agent may not have started", o: base(func(o *observed) {
			n := markedNode("n7", true)
			n.Annotations = nil
			o.reverting = []*corev1.Node{n}
		}), wantRevert: []string{"n5"}, wantReverting: []string{"n7"}, wantWaiting: 1},
		{name: "a Node not Ready, or whose revert failed, takes no place; it is named", o: base(func(o *observed) {
			notReady := markedNode("n7", false)
			notReady.Status.Conditions[0].Status = corev1.ConditionFalse
			o.reverting = []*corev1.Node{notReady, failedRevert("n8")}
		}), wantRevert: []string{"n5", "n6"}, wantStuck: []string{"n7", "n8"}, wantDone: true},
		{name: "a Node marked for revert by another object is not admitted", o: base(func(o *observed) {
			o.admittedElsewhere = nil
			other := poolNode("n9", true, false, "")
			other.Labels = map[string]string{AdmittedLabel("kubelet"): hotelv1alpha1.RevertValue("uid-other")}
			o.nodes = append(o.nodes, other)
		})},
		{name: "Orphan now: the Nodes it marked are released as they are", o: base(func(o *observed) {
			o.reverts = false
			o.admittedElsewhere = nil
			o.reverting = []*corev1.Node{markedNode("n7", false)}
		}), wantReleased: []string{"n7"}},
		{name: "so do Nodes updating in the rollout, and reverts come first", o: base(func(o *observed) {
			o.nodes[0] = poolNode("n1", true, true, "old")
			o.nodes = append(o.nodes, poolNode("n9", true, false, ""))
		}), wantRevert: []string{"n5"}, wantWaiting: 1},
		{name: "a reverting Node takes from the rollout's budget too", o: base(func(o *observed) {
			o.admittedElsewhere = nil
			o.reverting = []*corev1.Node{markedNode("n7", false)}
			o.nodes = append(o.nodes, poolNode("n9", true, false, ""), poolNode("n10", true, false, ""))
		}), wantReverting: []string{"n7"}, wantAdmit: []string{"n10"}},
		{name: "a Node back in the pool while being reverted is not admitted before its revert is done", o: base(func(o *observed) {
			o.admittedElsewhere = nil
			back := markedNode("n7", false)
			o.reverting = []*corev1.Node{back}
			o.nodes = append(o.nodes, back)
		}), wantReverting: []string{"n7"}},
		{name: "without a DaemonSet no agent can revert: released as they are", o: base(func(o *observed) {
			o.daemonSet, o.applied = nil, Config{}
			o.reverting = []*corev1.Node{markedNode("n7", false)}
		}), wantRelease: []string{"n5", "n6"}, wantReleased: []string{"n7"}},
		{name: "Orphan: Nodes that left are released, as they are", o: base(func(o *observed) { o.reverts = false }),
			wantRelease: []string{"n5", "n6"}},
		{name: "deleted: every admitted Node is reverted, in waves, the rollout aside", o: base(func(o *observed) {
			o.deleting = true
			o.nodes[0] = poolNode("n1", true, true, "old")
			o.nodes = append(o.nodes, poolNode("n9", true, false, ""))
		}), wantRevert: []string{"n1", "n2"}, wantWaiting: 4},
		{name: "deleted, whatever it selects now: maxUnavailable of the Nodes it manages", o: base(func(o *observed) {
			o.deleting, o.maxUnavailable = true, intstr.FromString("50%")
			o.nodes = nil
		}), wantRevert: []string{"n5"}, wantWaiting: 1},
		{name: "deleted, a revert that failed: not done, until the deadline", o: base(func(o *observed) {
			o.deleting, o.admittedElsewhere, o.nodes = true, nil, nil
			o.reverting = []*corev1.Node{failedRevert("n7")}
		}), wantStuck: []string{"n7"}},
		{name: "deleted, the last being reverted: not done", o: base(func(o *observed) {
			o.deleting, o.admittedElsewhere, o.nodes = true, nil, nil
			o.reverting = []*corev1.Node{markedNode("n7", false)}
		}), wantReverting: []string{"n7"}},
		{name: "deleted, all reverted: released, done", o: base(func(o *observed) {
			o.deleting, o.admittedElsewhere, o.nodes = true, nil, nil
			o.reverting = []*corev1.Node{markedNode("n7", true)}
		}), wantReleased: []string{"n7"}, wantDone: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			d := decide(tt.o)
			ad := d.admission
			g.Expect(ad.revert).To(Equal(tt.wantRevert), "marked for revert")
			g.Expect(ad.reverting).To(Equal(tt.wantReverting), "being reverted")
			g.Expect(ad.releaseReverted).To(Equal(tt.wantReleased), "released, reverted")
			g.Expect(ad.revertStuck).To(Equal(tt.wantStuck), "stuck")
			g.Expect(ad.release).To(Equal(tt.wantRelease), "released as they are")
			g.Expect(ad.admit).To(Equal(tt.wantAdmit), "admitted")
			g.Expect(ad.revertWaiting).To(Equal(tt.wantWaiting), "left to mark")
			if tt.o.deleting {
				g.Expect(revertDone(ad)).To(Equal(tt.wantDone))
				if tt.wantDone {
					g.Expect(d.wait).To(BeNil())
				} else {
					g.Expect(d.wait).NotTo(BeNil())
					g.Expect(d.wait.reason).To(Equal(hotelv1alpha1.ReasonReverting))
					g.Expect(d.wait.message).To(ContainSubstring("2026-12-06T04:00:00Z"))
				}
				g.Expect(d.action).To(Equal(actHold), "a deleted object's DaemonSet stays, held, to revert")
			}
		})
	}
}
