//go:build e2e

package e2e

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/pool"
	"github.com/innkeeper-dev/innkeeper/test/localcluster"
)

const timeout = 90 * time.Second

func getFM(name string) *hotelv1alpha1.FloorManager {
	GinkgoHelper()
	fm := &hotelv1alpha1.FloorManager{}
	Expect(k8sClient.Get(ctx, client.ObjectKey{Name: name}, fm)).To(Succeed())
	return fm
}

// floorManagerYAML is a FloorManager over a pool, as a user would write it.
func floorManagerYAML(name, poolName, maxUnavailable string, maxPods int) string {
	return fmt.Sprintf(`apiVersion: hotel.innkeeper.dev/v1alpha1
kind: FloorManager
metadata:
  name: %s
spec:
  nodeSelector:
    matchLabels:
      %s: %s
  rollout:
    maxUnavailable: %s
  kubelet:
    maxPods: %d
`, name, localcluster.PoolLabel, poolName, maxUnavailable, maxPods)
}

// nodesOfPool returns the names of the Nodes labelled into a pool, sorted.
func nodesOfPool(poolName string) []string {
	GinkgoHelper()
	nodes, err := clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: localcluster.PoolLabel + "=" + poolName})
	Expect(err).NotTo(HaveOccurred())
	var names []string
	for _, n := range nodes.Items {
		names = append(names, n.Name)
	}
	sort.Strings(names)
	return names
}

// agentPods returns a FloorManager's agent pods that are not being deleted.
func agentPods(name string) []corev1.Pod {
	GinkgoHelper()
	return podsOf(name, "kubelet")
}

// podsOf returns the pods of an object's component (kubelet, containerd, kube-proxy) that are not
// being deleted.
func podsOf(name, component string) []corev1.Pod {
	GinkgoHelper()
	pods, err := clientset.CoreV1().Pods(localcluster.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: fmt.Sprintf("%s=%s,%s=%s", pool.LabelPool, name, pool.LabelComponent, component)})
	Expect(err).NotTo(HaveOccurred())
	var live []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			live = append(live, p)
		}
	}
	return live
}

// scheduledPods waits until an object has n pods of its component (kubelet, containerd) that are
// not being deleted, each bound to a Node, and returns them. The DaemonSet controller creates a pod
// before the scheduler binds it: until then its spec.nodeName is empty, and whatever reads it (a
// Node to patch, a token bound to the pod that names its Node) fails, now and then.
func scheduledPods(name, component string, n int) []corev1.Pod {
	GinkgoHelper()
	var pods []corev1.Pod
	Eventually(func(g Gomega) {
		pods = podsOf(name, component)
		g.Expect(pods).To(HaveLen(n))
		for _, p := range pods {
			g.Expect(p.Spec.NodeName).NotTo(BeEmpty(), "pod %s is not scheduled yet", p.Name)
		}
	}).WithTimeout(timeout).Should(Succeed())
	return pods
}

// readyPodNodes returns the Nodes on which a FloorManager has a Ready agent pod, sorted, and the
// template hashes of those pods by Node.
func readyPodNodes(name string) ([]string, map[string]string) {
	GinkgoHelper()
	var nodes []string
	hashes := map[string]string{}
	for _, p := range agentPods(name) {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				nodes = append(nodes, p.Spec.NodeName)
				hashes[p.Spec.NodeName] = p.Annotations[pool.AnnotationHash]
			}
		}
	}
	sort.Strings(nodes)
	return nodes, hashes
}

func condition(name, t string) *metav1.Condition {
	return meta.FindStatusCondition(getFM(name).Status.Conditions, t)
}

func waitReady(name string) {
	GinkgoHelper()
	mustKubectl("", "wait", "--for=condition=Ready", "floormanager/"+name, "--timeout=90s")
}

func deleteFM(name string) {
	_, _ = kubectl("", "delete", "floormanager", name, "--ignore-not-found", "--wait=true", "--timeout=60s")
}

// setNodeCondition sets a condition on a kwok Node's status, as a kubelet reporting pressure would.
func setNodeCondition(node string, t corev1.NodeConditionType, s corev1.ConditionStatus) {
	GinkgoHelper()
	Eventually(func() error {
		n, err := clientset.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for i := range n.Status.Conditions {
			if n.Status.Conditions[i].Type == t && n.Status.Conditions[i].Status != s {
				n.Status.Conditions[i].Status = s
				n.Status.Conditions[i].LastTransitionTime = metav1.Now()
			}
		}
		_, err = clientset.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		return err
	}).WithTimeout(timeout).Should(Succeed())
}

var _ = Describe("FloorManager on a local cluster", func() {
	It("rolls a sample out to exactly its pool's Nodes and goes Ready", func() {
		mustKubectl("", "apply", "-f", filepath.Join(repoRoot, "config", "samples", "hotel_v1alpha1_floormanager.yaml"))
		DeferCleanup(deleteFM, "general")
		want := nodesOfPool("general")
		Expect(want).To(HaveLen(4))

		Eventually(func() []string { nodes, _ := readyPodNodes("general"); return nodes }).
			WithTimeout(timeout).Should(Equal(want))
		for _, p := range agentPods("general") {
			Expect(want).To(ContainElement(p.Spec.NodeName), "a pod landed outside the pool")
		}
		waitReady("general")
		fm := getFM("general")
		Expect(fm.Status.Nodes).To(Equal(hotelv1alpha1.NodeCounts{Selected: 4, Updated: 4, Ready: 4}))
		Expect(fm.Status.Capacity[corev1.ResourceCPU]).To(Equal(resource.MustParse("64")))
		Expect(fm.Status.ObservedGeneration).To(Equal(fm.Generation))
		out := mustKubectl("", "get", "innkeeper")
		Expect(out).To(ContainSubstring("general"))
	})

	It("replaces agent pods one Node at a time with maxUnavailable 1, through Reconciling to Ready", func() {
		mustKubectl(floorManagerYAML("rolling", "rolling", "1", 100), "apply", "-f", "-")
		DeferCleanup(deleteFM, "rolling")
		waitReady("rolling")
		before := getFM("rolling").Status.ConfigHash
		poolNodes := nodesOfPool("rolling")

		// Watch the pool while the new configuration rolls out.
		var maxLacking, sawReconciling atomic.Int32
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer GinkgoRecover()
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				ready, _ := readyPodNodes("rolling")
				if lacking := int32(len(poolNodes) - len(ready)); lacking > maxLacking.Load() {
					maxLacking.Store(lacking)
				}
				if c := condition("rolling", hotelv1alpha1.ConditionReconciling); c != nil && c.Status == metav1.ConditionTrue {
					sawReconciling.Store(1)
				}
			}
		}()
		mustKubectl(floorManagerYAML("rolling", "rolling", "1", 90), "apply", "-f", "-")
		Eventually(func(g Gomega) {
			fm := getFM("rolling")
			g.Expect(fm.Status.ConfigHash).NotTo(Equal(before))
			c := meta.FindStatusCondition(fm.Status.Conditions, hotelv1alpha1.ConditionReady)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue), c.Message)
			g.Expect(c.ObservedGeneration).To(Equal(fm.Generation))
		}).WithTimeout(timeout).Should(Succeed())
		close(stop)
		wg.Wait()

		after := getFM("rolling").Status.ConfigHash
		_, hashes := readyPodNodes("rolling")
		for _, n := range poolNodes {
			Expect(hashes).To(HaveKeyWithValue(n, after))
		}
		Expect(maxLacking.Load()).To(BeNumerically("<=", 1), "more than maxUnavailable Nodes lacked a Ready agent pod")
		Expect(sawReconciling.Load()).To(Equal(int32(1)), "the rollout never showed Reconciling=True")
	})

	It("rolls a new FloorManager out to a 20-Node pool at most maxUnavailable (2) Nodes at a time, a joining Node too", func() {
		// A Node is changing from the moment an agent pod is on it until its agent has recorded the
		// configuration: the DaemonSet controller would create all 20 pods at once, were the Nodes
		// not admitted to the rollout in waves.
		key := hotelv1alpha1.AgentAnnotation("kubelet", hotelv1alpha1.AgentAnnotationConfig)
		changing := func() (int, int) {
			// Pods first, then Nodes: a Node's record read after its pod can only be newer, so a
			// sample never counts a Node changing that was not at the moment the pods were listed
			// (read the other way round, a Node admitted in between counts with one that has just
			// finished).
			pods := agentPods("paced")
			nodes, err := clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: localcluster.PoolLabel + "=paced"})
			Expect(err).NotTo(HaveOccurred())
			recorded := map[string]string{}
			for _, n := range nodes.Items {
				recorded[n.Name] = n.Annotations[key]
			}
			busy, updated := 0, 0
			for _, p := range pods {
				if hash, ok := recorded[p.Spec.NodeName]; ok && hash != p.Annotations[pool.AnnotationHash] {
					busy++
				}
			}
			for _, hash := range recorded {
				if hash != "" {
					updated++
				}
			}
			return busy, updated
		}
		var maxChanging atomic.Int32
		joined := make(chan struct{})
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer GinkgoRecover()
			defer wg.Done()
			join := false
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				busy, updated := changing()
				if int32(busy) > maxChanging.Load() {
					maxChanging.Store(int32(busy))
				}
				if !join && updated >= 6 {
					join = true
					close(joined)
				}
			}
		}()
		mustKubectl(floorManagerYAML("paced", "paced", "2", 99), "apply", "-f", "-")
		DeferCleanup(deleteFM, "paced")

		By("a Node joining the pool in the middle of the rollout")
		Eventually(joined).WithTimeout(timeout).Should(BeClosed())
		node := localcluster.NodeFor(localcluster.Pool{Name: "paced"}, 20)
		Expect(cluster.AddNode(ctx, node)).To(Succeed())
		DeferCleanup(func() { _ = clientset.CoreV1().Nodes().Delete(ctx, node.Name, metav1.DeleteOptions{}) })

		waitReady("paced")
		close(stop)
		wg.Wait()
		Expect(getFM("paced").Status.Nodes).To(Equal(hotelv1alpha1.NodeCounts{Selected: 21, Updated: 21, Ready: 21}))
		Expect(maxChanging.Load()).To(BeNumerically("<=", 2), "more than maxUnavailable Nodes were changing at once")
		Expect(maxChanging.Load()).To(BeNumerically(">=", 1), "the sampling never saw a Node change")
		GinkgoWriter.Printf("at most %d Nodes were changing at once\n", maxChanging.Load())
	})

	It("halts a rollout on an updated Node under disk pressure within its soak, and goes on when it recovers", func() {
		// A soak of 5 s gives the gate the time to see the first updated Node unhealthy before the
		// DaemonSet controller moves on (without one, kwok's instant pods outrun it).
		soaked := func(maxPods int) string {
			return strings.Replace(floorManagerYAML("gated", "gated", "1", maxPods), "  rollout:\n", "  rollout:\n    soakSeconds: 5\n", 1)
		}
		mustKubectl(soaked(100), "apply", "-f", "-")
		DeferCleanup(deleteFM, "gated")
		waitReady("gated")
		nodes := nodesOfPool("gated")
		key := hotelv1alpha1.AgentAnnotation("kubelet", hotelv1alpha1.AgentAnnotationConfig)
		updated := func(hash string) int {
			n := 0
			for _, name := range nodes {
				node, err := clientset.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
				Expect(err).NotTo(HaveOccurred())
				if node.Annotations[key] == hash {
					n++
				}
			}
			return n
		}

		By("a new configuration: the first Node to run it comes under disk pressure within its soak, which halts the rollout")
		before := getFM("gated").Status.ConfigHash
		mustKubectl(soaked(90), "apply", "-f", "-")
		var hash, first string
		Eventually(func(g Gomega) {
			hash = getFM("gated").Status.ConfigHash
			g.Expect(hash).NotTo(Equal(before))
			for _, name := range nodes {
				node, err := clientset.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
				g.Expect(err).NotTo(HaveOccurred())
				if node.Annotations[key] == hash {
					first = name
				}
			}
			g.Expect(first).NotTo(BeEmpty())
		}).WithTimeout(timeout).WithPolling(100 * time.Millisecond).Should(Succeed())
		setNodeCondition(first, corev1.NodeDiskPressure, corev1.ConditionTrue)
		Eventually(func(g Gomega) {
			c := condition("gated", hotelv1alpha1.ConditionReconciling)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(Equal(hotelv1alpha1.ReasonRolloutHalted))
			g.Expect(c.Message).To(ContainSubstring("1 DiskPressure (" + first + ")"))
		}).WithTimeout(timeout).Should(Succeed())
		ds, err := clientset.AppsV1().DaemonSets(localcluster.Namespace).Get(ctx, "gated-kubelet", metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(ds.Spec.UpdateStrategy.Type).To(Equal(appsv1.OnDeleteDaemonSetStrategyType))
		Consistently(func() int { return updated(hash) }).WithTimeout(8*time.Second).WithPolling(250*time.Millisecond).
			Should(Equal(1), "a Node started after the first updated one came under pressure")

		By("the Node recovers: the rollout goes on to Ready")
		setNodeCondition(first, corev1.NodeDiskPressure, corev1.ConditionFalse)
		waitReady("gated")
		Expect(updated(hash)).To(Equal(len(nodes)))
	})

	It("sends a configuration to its canary first and the rest of the pool only once the canary has soaked", func() {
		// maxUnavailable 3 over six Nodes, a canary of one, a soak of 8 s: each configuration reaches
		// one Node, then nobody else until that Node's pod has been Ready for 8 s.
		yaml := func(maxPods int) string {
			return strings.Replace(floorManagerYAML("canary", "canary", "3", maxPods), "  rollout:\n",
				"  rollout:\n    canary: 1\n    soakSeconds: 8\n", 1)
		}
		nodes := nodesOfPool("canary")
		key := hotelv1alpha1.AgentAnnotation("kubelet", hotelv1alpha1.AgentAnnotationConfig)
		running := func(hash string) []string {
			var on []string
			for _, name := range nodes {
				node, err := clientset.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
				Expect(err).NotTo(HaveOccurred())
				if hash != "" && node.Annotations[key] == hash {
					on = append(on, name)
				}
			}
			return on
		}
		canaryFirst := func(before string) string {
			GinkgoHelper()
			var hash string
			Eventually(func(g Gomega) {
				hash = getFM("canary").Status.ConfigHash
				g.Expect(hash).NotTo(BeEmpty())
				g.Expect(hash).NotTo(Equal(before))
				g.Expect(running(hash)).NotTo(BeEmpty())
			}).WithTimeout(timeout).WithPolling(100 * time.Millisecond).Should(Succeed())
			// Well inside the soak (8 s from the canary's pod turning Ready, which its record follows
			// within a poll): the canary holds the other five back, and the status says so.
			said := false
			Consistently(func(g Gomega) {
				g.Expect(running(hash)).To(HaveLen(1), "a Node beyond the canary started before the canary soaked")
				if c := condition("canary", hotelv1alpha1.ConditionReconciling); c != nil && c.Reason == hotelv1alpha1.ReasonCanaryInProgress {
					said = true
				}
			}).WithTimeout(5 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())
			Expect(said).To(BeTrue(), "Reconciling never said CanaryInProgress while the canary soaked")
			return hash
		}

		By("a new FloorManager: its first rollout reaches one Node first")
		mustKubectl(yaml(100), "apply", "-f", "-")
		DeferCleanup(deleteFM, "canary")
		first := canaryFirst("")
		waitReady("canary")
		Expect(running(first)).To(HaveLen(len(nodes)))

		By("a new configuration: one Node first again, then the rest")
		mustKubectl(yaml(90), "apply", "-f", "-")
		second := canaryFirst(first)
		waitReady("canary")
		Expect(running(second)).To(HaveLen(len(nodes)))
		ds, err := clientset.AppsV1().DaemonSets(localcluster.Namespace).Get(ctx, "canary-kubelet", metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable.String()).To(Equal("3"),
			"past its canary the DaemonSet rolls at maxUnavailable")
	})

	It("starts no Node outside its maintenance windows", func() {
		closedDay := time.Now().UTC().AddDate(0, 0, 3).Weekday().String()[:3]
		yaml := func(day, duration string) string {
			return fmt.Sprintf(`apiVersion: hotel.innkeeper.dev/v1alpha1
kind: FloorManager
metadata:
  name: windowed
spec:
  nodeSelector:
    matchLabels:
      %s: windowed
  rollout:
    maintenance:
      timeZone: UTC
      windows:
      - days: [%s]
        start: "00:00"
        duration: %s
  kubelet:
    maxPods: 100
`, localcluster.PoolLabel, day, duration)
		}
		mustKubectl(yaml(closedDay, "1m"), "apply", "-f", "-")
		DeferCleanup(deleteFM, "windowed")
		Eventually(func() string {
			c := condition("windowed", hotelv1alpha1.ConditionReady)
			if c == nil {
				return ""
			}
			return c.Reason
		}).WithTimeout(timeout).Should(Equal(hotelv1alpha1.ReasonOutsideMaintenanceWindow))
		Consistently(func() []corev1.Pod { return agentPods("windowed") }).WithTimeout(3 * time.Second).Should(BeEmpty())

		By("a window that is open now: the rollout runs")
		mustKubectl(yaml("Mon", "168h"), "apply", "-f", "-")
		waitReady("windowed")
	})

	It("holds a new configuration back while paused, and rolls it out when resumed", func() {
		mustKubectl(floorManagerYAML("paused", "paused", "1", 100), "apply", "-f", "-")
		DeferCleanup(deleteFM, "paused")
		waitReady("paused")
		before := getFM("paused").Status.ConfigHash

		// Pause and change the configuration in one apply.
		mustKubectl(strings.Replace(floorManagerYAML("paused", "paused", "1", 80), "  rollout:\n", "  rollout:\n    paused: true\n", 1),
			"apply", "-f", "-")
		Eventually(func() string { return condition("paused", hotelv1alpha1.ConditionPaused).Reason }).
			WithTimeout(timeout).Should(Equal(hotelv1alpha1.ReasonRolloutPaused))
		ds := mustKubectl("", "-n", localcluster.Namespace, "get", "daemonset", "paused-kubelet", "-o", "jsonpath={.spec.updateStrategy.type}")
		Expect(ds).To(Equal("OnDelete"), "a paused rollout holds the DaemonSet")
		Consistently(func() map[string]string { _, hashes := readyPodNodes("paused"); return hashes }).
			WithTimeout(3 * time.Second).WithPolling(100 * time.Millisecond).Should(HaveEach(before))
		Expect(getFM("paused").Status.ConfigHash).To(Equal(before))

		mustKubectl("", "patch", "floormanager", "paused", "--type=merge", "-p", `{"spec":{"rollout":{"paused":false}}}`)
		waitReady("paused")
		after := getFM("paused").Status.ConfigHash
		Expect(after).NotTo(Equal(before))
		Eventually(func() map[string]string { _, hashes := readyPodNodes("paused"); return hashes }).
			WithTimeout(timeout).Should(And(HaveLen(6), HaveEach(after)))
	})

	It("follows Nodes into and out of the pool", func() {
		mustKubectl(floorManagerYAML("moving", "moving", "1", 100), "apply", "-f", "-")
		DeferCleanup(deleteFM, "moving")
		waitReady("moving")
		nodes := nodesOfPool("moving")
		Expect(getFM("moving").Status.Capacity[corev1.ResourceCPU]).To(Equal(resource.MustParse("32")))

		By("relabelling a Node out of the pool")
		mustKubectl("", "label", "node", nodes[1], localcluster.PoolLabel+"=elsewhere", "--overwrite")
		Eventually(func() []string { n, _ := readyPodNodes("moving"); return n }).WithTimeout(timeout).Should(Equal(nodes[:1]))
		Eventually(func() hotelv1alpha1.NodeCounts { return getFM("moving").Status.Nodes }).WithTimeout(timeout).
			Should(Equal(hotelv1alpha1.NodeCounts{Selected: 1, Updated: 1, Ready: 1}))
		Expect(getFM("moving").Status.Capacity[corev1.ResourceCPU]).To(Equal(resource.MustParse("16")))

		By("adding a Node to the pool")
		node := localcluster.NodeFor(localcluster.Pool{Name: "moving"}, 7)
		Expect(cluster.AddNode(ctx, node)).To(Succeed())
		Eventually(func() []string { n, _ := readyPodNodes("moving"); return n }).WithTimeout(timeout).
			Should(Equal([]string{nodes[0], node.Name}))
		Eventually(func() hotelv1alpha1.NodeCounts { return getFM("moving").Status.Nodes }).WithTimeout(timeout).
			Should(Equal(hotelv1alpha1.NodeCounts{Selected: 2, Updated: 2, Ready: 2}))
	})

	It("reports Nodes under pressure and clears them again", func() {
		mustKubectl(floorManagerYAML("pressure", "pressure", "1", 100), "apply", "-f", "-")
		DeferCleanup(deleteFM, "pressure")
		waitReady("pressure")
		nodes := nodesOfPool("pressure")

		setNodeCondition(nodes[0], corev1.NodeMemoryPressure, corev1.ConditionTrue)
		setNodeCondition(nodes[1], corev1.NodeDiskPressure, corev1.ConditionTrue)
		Eventually(func(g Gomega) {
			c := condition("pressure", hotelv1alpha1.ConditionNodesHealthy)
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(c.Message).To(ContainSubstring("1 MemoryPressure (" + nodes[0] + ")"))
			g.Expect(c.Message).To(ContainSubstring("1 DiskPressure (" + nodes[1] + ")"))
		}).WithTimeout(timeout).Should(Succeed())

		setNodeCondition(nodes[0], corev1.NodeMemoryPressure, corev1.ConditionFalse)
		setNodeCondition(nodes[1], corev1.NodeDiskPressure, corev1.ConditionFalse)
		Eventually(func() metav1.ConditionStatus {
			return condition("pressure", hotelv1alpha1.ConditionNodesHealthy).Status
		}).
			WithTimeout(timeout).Should(Equal(metav1.ConditionTrue))
	})

	// The waits of docs/concepts.md (Waiting for a rollout), on a change the manager has not seen: it is down, and the status still
	// says Ready=True for the older generation.
	It("waits with kubectl wait --for=condition=Ready for the current generation, not a Ready left from an older one", func() {
		const name = "generation"
		mustKubectl(floorManagerYAML(name, name, "1", 100), "apply", "-f", "-")
		DeferCleanup(deleteFM, name)
		waitReady(name)
		before := getFM(name)

		By("a spec change while the manager is down")
		innkeeper.StopManager()
		restarted := false
		DeferCleanup(func() {
			if !restarted {
				Expect(innkeeper.StartManager(ctx)).To(Succeed())
			}
		})
		mustKubectl(floorManagerYAML(name, name, "1", 90), "apply", "-f", "-")
		stale := getFM(name)
		Expect(stale.Generation).To(Equal(before.Generation + 1))
		ready := meta.FindStatusCondition(stale.Status.Conditions, hotelv1alpha1.ConditionReady)
		Expect(ready).NotTo(BeNil())
		Expect(ready.Status).To(Equal(metav1.ConditionTrue), "Ready is the older generation's")
		Expect(ready.ObservedGeneration).To(Equal(before.Generation))

		// Nothing can change while the manager is down: a short timeout proves as much as a long one.
		out, err := kubectl("", "wait", "--for=condition=Ready", "floormanager/"+name, "--timeout=3s")
		Expect(err).To(HaveOccurred(), "kubectl wait passed on the older generation's Ready: %s", out)
		Expect(out).To(ContainSubstring("timed out"))
		// What docs/concepts.md warns against: a jsonpath wait reads the older generation's Ready and passes.
		mustKubectl("", "wait", `--for=jsonpath={.status.conditions[?(@.type=="Ready")].status}=True`,
			"floormanager/"+name, "--timeout=3s")
		// docs/concepts.md's command for scripts shows the two generations side by side.
		out = mustKubectl("", "get", "floormanager/"+name, "-o",
			`jsonpath={.metadata.generation} {.status.conditions[?(@.type=="Ready")].observedGeneration} {.status.conditions[?(@.type=="Ready")].status}`)
		Expect(out).To(Equal(fmt.Sprintf("%d %d True", stale.Generation, before.Generation)))
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(stale)
		Expect(err).NotTo(HaveOccurred())
		result, err := kstatus.Compute(&unstructured.Unstructured{Object: u})
		Expect(err).NotTo(HaveOccurred())
		Expect(result.Status).To(Equal(kstatus.InProgressStatus), "kstatus: %s", result.Message)

		By("the manager back")
		Expect(innkeeper.StartManager(ctx)).To(Succeed())
		restarted = true
		waitReady(name)
		after := getFM(name)
		ready = meta.FindStatusCondition(after.Status.Conditions, hotelv1alpha1.ConditionReady)
		Expect(ready.ObservedGeneration).To(Equal(after.Generation))
		Expect(after.Status.ConfigHash).NotTo(Equal(before.Status.ConfigHash), "Ready for the new configuration")
	})

	It("stalls an overlapping pool and rejects an invalid spec at kubectl apply", func() {
		mustKubectl("", "apply", "-f", filepath.Join(repoRoot, "config", "samples", "hotel_v1alpha1_floormanager_gpu.yaml"))
		DeferCleanup(deleteFM, "gpu")
		waitReady("gpu")

		mustKubectl(floorManagerYAML("gpu-too", "gpu", "1", 50), "apply", "-f", "-")
		DeferCleanup(deleteFM, "gpu-too")
		Eventually(func(g Gomega) {
			c := condition("gpu-too", hotelv1alpha1.ConditionStalled)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(Equal(hotelv1alpha1.ReasonPoolConflict))
			g.Expect(c.Message).To(ContainSubstring(`FloorManager "gpu"`))
		}).WithTimeout(timeout).Should(Succeed())
		Expect(agentPods("gpu-too")).To(BeEmpty())

		out, err := kubectl(`apiVersion: hotel.innkeeper.dev/v1alpha1
kind: FloorManager
metadata:
  name: invalid
spec:
  nodeSelector: {matchLabels: {node.kubernetes.io/pool: general}}
  kubelet:
    imageGCHighThresholdPercent: 101
`, "apply", "-f", "-")
		Expect(err).To(HaveOccurred())
		Expect(out).To(ContainSubstring("spec.kubelet.imageGCHighThresholdPercent"))
	})
})
