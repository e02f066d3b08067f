package controllers_test

import (
	"fmt"
	"maps"
	"strings"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/manager"
	"github.com/innkeeper-dev/innkeeper/internal/pool"
)

const (
	timeout  = 20 * time.Second
	interval = 100 * time.Millisecond
	poolKey  = "node.kubernetes.io/pool"
)

var uniq atomic.Int64

// uniqueName returns a name no other test uses, so that tests share the API server without
// sharing objects.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, uniq.Add(1))
}

// createNode creates a Ready Node with the given labels and 4 CPUs, 16Gi of memory and 110 pods;
// change, if given, changes the Node before it is created.
func createNode(name string, labels map[string]string, change ...func(*corev1.Node)) *corev1.Node {
	labels["kubernetes.io/hostname"] = name
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	for _, c := range change {
		c(node)
	}
	Expect(k8sClient.Create(ctx, node)).To(Succeed())
	status := corev1.NodeStatus{
		Capacity: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("16Gi"),
			corev1.ResourcePods: resource.MustParse("110"), corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
		},
		Allocatable: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("3800m"), corev1.ResourceMemory: resource.MustParse("15Gi"),
			corev1.ResourcePods: resource.MustParse("110"), corev1.ResourceEphemeralStorage: resource.MustParse("90Gi"),
		},
		Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now()},
			{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", LastHeartbeatTime: metav1.Now()},
			{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasNoDiskPressure", LastHeartbeatTime: metav1.Now()},
			{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientPID", LastHeartbeatTime: metav1.Now()},
		},
	}
	// The manager may admit the new Node to a rollout (a label) between the two writes.
	Eventually(func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(node), node); err != nil {
			return err
		}
		node.Status = status
		return k8sClient.Status().Update(ctx, node)
	}).WithTimeout(timeout).Should(Succeed())
	DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, node))).To(Succeed()) })
	return node
}

// createPool creates n Nodes labelled into a new pool and returns the pool's label value and Nodes.
func createPool(n int) (string, []*corev1.Node) {
	poolName := uniqueName("pool")
	nodes := make([]*corev1.Node, n)
	for i := range nodes {
		nodes[i] = createNode(fmt.Sprintf("%s-node-%d", poolName, i), map[string]string{poolKey: poolName})
	}
	return poolName, nodes
}

// setNodeCondition sets one condition of a Node's status.
func setNodeCondition(name string, t corev1.NodeConditionType, s corev1.ConditionStatus) {
	Eventually(func() error {
		node := &corev1.Node{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Name: name}, node); err != nil {
			return err
		}
		for i := range node.Status.Conditions {
			if node.Status.Conditions[i].Type == t && node.Status.Conditions[i].Status != s {
				node.Status.Conditions[i].Status = s
				node.Status.Conditions[i].LastTransitionTime = metav1.Now()
			}
		}
		return k8sClient.Status().Update(ctx, node)
	}).WithTimeout(timeout).Should(Succeed())
}

func newFloorManager(name, poolName string, kubelet hotelv1alpha1.KubeletSpec) *hotelv1alpha1.FloorManager {
	return &hotelv1alpha1.FloorManager{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: hotelv1alpha1.FloorManagerSpec{
			PoolSpec: hotelv1alpha1.PoolSpec{
				NodeSelector: hotelv1alpha1.NodeSelectorOf(metav1.LabelSelector{MatchLabels: map[string]string{poolKey: poolName}}),
			},
			Kubelet: kubelet,
		},
	}
}

func createFloorManager(fm *hotelv1alpha1.FloorManager) *hotelv1alpha1.FloorManager {
	Expect(k8sClient.Create(ctx, fm)).To(Succeed())
	DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, fm))).To(Succeed()) })
	return fm
}

// updateFloorManager changes a FloorManager's spec, retrying on conflicts with the manager's writes.
// unknownTimeZone returns maintenance windows in a time zone that passes admission (its name is
// well formed) but that no time-zone database holds: the one FloorManager spec the API server
// admits and the manager refuses (InvalidSpec), now that every kubelet setting and feature gate
// the kubelet would refuse is refused at admission.
func unknownTimeZone() *hotelv1alpha1.Maintenance {
	return &hotelv1alpha1.Maintenance{TimeZone: "Mars/Olympus_Mons", Windows: []hotelv1alpha1.MaintenanceWindow{{
		Days: []hotelv1alpha1.Weekday{"Sat"}, Start: "22:00", Duration: metav1.Duration{Duration: time.Hour}}}}
}

func updateFloorManager(name string, change func(*hotelv1alpha1.FloorManager)) {
	Eventually(func() error {
		fm := &hotelv1alpha1.FloorManager{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Name: name}, fm); err != nil {
			return err
		}
		change(fm)
		return k8sClient.Update(ctx, fm)
	}).WithTimeout(timeout).Should(Succeed())
}

func getFloorManager(name string) *hotelv1alpha1.FloorManager {
	fm := &hotelv1alpha1.FloorManager{}
	Expect(k8sClient.Get(ctx, client.ObjectKey{Name: name}, fm)).To(Succeed())
	return fm
}

// daemonSetOf waits for a FloorManager's DaemonSet and returns it.
func daemonSetOf(name string) *appsv1.DaemonSet {
	ds := &appsv1.DaemonSet{}
	Eventually(func() error {
		return k8sClient.Get(ctx, client.ObjectKey{Namespace: testNamespace, Name: name + "-kubelet"}, ds)
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	return ds
}

// configMapsOf lists a FloorManager's ConfigMaps.
func configMapsOf(name string) []corev1.ConfigMap {
	list := &corev1.ConfigMapList{}
	Expect(k8sClient.List(ctx, list, client.InNamespace(testNamespace),
		client.MatchingLabels{pool.LabelPool: name, pool.LabelComponent: "kubelet"})).To(Succeed())
	return list.Items
}

// templateHash is the configuration hash a DaemonSet's pods run.
func templateHash(ds *appsv1.DaemonSet) string {
	return ds.Spec.Template.Annotations[pool.AnnotationHash]
}

// reportApplied records on Nodes what their node agent would once it applied the FloorManager's
// current configuration: its hash, Applied.
func reportApplied(name string, nodes ...*corev1.Node) {
	hash := templateHash(daemonSetOf(name))
	for _, n := range nodes {
		annotateNode(n.Name, map[string]string{
			hotelv1alpha1.AgentAnnotation("kubelet", hotelv1alpha1.AgentAnnotationConfig): hash,
			hotelv1alpha1.AgentAnnotation("kubelet", hotelv1alpha1.AgentAnnotationState):  hotelv1alpha1.AgentStateApplied,
		})
	}
}

// annotateNode sets annotations on a Node.
func annotateNode(name string, annotations map[string]string) {
	Eventually(func() error {
		node := &corev1.Node{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Name: name}, node); err != nil {
			return err
		}
		if node.Annotations == nil {
			node.Annotations = map[string]string{}
		}
		for k, v := range annotations {
			node.Annotations[k] = v
		}
		return k8sClient.Update(ctx, node)
	}).WithTimeout(timeout).Should(Succeed())
}

// condition returns a FloorManager's condition of type t, or nil.
func condition(name, t string) *metav1.Condition {
	return meta.FindStatusCondition(getFloorManager(name).Status.Conditions, t)
}

// expectCondition waits until a FloorManager's condition t has status s and reason, for its
// current generation.
func expectCondition(name, t string, s metav1.ConditionStatus, reason string) {
	GinkgoHelper()
	expectConditionOf(&hotelv1alpha1.FloorManager{ObjectMeta: metav1.ObjectMeta{Name: name}}, t, s, reason)
}

// conditionOf returns the condition t of an innkeeper object of any kind (named by obj), nil if it has none.
func conditionOf(obj pool.Object, t string) *metav1.Condition {
	GinkgoHelper()
	live := obj.DeepCopyObject().(pool.Object)
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), live)).To(Succeed())
	return meta.FindStatusCondition(live.PoolStatus().Conditions, t)
}

// expectConditionOf waits until the condition t of an innkeeper object of any kind (named by obj)
// has status s and reason, for its current generation.
func expectConditionOf(obj pool.Object, t string, s metav1.ConditionStatus, reason string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		live := obj.DeepCopyObject().(pool.Object)
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), live)).To(Succeed())
		c := meta.FindStatusCondition(live.PoolStatus().Conditions, t)
		g.Expect(c).NotTo(BeNil(), "no %s condition", t)
		g.Expect(c.Status).To(Equal(s), "%s: %s", t, c.Message)
		g.Expect(c.Reason).To(Equal(reason), "%s: %s", t, c.Message)
		g.Expect(c.ObservedGeneration).To(Equal(live.GetGeneration()))
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
}

// reconcileCount reads the FloorManager controller's reconcile counter from the manager's metrics.
func reconcileCount() float64 {
	families, err := metrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	total := 0.0
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if labelValue(m, "controller") == "kubelet" {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

// quietReconcileCount waits for the FloorManager controller to go quiet (its reconcile count stays
// put for a second) and returns the count then.
func quietReconcileCount() float64 {
	var count float64
	Eventually(func(g Gomega) {
		count = reconcileCount()
		g.Consistently(reconcileCount).WithTimeout(time.Second).Should(Equal(count))
	}).WithTimeout(timeout).Should(Succeed())
	return count
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

var _ = Describe("FloorManager controller", func() {
	It("renders an immutable ConfigMap and a DaemonSet that targets the pool", func() {
		poolName, _ := createPool(2)
		name := uniqueName("fm")
		fm := newFloorManager(name, poolName, hotelv1alpha1.KubeletSpec{MaxPods: ptr.To[int32](80)})
		fm.Spec.NodeSelector.MatchExpressions = []hotelv1alpha1.NodeSelectorRequirement{
			{Key: "node.kubernetes.io/exclude", Operator: metav1.LabelSelectorOpDoesNotExist},
		}
		fm.Spec.Rollout.MaxUnavailable = ptr.To(intstr.FromString("25%"))
		createFloorManager(fm)

		ds := daemonSetOf(name)
		fm = getFloorManager(name)
		owner := metav1.GetControllerOf(ds)
		Expect(owner).NotTo(BeNil())
		Expect(owner.Kind).To(Equal("FloorManager"))
		Expect(owner.UID).To(Equal(fm.UID))
		Expect(ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable).To(Equal(ptr.To(intstr.FromString("25%"))))
		pod := ds.Spec.Template.Spec
		// The suite's manager.Options leave NodePods nil: innkeeper's defaults, exactly.
		Expect(pod.PriorityClassName).To(Equal("system-node-critical"))
		Expect(pod.Tolerations).To(Equal([]corev1.Toleration{{Operator: corev1.TolerationOpExists}}))
		Expect(pod.Containers[0].Image).To(Equal(testAgentImage))
		// The kubelet agent's own ServiceAccount: the admission policy keeps it to the kubelet's annotations.
		Expect(pod.ServiceAccountName).To(Equal(manager.DefaultKubeletAgentServiceAccount))
		terms := pod.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
		Expect(terms).To(HaveLen(2), "the pool's term, and the Nodes marked for revert")
		Expect(terms[1].MatchExpressions).To(Equal([]corev1.NodeSelectorRequirement{{Key: pool.AdmittedLabel("kubelet"),
			Operator: corev1.NodeSelectorOpIn, Values: []string{hotelv1alpha1.RevertValue(string(fm.UID))}}}))
		Expect(terms[0].MatchExpressions).To(ConsistOf(
			corev1.NodeSelectorRequirement{Key: poolKey, Operator: corev1.NodeSelectorOpIn, Values: []string{poolName}},
			corev1.NodeSelectorRequirement{Key: "node.kubernetes.io/exclude", Operator: corev1.NodeSelectorOpDoesNotExist},
			corev1.NodeSelectorRequirement{Key: pool.AdmittedLabel("kubelet"), Operator: corev1.NodeSelectorOpIn,
				Values: []string{string(fm.UID)}},
		))

		hash := templateHash(ds)
		Expect(hash).NotTo(BeEmpty())
		cms := configMapsOf(name)
		Expect(cms).To(HaveLen(1))
		cm := cms[0]
		Expect(cm.Name).To(Equal(name + "-kubelet-" + hash))
		Expect(cm.Immutable).To(Equal(ptr.To(true)))
		Expect(metav1.GetControllerOf(&cm).UID).To(Equal(fm.UID))
		Expect(cm.Data["50-innkeeper.conf"]).To(ContainSubstring("maxPods: 80"))
		Expect(pod.Volumes).To(ContainElement(HaveField("VolumeSource.ConfigMap.Name", cm.Name)))

		// The DaemonSet controller has not rolled anything out yet.
		expectCondition(name, hotelv1alpha1.ConditionReconciling, metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutInProgress)
		expectCondition(name, hotelv1alpha1.ConditionReady, metav1.ConditionFalse, hotelv1alpha1.ReasonRolloutInProgress)
		Expect(getFloorManager(name).Status.ConfigHash).To(Equal(hash))
		Expect(getFloorManager(name).Status.Nodes.Selected).To(Equal(int32(2)))
	})

	It("rolls a changed spec out as a new ConfigMap and template, keeps 3 ConfigMaps, and holds back while paused", func() {
		poolName, _ := createPool(1)
		name := uniqueName("fm")
		createFloorManager(newFloorManager(name, poolName, hotelv1alpha1.KubeletSpec{MaxPods: ptr.To[int32](100)}))
		first := templateHash(daemonSetOf(name))

		hashes := map[string]bool{first: true}
		for maxPods := int32(101); maxPods <= 104; maxPods++ {
			updateFloorManager(name, func(fm *hotelv1alpha1.FloorManager) { fm.Spec.Kubelet.MaxPods = ptr.To(maxPods) })
			Eventually(func() string { return templateHash(daemonSetOf(name)) }).WithTimeout(timeout).
				ShouldNot(BeKeyOf(hashes))
			hashes[templateHash(daemonSetOf(name))] = true
		}
		latest := templateHash(daemonSetOf(name))
		Eventually(func() []string {
			var names []string
			for _, cm := range configMapsOf(name) {
				names = append(names, cm.Name)
			}
			return names
		}).WithTimeout(timeout).Should(And(HaveLen(3), ContainElement(name+"-kubelet-"+latest)))

		By("pausing: a spec change renders nothing new")
		updateFloorManager(name, func(fm *hotelv1alpha1.FloorManager) {
			fm.Spec.Rollout.Paused = true
			fm.Spec.Kubelet.MaxPods = ptr.To[int32](50)
		})
		expectCondition(name, hotelv1alpha1.ConditionPaused, metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutPaused)
		Eventually(func() appsv1.DaemonSetUpdateStrategyType { return daemonSetOf(name).Spec.UpdateStrategy.Type }).
			WithTimeout(timeout).Should(Equal(appsv1.OnDeleteDaemonSetStrategyType), "the DaemonSet controller would go on replacing pods")
		Consistently(func() string { return templateHash(daemonSetOf(name)) }).
			WithTimeout(2 * time.Second).Should(Equal(latest))
		Expect(getFloorManager(name).Status.ConfigHash).To(Equal(latest))

		By("resuming: the held-back configuration rolls out")
		updateFloorManager(name, func(fm *hotelv1alpha1.FloorManager) { fm.Spec.Rollout.Paused = false })
		Eventually(func() string { return templateHash(daemonSetOf(name)) }).WithTimeout(timeout).ShouldNot(Equal(latest))
		Expect(daemonSetOf(name).Spec.UpdateStrategy.Type).To(Equal(appsv1.RollingUpdateDaemonSetStrategyType))
		expectCondition(name, hotelv1alpha1.ConditionPaused, metav1.ConditionFalse, hotelv1alpha1.ReasonNotPaused)
	})

	It("reports progress, readiness, node health and the pool's resources", func() {
		poolName, nodes := createPool(3)
		name := uniqueName("fm")
		rollouts := metricValue("innkeeper_rollout_duration_seconds", map[string]string{"kind": "FloorManager"})
		createFloorManager(newFloorManager(name, poolName, hotelv1alpha1.KubeletSpec{PodPidsLimit: ptr.To[int64](2048)}))
		daemonSetOf(name)

		By("a rollout in progress")
		reportApplied(name, nodes[0])
		expectCondition(name, hotelv1alpha1.ConditionReconciling, metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutInProgress)
		Eventually(func() hotelv1alpha1.NodeCounts { return getFloorManager(name).Status.Nodes }).WithTimeout(timeout).
			Should(Equal(hotelv1alpha1.NodeCounts{Selected: 3, Updated: 1, Ready: 1, Unavailable: 2}))

		By("a complete rollout on Ready Nodes")
		reportApplied(name, nodes[1], nodes[2])
		expectCondition(name, hotelv1alpha1.ConditionReady, metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutComplete)
		expectCondition(name, hotelv1alpha1.ConditionReconciling, metav1.ConditionFalse, hotelv1alpha1.ReasonRolloutComplete)
		expectCondition(name, hotelv1alpha1.ConditionStalled, metav1.ConditionFalse, hotelv1alpha1.ReasonAsExpected)
		expectCondition(name, hotelv1alpha1.ConditionNodesHealthy, metav1.ConditionTrue, hotelv1alpha1.ReasonAsExpected)
		fm := getFloorManager(name)
		Expect(fm.Status.Nodes).To(Equal(hotelv1alpha1.NodeCounts{Selected: 3, Updated: 3, Ready: 3}))
		Expect(fm.Status.Capacity).To(HaveKeyWithValue(corev1.ResourceCPU, resource.MustParse("12")))
		Expect(fm.Status.Capacity).To(HaveKeyWithValue(corev1.ResourceMemory, resource.MustParse("48Gi")))
		Expect(fm.Status.Allocatable).To(HaveKeyWithValue(corev1.ResourceCPU, resource.MustParse("11400m")))
		Expect(fm.Status.Allocatable).To(HaveKeyWithValue(corev1.ResourcePods, resource.MustParse("330")))
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(fm)
		Expect(err).NotTo(HaveOccurred())
		result, err := kstatus.Compute(&unstructured.Unstructured{Object: u})
		Expect(err).NotTo(HaveOccurred())
		Expect(result.Status).To(Equal(kstatus.CurrentStatus), result.Message)

		By("the metrics an SRE alerts on")
		series := map[string]string{"kind": "FloorManager", "name": name}
		Expect(metricValue("innkeeper_object_condition", series, "type", "Ready", "status", "true")).To(Equal(1.0))
		Expect(metricValue("innkeeper_object_condition", series, "type", "Ready", "status", "false")).To(Equal(0.0))
		Expect(metricValue("innkeeper_object_condition", series, "type", "Stalled", "status", "false")).To(Equal(1.0))
		Expect(metricValue("innkeeper_pool_nodes", series, "state", "updated")).To(Equal(3.0))
		// Observed once the status write returns, which may be after the test reads the status.
		Eventually(func() float64 {
			return metricValue("innkeeper_rollout_duration_seconds", map[string]string{"kind": "FloorManager"})
		}).WithTimeout(timeout).Should(BeNumerically(">", rollouts), "the completed rollout is timed")

		By("Nodes under pressure or NotReady")
		setNodeCondition(nodes[0].Name, corev1.NodeMemoryPressure, corev1.ConditionTrue)
		setNodeCondition(nodes[1].Name, corev1.NodeDiskPressure, corev1.ConditionTrue)
		setNodeCondition(nodes[2].Name, corev1.NodeReady, corev1.ConditionFalse)
		expectCondition(name, hotelv1alpha1.ConditionNodesHealthy, metav1.ConditionFalse, hotelv1alpha1.ReasonNodesUnhealthy)
		Eventually(func() hotelv1alpha1.NodeConditionCounts { return getFloorManager(name).Status.NodeConditions }).
			WithTimeout(timeout).Should(Equal(hotelv1alpha1.NodeConditionCounts{NotReady: 1, MemoryPressure: 1, DiskPressure: 1}))
		msg := condition(name, hotelv1alpha1.ConditionNodesHealthy).Message
		Expect(msg).To(ContainSubstring("1 NotReady (" + nodes[2].Name + ")"))
		Expect(msg).To(ContainSubstring("1 MemoryPressure (" + nodes[0].Name + ")"))
		Expect(msg).To(ContainSubstring("1 DiskPressure (" + nodes[1].Name + ")"))
		expectCondition(name, hotelv1alpha1.ConditionReady, metav1.ConditionFalse, hotelv1alpha1.ReasonNodesUnhealthy)
		Expect(getFloorManager(name).Status.Nodes.Ready).To(Equal(int32(2)))
	})

	It("reports Nodes whose agent failed, and stalls once they reach maxUnavailable", func() {
		poolName, nodes := createPool(2)
		name := uniqueName("fm")
		createFloorManager(newFloorManager(name, poolName, hotelv1alpha1.KubeletSpec{MaxPods: ptr.To[int32](90)}))
		reportApplied(name, nodes[0])
		annotateNode(nodes[1].Name, map[string]string{
			hotelv1alpha1.AgentAnnotation("kubelet", "state"):   hotelv1alpha1.AgentStateDegraded,
			hotelv1alpha1.AgentAnnotation("kubelet", "message"): "kubelet healthz did not answer within 2m; restored the previous drop-in",
		})

		expectCondition(name, hotelv1alpha1.ConditionDegraded, metav1.ConditionTrue, hotelv1alpha1.ReasonNodesDegraded)
		expectCondition(name, hotelv1alpha1.ConditionStalled, metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutBlocked)
		fm := getFloorManager(name)
		Expect(fm.Status.Nodes.Degraded).To(Equal(int32(1)))
		Expect(fm.Status.DegradedNodes).To(Equal([]hotelv1alpha1.DegradedNode{{
			Name: nodes[1].Name, Reason: hotelv1alpha1.ReasonHealthCheckFailed,
			Message: "kubelet healthz did not answer within 2m; restored the previous drop-in",
		}}))
	})

	It("stalls the newer of two overlapping pools until the overlap is gone", func() {
		poolName, nodes := createPool(2)
		older := uniqueName("fm-a")
		createFloorManager(newFloorManager(older, poolName, hotelv1alpha1.KubeletSpec{}))
		daemonSetOf(older)

		newer := uniqueName("fm-b")
		fm := newFloorManager(newer, "", hotelv1alpha1.KubeletSpec{})
		fm.Spec.NodeSelector = hotelv1alpha1.NodeSelectorOf(metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "kubernetes.io/hostname", Operator: metav1.LabelSelectorOpIn, Values: []string{"other", nodes[1].Name}},
		}})
		createFloorManager(fm)

		expectCondition(newer, hotelv1alpha1.ConditionStalled, metav1.ConditionTrue, hotelv1alpha1.ReasonPoolConflict)
		msg := condition(newer, hotelv1alpha1.ConditionStalled).Message
		Expect(msg).To(ContainSubstring(older))
		Expect(msg).To(ContainSubstring(nodes[1].Name))
		err := k8sClient.Get(ctx, client.ObjectKey{Namespace: testNamespace, Name: newer + "-kubelet"}, &appsv1.DaemonSet{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the newer pool rolled out a DaemonSet: %v", err)
		expectCondition(older, hotelv1alpha1.ConditionStalled, metav1.ConditionFalse, hotelv1alpha1.ReasonAsExpected)

		By("narrowing the older pool")
		updateFloorManager(older, func(fm *hotelv1alpha1.FloorManager) {
			fm.Spec.NodeSelector.MatchExpressions = []hotelv1alpha1.NodeSelectorRequirement{
				{Key: "kubernetes.io/hostname", Operator: metav1.LabelSelectorOpNotIn, Values: []hotelv1alpha1.LabelValue{hotelv1alpha1.LabelValue(nodes[1].Name)}},
			}
		})
		daemonSetOf(newer)
		expectCondition(newer, hotelv1alpha1.ConditionStalled, metav1.ConditionFalse, hotelv1alpha1.ReasonAsExpected)
	})

	It("stalls a pool that an older pool widens onto, and removes its DaemonSet", func() {
		poolName, nodes := createPool(2)
		older := uniqueName("fm-a")
		fm := newFloorManager(older, "", hotelv1alpha1.KubeletSpec{})
		fm.Spec.NodeSelector = hotelv1alpha1.NodeSelectorOf(metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/hostname": nodes[0].Name}})
		createFloorManager(fm)
		newer := uniqueName("fm-b")
		fm = newFloorManager(newer, "", hotelv1alpha1.KubeletSpec{})
		fm.Spec.NodeSelector = hotelv1alpha1.NodeSelectorOf(metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/hostname": nodes[1].Name}})
		createFloorManager(fm)
		daemonSetOf(older)
		daemonSetOf(newer)
		expectCondition(newer, hotelv1alpha1.ConditionStalled, metav1.ConditionFalse, hotelv1alpha1.ReasonAsExpected)

		updateFloorManager(older, func(fm *hotelv1alpha1.FloorManager) {
			fm.Spec.NodeSelector = hotelv1alpha1.NodeSelectorOf(metav1.LabelSelector{MatchLabels: map[string]string{poolKey: poolName}})
		})
		expectCondition(newer, hotelv1alpha1.ConditionStalled, metav1.ConditionTrue, hotelv1alpha1.ReasonPoolConflict)
		Eventually(func() bool {
			err := k8sClient.Get(ctx, client.ObjectKey{Namespace: testNamespace, Name: newer + "-kubelet"}, &appsv1.DaemonSet{})
			return apierrors.IsNotFound(err)
		}).WithTimeout(timeout).Should(BeTrue(), "two DaemonSets would manage the same Node")
		Expect(getFloorManager(newer).Status.ConfigHash).To(BeEmpty())
	})

	It("does not report a pool that selects no Node Ready, nor in progress, nor stalled", func() {
		poolName := uniqueName("no-such-pool")
		name := uniqueName("fm")
		createFloorManager(newFloorManager(name, poolName, hotelv1alpha1.KubeletSpec{}))
		expectCondition(name, hotelv1alpha1.ConditionReady, metav1.ConditionFalse, hotelv1alpha1.ReasonNoNodesSelected)
		expectCondition(name, hotelv1alpha1.ConditionReconciling, metav1.ConditionFalse, hotelv1alpha1.ReasonNoNodesSelected)
		expectCondition(name, hotelv1alpha1.ConditionStalled, metav1.ConditionFalse, hotelv1alpha1.ReasonAsExpected)
		Expect(condition(name, hotelv1alpha1.ConditionReady).Message).To(ContainSubstring("Label Nodes"))
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(getFloorManager(name))
		Expect(err).NotTo(HaveOccurred())
		result, err := kstatus.Compute(&unstructured.Unstructured{Object: u})
		Expect(err).NotTo(HaveOccurred())
		// kstatus reads Ready=False as in progress, so that a wait on it (Flux, kpt) does not pass
		// either, and says why.
		Expect(result.Status).To(Equal(kstatus.InProgressStatus))
		Expect(result.Message).To(ContainSubstring("selects no Node"))

		By("labelling a Node into the pool")
		createNode(poolName+"-node-0", map[string]string{poolKey: poolName})
		expectCondition(name, hotelv1alpha1.ConditionReconciling, metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutInProgress)
		expectCondition(name, hotelv1alpha1.ConditionReady, metav1.ConditionFalse, hotelv1alpha1.ReasonRolloutInProgress)
	})

	It("keeps only the admission gate in the node affinity when the selector widens to every Node", func() {
		poolName, _ := createPool(1)
		name := uniqueName("fm")
		createFloorManager(newFloorManager(name, poolName, hotelv1alpha1.KubeletSpec{}))
		gate := corev1.NodeSelectorRequirement{Key: pool.AdmittedLabel("kubelet"), Operator: corev1.NodeSelectorOpIn,
			Values: []string{string(getFloorManager(name).UID)}}
		expressions := func() []corev1.NodeSelectorRequirement {
			terms := daemonSetOf(name).Spec.Template.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
			Expect(terms).To(HaveLen(2)) // the pool's, and the Nodes marked for revert
			return terms[0].MatchExpressions
		}
		Expect(expressions()).To(HaveLen(2))
		// Nodes of other tests are selected too, which is no conflict: they are nobody else's now.
		updateFloorManager(name, func(fm *hotelv1alpha1.FloorManager) {
			fm.Spec.NodeSelector = hotelv1alpha1.NodeSelectorOf(metav1.LabelSelector{})
		})
		Eventually(expressions).WithTimeout(timeout).Should(Equal([]corev1.NodeSelectorRequirement{gate}))
	})

	It("records a Warning Event when the spec passes admission but cannot be rolled out", func() {
		poolName, _ := createPool(1)
		name := uniqueName("fm")
		fm := newFloorManager(name, poolName, hotelv1alpha1.KubeletSpec{})
		fm.Spec.Rollout.Maintenance = unknownTimeZone()
		createFloorManager(fm)
		Eventually(func(g Gomega) {
			events := &eventsv1.EventList{}
			g.Expect(k8sClient.List(ctx, events, client.InNamespace("default"))).To(Succeed())
			var found bool
			for _, e := range events.Items {
				if e.Regarding.Name == name && e.Type == corev1.EventTypeWarning && e.Reason == hotelv1alpha1.ReasonInvalidSpec {
					g.Expect(e.Note).To(ContainSubstring(`spec.rollout.maintenance.timeZone "Mars/Olympus_Mons"`))
					found = true
				}
			}
			g.Expect(found).To(BeTrue(), "no InvalidSpec warning for %s", name)
		}).WithTimeout(timeout).Should(Succeed())
	})

	It("stalls on a spec that passes admission but not the manager's checks, and leaves the rollout alone", func() {
		poolName, _ := createPool(1)
		name := uniqueName("fm")
		createFloorManager(newFloorManager(name, poolName, hotelv1alpha1.KubeletSpec{MaxPods: ptr.To[int32](64)}))
		before := daemonSetOf(name)

		updateFloorManager(name, func(fm *hotelv1alpha1.FloorManager) {
			fm.Spec.Kubelet.MaxPods = ptr.To[int32](32)
			fm.Spec.Rollout.Maintenance = unknownTimeZone()
		})
		expectCondition(name, hotelv1alpha1.ConditionStalled, metav1.ConditionTrue, hotelv1alpha1.ReasonInvalidSpec)
		Expect(condition(name, hotelv1alpha1.ConditionStalled).Message).
			To(ContainSubstring(`spec.rollout.maintenance.timeZone "Mars/Olympus_Mons"`))
		after := daemonSetOf(name)
		Expect(after.Generation).To(Equal(before.Generation))
		Expect(after.Spec).To(Equal(before.Spec))
		Expect(configMapsOf(name)).To(HaveLen(1))
	})

	It("puts back a DaemonSet that is deleted or edited out of band", func() {
		poolName, _ := createPool(1)
		name := uniqueName("fm")
		createFloorManager(newFloorManager(name, poolName, hotelv1alpha1.KubeletSpec{}))
		ds := daemonSetOf(name)

		ds.Spec.Template.Spec.PriorityClassName = ""
		ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(5))
		Expect(k8sClient.Update(ctx, ds)).To(Succeed())
		Eventually(func(g Gomega) {
			ds := daemonSetOf(name)
			g.Expect(ds.Spec.Template.Spec.PriorityClassName).To(Equal("system-node-critical"))
			g.Expect(ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable).To(Equal(ptr.To(intstr.FromInt32(1))))
		}).WithTimeout(timeout).Should(Succeed())

		uid := daemonSetOf(name).UID
		Expect(k8sClient.Delete(ctx, daemonSetOf(name))).To(Succeed())
		Eventually(func() bool {
			ds := &appsv1.DaemonSet{}
			err := k8sClient.Get(ctx, client.ObjectKey{Namespace: testNamespace, Name: name + "-kubelet"}, ds)
			return err == nil && ds.UID != uid
		}).WithTimeout(timeout).Should(BeTrue())
	})

	It("removes what others add to its DaemonSet's pod template, and keeps what the API server defaults", func() {
		poolName, _ := createPool(1)
		name := uniqueName("fm")
		createFloorManager(newFloorManager(name, poolName, hotelv1alpha1.KubeletSpec{}))
		ds := daemonSetOf(name)
		want := ds.Spec.Template.DeepCopy()
		Expect(want.Spec.Containers[0].TerminationMessagePath).NotTo(BeEmpty(), "a field the API server defaults")

		By("a sidecar, an env var, a volume and hostIPC, as kubectl edit adds them")
		ds.Spec.Template.Spec.Containers = append(ds.Spec.Template.Spec.Containers,
			corev1.Container{Name: "sidecar", Image: "busybox", VolumeMounts: []corev1.VolumeMount{{Name: "etc", MountPath: "/etc-host"}}})
		ds.Spec.Template.Spec.Containers[0].Env = append(ds.Spec.Template.Spec.Containers[0].Env, corev1.EnvVar{Name: "INJECTED", Value: "1"})
		ds.Spec.Template.Spec.Volumes = append(ds.Spec.Template.Spec.Volumes,
			corev1.Volume{Name: "etc", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/etc"}}})
		ds.Spec.Template.Spec.HostIPC = true
		Expect(k8sClient.Update(ctx, ds, client.FieldOwner("kubectl-edit"))).To(Succeed())

		Eventually(func(g Gomega) {
			g.Expect(daemonSetOf(name).Spec.Template).To(Equal(*want))
		}).WithTimeout(timeout).Should(Succeed(), "the pod template is not innkeeper's as it was")
		Eventually(func(g Gomega) {
			events := &eventsv1.EventList{}
			g.Expect(k8sClient.List(ctx, events, client.InNamespace("default"))).To(Succeed())
			var notes []string
			for _, e := range events.Items {
				if e.Regarding.Name == name && e.Type == corev1.EventTypeWarning && e.Reason == hotelv1alpha1.ReasonForeignFieldsRemoved {
					notes = append(notes, e.Note)
				}
			}
			g.Expect(notes).To(ContainElement(And(ContainSubstring("containers[name=sidecar] (set by kubectl-edit)"),
				ContainSubstring("env[name=INJECTED]"), ContainSubstring("volumes[name=etc]"), ContainSubstring("hostIPC"))))
		}).WithTimeout(timeout).Should(Succeed())
	})

	It("puts back a status changed by anyone else, so that a stale cache never leaves it wrong", func() {
		poolName, nodes := createPool(1)
		name := uniqueName("fm")
		createFloorManager(newFloorManager(name, poolName, hotelv1alpha1.KubeletSpec{}))
		reportApplied(name, nodes[0])
		expectCondition(name, hotelv1alpha1.ConditionReady, metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutComplete)

		// A status that no longer matches the Nodes, as a write computed from a stale cache leaves it.
		Eventually(func() error {
			fm := getFloorManager(name)
			fm.Status.NodeConditions.MemoryPressure = 1
			return k8sClient.Status().Update(ctx, fm)
		}).WithTimeout(timeout).Should(Succeed())
		Eventually(func() int32 { return getFloorManager(name).Status.NodeConditions.MemoryPressure }).
			WithTimeout(timeout).Should(BeZero())
	})

	It("does not reconcile on a Node heartbeat, but does on a label change", func() {
		poolName, nodes := createPool(1)
		name := uniqueName("fm")
		createFloorManager(newFloorManager(name, poolName, hotelv1alpha1.KubeletSpec{}))
		reportApplied(name, nodes[0])
		expectCondition(name, hotelv1alpha1.ConditionReady, metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutComplete)

		before := quietReconcileCount()

		for range 3 {
			Eventually(func() error {
				node := &corev1.Node{}
				if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(nodes[0]), node); err != nil {
					return err
				}
				for i := range node.Status.Conditions {
					node.Status.Conditions[i].LastHeartbeatTime = metav1.NewTime(time.Now().Add(time.Second))
				}
				return k8sClient.Status().Update(ctx, node)
			}).WithTimeout(timeout).Should(Succeed())
		}
		Consistently(reconcileCount).WithTimeout(2 * time.Second).Should(Equal(before))

		Eventually(func() error {
			node := &corev1.Node{}
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(nodes[0]), node); err != nil {
				return err
			}
			node.Labels["topology.kubernetes.io/zone"] = "zone-b"
			return k8sClient.Update(ctx, node)
		}).WithTimeout(timeout).Should(Succeed())
		Eventually(reconcileCount).WithTimeout(timeout).Should(BeNumerically(">", before))
	})

	It("reconciles once per Node change: the event of its own status write causes no second reconcile", func() {
		poolName, nodes := createPool(1)
		name := uniqueName("fm")
		createFloorManager(newFloorManager(name, poolName, hotelv1alpha1.KubeletSpec{}))
		reportApplied(name, nodes[0])
		expectCondition(name, hotelv1alpha1.ConditionReady, metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutComplete)
		before := quietReconcileCount()

		const flips = 6
		for i := range flips {
			pressure := corev1.ConditionFalse
			if i%2 == 0 {
				pressure = corev1.ConditionTrue
			}
			setNodeCondition(nodes[0].Name, corev1.NodeMemoryPressure, pressure)
			want := int32(0)
			if pressure == corev1.ConditionTrue {
				want = 1
			}
			Eventually(func() int32 { return getFloorManager(name).Status.NodeConditions.MemoryPressure }).
				WithTimeout(timeout).Should(Equal(want))
		}
		// One reconcile per flip, each writing the status; reconciling on its own writes too would
		// double that. (A little room for a reconcile the test did not cause.)
		Expect(quietReconcileCount() - before).To(BeNumerically("<", 1.5*flips))
	})

	It("removes a deleted FloorManager's metrics", func() {
		poolName, _ := createPool(1)
		name := uniqueName("fm")
		fm := createFloorManager(newFloorManager(name, poolName, hotelv1alpha1.KubeletSpec{}))
		Eventually(func() bool { return poolSeries(name) }).WithTimeout(timeout).Should(BeTrue())
		Expect(k8sClient.Delete(ctx, fm)).To(Succeed())
		Eventually(func() bool { return poolSeries(name) }).WithTimeout(timeout).Should(BeFalse())
	})
})

// metricValue returns the value of the series of the manager's metric name that has labels (a
// map, and more as name, value pairs): a gauge's or counter's value, a histogram's count of
// observations, summed over the series that match; 0 if none does.
func metricValue(name string, labels map[string]string, more ...string) float64 {
	GinkgoHelper()
	want := maps.Clone(labels)
	for i := 0; i+1 < len(more); i += 2 {
		want[more[i]] = more[i+1]
	}
	families, err := metrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	sum := 0.0
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			for k, v := range want {
				if labelValue(m, k) != v {
					continue series
				}
			}
			switch {
			case m.GetHistogram() != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			default:
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// poolSeries reports whether innkeeper_pool_nodes has series for a FloorManager.
func poolSeries(name string) bool {
	families, err := metrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	for _, f := range families {
		if f.GetName() != "innkeeper_pool_nodes" {
			continue
		}
		for _, m := range f.GetMetric() {
			if labelValue(m, "kind") == "FloorManager" && labelValue(m, "name") == name &&
				strings.Contains(labelValue(m, "state"), "selected") {
				return true
			}
		}
	}
	return false
}
