package pool

import (
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

func TestCanarySize(t *testing.T) {
	one, three, tenPercent, all := intstr.FromInt32(1), intstr.FromInt32(3), intstr.FromString("10%"), intstr.FromString("100%")
	tests := []struct {
		name           string
		canary         *intstr.IntOrString
		maxUnavailable intstr.IntOrString
		nodes          int
		want           int
	}{
		{name: "no canary", maxUnavailable: three, nodes: 20, want: 0},
		{name: "one Node", canary: &one, maxUnavailable: three, nodes: 20, want: 1},
		{name: "a percentage rounds up", canary: &tenPercent, maxUnavailable: three, nodes: 11, want: 2},
		{name: "never more than maxUnavailable lets change at once", canary: &all, maxUnavailable: three, nodes: 20, want: 3},
		{name: "never more than the pool", canary: &three, maxUnavailable: intstr.FromString("100%"), nodes: 2, want: 2},
		{name: "an empty pool has none", canary: &one, maxUnavailable: three, nodes: 0, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := observed{canary: tt.canary, maxUnavailable: tt.maxUnavailable}
			for i := range tt.nodes {
				o.nodes = append(o.nodes, node(fmt.Sprintf("n%02d", i), nil, nil))
			}
			NewWithT(t).Expect(canarySize(o)).To(Equal(tt.want))
		})
	}
}

func TestDecideCanary(t *testing.T) {
	desired := Config{Hash: "new", ConfigMapName: "fm-kubelet-new"}
	applied := Config{Hash: "old", ConfigMapName: "fm-kubelet-old"}
	two, three := intstr.FromInt32(2), intstr.FromInt32(3)
	// base: ten admitted Ready Nodes, maxUnavailable 3, a canary of 2, soak 30 s; the DaemonSet
	// rolls out the newest configuration, its status current: each case sets the status.
	base := func(change func(*observed)) observed {
		o := observed{kind: "FloorManager", component: "kubelet", nodeAgent: true, uid: testUID,
			maxUnavailable: three, canary: &two, soakSeconds: 30, desired: desired, applied: desired,
			healthGate: hotelv1alpha1.HealthGateEnforce, rolloutStart: rolloutBegan}
		for i := range 10 {
			o.nodes = append(o.nodes, poolNode(fmt.Sprintf("n%02d", i), true, true, "old"))
		}
		change(&o)
		return o
	}
	onDelete := func(ds *appsv1.DaemonSet) *appsv1.DaemonSet {
		ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
		return ds
	}
	rollingAt := func(ds *appsv1.DaemonSet, mu intstr.IntOrString) *appsv1.DaemonSet {
		ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &mu}}
		return ds
	}
	stale := func(ds *appsv1.DaemonSet) *appsv1.DaemonSet {
		ds.Generation = ds.Status.ObservedGeneration + 1
		return ds
	}
	tests := []struct {
		name       string
		o          observed
		want       action
		wantMax    *intstr.IntOrString // the rolling update's maxUnavailable; nil for the spec's
		wantWait   string
		wantCanry  int
		wantPassed string
	}{
		{name: "a new configuration starts at the canary's size",
			o:    base(func(o *observed) { o.applied, o.daemonSet = applied, gatedDaemonSet(daemonSet("old", 10, 10)) }),
			want: actApply, wantMax: &two, wantCanry: 2},
		{name: "a new configuration waits for the pods of the rollout before it to soak",
			o: base(func(o *observed) {
				ds := gatedDaemonSet(daemonSet("old", 10, 7))
				ds.Status.NumberUnavailable = 3
				o.applied, o.daemonSet = applied, ds
			}),
			want: actHold, wantWait: hotelv1alpha1.ReasonCanaryInProgress, wantCanry: 2},
		{name: "unavailable pods on NotReady Nodes are not waited for",
			o: base(func(o *observed) {
				ds := gatedDaemonSet(daemonSet("old", 10, 8))
				ds.Status.NumberUnavailable = 2
				o.applied, o.daemonSet = applied, ds
				o.nodes[3] = poolNode("n03", false, true, "old")
				o.nodes[7] = poolNode("n07", false, true, "old")
			}),
			// Their pods count against maxUnavailable: the canary's two come on top, within 3.
			want: actApply, wantMax: &three, wantCanry: 2},
		{name: "a fix is not held back by a Node that failed the configuration before it",
			o: base(func(o *observed) {
				ds := gatedDaemonSet(daemonSet("old", 10, 9))
				ds.Status.NumberUnavailable = 1
				o.applied, o.daemonSet = applied, ds
				o.nodes[4].Annotations = map[string]string{
					hotelv1alpha1.AgentAnnotation("kubelet", hotelv1alpha1.AgentAnnotationState):  hotelv1alpha1.AgentStateDegraded,
					hotelv1alpha1.AgentAnnotation("kubelet", hotelv1alpha1.AgentAnnotationTarget): "old",
				}
			}),
			want: actApply, wantMax: &two, wantCanry: 2},
		{name: "a NotReady Node's pod, replaced first, is not the canary's",
			o: base(func(o *observed) {
				o.daemonSet = gatedDaemonSet(daemonSetOn("new", 10, 2, 8))
				o.nodes[5] = poolNode("n05", false, true, "old")
			}),
			want: actApply, wantMax: &three, wantCanry: 2},
		{name: "a passed canary stays passed while the rollout replaces old pods",
			o: base(func(o *observed) {
				ds := gatedDaemonSet(daemonSetOn("new", 10, 3, 7))
				ds.Annotations = map[string]string{AnnotationCanaryPassed: "new"}
				o.daemonSet = ds
			}),
			want: actApply, wantPassed: "new"},
		{name: "a new object starts at the canary's size",
			o:    base(func(o *observed) { o.applied, o.daemonSet = Config{}, nil }),
			want: actApply, wantMax: &two, wantCanry: 2},
		{name: "fewer updated pods than the canary: it rolls on at its size",
			o:    base(func(o *observed) { o.daemonSet = gatedDaemonSet(daemonSetOn("new", 10, 1, 9)) }),
			want: actApply, wantMax: &two, wantCanry: 2},
		{name: "the canary's pods all updated, not all available: held, and said",
			o:    base(func(o *observed) { o.daemonSet = gatedDaemonSet(daemonSetOn("new", 10, 2, 9)) }),
			want: actHold, wantWait: hotelv1alpha1.ReasonCanaryInProgress, wantCanry: 2},
		{name: "the canary available: the rest at maxUnavailable, and the DaemonSet says so",
			o:    base(func(o *observed) { o.daemonSet = gatedDaemonSet(daemonSetOn("new", 10, 2, 10)) }),
			want: actApply, wantPassed: "new"},
		{name: "past the canary it stays there",
			o:    base(func(o *observed) { o.daemonSet = gatedDaemonSet(daemonSetOn("new", 10, 6, 7)) }),
			want: actApply, wantPassed: "new"},
		{name: "a status that lags a held DaemonSet keeps it held",
			o:    base(func(o *observed) { o.daemonSet = stale(onDelete(gatedDaemonSet(daemonSetOn("new", 10, 2, 10)))) }),
			want: actHold, wantCanry: 2},
		{name: "a status that lags a DaemonSet rolling at maxUnavailable keeps it so",
			o: base(func(o *observed) {
				o.daemonSet = stale(rollingAt(gatedDaemonSet(daemonSetOn("new", 10, 0, 10)), three))
			}),
			want: actApply, wantMax: &three, wantCanry: 2},
		{name: "a rollout complete on every Node has nothing to hold, whatever is unavailable",
			o: base(func(o *observed) {
				o.daemonSet = gatedDaemonSet(daemonSetOn("new", 10, 10, 1))
				for _, n := range o.nodes {
					n.Annotations = appliedAnnotations("new")
				}
			}),
			want: actApply, wantPassed: "new"},
		{name: "no canary: the spec's maxUnavailable",
			o: base(func(o *observed) {
				o.canary, o.applied, o.daemonSet = nil, applied, gatedDaemonSet(daemonSet("old", 10, 10))
			}),
			want: actApply},
		{name: "the health gate comes first: a canary Node turned unhealthy halts",
			o: base(func(o *observed) {
				o.daemonSet = gatedDaemonSet(daemonSetOn("new", 10, 2, 9))
				o.nodes[0] = withConditionAt(poolNode("n00", true, true, "new"), corev1.NodeDiskPressure, corev1.ConditionTrue,
					rolloutBegan.Add(1))
			}),
			want: actHold, wantWait: hotelv1alpha1.ReasonRolloutHalted},
		{name: "paused comes first", o: base(func(o *observed) {
			o.paused, o.daemonSet = true, gatedDaemonSet(daemonSetOn("new", 10, 1, 9))
		}), want: actHold},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			d := decide(tt.o)
			g.Expect(d.action).To(Equal(tt.want), d.action.String())
			g.Expect(d.maxUnavailable).To(Equal(tt.wantMax))
			g.Expect(d.canary).To(Equal(tt.wantCanry))
			g.Expect(d.canaryPassed).To(Equal(tt.wantPassed))
			if tt.wantWait == "" {
				g.Expect(d.wait).To(BeNil())
			} else {
				g.Expect(d.wait).NotTo(BeNil())
				g.Expect(d.wait.reason).To(Equal(tt.wantWait))
			}
			if tt.wantWait == hotelv1alpha1.ReasonCanaryInProgress && tt.o.applied.Hash == "new" {
				g.Expect(d.wait.message).To(ContainSubstring("runs on the canary's 2 Nodes, 1 of them Ready for soakSeconds (30 s) so far"))
			}
			if tt.wantWait == hotelv1alpha1.ReasonCanaryInProgress && tt.o.applied.Hash == "old" {
				g.Expect(d.wait.message).To(ContainSubstring("starts once 3 Nodes of the rollout before it have soaked"))
				g.Expect(d.config.Hash).To(Equal("old"), "held at what it rolls out")
			}
		})
	}
}

func TestAdmitCanary(t *testing.T) {
	cfg := Config{Hash: "new", ConfigMapName: "gpu-kubelet-new"}
	three := intstr.FromInt32(3)
	// A first rollout over six Ready Nodes with maxUnavailable 3: the canary caps its first wave.
	first := func(canary *intstr.IntOrString, admittedNodes int, ds *appsv1.DaemonSet) observed {
		o := observed{component: "kubelet", nodeAgent: true, uid: testUID, maxUnavailable: three, canary: canary,
			desired: cfg, applied: cfg, daemonSet: gatedDaemonSet(ds), healthGate: hotelv1alpha1.HealthGateEnforce}
		for i := range 6 {
			o.nodes = append(o.nodes, poolNode(fmt.Sprintf("n%d", i), true, i < admittedNodes, ""))
		}
		return o
	}
	one := intstr.FromInt32(1)
	tests := []struct {
		name string
		o    observed
		want []string
	}{
		{name: "no canary: a wave of maxUnavailable", o: first(nil, 0, daemonSetOn("new", 0, 0, 0)), want: []string{"n0", "n1", "n2"}},
		{name: "a canary of one: one Node", o: first(&one, 0, daemonSetOn("new", 0, 0, 0)), want: []string{"n0"}},
		{name: "the canary admitted and not passed: nobody more", o: first(&one, 1, daemonSetOn("new", 1, 1, 0))},
		{name: "the canary passed: the next wave at maxUnavailable", o: func() observed {
			o := first(&one, 1, daemonSetOn("new", 1, 1, 1))
			o.nodes[0].Annotations = appliedAnnotations("new")
			return o
		}(), want: []string{"n1", "n2", "n3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decide(tt.o)
			NewWithT(t).Expect(d.admission.admit).To(Equal(tt.want))
		})
	}
}
