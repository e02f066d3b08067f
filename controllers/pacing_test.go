package controllers_test

import (
	"fmt"
	"sort"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/pool"
)

// settle is how long a spec watches that the manager admits no further Node.
const settle = 1500 * time.Millisecond

// admittedNodes returns the names of the Nodes admitted to the rollout of the object with uid, sorted.
func admittedNodes(component string, uid types.UID) []string {
	list := &corev1.NodeList{}
	Expect(k8sClient.List(ctx, list, client.MatchingLabels{pool.AdmittedLabel(component): string(uid)})).To(Succeed())
	names := make([]string, 0, len(list.Items))
	for _, n := range list.Items {
		names = append(names, n.Name)
	}
	sort.Strings(names)
	return names
}

// expectAdmitted waits until exactly the named Nodes are admitted, then checks that no other is
// for a while: a wave never grows by itself.
func expectAdmitted(component string, uid types.UID, names ...string) {
	GinkgoHelper()
	names = append([]string{}, names...)
	sort.Strings(names)
	admitted := func() []string { return admittedNodes(component, uid) }
	Eventually(admitted).WithTimeout(timeout).WithPolling(interval).Should(Equal(names))
	Consistently(admitted).WithTimeout(settle).WithPolling(interval).Should(Equal(names))
}

var _ = Describe("Paced admission", func() {
	It("admits a new FloorManager's Nodes maxUnavailable at a time, a joining Node too, and releases a leaving one", func() {
		poolName, nodes := createPool(5)
		name := uniqueName("fm")
		fm := newFloorManager(name, poolName, hotelv1alpha1.KubeletSpec{MaxPods: ptr.To[int32](90)})
		fm.Spec.Rollout.MaxUnavailable = ptr.To(intstr.FromInt32(2))
		uid := createFloorManager(fm).UID

		By("a first wave of two Nodes, by name")
		expectAdmitted("kubelet", uid, nodes[0].Name, nodes[1].Name)
		Eventually(func() string { return condition(name, hotelv1alpha1.ConditionReady).Message }).
			WithTimeout(timeout).Should(ContainSubstring("3 wait to be admitted to the rollout"))

		By("one Node of the wave updated: one more")
		reportApplied(name, nodes[0])
		expectAdmitted("kubelet", uid, nodes[0].Name, nodes[1].Name, nodes[2].Name)

		By("a Node that joins the pool while two are updating waits its turn")
		joining := createNode(poolName+"-node-5", map[string]string{poolKey: poolName})
		expectAdmitted("kubelet", uid, nodes[0].Name, nodes[1].Name, nodes[2].Name)

		By("as the Nodes update, the rest are admitted, the joining one last (by name)")
		reportApplied(name, nodes[1], nodes[2])
		expectAdmitted("kubelet", uid, nodes[0].Name, nodes[1].Name, nodes[2].Name, nodes[3].Name, nodes[4].Name)
		reportApplied(name, nodes[3], nodes[4])
		expectAdmitted("kubelet", uid, nodes[0].Name, nodes[1].Name, nodes[2].Name, nodes[3].Name, nodes[4].Name, joining.Name)
		reportApplied(name, joining)
		expectCondition(name, hotelv1alpha1.ConditionReady, metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutComplete)

		By("a Node that leaves the pool is released")
		labelNode(joining.Name, poolKey, poolName+"-elsewhere")
		expectAdmitted("kubelet", uid, nodes[0].Name, nodes[1].Name, nodes[2].Name, nodes[3].Name, nodes[4].Name)
	})

	It("releases its Nodes when the object is deleted", func() {
		poolName, nodes := createPool(2)
		name := uniqueName("fm")
		fm := createFloorManager(newFloorManager(name, poolName, hotelv1alpha1.KubeletSpec{MaxPods: ptr.To[int32](96)}))
		expectAdmitted("kubelet", fm.UID, nodes[0].Name)
		reportApplied(name, nodes[0])
		expectAdmitted("kubelet", fm.UID, nodes[0].Name, nodes[1].Name)
		Expect(k8sClient.Delete(ctx, fm)).To(Succeed())
		Eventually(func() []string { return admittedNodes("kubelet", fm.UID) }).WithTimeout(timeout).Should(BeEmpty())
	})

	It("admits a Node that already runs the configuration at no cost, and nobody new while paused", func() {
		poolName, nodes := createPool(3)
		name := uniqueName("fm")
		fm := newFloorManager(name, poolName, hotelv1alpha1.KubeletSpec{MaxPods: ptr.To[int32](91)})
		uid := createFloorManager(fm).UID
		expectAdmitted("kubelet", uid, nodes[0].Name)

		By("a Node whose agent already reports the configuration")
		reportApplied(name, nodes[2])
		expectAdmitted("kubelet", uid, nodes[0].Name, nodes[2].Name)

		By("paused, the updated Node frees no place for another")
		updateFloorManager(name, func(fm *hotelv1alpha1.FloorManager) { fm.Spec.Rollout.Paused = true })
		expectCondition(name, hotelv1alpha1.ConditionPaused, metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutPaused)
		reportApplied(name, nodes[0])
		expectAdmitted("kubelet", uid, nodes[0].Name, nodes[2].Name)

		By("resumed, the last one")
		updateFloorManager(name, func(fm *hotelv1alpha1.FloorManager) { fm.Spec.Rollout.Paused = false })
		expectAdmitted("kubelet", uid, nodes[0].Name, nodes[1].Name, nodes[2].Name)
	})

	It("holds a rollout while an updated Node is unhealthy, goes on once it recovers, or when told to ignore it", func() {
		poolName, nodes := createPool(4)
		name := uniqueName("fm")
		uid := createFloorManager(newFloorManager(name, poolName, hotelv1alpha1.KubeletSpec{MaxPods: ptr.To[int32](92)})).UID
		expectAdmitted("kubelet", uid, nodes[0].Name)
		reportApplied(name, nodes[0])
		expectAdmitted("kubelet", uid, nodes[0].Name, nodes[1].Name)

		By("the updated Node comes under disk pressure: the rollout halts, the DaemonSet replaces no pod")
		setNodeCondition(nodes[0].Name, corev1.NodeDiskPressure, corev1.ConditionTrue)
		expectCondition(name, hotelv1alpha1.ConditionReconciling, metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutHalted)
		Expect(condition(name, hotelv1alpha1.ConditionReconciling).Message).To(ContainSubstring("1 DiskPressure (" + nodes[0].Name + ")"))
		expectCondition(name, hotelv1alpha1.ConditionStalled, metav1.ConditionFalse, hotelv1alpha1.ReasonAsExpected)
		expectCondition(name, hotelv1alpha1.ConditionReady, metav1.ConditionFalse, hotelv1alpha1.ReasonRolloutHalted)
		Eventually(func() appsv1.DaemonSetUpdateStrategyType { return daemonSetOf(name).Spec.UpdateStrategy.Type }).
			WithTimeout(timeout).Should(Equal(appsv1.OnDeleteDaemonSetStrategyType))
		reportApplied(name, nodes[1])
		expectAdmitted("kubelet", uid, nodes[0].Name, nodes[1].Name)

		By("it recovers: the rollout goes on")
		setNodeCondition(nodes[0].Name, corev1.NodeDiskPressure, corev1.ConditionFalse)
		expectAdmitted("kubelet", uid, nodes[0].Name, nodes[1].Name, nodes[2].Name)
		expectCondition(name, hotelv1alpha1.ConditionReconciling, metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutInProgress)
		Expect(daemonSetOf(name).Spec.UpdateStrategy.Type).To(Equal(appsv1.RollingUpdateDaemonSetStrategyType))

		By("another comes under memory pressure after its update: halted again, until the gate is set to Ignore")
		setNodeCondition(nodes[2].Name, corev1.NodeMemoryPressure, corev1.ConditionTrue)
		expectAdmitted("kubelet", uid, nodes[0].Name, nodes[1].Name, nodes[2].Name)
		reportApplied(name, nodes[2])
		expectCondition(name, hotelv1alpha1.ConditionReconciling, metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutHalted)
		expectAdmitted("kubelet", uid, nodes[0].Name, nodes[1].Name, nodes[2].Name)
		updateFloorManager(name, func(fm *hotelv1alpha1.FloorManager) { fm.Spec.Rollout.HealthGate = hotelv1alpha1.HealthGateIgnore })
		Eventually(func() []string { return admittedNodes("kubelet", uid) }).WithTimeout(timeout).Should(HaveLen(4))
		expectCondition(name, hotelv1alpha1.ConditionReconciling, metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutInProgress)
	})

	It("starts no Node outside the maintenance windows, and goes on when one opens", func() {
		// A one-minute window three days from now is closed now; a week-long one is always open.
		closed := &hotelv1alpha1.Maintenance{TimeZone: "Europe/Berlin", Windows: []hotelv1alpha1.MaintenanceWindow{{
			Days:  []hotelv1alpha1.Weekday{hotelv1alpha1.Weekday(time.Now().AddDate(0, 0, 3).Weekday().String()[:3])},
			Start: "00:00", Duration: metav1.Duration{Duration: time.Minute}}}}
		always := &hotelv1alpha1.Maintenance{Windows: []hotelv1alpha1.MaintenanceWindow{{
			Days: []hotelv1alpha1.Weekday{"Mon"}, Start: "00:00", Duration: metav1.Duration{Duration: 168 * time.Hour}}}}

		poolName, nodes := createPool(2)
		name := uniqueName("fm")
		fm := newFloorManager(name, poolName, hotelv1alpha1.KubeletSpec{MaxPods: ptr.To[int32](93)})
		fm.Spec.Rollout.Maintenance = closed
		uid := createFloorManager(fm).UID

		By("a new object outside its windows: a DaemonSet, but no Node admitted")
		expectCondition(name, hotelv1alpha1.ConditionReconciling, metav1.ConditionTrue, hotelv1alpha1.ReasonOutsideMaintenanceWindow)
		Expect(condition(name, hotelv1alpha1.ConditionReady).Message).To(ContainSubstring("the next opens at"))
		expectCondition(name, hotelv1alpha1.ConditionStalled, metav1.ConditionFalse, hotelv1alpha1.ReasonAsExpected)
		daemonSetOf(name)
		expectAdmitted("kubelet", uid)

		By("a window opens: the rollout starts")
		updateFloorManager(name, func(fm *hotelv1alpha1.FloorManager) { fm.Spec.Rollout.Maintenance = always })
		expectAdmitted("kubelet", uid, nodes[0].Name)
		reportApplied(name, nodes[0])
		expectAdmitted("kubelet", uid, nodes[0].Name, nodes[1].Name)
		reportApplied(name, nodes[1])
		expectCondition(name, hotelv1alpha1.ConditionReady, metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutComplete)

		By("a change outside the windows waits: the DaemonSet keeps the configuration it rolls out")
		before := templateHash(daemonSetOf(name))
		updateFloorManager(name, func(fm *hotelv1alpha1.FloorManager) {
			fm.Spec.Rollout.Maintenance = closed
			fm.Spec.Kubelet.MaxPods = ptr.To[int32](94)
		})
		expectCondition(name, hotelv1alpha1.ConditionReady, metav1.ConditionFalse, hotelv1alpha1.ReasonOutsideMaintenanceWindow)
		Expect(daemonSetOf(name).Spec.UpdateStrategy.Type).To(Equal(appsv1.OnDeleteDaemonSetStrategyType))
		Expect(templateHash(daemonSetOf(name))).To(Equal(before))

		By("the window opens: the change rolls out")
		updateFloorManager(name, func(fm *hotelv1alpha1.FloorManager) { fm.Spec.Rollout.Maintenance = always })
		Eventually(func() string { return templateHash(daemonSetOf(name)) }).WithTimeout(timeout).ShouldNot(Equal(before))
		Expect(daemonSetOf(name).Spec.UpdateStrategy.Type).To(Equal(appsv1.RollingUpdateDaemonSetStrategyType))
	})

	It("refuses a maintenance window that is not HH:MM or too long, and stalls on an unknown time zone", func() {
		poolName, _ := createPool(1)
		name := uniqueName("fm")
		fm := newFloorManager(name, poolName, hotelv1alpha1.KubeletSpec{})
		fm.Spec.Rollout.Maintenance = &hotelv1alpha1.Maintenance{Windows: []hotelv1alpha1.MaintenanceWindow{{
			Days: []hotelv1alpha1.Weekday{"Sat"}, Start: "24:00", Duration: metav1.Duration{Duration: 200 * time.Hour}}}}
		err := k8sClient.Create(ctx, fm)
		Expect(err).To(MatchError(And(ContainSubstring("spec.rollout.maintenance.windows[0].start"),
			ContainSubstring("duration must be from 1m to 168h"))))

		fm.Spec.Rollout.Maintenance.Windows[0].Start, fm.Spec.Rollout.Maintenance.Windows[0].Duration.Duration = "22:00", time.Hour
		fm.Spec.Rollout.Maintenance.TimeZone = "Mars/Olympus_Mons"
		createFloorManager(fm)
		expectCondition(name, hotelv1alpha1.ConditionStalled, metav1.ConditionTrue, hotelv1alpha1.ReasonInvalidSpec)
		Expect(condition(name, hotelv1alpha1.ConditionStalled).Message).To(ContainSubstring(`timeZone "Mars/Olympus_Mons"`))
	})

	It("removes the registration taint from a joining Node once every object selecting it has configured it", func() {
		poolName, nodes := createPool(1)
		name := uniqueName("fm")
		uid := createFloorManager(newFloorManager(name, poolName, hotelv1alpha1.KubeletSpec{MaxPods: ptr.To[int32](95)})).UID
		expectAdmitted("kubelet", uid, nodes[0].Name)
		reportApplied(name, nodes[0])
		expectCondition(name, hotelv1alpha1.ConditionReady, metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutComplete)

		tainted := func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "example.com/other", Effect: corev1.TaintEffectNoSchedule},
				{Key: hotelv1alpha1.TaintUnconfigured, Effect: corev1.TaintEffectNoSchedule}}
		}
		taints := func(node string) func() []corev1.Taint {
			return func() []corev1.Taint {
				n := &corev1.Node{}
				Expect(k8sClient.Get(ctx, client.ObjectKey{Name: node}, n)).To(Succeed())
				return n.Spec.Taints
			}
		}
		other := corev1.Taint{Key: "example.com/other", Effect: corev1.TaintEffectNoSchedule}

		By("a Node joins the pool with the taint: it keeps it while its kubelet is not configured")
		joining := createNode(poolName+"-node-1", map[string]string{poolKey: poolName}, tainted)
		expectAdmitted("kubelet", uid, nodes[0].Name, joining.Name)
		ours := HaveField("Key", hotelv1alpha1.TaintUnconfigured)
		Consistently(taints(joining.Name)).WithTimeout(settle).Should(ContainElement(ours))

		By("its agent reports the configuration: the taint goes, and only it")
		reportApplied(name, joining)
		Eventually(taints(joining.Name)).WithTimeout(timeout).Should(And(Not(ContainElement(ours)), ContainElement(other)))

		By("a Node no object selects loses it at once")
		lone := createNode(uniqueName("lone"), map[string]string{poolKey: uniqueName("nobody")}, tainted)
		Eventually(taints(lone.Name)).WithTimeout(timeout).Should(And(Not(ContainElement(ours)), ContainElement(other)))
	})

	It("removes the registration taint from a Concierge's Node once its kube-proxy pod there runs the configuration", func() {
		poolName, _ := createPool(0)
		name := uniqueName("cg")
		uid := createConcierge(name, poolName, hotelv1alpha1.KubeProxySpec{}).UID
		node := createNode(poolName+"-node-0", map[string]string{poolKey: poolName}, func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: hotelv1alpha1.TaintUnconfigured, Effect: corev1.TaintEffectNoSchedule}}
		})
		expectAdmitted("kube-proxy", uid, node.Name)
		ours := ContainElement(HaveField("Key", hotelv1alpha1.TaintUnconfigured))
		taints := func() []corev1.Taint {
			n := &corev1.Node{}
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(node), n)).To(Succeed())
			return n.Spec.Taints
		}
		By("the DaemonSet's status says done, but no kube-proxy runs on the Node yet: the taint stays")
		ds := kubeProxyDaemonSet(name)
		writeDaemonSetStatus(ds, 0, 0, 0)
		Consistently(taints).WithTimeout(settle).Should(ours)

		By("its kube-proxy pod runs the configuration and is Ready: the taint goes")
		hash := templateHash(kubeProxyDaemonSet(name))
		Eventually(func() string {
			cg := &hotelv1alpha1.Concierge{}
			Expect(k8sClient.Get(ctx, client.ObjectKey{Name: name}, cg)).To(Succeed())
			return cg.Status.ConfigHash
		}).WithTimeout(timeout).Should(Equal(hash))
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: testNamespace, GenerateName: name + "-kube-proxy-",
				Labels:      map[string]string{pool.LabelPool: name, pool.LabelComponent: "kube-proxy"},
				Annotations: map[string]string{pool.AnnotationHash: hash}},
			Spec: corev1.PodSpec{NodeName: node.Name, Containers: []corev1.Container{{Name: "kube-proxy", Image: "kube-proxy"}}},
		}
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, pod))).To(Succeed()) })
		pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		Expect(k8sClient.Status().Update(ctx, pod)).To(Succeed())
		// The manager watches no Pod: the DaemonSet's status, which counts the pod available, brings it.
		writeDaemonSetStatus(ds, 1, 1, 1)
		Eventually(taints).WithTimeout(timeout).ShouldNot(ours)
	})

	It("paces a Concierge by its DaemonSet's status", func() {
		poolName, nodes := createPool(3)
		name := uniqueName("cg")
		uid := createConcierge(name, poolName, hotelv1alpha1.KubeProxySpec{}).UID
		expectAdmitted("kube-proxy", uid, nodes[0].Name)

		ds := kubeProxyDaemonSet(name)
		By("its pod available: the next")
		writeDaemonSetStatus(ds, 1, 1, 1)
		expectAdmitted("kube-proxy", uid, nodes[0].Name, nodes[1].Name)
		By("the next one's pod updated but not available yet: nobody more")
		writeDaemonSetStatus(ds, 2, 2, 1)
		expectAdmitted("kube-proxy", uid, nodes[0].Name, nodes[1].Name)
		By("available: the last")
		writeDaemonSetStatus(ds, 2, 2, 2)
		expectAdmitted("kube-proxy", uid, nodes[0].Name, nodes[1].Name, nodes[2].Name)
		writeDaemonSetStatus(ds, 3, 3, 3)
		expectConditionOf(&hotelv1alpha1.Concierge{ObjectMeta: metav1.ObjectMeta{Name: name}},
			hotelv1alpha1.ConditionReady, metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutComplete)
	})
})

// labelNode sets one label of a Node.
func labelNode(name, key, value string) {
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, key, value)
	Expect(k8sClient.Patch(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}},
		client.RawPatch(types.MergePatchType, []byte(patch)))).To(Succeed())
}
