//go:build faults

package faults

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/innkeeper-dev/innkeeper/internal/manager"
)

// kills is how many times the failover spec kills the leader.
const kills = 3

// failoverGoal is how soon after the leader's death a standby must lead (#17): the default timing's
// worst case is its lease duration and 4.4 retry periods, 9.4 s (see
// manager.DefaultLeaderElectionTiming).
const failoverGoal = 10 * time.Second

// failoverBound fails a run: client-go's default leader election (15 s / 10 s / 2 s) took 16-21 s.
const failoverBound = 15 * time.Second

var _ = Describe("Leader failover", func() {
	It("hands a rollout over to the standby when the leader is killed mid-rollout, losing and duplicating nothing", func() {
		const name = "failover"
		mustKubectl(floorManagerYAML(name, name, 110), "apply", "-f", "-")
		DeferCleanup(func() { _, _ = kubectl("", "delete", "floormanager", name, "--wait=true", "--timeout=60s") })
		waitReady(name, timeout)
		configs := 1

		times := &measurements{title: "Leader killed (SIGKILL) mid-rollout, 5 Nodes, maxUnavailable 1",
			columns: []string{"kill → new leader", "kill → Ready"}}
		defer times.report()
		for run := 1; run <= kills; run++ {
			By("a new configuration, rolling out")
			before := getFM(name).Status.ConfigHash
			generation := setMaxPods(name, 110-10*run)
			configs++
			var hash string
			Eventually(func(g Gomega) {
				fm := getFM(name)
				g.Expect(fm.Status.ObservedGeneration).To(Equal(generation))
				g.Expect(fm.Status.ConfigHash).NotTo(Equal(before))
				hash = fm.Status.ConfigHash
				updated, _ := updatedNodes(poolNodes(name), hash)
				g.Expect(updated).To(BeNumerically(">=", 1), "no Node runs the new configuration yet")
			}).WithTimeout(timeout).WithPolling(50 * time.Millisecond).Should(Succeed())
			updated, _ := updatedNodes(poolNodes(name), hash)
			Expect(updated).To(BeNumerically("<", 5), "the rollout was over before the kill")

			By("killing the leader")
			leader := leaseHolder()
			Expect(replicas).To(ContainElement(leader), "the Lease's holder is no replica")
			killed := time.Now()
			innkeeper.KillReplica(leader)

			var newLeader string
			Eventually(func() string {
				newLeader = leaseHolder()
				if newLeader == leader {
					return ""
				}
				return newLeader
			}).WithTimeout(manager.DefaultLeaderElectionTiming().LeaseDuration + time.Minute).WithPolling(50 * time.Millisecond).
				ShouldNot(BeEmpty())
			elected := time.Since(killed)
			Expect(replicas).To(ContainElement(newLeader))

			waitReady(name, 2*timeout)
			ready := time.Since(killed)
			times.add(elected, ready)
			expectNothingLostOrDuplicated(name, name, configs)

			By("the killed replica back, as the kubelet restarts it")
			restartReplicas()
		}
		for i, d := range times.column(0) {
			AddReportEntry(fmt.Sprintf("run %d: the standby led after %s, goal %s: %s", i+1, d, failoverGoal, metOrMissed(d, failoverGoal)))
			Expect(d).To(BeNumerically("<=", failoverBound), "run %d: the standby led %s after the leader's death, the goal is %s",
				i+1, d, failoverGoal)
		}
	})
})
