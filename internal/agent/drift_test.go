package agent

import (
	"context"
	"os"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// appliedWithDriftChecks runs an agent that checks for drift every 20 ms with policy, and returns
// once it has applied its configuration.
func appliedWithDriftChecks(t *testing.T, policy DriftPolicy) (*fakeHost, *Agent) {
	h := newFakeHost(t)
	a := h.agent(newConfig, "new")
	a.DriftInterval, a.DriftPolicy = 20*time.Millisecond, policy
	runAgent(t, a)
	NewWithT(t).Eventually(a.Ready, 5*time.Second, 10*time.Millisecond).Should(BeTrue())
	return h, a
}

// A drop-in edited by hand after the apply is put back, the kubelet restarted on it, and the
// Node told with a Warning Event.
func TestADriftedFileIsPutBack(t *testing.T) {
	g := NewWithT(t)
	h, a := appliedWithDriftChecks(t, hotelv1alpha1.DriftPolicyCorrect)
	g.Expect(h.restarts.Load()).To(Equal(int32(1)))
	g.Consistently(h.restarts.Load, 200*time.Millisecond, 10*time.Millisecond).Should(Equal(int32(1)),
		"unchanged files are put back")

	g.Expect(os.WriteFile(h.dropIn(), oldConfig, 0o644)).To(Succeed())
	g.Eventually(h.fileContent, 5*time.Second, 10*time.Millisecond).Should(Equal(newConfig))
	g.Eventually(h.restarts.Load, 5*time.Second, 10*time.Millisecond).Should(Equal(int32(2)))
	g.Eventually(a.Ready, 5*time.Second, 10*time.Millisecond).Should(BeTrue())
	g.Expect(h.report()).To(HaveField("State", StateApplied))
	g.Expect(h.recorded()).To(ContainElement(HavePrefix("Warning " + hotelv1alpha1.ReasonDrifted + " " + EventActionCorrect)))

	// Removed by hand: put back too.
	g.Expect(os.Remove(h.dropIn())).To(Succeed())
	g.Eventually(h.fileContent, 5*time.Second, 10*time.Millisecond).Should(Equal(newConfig))
}

// With driftPolicy Report, the edited file stays; the Node says so while it lasts, and no more
// once the file holds the configuration again.
func TestADriftedFileIsReported(t *testing.T) {
	g := NewWithT(t)
	h, _ := appliedWithDriftChecks(t, hotelv1alpha1.DriftPolicyReport)

	g.Expect(os.WriteFile(h.dropIn(), oldConfig, 0o644)).To(Succeed())
	g.Eventually(func() string { return h.report().Reason }, 5*time.Second, 10*time.Millisecond).
		Should(Equal(hotelv1alpha1.ReasonDrifted))
	r := h.report()
	g.Expect(r.State).To(Equal(StateApplied), "a reported drift is no failure to apply")
	g.Expect(r.Config).To(Equal("new"))
	g.Expect(r.Message).To(ContainSubstring(dropInDir + "/50-innkeeper.conf changed on the Node"))
	g.Consistently(h.fileContent, 200*time.Millisecond, 10*time.Millisecond).Should(Equal(oldConfig))
	g.Expect(h.restarts.Load()).To(Equal(int32(1)))
	writes := len(h.recordedWrites())
	g.Consistently(func() int { return len(h.recordedWrites()) }, 200*time.Millisecond, 10*time.Millisecond).
		Should(Equal(writes), "the same drift is recorded once")
	g.Expect(h.recorded()).To(ContainElement(HavePrefix("Warning " + hotelv1alpha1.ReasonDrifted + " " + EventActionReport)))

	g.Expect(os.WriteFile(h.dropIn(), newConfig, 0o644)).To(Succeed())
	g.Eventually(func() string { return h.report().Reason }, 5*time.Second, 10*time.Millisecond).Should(BeEmpty())
	g.Expect(h.report().State).To(Equal(StateApplied))
}

// Without a drift interval, nothing is checked after the apply.
func TestNoDriftIntervalChecksNothing(t *testing.T) {
	g := NewWithT(t)
	h := newFakeHost(t)
	a := h.agent(newConfig, "new")
	runAgent(t, a)
	g.Eventually(a.Ready, 5*time.Second, 10*time.Millisecond).Should(BeTrue())
	g.Expect(os.WriteFile(h.dropIn(), oldConfig, 0o644)).To(Succeed())
	g.Consistently(h.fileContent, 300*time.Millisecond, 10*time.Millisecond).Should(Equal(oldConfig))
}

func TestDrifted(t *testing.T) {
	g := NewWithT(t)
	h := newFakeHost(t)
	a := h.agent(newConfig, "new")
	g.Expect(a.Apply(context.Background())).To(Succeed())
	g.Expect(a.Drifted(context.Background())).To(BeEmpty())
	g.Expect(os.Remove(h.dropIn())).To(Succeed())
	g.Expect(a.Drifted(context.Background())).To(Equal([]string{dropInDir + "/50-innkeeper.conf"}))
}

// A file changed by hand is no healthy state: if putting the configuration back fails its health
// check, the rollback restores the configuration's file, not the hand edit.
func TestADriftCorrectionNeverBacksUpTheHandEdit(t *testing.T) {
	g := NewWithT(t)
	h, _ := appliedWithDriftChecks(t, hotelv1alpha1.DriftPolicyCorrect)

	h.onRestart = func(context.Context) error {
		h.healthy.Store(false) // the restart that puts the file back finds the kubelet unhealthy
		return nil
	}
	g.Expect(os.WriteFile(h.dropIn(), oldConfig, 0o644)).To(Succeed())
	g.Eventually(func() string { return h.report().Reason }, 5*time.Second, 10*time.Millisecond).
		Should(Equal(hotelv1alpha1.ReasonHealthCheckFailed))
	g.Expect(h.fileContent()).To(Equal(newConfig), "the rollback restored the hand edit")
}
