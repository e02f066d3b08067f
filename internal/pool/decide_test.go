package pool

import (
	"errors"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// TestDecide covers every branch of decideAction, and of decide what follows from it. What decide
// adds for the guards has its table next to each guard: admission of first rollouts
// (TestDecideAdoptsInChunks), canaries (TestDecideCanary), drains (TestDecideRequeuesForADrainRetry)
// and the reverts of a deleted object (TestPlanReverts).
func TestDecide(t *testing.T) {
	desired := Config{Hash: "new", ConfigMapName: "fm-kubelet-new"}
	applied := Config{Hash: "old", ConfigMapName: "fm-kubelet-old"}
	running := daemonSet("old", 2, 2)
	unannotated := &appsv1.DaemonSet{}
	takeOverFailed := errors.New("conflict with kube-system/kube-proxy")
	foreign := &stall{reason: hotelv1alpha1.ReasonForeignKubeProxy, message: "DaemonSet kube-system/kube-proxy ..."}
	retried := &stall{reason: hotelv1alpha1.ReasonForeignKubeProxy, message: "Taking ... failed", retry: takeOverFailed}
	older := &conflict{peer: "general", nodes: []string{"n1", "n2"}}
	fieldErr := field.ErrorList{field.Invalid(field.NewPath("spec", "kubelet", "maxPods"), -1, "must be at least 0")}.ToAggregate()

	// base is a spec that renders, a DaemonSet that rolls out an older configuration, nobody else
	// on the pool: each case changes what it is about.
	base := func(change func(*observed)) observed {
		o := observed{kind: "FloorManager", namespace: "innkeeper-system", component: "kubelet",
			desired: desired, daemonSet: running, applied: applied}
		change(&o)
		return o
	}
	opens := time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC)
	closes := time.Date(2026, 12, 6, 2, 0, 0, 0, time.UTC)
	closedUntil := windowState{next: opens}
	openUntil := windowState{open: true, next: closes}
	// gate is base rolling the newest configuration over n1, which runs it, and n2, which does not.
	gate := func(change func(*observed)) observed {
		return base(func(o *observed) {
			o.applied, o.daemonSet, o.uid, o.rolloutStart = desired, daemonSet("new", 1, 1), testUID, rolloutBegan
			o.component, o.nodeAgent = "kubelet", true
			o.nodes = []*corev1.Node{node("n1", nil, appliedAnnotations("new")), node("n2", nil, nil)}
			for _, n := range o.nodes {
				n.Labels = map[string]string{AdmittedLabel("kubelet"): testUID}
			}
			change(o)
		})
	}
	tests := []struct {
		name        string
		o           observed
		want        action
		wantConfig  Config
		wantReason  string   // of the stall; "" for none
		wantMessage []string // in the stall's message
		wantRetry   error
		wantWait    string    // the reason of the wait; "" for none
		wantUntil   time.Time // when the reconcile is to be requeued; zero for never
	}{
		{name: "a spec that renders is applied", o: base(func(*observed) {}), want: actApply, wantConfig: desired},
		{name: "with no DaemonSet yet too", o: base(func(o *observed) { o.daemonSet, o.applied = nil, Config{} }),
			want: actApply, wantConfig: desired},
		{name: "the same configuration again: applied (apply compares with what runs)",
			o: base(func(o *observed) { o.applied = desired }), want: actApply, wantConfig: desired},

		// Deleted: whatever the spec says, the DaemonSet is held at what it rolls out while the Nodes
		// are reverted (TestPlanReverts covers the reverts).
		{name: "deleted: the DaemonSet is held at what it rolls out", o: base(func(o *observed) { o.deleting = true }),
			want: actHold, wantConfig: applied},
		{name: "deleted, a spec that does not render: held all the same", o: base(func(o *observed) {
			o.deleting, o.renderErr, o.desired = true, errors.New("bad"), Config{}
		}), want: actHold, wantConfig: applied},
		{name: "deleted with no DaemonSet: nothing", o: base(func(o *observed) {
			o.deleting, o.daemonSet, o.applied = true, nil, Config{}
		}), want: actNone},
		{name: "deleted, a DaemonSet that names no configuration: nothing", o: base(func(o *observed) {
			o.deleting, o.daemonSet, o.applied = true, unannotated, Config{}
		}), want: actNone},

		{name: "paused: the DaemonSet is held at what it rolls out", o: base(func(o *observed) { o.paused = true }),
			want: actHold, wantConfig: applied},
		{name: "paused before any DaemonSet: nothing", o: base(func(o *observed) {
			o.paused, o.daemonSet, o.applied = true, nil, Config{}
		}), want: actNone},
		{name: "paused, a DaemonSet that names no configuration: nothing", o: base(func(o *observed) {
			o.paused, o.daemonSet, o.applied = true, unannotated, Config{}
		}), want: actNone},

		{name: "an invalid selector: what runs stays", o: base(func(o *observed) {
			o.selectorErr, o.desired = errors.New(`"Has" is not a valid label selector operator`), Config{}
		}), want: actNone, wantReason: hotelv1alpha1.ReasonInvalidSpec,
			wantMessage: []string{"spec.nodeSelector is invalid", `"Has" is not a valid`}},
		{name: "missing references: what runs stays", o: base(func(o *observed) {
			o.missing, o.desired = []string{"mirror-ca", "other-ca"}, Config{}
		}), want: actNone, wantReason: hotelv1alpha1.ReasonReferenceNotFound,
			wantMessage: []string{"in namespace innkeeper-system: mirror-ca, other-ca"}},
		{name: "a configuration that does not render names the fields", o: base(func(o *observed) {
			o.renderErr, o.desired = fieldErr, Config{}
		}), want: actNone, wantReason: hotelv1alpha1.ReasonInvalidSpec,
			wantMessage: []string{"The kubelet configuration cannot be rendered", "spec.kubelet.maxPods: Invalid value: -1"}},
		{name: "a render error without fields is said as is", o: base(func(o *observed) {
			o.renderErr, o.desired = errors.New("unexpected object"), Config{}
		}), want: actNone, wantReason: hotelv1alpha1.ReasonInvalidSpec, wantMessage: []string{"rendered: unexpected object."}},
		{name: "an invalid selector first, then missing references", o: base(func(o *observed) {
			o.selectorErr, o.missing = errors.New("bad"), []string{"mirror-ca"}
		}), want: actNone, wantReason: hotelv1alpha1.ReasonInvalidSpec},
		{name: "a spec that cannot be rolled out stays so while paused", o: base(func(o *observed) {
			o.paused, o.missing = true, []string{"mirror-ca"}
		}), want: actNone, wantReason: hotelv1alpha1.ReasonReferenceNotFound},

		{name: "a foreign DaemonSet on the pool: this one's DaemonSet goes", o: base(func(o *observed) { o.foreign = foreign }),
			want: actRemoveDaemonSet, wantReason: hotelv1alpha1.ReasonForeignKubeProxy, wantMessage: []string{"kube-system/kube-proxy"}},
		{name: "a foreign DaemonSet on the pool, no DaemonSet of this one's: nothing", o: base(func(o *observed) {
			o.foreign, o.daemonSet, o.applied = foreign, nil, Config{}
		}), want: actNone, wantReason: hotelv1alpha1.ReasonForeignKubeProxy},
		{name: "a failed take-over is retried with backoff", o: base(func(o *observed) { o.foreign = retried }),
			want: actRemoveDaemonSet, wantReason: hotelv1alpha1.ReasonForeignKubeProxy, wantRetry: takeOverFailed},
		{name: "an older object's pool overlaps: this one's DaemonSet goes", o: base(func(o *observed) { o.conflict = older }),
			want: actRemoveDaemonSet, wantReason: hotelv1alpha1.ReasonPoolConflict,
			wantMessage: []string{`2 selected Nodes (n1, n2) are also selected by FloorManager "general"`}},
		{name: "an overlap while paused: the DaemonSet goes all the same", o: base(func(o *observed) {
			o.paused, o.conflict = true, older
		}), want: actRemoveDaemonSet, wantReason: hotelv1alpha1.ReasonPoolConflict},
		{name: "an overlap and a DaemonSet that names no configuration: it goes too", o: base(func(o *observed) {
			o.conflict, o.daemonSet, o.applied = older, unannotated, Config{}
		}), want: actRemoveDaemonSet, wantReason: hotelv1alpha1.ReasonPoolConflict},
		{name: "an overlap and no DaemonSet: nothing", o: base(func(o *observed) {
			o.conflict, o.daemonSet, o.applied = older, nil, Config{}
		}), want: actNone, wantReason: hotelv1alpha1.ReasonPoolConflict},
		{name: "a foreign DaemonSet is said before an overlap", o: base(func(o *observed) { o.foreign, o.conflict = foreign, older }),
			want: actRemoveDaemonSet, wantReason: hotelv1alpha1.ReasonForeignKubeProxy},
		{name: "a spec that cannot be rolled out is said before the pool's holders", o: base(func(o *observed) {
			o.renderErr, o.foreign, o.conflict = errors.New("bad"), foreign, older
		}), want: actNone, wantReason: hotelv1alpha1.ReasonInvalidSpec},

		// The health gate: rolling (the DaemonSet rolls out the newest configuration), n1 runs it
		// and n2 does not yet.
		{name: "an updated Node under disk pressure holds the rollout where it is", o: gate(func(o *observed) {
			o.nodes[0] = withCondition(o.nodes[0], corev1.NodeDiskPressure, corev1.ConditionTrue)
		}), want: actHold, wantConfig: desired, wantWait: hotelv1alpha1.ReasonRolloutHalted,
			wantMessage: []string{"configuration new", "1 DiskPressure (n1)", "set spec.rollout.healthGate to Ignore"}},
		{name: "so does one NotReady", o: gate(func(o *observed) {
			o.nodes[0] = withCondition(o.nodes[0], corev1.NodeReady, corev1.ConditionFalse)
		}), want: actHold, wantConfig: desired, wantWait: hotelv1alpha1.ReasonRolloutHalted, wantMessage: []string{"1 NotReady (n1)"}},
		{name: "a Node unhealthy since before the rollout began holds nothing (an old one, while new Nodes join)", o: gate(func(o *observed) {
			o.nodes[0] = withConditionAt(o.nodes[0], corev1.NodeDiskPressure, corev1.ConditionTrue, rolloutBegan.Add(-time.Minute))
			o.nodes[1].Labels = nil
		}), want: actApply, wantConfig: desired},
		{name: "healthy: the rollout goes on", o: gate(func(*observed) {}), want: actApply, wantConfig: desired},
		{name: "Ignore: the rollout goes on regardless", o: gate(func(o *observed) {
			o.nodes[0] = withCondition(o.nodes[0], corev1.NodeDiskPressure, corev1.ConditionTrue)
			o.healthGate = hotelv1alpha1.HealthGateIgnore
		}), want: actApply, wantConfig: desired},
		{name: "an unhealthy Node that does not run the configuration yet holds nothing", o: gate(func(o *observed) {
			o.nodes[1] = withCondition(o.nodes[1], corev1.NodeReady, corev1.ConditionFalse)
		}), want: actApply, wantConfig: desired},
		{name: "a new configuration, maybe the fix, is rolled out whatever the gate", o: gate(func(o *observed) {
			o.nodes[0] = withCondition(o.nodes[0], corev1.NodeDiskPressure, corev1.ConditionTrue)
			o.applied = applied
		}), want: actApply, wantConfig: desired},
		{name: "a complete rollout has nothing to hold", o: gate(func(o *observed) {
			o.nodes[1] = node("n2", nil, appliedAnnotations("new"))
			o.nodes[0] = withCondition(o.nodes[0], corev1.NodeDiskPressure, corev1.ConditionTrue)
		}), want: actApply, wantConfig: desired},
		{name: "paused wins: held, and not said as halted", o: gate(func(o *observed) {
			o.nodes[0] = withCondition(o.nodes[0], corev1.NodeDiskPressure, corev1.ConditionTrue)
			o.paused = true
		}), want: actHold, wantConfig: desired},
		{name: "no agent: an admitted unhealthy Node holds a DaemonSet that has not updated every Node", o: gate(func(o *observed) {
			o.nodeAgent, o.component = false, "kube-proxy"
			o.nodes[0] = withCondition(node("n1", nil, nil), corev1.NodeMemoryPressure, corev1.ConditionTrue)
			o.nodes[0].Labels = map[string]string{AdmittedLabel("kube-proxy"): testUID}
			o.daemonSet = daemonSetOn("new", 2, 1, 1)
		}), want: actHold, wantConfig: desired, wantWait: hotelv1alpha1.ReasonRolloutHalted,
			wantMessage: []string{"1 MemoryPressure (n1)"}},

		// Nodes where the configuration failed block the rollout once they are as many as
		// maxUnavailable allows (1 of 2 Nodes here): held, so that no further pod is replaced.
		{name: "a Node where the rolled-out configuration failed blocks the rollout at maxUnavailable", o: gate(func(o *observed) {
			o.nodes[1] = node("n2", nil, degradedAnnotations("healthz timed out"))
			o.nodes[1].Annotations[hotelv1alpha1.AgentAnnotation("kubelet", hotelv1alpha1.AgentAnnotationTarget)] = "new"
			o.nodes[1].Labels = map[string]string{AdmittedLabel("kubelet"): testUID}
		}), want: actHold, wantConfig: desired, wantReason: hotelv1alpha1.ReasonRolloutBlocked,
			wantMessage: []string{"1 of 2 Nodes are Degraded with configuration new", "maxUnavailable (1)"}},
		{name: "below maxUnavailable a failed Node does not block", o: gate(func(o *observed) {
			o.nodes[1] = node("n2", nil, degradedAnnotations("healthz timed out"))
			o.nodes[1].Labels = map[string]string{AdmittedLabel("kubelet"): testUID}
			o.maxUnavailable = intstr.FromInt32(2)
		}), want: actApply, wantConfig: desired},
		{name: "a failure of an older configuration blocks nothing", o: gate(func(o *observed) {
			o.nodes[1] = node("n2", nil, degradedAnnotations("healthz timed out"))
			o.nodes[1].Annotations[hotelv1alpha1.AgentAnnotation("kubelet", hotelv1alpha1.AgentAnnotationTarget)] = "old"
			o.nodes[1].Labels = map[string]string{AdmittedLabel("kubelet"): testUID}
		}), want: actApply, wantConfig: desired},
		{name: "a new configuration, maybe the fix, is rolled out over failed Nodes", o: gate(func(o *observed) {
			o.nodes[1] = node("n2", nil, degradedAnnotations("healthz timed out"))
			o.applied = applied
		}), want: actApply, wantConfig: desired},
		{name: "failed Nodes that run the configuration all the same block nothing: the rollout is complete", o: gate(func(o *observed) {
			o.nodes[1] = node("n2", nil, degradedAnnotations("healthz timed out"))
			o.nodes[1].Annotations[hotelv1alpha1.AgentAnnotation("kubelet", hotelv1alpha1.AgentAnnotationConfig)] = "new"
			o.nodes[1].Annotations[hotelv1alpha1.AgentAnnotation("kubelet", hotelv1alpha1.AgentAnnotationTarget)] = "new"
			o.nodes[1].Labels = map[string]string{AdmittedLabel("kubelet"): testUID}
		}), want: actApply, wantConfig: desired},
		{name: "paused: held, not said as blocked", o: gate(func(o *observed) {
			o.nodes[1] = node("n2", nil, degradedAnnotations("healthz timed out"))
			o.paused = true
		}), want: actHold, wantConfig: desired},

		// Maintenance windows: base has a newer configuration than the DaemonSet rolls out.
		{name: "a window closed: the DaemonSet is held at what it rolls out, until the next opens", o: base(func(o *observed) {
			o.window, o.nodes = &closedUntil, nodes("n1", "n2")
		}), want: actHold, wantConfig: applied, wantWait: hotelv1alpha1.ReasonOutsideMaintenanceWindow, wantUntil: opens},
		{name: "a window closed, no DaemonSet yet: one is applied, admitted nowhere", o: base(func(o *observed) {
			o.window, o.daemonSet, o.applied, o.nodes = &closedUntil, nil, Config{}, nodes("n1", "n2")
		}), want: actApply, wantConfig: desired, wantWait: hotelv1alpha1.ReasonOutsideMaintenanceWindow, wantUntil: opens},
		{name: "a window closed and no Node selected: no wait", o: base(func(o *observed) { o.window = &closedUntil }),
			want: actApply, wantConfig: desired},
		{name: "a window closed and nothing to roll out: no wait", o: gate(func(o *observed) {
			o.window = &closedUntil
			o.nodes[1] = node("n2", nil, appliedAnnotations("new"))
		}), want: actApply, wantConfig: desired},
		{name: "a window open: applied, and looked at again when it closes", o: base(func(o *observed) {
			o.window, o.nodes = &openUntil, nodes("n1", "n2")
		}), want: actApply, wantConfig: desired, wantUntil: closes},
		{name: "the health gate is said before the windows", o: gate(func(o *observed) {
			o.window = &closedUntil
			o.nodes[0] = withCondition(o.nodes[0], corev1.NodeDiskPressure, corev1.ConditionTrue)
		}), want: actHold, wantConfig: desired, wantWait: hotelv1alpha1.ReasonRolloutHalted},
		{name: "a window closed, and none ever opens: the wait says so, and nothing requeues it", o: base(func(o *observed) {
			o.window, o.nodes = &windowState{}, nodes("n1", "n2")
		}), want: actHold, wantConfig: applied, wantWait: hotelv1alpha1.ReasonOutsideMaintenanceWindow,
			wantMessage: []string{"no window ever opens"}},
		{name: "windows that cannot be read: the spec is invalid", o: base(func(o *observed) {
			o.windowErr = errors.New(`spec.rollout.maintenance.timeZone "Mars" is not a time zone the manager knows`)
		}), want: actNone, wantReason: hotelv1alpha1.ReasonInvalidSpec, wantMessage: []string{`timeZone "Mars"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			d := decide(tt.o)
			g.Expect(d.action).To(Equal(tt.want), "action %s", d.action)
			g.Expect(d.config).To(Equal(tt.wantConfig))
			if tt.wantWait == "" {
				g.Expect(d.wait).To(BeNil())
			} else {
				g.Expect(d.wait).NotTo(BeNil())
				g.Expect(d.wait.reason).To(Equal(tt.wantWait))
				if !tt.wantUntil.IsZero() {
					g.Expect(d.wait.message).To(ContainSubstring("the next opens at " + tt.wantUntil.Format(time.RFC3339)))
				}
				for _, m := range tt.wantMessage {
					g.Expect(d.wait.message).To(ContainSubstring(m))
				}
			}
			g.Expect(d.waitUntil).To(Equal(tt.wantUntil), "requeued for")
			if tt.wantReason == "" {
				g.Expect(d.stall).To(BeNil())
				return
			}
			g.Expect(d.stall).NotTo(BeNil())
			g.Expect(d.stall.reason).To(Equal(tt.wantReason))
			for _, m := range tt.wantMessage {
				g.Expect(d.stall.message).To(ContainSubstring(m))
			}
			if tt.wantRetry == nil {
				g.Expect(d.stall.retryErr()).To(Succeed())
			} else {
				g.Expect(d.stall.retryErr()).To(MatchError(tt.wantRetry))
			}
		})
	}
}

func TestActionString(t *testing.T) {
	g := NewWithT(t)
	for a, want := range map[action]string{actNone: "none", actApply: "apply", actHold: "hold",
		actRemoveDaemonSet: "remove DaemonSet", action(9): "action(9)"} {
		g.Expect(a.String()).To(Equal(want))
	}
}

func TestStallRetryErr(t *testing.T) {
	g := NewWithT(t)
	var none *stall
	g.Expect(none.retryErr()).To(Succeed(), "no stall, nothing to retry")
	g.Expect((&stall{reason: "PoolConflict"}).retryErr()).To(Succeed())
	err := errors.New("conflict")
	g.Expect((&stall{retry: err}).retryErr()).To(Equal(err))
}

// rolloutBegan is when the rollouts of TestDecide began; conditions change an hour later.
var rolloutBegan = time.Date(2026, 12, 5, 20, 0, 0, 0, time.UTC)

// withCondition returns a copy of n with condition t set to s an hour after rolloutBegan.
func withCondition(n *corev1.Node, t corev1.NodeConditionType, s corev1.ConditionStatus) *corev1.Node {
	return withConditionAt(n, t, s, rolloutBegan.Add(time.Hour))
}

// withConditionAt returns a copy of n with condition t set to s at when.
func withConditionAt(n *corev1.Node, t corev1.NodeConditionType, s corev1.ConditionStatus, when time.Time) *corev1.Node {
	n = n.DeepCopy()
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == t {
			n.Status.Conditions[i].Status = s
			n.Status.Conditions[i].LastTransitionTime = metav1.NewTime(when)
			return n
		}
	}
	n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: t, Status: s, LastTransitionTime: metav1.NewTime(when)})
	return n
}
