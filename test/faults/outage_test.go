//go:build faults

package faults

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/manager"
	"github.com/innkeeper-dev/innkeeper/internal/pool"
	"github.com/innkeeper-dev/innkeeper/test/localcluster"
)

const (
	// outage is how long the outage spec stops the API server.
	outage = 20 * time.Second
	// catchUpGoal is how soon after the API server is back the status must be right again (#17).
	catchUpGoal = 5 * time.Second
)

// An outage run: how the replica that leads when the API server goes, which exits once it cannot
// renew its Lease, comes back.
type outageRun struct {
	label string
	// restartAtOnce starts the exited leader again during the outage, as the kubelet restarts a
	// container that exited (at once the first time): under its pod's name it takes its own Lease
	// back at its first try once the API server answers. Without, it stays down (the kubelet in
	// crash-loop backoff, its Node gone) and the standby must take over: client-go's leader election
	// then waits a lease duration from the first renewal it sees after the outage, if it had not
	// seen that renewal before (it trusts no other clock than its own), so the standby leads up to
	// lease duration + 4.4 retry periods (9.4 s) after the API server is back, within the failover
	// goal (failoverGoal) but not always within the catch-up goal.
	restartAtOnce bool
}

var outageRuns = []outageRun{
	{label: "leader restarted at once", restartAtOnce: true},
	{label: "leader down, standby leads", restartAtOnce: false},
}

var _ = Describe("API server outage", func() {
	It("reports the pool right within 5 s of the API server's return after a 20 s outage mid-rollout", func() {
		const name = "outage"
		mustKubectl(floorManagerYAML(name, name, 110), "apply", "-f", "-")
		DeferCleanup(func() { _, _ = kubectl("", "delete", "floormanager", name, "--wait=true", "--timeout=60s") })
		waitReady(name, timeout)
		configs := 1
		// A Node that joins the pool, then leaves it, the moment the API server is back.
		spare := poolNodes(name + "-spare")[0].Name

		times := &measurements{title: fmt.Sprintf("API server stopped for %s (then started: the outage column) mid-rollout, 5 Nodes, "+
			"maxUnavailable 1, two replicas", outage),
			columns: []string{"outage", "API back → a replica leads", "API back → status right", "API back → Nodes updated", "API back → Ready"}}
		defer times.report()
		missedLogs := map[int]string{}
		for i, run := range outageRuns {
			By("a new configuration, rolling out")
			before := getFM(name).Status.ConfigHash
			generation := setMaxPods(name, 100-20*i)
			configs++
			Eventually(func(g Gomega) {
				fm := getFM(name)
				g.Expect(fm.Status.ObservedGeneration).To(Equal(generation))
				g.Expect(fm.Status.ConfigHash).NotTo(Equal(before))
				updated, _ := updatedNodes(poolNodes(name), fm.Status.ConfigHash)
				g.Expect(updated).To(BeNumerically(">=", 1), "no Node runs the new configuration yet")
			}).WithTimeout(timeout).WithPolling(50 * time.Millisecond).Should(Succeed())

			By(fmt.Sprintf("stopping the API server for %s (%s)", outage, run.label))
			leader := leaseHolder()
			Expect(replicas).To(ContainElement(leader))
			down := time.Now()
			Expect(cluster.StopAPIServer()).To(Succeed())
			// The outage itself: nothing to wait for but time, and the leader's exit for want of its
			// Lease, to start it again at once, as the kubelet does, if the run says so.
			exited := false
			for time.Since(down) < outage {
				if !exited && innkeeper.ReplicaExited(leader) {
					exited = true
					if run.restartAtOnce {
						Expect(innkeeper.RestartReplica(leader)).To(Succeed())
					}
				}
				time.Sleep(100 * time.Millisecond)
			}
			Expect(exited).To(BeTrue(), "the leader kept running without its Lease")
			starting := time.Now()
			Expect(cluster.StartAPIServer(ctx)).To(Succeed())
			back := time.Now()

			By("a configuration and a pool the manager has not seen, as soon as the API server is back")
			setMaxPods(name, 90-20*i)
			configs++
			toPool := name
			if i%2 == 1 {
				toPool = name + "-spare"
			}
			Eventually(func() error {
				_, err := clientset.CoreV1().Nodes().Patch(ctx, spare, types.MergePatchType,
					jsonPatch(map[string]any{"metadata": map[string]any{"labels": map[string]string{localcluster.PoolLabel: toPool}}}),
					metav1.PatchOptions{})
				return err
			}).WithTimeout(30 * time.Second).WithPolling(100 * time.Millisecond).Should(Succeed())

			var led, right time.Duration
			var disagreement string
			Eventually(func() bool {
				// When the Lease was first written since the API server started again: the test sees
				// it ready only at its next poll of /readyz, and a replica may lead by then.
				if renewed := leaseRenewedSince(starting); led == 0 && !renewed.IsZero() {
					led = max(renewed.Sub(back), time.Nanosecond)
				}
				if right == 0 {
					if disagreement = statusDisagreement(name, name); disagreement == "" {
						right = time.Since(back)
					}
				}
				return led != 0 && right != 0
			}).WithTimeout(2*time.Minute).WithPolling(100*time.Millisecond).Should(BeTrue(),
				func() string { return "the status disagrees with the cluster: " + disagreement })

			// The rest of the rollout waits for the DaemonSet controller, which backs off from the
			// outage as client-go does: the manager's status must follow the Nodes, not lag them.
			var converged, ready time.Duration
			Eventually(func() bool {
				if converged == 0 && nodesRunDaemonSetConfiguration(name, name) {
					converged = time.Since(back)
				}
				if converged != 0 && ready == 0 && statusDisagreement(name, name) == "" && meta.IsStatusConditionTrue(
					getFM(name).Status.Conditions, hotelv1alpha1.ConditionReady) {
					ready = time.Since(back)
				}
				return ready != 0
			}).WithTimeout(3 * timeout).WithPolling(100 * time.Millisecond).Should(BeTrue())
			times.addLabelled(fmt.Sprintf("%s (%s leads)", run.label, leaseHolder()), back.Sub(down), led, right, converged, ready)
			if run.restartAtOnce && right > catchUpGoal {
				// Missed: the replicas' own account of the outage says why (which one took the Lease, and when).
				for _, pod := range replicas {
					missedLogs[i] += "log of " + pod + ":\n" + innkeeper.ReplicaLogTail(pod) + "\n"
				}
			}
			expectNothingLostOrDuplicated(name, name, configs)

			By("the leader that exited back, as the kubelet restarts it")
			restartReplicas()
		}
		for i, run := range outageRuns {
			led, right := times.rows[i][1], times.rows[i][2]
			// The goals are reported, met or missed; a run fails only past a bound that the slow
			// paths this suite was written against (61.6 s to catch up, 16-21 s to fail over) exceed
			// by far, so that a loaded machine does not fail it by a second.
			if run.restartAtOnce {
				AddReportEntry(fmt.Sprintf("%s: status right after %s, goal %s: %s", run.label, right, catchUpGoal, metOrMissed(right, catchUpGoal)))
				if missedLogs[i] != "" {
					AddReportEntry(run.label+": the replicas' logs when the goal was missed", missedLogs[i])
				}
				Expect(right).To(BeNumerically("<=", 2*catchUpGoal), "%s: the status was right %s after the API server was back, the goal is %s",
					run.label, right, catchUpGoal)
			} else {
				AddReportEntry(fmt.Sprintf("%s: led after %s, goal %s: %s", run.label, led, failoverGoal, metOrMissed(led, failoverGoal)))
				Expect(led).To(BeNumerically("<=", failoverBound), "%s: the standby led %s after the API server was back, the goal is %s",
					run.label, led, failoverGoal)
			}
		}
	})
})

// nodesRunDaemonSetConfiguration reports whether every Node of a pool records the configuration that
// a FloorManager's DaemonSet rolls out.
func nodesRunDaemonSetConfiguration(name, poolName string) bool {
	ds := daemonSet(name)
	if ds == nil {
		return false
	}
	nodes := poolNodes(poolName)
	updated, _ := updatedNodes(nodes, ds.Spec.Template.Annotations[pool.AnnotationHash])
	return int(updated) == len(nodes)
}

// leaseRenewedSince returns when a replica last renewed (or acquired) the leader-election Lease, if
// it did since t: some replica leads; the zero time if none did.
func leaseRenewedSince(t time.Time) time.Time {
	lease, err := clientset.CoordinationV1().Leases(localcluster.Namespace).Get(ctx, manager.LeaderElectionID, metav1.GetOptions{})
	if err != nil || lease.Spec.RenewTime == nil || !lease.Spec.RenewTime.After(t) {
		return time.Time{}
	}
	return lease.Spec.RenewTime.Time
}

// metOrMissed says whether a measured time meets its goal.
func metOrMissed(d, goal time.Duration) string {
	if d <= goal {
		return "met"
	}
	return "MISSED"
}
