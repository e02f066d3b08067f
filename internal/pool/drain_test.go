package pool

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

func TestPlanDrains(t *testing.T) {
	now := time.Date(2026, 12, 6, 6, 0, 0, 0, time.UTC)
	key := func(suffix string) string { return hotelv1alpha1.AgentAnnotation("kubelet", suffix) }
	state, target := key(hotelv1alpha1.AgentAnnotationState), key(hotelv1alpha1.AgentAnnotationTarget)
	drained, cordoned := hotelv1alpha1.DrainedAnnotation("kubelet"), hotelv1alpha1.CordonedAnnotation("kubelet")
	withAnnotations := func(name string, a map[string]string) *corev1.Node {
		return node(name, nil, a)
	}
	waiting := func(name, hash string) *corev1.Node {
		return withAnnotations(name, map[string]string{state: hotelv1alpha1.AgentStateDraining, target: hash})
	}
	base := func(change func(*observed)) observed {
		o := observed{component: "kubelet", nodeAgent: true, applied: Config{Hash: "new"}, now: now}
		change(&o)
		return o
	}
	tests := []struct {
		name          string
		o             observed
		start, finish []string
		retryAt       time.Time
	}{
		{name: "nothing waits", o: base(func(o *observed) {
			o.nodes = []*corev1.Node{withAnnotations("n1", map[string]string{state: hotelv1alpha1.AgentStateApplied})}
		})},
		{name: "agents that wait for the configuration rolled out are drained", o: base(func(o *observed) {
			o.nodes = []*corev1.Node{waiting("n2", "new"), waiting("n1", "new")}
		}), start: []string{"n1", "n2"}},
		{name: "an agent of an older configuration is not: its pod is being replaced", o: base(func(o *observed) {
			o.nodes = []*corev1.Node{waiting("n1", "old")}
		})},
		{name: "a Node drained for the configuration, or being drained, is not drained again", o: base(func(o *observed) {
			n := waiting("n1", "new")
			n.Annotations[drained], n.Annotations[cordoned] = "new", "new"
			o.nodes = []*corev1.Node{n, waiting("n2", "new"), waiting("n3", "new"), waiting("n4", "new")}
			o.drainRunning = map[string]bool{"n2": true}
			// n3 drained for it, which the cache does not show yet; n4 for an older one.
			o.drainDone = map[string]string{"n3": "new", "n4": "old"}
		}), start: []string{"n4"}},
		{name: "a failed drain waits for its retry, which is when the reconcile comes back", o: base(func(o *observed) {
			o.nodes = []*corev1.Node{waiting("n1", "new"), waiting("n2", "new")}
			o.drainFailures = map[string]drainFailure{
				"n1": {hash: "new", at: now.Add(-10 * time.Second)},
				"n2": {hash: "new", at: now.Add(-2 * drainRetry)},
			}
		}), start: []string{"n2"}, retryAt: now.Add(drainRetry - 10*time.Second)},
		{name: "a failure for another configuration does not hold a new one back", o: base(func(o *observed) {
			o.nodes = []*corev1.Node{waiting("n1", "new")}
			o.drainFailures = map[string]drainFailure{"n1": {hash: "old", at: now}}
		}), start: []string{"n1"}},
		{name: "applying on the drained Node: still cordoned", o: base(func(o *observed) {
			o.nodes = []*corev1.Node{withAnnotations("n1", map[string]string{state: hotelv1alpha1.AgentStateApplying,
				target: "new", drained: "new", cordoned: "new"})}
		})},
		{name: "done (applied, failed and rolled back, or moved on): finished", o: base(func(o *observed) {
			o.nodes = []*corev1.Node{
				withAnnotations("n1", map[string]string{state: hotelv1alpha1.AgentStateApplied, drained: "new", cordoned: "new"}),
				withAnnotations("n2", map[string]string{state: hotelv1alpha1.AgentStateDegraded, drained: "new"}),
				withAnnotations("n3", map[string]string{cordoned: "old"}),
			}
		}), finish: []string{"n1", "n2", "n3"}},
		{name: "deleted: nothing is drained any more, and every drain is finished", o: base(func(o *observed) {
			o.deleting = true
			n := waiting("n1", "new")
			n.Annotations[cordoned] = "new"
			o.nodes = []*corev1.Node{n, waiting("n2", "new")}
		}), finish: []string{"n1"}},
		{name: "a Node that left the pool is finished, whatever its agent does", o: base(func(o *observed) {
			left := waiting("n2", "new")
			left.Annotations[cordoned] = "new"
			o.nodes = []*corev1.Node{waiting("n1", "new")}
			o.reverting = []*corev1.Node{left}
			o.admittedElsewhere = []*corev1.Node{left, withAnnotations("n3", nil)}
		}), start: []string{"n1"}, finish: []string{"n2"}},
		{name: "another object holds the pool: nothing is drained, and every drain is finished", o: base(func(o *observed) {
			o.conflict = &conflict{peer: "older", nodes: []string{"n1"}}
			n := waiting("n1", "new")
			n.Annotations[cordoned] = "new"
			o.nodes = []*corev1.Node{n}
		}), finish: []string{"n1"}},
		{name: "no node agent: nothing", o: base(func(o *observed) {
			o.nodeAgent = false
			o.nodes = []*corev1.Node{waiting("n1", "new")}
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			p := planDrains(tt.o)
			g.Expect(p.start).To(Equal(tt.start))
			g.Expect(p.finish).To(Equal(tt.finish))
			g.Expect(p.retryAt).To(Equal(tt.retryAt))
		})
	}
}

func TestDecideRequeuesForADrainRetry(t *testing.T) {
	g := NewWithT(t)
	now := time.Date(2026, 12, 6, 6, 0, 0, 0, time.UTC)
	o := observed{component: "kubelet", nodeAgent: true, desired: Config{Hash: "new"}, applied: Config{Hash: "new"},
		daemonSet: daemonSet("new", 1, 0), now: now,
		nodes: []*corev1.Node{node("n1", nil, map[string]string{
			hotelv1alpha1.AgentAnnotation("kubelet", hotelv1alpha1.AgentAnnotationState):  hotelv1alpha1.AgentStateDraining,
			hotelv1alpha1.AgentAnnotation("kubelet", hotelv1alpha1.AgentAnnotationTarget): "new"})},
		drainFailures: map[string]drainFailure{"n1": {hash: "new", at: now, message: "pods still there"}}}
	d := decide(o)
	g.Expect(d.waitUntil).To(Equal(now.Add(drainRetry)))
	g.Expect(drainStatus(o)).To(Equal("draining failed on n1 (pods still there); tried again every 1m0s"))
}
