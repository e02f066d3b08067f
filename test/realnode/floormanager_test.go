//go:build realnode

package realnode_test

import (
	"fmt"
	"slices"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/agent"
	"github.com/innkeeper-dev/innkeeper/internal/render/kubelet"
	"github.com/innkeeper-dev/innkeeper/test/localcluster"
	"github.com/innkeeper-dev/innkeeper/test/realnode"
)

// dropIn is innkeeper's kubelet drop-in on a node.
const dropIn = realnode.KubeletDropInDir + "/" + kubelet.DropInFile

// floorManager returns a FloorManager of the pool that rolls out one Node at a time.
func floorManager(name string, spec hotelv1alpha1.KubeletSpec) *hotelv1alpha1.FloorManager {
	fm := &hotelv1alpha1.FloorManager{ObjectMeta: metav1.ObjectMeta{Name: name}}
	fm.Spec.NodeSelector = hotelv1alpha1.NodeSelectorOf(pool)
	fm.Spec.Rollout.MaxUnavailable = ptr.To(intstr.FromInt32(1))
	fm.Spec.Kubelet = spec
	return fm
}

// applying watches the Nodes, every 50 ms until stop is called, and returns, then, the most Nodes
// whose kubelet agent was applying a configuration at the same time, and on which Nodes the
// kubelet restarted, in order.
func applying() (stop func() (maxAtOnce int, order []string)) {
	done := make(chan struct{})
	var mu sync.Mutex
	maxAtOnce, order, seen, states := 0, []string{}, map[string]bool{}, map[string]string{}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer GinkgoRecover()
		defer wg.Done()
		for deadline := time.Now().Add(10 * time.Minute); time.Now().Before(deadline); {
			nodes, err := clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
			if err == nil {
				now := 0
				mu.Lock()
				for i := range nodes.Items {
					config, state := kubeletAgent(&nodes.Items[i])
					if s := config + " " + state; states[nodes.Items[i].Name] != s {
						states[nodes.Items[i].Name] = s
						GinkgoWriter.Printf("%s node %s: kubelet agent %s\n", time.Now().Format("15:04:05.000"), nodes.Items[i].Name, s)
					}
					if state == hotelv1alpha1.AgentStateApplying {
						now++
						if !seen[nodes.Items[i].Name] {
							seen[nodes.Items[i].Name] = true
							order = append(order, nodes.Items[i].Name)
						}
					}
				}
				maxAtOnce = max(maxAtOnce, now)
				mu.Unlock()
			}
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return func() (int, []string) {
		close(done)
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return maxAtOnce, order
	}
}

var _ = Describe("FloorManager on real nodes", func() {
	It("reaches the kubelets one Node at a time, in /configz and the Nodes' capacity, and restarts nothing for unchanged content", func() {
		// A new object's DaemonSet starts its pods on every Node at once (pacing first rollouts is
		// the safe-rollouts issue's): the change to pace is the one after it.
		watchPods()
		fm := floorManager("limits", hotelv1alpha1.KubeletSpec{MaxPods: ptr.To[int32](40)})
		create(fm)
		waitReady(fm)
		waitRolledOut(fm, kubelet.Name)
		before := map[string]corev1.ResourceList{}
		for _, name := range nodeNames() {
			before[name] = node(name).Status.Allocatable
		}
		pids := mainPIDs("kubelet.service")

		stopWatching := applying()
		// A soak: once in four runs the agent's pod on a Node whose kubelet it had just restarted
		// turned Ready a second before the agent recorded Applied, and the DaemonSet controller
		// started the other Node at once. The pod must stay Ready for the soak to count as available.
		fm.Spec.Rollout.SoakSeconds = 5
		fm.Spec.Kubelet = hotelv1alpha1.KubeletSpec{
			MaxPods:      ptr.To[int32](42),
			KubeReserved: &hotelv1alpha1.ReservedResources{Memory: ptr.To(resource.MustParse("256Mi"))},
		}
		start := time.Now()
		Expect(k8sClient.Update(ctx, fm)).To(Succeed())
		took, reconciling := waitReady(fm)
		maxAtOnce, order := stopWatching()
		AddReportEntry("FloorManager change to the whole pool Ready (2 nodes, maxUnavailable 1)", took.Round(100*time.Millisecond).String())
		Expect(reconciling).To(BeTrue(), "the FloorManager was never Reconciling on its way to Ready")
		Expect(maxAtOnce).To(Equal(1), "at most maxUnavailable (1) Node applies at once")
		Expect(order).To(ConsistOf(nodeNames()), "every Node applied the configuration")
		Expect(fm.Status.Nodes).To(Equal(hotelv1alpha1.NodeCounts{Selected: 2, Updated: 2, Ready: 2}))
		GinkgoWriter.Printf("rolled out in %s, in order %v\n", time.Since(start), order)

		after := mainPIDs("kubelet.service")
		for _, name := range nodeNames() {
			Expect(after[name]).NotTo(Equal(pids[name]), "the kubelet of %s was not restarted", name)
			cfg := configz(name)
			Expect(cfg["maxPods"]).To(BeEquivalentTo(42), "the kubelet of %s does not run maxPods 42", name)
			Expect(cfg["kubeReserved"]).To(HaveKeyWithValue("memory", "256Mi"))
			n := node(name)
			Expect(n.Status.Capacity.Pods().Value()).To(BeEquivalentTo(42))
			want := before[name][corev1.ResourceMemory]
			want.Sub(resource.MustParse("256Mi"))
			Expect(n.Status.Allocatable.Memory().Cmp(want)).To(BeZero(),
				"allocatable memory of %s: %s, want %s (256Mi less)", name, n.Status.Allocatable.Memory(), &want)
			config, state := kubeletAgent(n)
			Expect(config).To(Equal(fm.Status.ConfigHash))
			Expect(state).To(Equal(hotelv1alpha1.AgentStateApplied))
			Expect(agentEvents(name)).To(ContainElement(And(HaveField("Type", corev1.EventTypeNormal),
				HaveField("Reason", agent.EventReasonApplied), HaveField("Action", agent.EventActionApply),
				HaveField("Note", ContainSubstring(fm.Status.ConfigHash)))), "no Event on %s for the configuration it applied", name)
		}

		By("the agents' metrics, scraped as Prometheus would")
		expectAgentMetrics(kubelet.AgentMetricsPort)

		By("a new agent pod with the same configuration restarts nothing")
		Expect(clientset.CoreV1().Pods(localcluster.Namespace).DeleteCollection(ctx, metav1.DeleteOptions{},
			metav1.ListOptions{LabelSelector: "hotel.innkeeper.dev/pool=limits"})).To(Succeed())
		Eventually(func() int {
			pods, err := clientset.CoreV1().Pods(localcluster.Namespace).List(ctx, metav1.ListOptions{
				LabelSelector: "hotel.innkeeper.dev/pool=limits"})
			Expect(err).NotTo(HaveOccurred())
			ready := 0
			for _, p := range pods.Items {
				for _, c := range p.Status.Conditions {
					if p.DeletionTimestamp == nil && c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
						ready++
					}
				}
			}
			return ready
		}).WithTimeout(2 * time.Minute).Should(Equal(2))
		Expect(mainPIDs("kubelet.service")).To(Equal(after), "a kubelet was restarted for a configuration it already runs")
	})

	It("measures the kubelet's own restart to Ready on these nodes: the floor of any rollout", func() {
		n := cluster.Nodes[0]
		var took []time.Duration
		for range 5 {
			pid, err := n.MainPID(ctx, "kubelet.service")
			Expect(err).NotTo(HaveOccurred())
			start := time.Now()
			_, err = n.Exec(ctx, "systemctl", "restart", "kubelet.service")
			Expect(err).NotTo(HaveOccurred())
			Eventually(func(g Gomega) {
				now, err := n.MainPID(ctx, "kubelet.service")
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(now).NotTo(Equal(pid))
				_, err = n.Exec(ctx, "bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/127.0.0.1/%d", realnode.KubeletHealthzPort))
				g.Expect(err).NotTo(HaveOccurred(), "healthz is not listening")
				ready := false
				for _, c := range node(n.Name).Status.Conditions {
					// Ready, in a heartbeat from the second of the restart on: the new kubelet's.
					if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue &&
						!c.LastHeartbeatTime.Time.Before(start.Truncate(time.Second)) {
						ready = true
					}
				}
				g.Expect(ready).To(BeTrue())
			}).WithTimeout(time.Minute).WithPolling(20 * time.Millisecond).Should(Succeed())
			took = append(took, time.Since(start))
		}
		slices.Sort(took)
		AddReportEntry("kubelet restart (systemctl restart) to listening healthz and a Ready heartbeat, min/median/max of 5",
			fmt.Sprintf("%s / %s / %s", took[0].Round(10*time.Millisecond), took[2].Round(10*time.Millisecond),
				took[4].Round(10*time.Millisecond)))
	})

	It("rolls back a configuration a node's kubelet cannot run, byte for byte, and stops the rollout there", func() {
		watchPods()
		fm := floorManager("guarded", hotelv1alpha1.KubeletSpec{MaxPods: ptr.To[int32](50)})
		create(fm)
		waitReady(fm)
		waitRolledOut(fm, kubelet.Name)
		previous := map[string]string{}
		for _, n := range cluster.Nodes {
			previous[n.Name] = fileOn(n, dropIn)
			Expect(previous[n.Name]).To(ContainSubstring("maxPods: 50"))
		}

		// Valid for the API, and for a kubelet of a bigger machine: the static CPU manager cannot
		// reserve 4 CPUs on these 2-CPU nodes, and the kubelet does not start.
		fm.Spec.Kubelet = hotelv1alpha1.KubeletSpec{
			MaxPods:          ptr.To[int32](50),
			CPUManagerPolicy: ptr.To("static"),
			KubeReserved:     &hotelv1alpha1.ReservedResources{CPU: ptr.To(resource.MustParse("4"))},
		}
		Expect(k8sClient.Update(ctx, fm)).To(Succeed())
		bad := fm
		var degraded string
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, clientKey(bad), bad)).To(Succeed())
			g.Expect(bad.Status.DegradedNodes).To(HaveLen(1))
			degraded = bad.Status.DegradedNodes[0].Name
			g.Expect(bad.Status.DegradedNodes[0].Reason).To(Equal(hotelv1alpha1.ReasonHealthCheckFailed))
		}).WithTimeout(6 * time.Minute).WithPolling(time.Second).Should(Succeed())
		stalled := condition(bad, hotelv1alpha1.ConditionStalled)
		Expect(stalled.Status).To(Equal(metav1.ConditionTrue))
		Expect(stalled.Reason).To(Equal(hotelv1alpha1.ReasonRolloutBlocked))
		Expect(condition(bad, hotelv1alpha1.ConditionDegraded).Status).To(Equal(metav1.ConditionTrue))
		Expect(agentEvents(degraded)).To(ContainElement(And(HaveField("Type", corev1.EventTypeWarning),
			HaveField("Reason", hotelv1alpha1.ReasonHealthCheckFailed), HaveField("Action", agent.EventActionRollBack),
			HaveField("Note", ContainSubstring("restored the previous configuration")))), "no Event on %s for the rollback", degraded)

		for _, n := range cluster.Nodes {
			Expect(fileOn(n, dropIn)).To(Equal(previous[n.Name]),
				"the drop-in of %s is not the one it had (degraded: %s)", n.Name, degraded)
		}
		Eventually(func() bool { return nodeIsReady(node(degraded)) }).WithTimeout(time.Minute).Should(BeTrue(),
			"the kubelet of %s did not come back on the restored drop-in", degraded)
		Expect(configz(degraded)["cpuManagerPolicy"]).To(Equal("none"))

		// The rollout stopped at maxUnavailable: the other Node was never given the configuration.
		Consistently(func() string {
			for _, n := range nodeNames() {
				if n != degraded {
					_, state := kubeletAgent(node(n))
					return state
				}
			}
			return ""
		}).WithTimeout(10 * time.Second).Should(Equal(hotelv1alpha1.AgentStateApplied))
	})

	It("finishes an apply whose agent pod was deleted while the kubelet restarted, with a whole drop-in", func() {
		fm := floorManager("resume", hotelv1alpha1.KubeletSpec{MaxPods: ptr.To[int32](61)})
		create(fm)
		waitReady(fm)

		fm.Spec.Kubelet.MaxPods = ptr.To[int32](62)
		Expect(k8sClient.Update(ctx, fm)).To(Succeed())
		victim := ""
		// The first Node to apply: delete its agent pod while it is Applying (writing, restarting
		// the kubelet, or waiting for it).
		Eventually(func() string {
			for _, name := range nodeNames() {
				if _, state := kubeletAgent(node(name)); state == hotelv1alpha1.AgentStateApplying {
					victim = name
				}
			}
			return victim
		}).WithTimeout(2 * time.Minute).WithPolling(20 * time.Millisecond).ShouldNot(BeEmpty())
		Expect(clientset.CoreV1().Pods(localcluster.Namespace).DeleteCollection(ctx, metav1.DeleteOptions{},
			metav1.ListOptions{LabelSelector: "hotel.innkeeper.dev/pool=resume", FieldSelector: "spec.nodeName=" + victim})).To(Succeed())

		waitReady(fm)
		for _, n := range cluster.Nodes {
			content := fileOn(n, dropIn)
			Expect(content).To(ContainSubstring("maxPods: 62"), "the drop-in of %s", n.Name)
			Expect(configz(n.Name)["maxPods"]).To(BeEquivalentTo(62))
			// No temporary file is left beside it (the backup of the last healthy drop-in stays).
			out, err := n.Exec(ctx, "ls", "-a", realnode.KubeletDropInDir)
			Expect(err).NotTo(HaveOccurred())
			Expect(string(out)).NotTo(ContainSubstring(".innkeeper-tmp-"), "a temporary file in the drop-in directory of %s", n.Name)
		}
	})

	It("reverts every Node when the FloorManager is deleted, one at a time: the drop-in is gone and the kubelet runs its own configuration", func() {
		base := map[string]any{}
		for _, name := range nodeNames() {
			base[name] = configz(name)["maxPods"]
		}
		fm := floorManager("reverted", hotelv1alpha1.KubeletSpec{MaxPods: ptr.To[int32](57)})
		create(fm)
		waitReady(fm)
		waitRolledOut(fm, kubelet.Name)
		for _, name := range nodeNames() {
			Expect(configz(name)["maxPods"]).To(BeEquivalentTo(57))
		}
		pids := mainPIDs("kubelet.service")

		// How many Nodes are marked for revert at once, polled until the FloorManager is gone.
		revertValue := hotelv1alpha1.RevertValue(string(fm.UID))
		maxAtOnce := 0
		start := time.Now()
		Expect(k8sClient.Delete(ctx, fm)).To(Succeed())
		Eventually(func(g Gomega) {
			nodes, err := clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			marked := 0
			for _, n := range nodes.Items {
				if n.Labels[hotelv1alpha1.AdmittedLabel(kubelet.Name)] == revertValue {
					marked++
				}
			}
			maxAtOnce = max(maxAtOnce, marked)
			err = k8sClient.Get(ctx, clientKey(fm), &hotelv1alpha1.FloorManager{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the FloorManager is still there")
		}).WithTimeout(5 * time.Minute).WithPolling(100 * time.Millisecond).Should(Succeed())
		AddReportEntry("FloorManager deleted to gone, its 2 Nodes reverted one at a time", time.Since(start).Round(100*time.Millisecond).String())
		Expect(maxAtOnce).To(Equal(1), "at most maxUnavailable (1) Node is reverted at once")

		after := mainPIDs("kubelet.service")
		for _, n := range cluster.Nodes {
			Expect(fileOn(n, dropIn)).To(BeEmpty(), "the drop-in of %s is still there", n.Name)
			Expect(configz(n.Name)["maxPods"]).To(Equal(base[n.Name]), "the kubelet of %s does not run its own maxPods", n.Name)
			Expect(after[n.Name]).NotTo(Equal(pids[n.Name]), "the kubelet of %s was not restarted without the drop-in", n.Name)
			got := node(n.Name)
			config, state := kubeletAgent(got)
			Expect(config+state).To(BeEmpty(), "the agent's record is left on %s", n.Name)
			Expect(got.Labels).NotTo(HaveKey(hotelv1alpha1.AdmittedLabel(kubelet.Name)))
			Expect(nodeIsReady(got)).To(BeTrue())
			Expect(agentEvents(n.Name)).To(ContainElement(And(HaveField("Type", corev1.EventTypeNormal),
				HaveField("Reason", agent.EventReasonReverted), HaveField("Action", agent.EventActionRevert))))
		}
	})

	It("drains each Node before a change that moves pods' resources, PodDisruptionBudget respected, and uncordons it", func() {
		fm := floorManager("drained", hotelv1alpha1.KubeletSpec{
			KubeReserved: &hotelv1alpha1.ReservedResources{Memory: ptr.To(resource.MustParse("64Mi"))}})
		create(fm)
		waitReady(fm)

		// Two pause pods and a budget that lets one of them go at a time.
		labels := map[string]string{"app": "drained-workload"}
		deploy := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "drained-workload", Namespace: metav1.NamespaceDefault},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](2),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{
						TerminationGracePeriodSeconds: ptr.To[int64](1),
						Tolerations:                   []corev1.Toleration{{Key: hotelv1alpha1.TaintUnconfigured, Operator: corev1.TolerationOpExists}},
						Containers: []corev1.Container{{Name: "pause", Image: realnode.SandboxImage,
							ImagePullPolicy: corev1.PullNever}},
					},
				},
			},
		}
		create(deploy)
		pdb := &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Name: "drained-workload", Namespace: metav1.NamespaceDefault},
			Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr.To(intstr.FromInt32(1)),
				Selector: &metav1.LabelSelector{MatchLabels: labels}},
		}
		create(pdb)
		pods := func() []corev1.Pod {
			list, err := clientset.CoreV1().Pods(metav1.NamespaceDefault).List(ctx, metav1.ListOptions{LabelSelector: "app=drained-workload"})
			Expect(err).NotTo(HaveOccurred())
			return list.Items
		}
		readyPods := func() int {
			ready := 0
			for _, p := range pods() {
				for _, c := range p.Status.Conditions {
					if p.DeletionTimestamp == nil && c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
						ready++
					}
				}
			}
			return ready
		}
		podUIDs := func() map[string]bool {
			uids := map[string]bool{}
			for _, p := range pods() {
				uids[string(p.UID)] = true
			}
			return uids
		}
		Eventually(readyPods).WithTimeout(2 * time.Minute).Should(Equal(2))
		before := podUIDs()

		By("a reservation that grows: each Node is cordoned and drained before its kubelet restarts")
		cordoned := map[string]bool{}
		minReady := 2
		fm.Spec.Kubelet.KubeReserved.Memory = ptr.To(resource.MustParse("128Mi"))
		Expect(k8sClient.Update(ctx, fm)).To(Succeed())
		Eventually(func(g Gomega) {
			minReady = min(minReady, readyPods())
			for _, name := range nodeNames() {
				if node(name).Spec.Unschedulable {
					cordoned[name] = true
				}
			}
			g.Expect(k8sClient.Get(ctx, clientKey(fm), fm)).To(Succeed())
			g.Expect(meta.IsStatusConditionTrue(fm.Status.Conditions, hotelv1alpha1.ConditionReady) &&
				fm.Status.ObservedGeneration == fm.Generation).To(BeTrue())
		}).WithTimeout(readyTimeout).WithPolling(100 * time.Millisecond).Should(Succeed())
		Expect(cordoned).To(HaveLen(len(nodeNames())), "every Node was cordoned for its drain")
		Expect(minReady).To(BeNumerically(">=", 1), "the budget (one pod of two at a time) was broken")
		after := podUIDs()
		for uid := range before {
			Expect(after).NotTo(HaveKey(uid), "a pod of the workload was never evicted")
		}
		for _, name := range nodeNames() {
			n := node(name)
			Expect(n.Spec.Unschedulable).To(BeFalse(), "%s is still cordoned", name)
			Expect(n.Annotations).NotTo(HaveKey(hotelv1alpha1.DrainedAnnotation(kubelet.Name)))
			Expect(n.Annotations).NotTo(HaveKey(hotelv1alpha1.CordonedAnnotation(kubelet.Name)))
			Expect(configz(name)["kubeReserved"]).To(HaveKeyWithValue("memory", "128Mi"))
		}
		Eventually(readyPods).WithTimeout(2 * time.Minute).Should(Equal(2))
	})

	It("puts back a drop-in edited by hand, and restarts the kubelet on it", func() {
		fm := floorManager("drift", hotelv1alpha1.KubeletSpec{MaxPods: ptr.To[int32](58)})
		create(fm)
		waitReady(fm)
		n := cluster.Nodes[0]
		applied := fileOn(n, dropIn)
		Expect(applied).To(ContainSubstring("maxPods: 58"))
		pid, err := n.MainPID(ctx, "kubelet.service")
		Expect(err).NotTo(HaveOccurred())

		_, err = n.Exec(ctx, "sed", "-i", "s/maxPods: 58/maxPods: 77/", dropIn)
		Expect(err).NotTo(HaveOccurred())
		Expect(fileOn(n, dropIn)).To(ContainSubstring("maxPods: 77"))
		start := time.Now()
		// The agent looks every 30 s (--drift-interval).
		Eventually(func() string { return fileOn(n, dropIn) }).WithTimeout(2*time.Minute).WithPolling(time.Second).
			Should(Equal(applied), "the hand edit on %s was not put back", n.Name)
		AddReportEntry("a hand edit of the kubelet drop-in to put back (drift interval 30 s)", time.Since(start).Round(time.Second).String())
		Eventually(func() int {
			p, _ := n.MainPID(ctx, "kubelet.service")
			return p
		}).WithTimeout(time.Minute).ShouldNot(Equal(pid), "the kubelet was not restarted on the drop-in put back")
		// The agent records Applied once the kubelet it restarted is healthy; the object may still
		// read Ready from before the correction began, so wait on the Node's own record.
		Eventually(func(g Gomega) {
			config, state := kubeletAgent(node(n.Name))
			g.Expect(state).To(Equal(hotelv1alpha1.AgentStateApplied))
			g.Expect(config).To(Equal(fm.Status.ConfigHash))
			raw, err := clientset.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", n.Name, "proxy", "configz").DoRaw(ctx)
			g.Expect(err).NotTo(HaveOccurred(), "configz of %s: %s", n.Name, raw)
			g.Expect(string(raw)).To(ContainSubstring(`"maxPods":58`))
		}).WithTimeout(2 * time.Minute).WithPolling(time.Second).Should(Succeed())
		Expect(agentEvents(n.Name)).To(ContainElement(And(HaveField("Type", corev1.EventTypeWarning),
			HaveField("Reason", hotelv1alpha1.ReasonDrifted), HaveField("Action", agent.EventActionCorrect))))
	})
})

func nodeIsReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// agentEvents returns the Events innkeeper's agents recorded about a Node.
func agentEvents(nodeName string) []eventsv1.Event {
	GinkgoHelper()
	list, err := clientset.EventsV1().Events(metav1.NamespaceDefault).List(ctx, metav1.ListOptions{})
	Expect(err).NotTo(HaveOccurred())
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.ReportingController == agent.ReportingController && e.Regarding.Kind == "Node" && e.Regarding.Name == nodeName {
			out = append(out, e)
		}
	}
	return out
}
