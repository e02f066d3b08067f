package agent

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// Reverting takes innkeeper's drop-in off the host, restarts the kubelet on what is left, and
// clears the Node's record: the Node runs its own configuration again.
func TestRevertRemovesTheDropInAndClearsTheNode(t *testing.T) {
	g := NewWithT(t)
	h := newFakeHost(t)
	a := h.agent(newConfig, "new")
	g.Expect(a.Apply(context.Background())).To(Succeed())
	h.writes = nil

	g.Expect(a.Revert(context.Background())).To(Succeed())
	g.Expect(h.fileContent()).To(BeNil(), "the drop-in is still there")
	_, err := os.Stat(h.dropIn() + backupSuffix)
	g.Expect(os.IsNotExist(err)).To(BeTrue(), "the drop-in's backup is left")
	g.Expect(h.restarts.Load()).To(Equal(int32(2)), "the kubelet was not restarted without the drop-in")
	g.Expect(h.report()).To(Equal(reverted), "the Node does not record the revert")
	g.Expect(h.writes[0]).To(HaveField("State", StateApplying))
	g.Expect(h.writes[0]).To(HaveField("Target", hotelv1alpha1.AgentTargetRevert))
	g.Expect(h.writes[0]).To(HaveField("Config", "new"), "while reverting, the Node still runs what it ran")
	g.Expect(a.Ready()).To(BeTrue())
	g.Expect(h.recorded()).To(ContainElement(HavePrefix("Normal " + EventReasonReverted + " " + EventActionRevert)))
	g.Expect(h.leftovers()).To(BeEmpty())
}

// A Node with nothing of innkeeper's is reverted without a restart: it says so, once.
func TestRevertWithNothingToRemoveRestartsNothing(t *testing.T) {
	g := NewWithT(t)
	h := newFakeHost(t)
	a := h.agent(newConfig, "new")
	g.Expect(a.Revert(context.Background())).To(Succeed())
	g.Expect(h.restarts.Load()).To(BeZero())
	g.Expect(h.report()).To(Equal(reverted), "the manager waits for the agent to say so")
	g.Expect(a.Ready()).To(BeTrue())
	writes := len(h.recordedWrites())
	g.Expect(a.Revert(context.Background())).To(Succeed())
	g.Expect(h.recordedWrites()).To(HaveLen(writes), "an agent restarted on a reverted Node writes nothing")

	// A record left by an apply that never wrote (refused) is replaced, still without a restart.
	_ = h.Write(context.Background(), Report{State: StateDegraded, Target: "new", Reason: hotelv1alpha1.ReasonDropInUnsupported})
	g.Expect(a.Revert(context.Background())).To(Succeed())
	g.Expect(h.restarts.Load()).To(BeZero())
	g.Expect(h.report()).To(Equal(reverted))
}

// A kubelet that is not healthy without innkeeper's drop-in (the Node's own configuration is
// broken) gets the drop-in back, byte for byte; the Node reports the revert Degraded, and this
// pod does not try again.
func TestARevertThatBreaksTheComponentPutsTheDropInBack(t *testing.T) {
	g := NewWithT(t)
	h := newFakeHost(t)
	h.install(newConfig, "new")
	h.healthyOnlyWith(newConfig)
	a := h.agent(newConfig, "new")

	err := a.Revert(context.Background())
	var de *DegradedError
	g.Expect(err).To(BeAssignableToTypeOf(de))
	g.Expect(h.fileContent()).To(Equal(newConfig))
	g.Expect(h.restarts.Load()).To(Equal(int32(2)), "restarted without the drop-in, then with it again")
	r := h.report()
	g.Expect(r.State).To(Equal(StateDegraded))
	g.Expect(r.Target).To(Equal(hotelv1alpha1.AgentTargetRevert))
	g.Expect(r.Reason).To(Equal(hotelv1alpha1.ReasonHealthCheckFailed))
	g.Expect(r.Config).To(Equal("new"), "the Node runs the configuration it ran")
	g.Expect(r.Message).To(ContainSubstring("the Node's own configuration"))
	g.Expect(a.Ready()).To(BeFalse())

	g.Expect(a.Revert(context.Background())).To(HaveOccurred())
	g.Expect(h.restarts.Load()).To(Equal(int32(2)), "a failed revert was tried again")
	// Nor does a new pod, which reads the failure from the Node.
	g.Expect(h.agent(newConfig, "new").Revert(context.Background())).To(HaveOccurred())
	g.Expect(h.restarts.Load()).To(Equal(int32(2)), "a failed revert was tried again by a new pod")
	// Applying the configuration is another matter: it is what the Node runs, unchanged.
	g.Expect(a.Apply(context.Background())).To(Succeed())
	g.Expect(h.report()).To(HaveField("State", StateApplied))
}

// A revert interrupted after it removed the drop-in, before the kubelet was seen healthy, resumes:
// the kubelet is restarted (it may still run the drop-in), checked, and the Node cleared.
func TestAnInterruptedRevertResumes(t *testing.T) {
	g := NewWithT(t)
	h := newFakeHost(t)
	h.install(newConfig, "new")
	a := h.agent(newConfig, "new")
	ctx, cancel := context.WithCancel(context.Background())
	h.onRestart = func(context.Context) error {
		cancel()
		return context.Canceled
	}
	g.Expect(a.Revert(ctx)).To(MatchError(context.Canceled))
	g.Expect(h.fileContent()).To(BeNil())
	g.Expect(h.report()).To(HaveField("State", StateApplying))

	h.onRestart = nil
	g.Expect(h.agent(newConfig, "new").Revert(context.Background())).To(Succeed())
	g.Expect(h.restarts.Load()).To(Equal(int32(2)), "the resumed revert did not restart the kubelet")
	g.Expect(h.report()).To(Equal(reverted))
}

// reverted is what the kubelet agent records once it reverted its Node.
var reverted = Report{State: StateReverted, Target: hotelv1alpha1.AgentTargetRevert,
	Message: "innkeeper's configuration is off the Node; kubelet runs the Node's own and is healthy."}

func TestGoalOf(t *testing.T) {
	const uid = "6d1c7f0e-1111-4222-8333-444455556666"
	for _, tt := range []struct {
		value, uid string
		want       Goal
	}{
		{uid, uid, GoalApply},
		{hotelv1alpha1.RevertValue(uid), uid, GoalRevert},
		{"", uid, GoalWait},
		{"another-uid", uid, GoalWait},
		{hotelv1alpha1.RevertValue("another-uid"), uid, GoalWait},
		{"", "", GoalWait},
	} {
		g := NewWithT(t)
		g.Expect(GoalOf(tt.value, tt.uid)).To(Equal(tt.want), "label %q, uid %q", tt.value, tt.uid)
	}
}

// fakeGoals is a Node whose admission label the test sets.
type fakeGoals struct {
	mu      sync.Mutex
	goal    Goal
	changed chan struct{}
}

func (f *fakeGoals) Goal() Goal {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.goal
}

func (f *fakeGoals) Changed() <-chan struct{} { return f.changed }

func (f *fakeGoals) set(g Goal) {
	f.mu.Lock()
	f.goal = g
	f.mu.Unlock()
	f.changed <- struct{}{}
}

// Run follows the Node: it applies while the Node is admitted, reverts when asked, does nothing
// while the label names no rollout of its object, and applies again when the Node comes back.
func TestRunFollowsWhatTheNodeAsks(t *testing.T) {
	g := NewWithT(t)
	h := newFakeHost(t)
	a := h.agent(newConfig, "new")
	goals := &fakeGoals{goal: GoalWait, changed: make(chan struct{})}
	a.Goals = goals
	runAgent(t, a)

	g.Consistently(h.fileContent, 200*time.Millisecond, 10*time.Millisecond).Should(BeNil(), "applied before admitted")
	g.Expect(a.Ready()).To(BeFalse())

	goals.set(GoalApply)
	g.Eventually(a.Ready, 5*time.Second, 10*time.Millisecond).Should(BeTrue())
	g.Expect(h.fileContent()).To(Equal(newConfig))

	goals.set(GoalRevert)
	g.Eventually(h.report, 5*time.Second, 10*time.Millisecond).Should(Equal(reverted))
	g.Expect(h.fileContent()).To(BeNil())
	g.Eventually(a.Ready, 5*time.Second, 10*time.Millisecond).Should(BeTrue())

	goals.set(GoalWait)
	goals.set(GoalApply)
	g.Eventually(h.report, 5*time.Second, 10*time.Millisecond).Should(HaveField("State", StateApplied))
	g.Expect(h.fileContent()).To(Equal(newConfig))
	g.Expect(h.restarts.Load()).To(Equal(int32(3)), "apply, revert, apply: one restart each")
}

// NodeGoals reads the admission label of the agent's own Node, and says when it changes.
func TestNodeGoalsWatchTheNodesLabel(t *testing.T) {
	g := NewWithT(t)
	const uid = "6d1c7f0e-1111-4222-8333-444455556666"
	label := hotelv1alpha1.AdmittedLabel("kubelet")
	client := fake.NewClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1", Labels: map[string]string{label: uid}}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	goals, err := WatchNodeGoals(ctx, client, "node-1", "kubelet", uid)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(goals.Goal()).To(Equal(GoalApply))
	g.Eventually(goals.Changed(), 5*time.Second).Should(Receive(), "no notice of the Node's first sight")

	node, err := client.CoreV1().Nodes().Get(ctx, "node-1", metav1.GetOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	node.Annotations = map[string]string{"unrelated": "change"}
	_, err = client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Consistently(goals.Changed(), 300*time.Millisecond).ShouldNot(Receive(), "a change of anything but the label")

	node.Labels[label] = hotelv1alpha1.RevertValue(uid)
	_, err = client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(goals.Changed(), 5*time.Second).Should(Receive())
	g.Expect(goals.Goal()).To(Equal(GoalRevert))

	g.Expect(client.CoreV1().Nodes().Delete(ctx, "node-1", metav1.DeleteOptions{})).To(Succeed())
	g.Eventually(goals.Changed(), 5*time.Second).Should(Receive())
	g.Expect(goals.Goal()).To(Equal(GoalWait))
}
