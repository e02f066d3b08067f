package controllers_test

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// workloadPod creates a pod bound to node, owned by a ReplicaSet (as the drain library wants of a
// pod it evicts), with no grace period: there is no kubelet here to confirm a graceful deletion.
func workloadPod(node, name string, labels map[string]string) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: labels,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: name + "-rs",
				UID: "00000000-0000-4000-8000-00000000000a", Controller: ptr.To(true)}}},
		Spec: corev1.PodSpec{NodeName: node, TerminationGracePeriodSeconds: ptr.To[int64](0),
			Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}}},
	}
	Expect(k8sClient.Create(ctx, pod)).To(Succeed())
	DeferCleanup(func() { _ = k8sClient.Delete(ctx, pod, client.GracePeriodSeconds(0)) })
	// Running, as a kubelet would report it: the API server evicts a pod that does not run yet
	// whatever its budget says.
	pod.Status.Phase = corev1.PodRunning
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	Expect(k8sClient.Status().Update(ctx, pod)).To(Succeed())
	return pod
}

// budgetNone creates a PodDisruptionBudget that lets no pod with labels go.
func budgetNone(labels map[string]string) *policyv1.PodDisruptionBudget {
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: labels["app"], Namespace: "default"},
		Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr.To(intstr.FromInt32(0)),
			Selector: &metav1.LabelSelector{MatchLabels: labels}},
	}
	Expect(k8sClient.Create(ctx, pdb)).To(Succeed())
	DeferCleanup(func() { _ = client.IgnoreNotFound(k8sClient.Delete(ctx, pdb)) })
	return pdb
}

// reportDraining records on a Node what the kubelet's agent records while it waits for a drain.
func reportDraining(node, hash string) {
	annotateNode(node, map[string]string{
		hotelv1alpha1.AgentAnnotation("kubelet", hotelv1alpha1.AgentAnnotationState):  hotelv1alpha1.AgentStateDraining,
		hotelv1alpha1.AgentAnnotation("kubelet", hotelv1alpha1.AgentAnnotationTarget): hash,
	})
}

func getNode(name string) *corev1.Node {
	GinkgoHelper()
	n := &corev1.Node{}
	Expect(k8sClient.Get(ctx, client.ObjectKey{Name: name}, n)).To(Succeed())
	return n
}

func gone(obj client.Object) func() bool {
	return func() bool { return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj)) }
}

// newConfiguration lowers a FloorManager's maxPods, as a change that needs a drain does, and
// returns the hash of the configuration its DaemonSet then rolls out.
func newConfiguration(name string) string {
	GinkgoHelper()
	before := templateHash(daemonSetOf(name))
	updateFloorManager(name, func(fm *hotelv1alpha1.FloorManager) { fm.Spec.Kubelet.MaxPods = ptr.To(*fm.Spec.Kubelet.MaxPods - 10) })
	var hash string
	Eventually(func() string { hash = templateHash(daemonSetOf(name)); return hash }).WithTimeout(timeout).ShouldNot(Equal(before))
	return hash
}

// appliedOnOneNode creates a FloorManager over a new pool of one Node whose agent the spec plays
// (change may set its spec), waits until the Node runs its configuration, and returns its name and
// that Node's.
func appliedOnOneNode(change func(*hotelv1alpha1.FloorManager)) (name string, node *corev1.Node) {
	GinkgoHelper()
	poolName, nodes := createPool(1)
	labelNode(nodes[0].Name, manualAgent, "true")
	name = uniqueName("fm")
	fm := newFloorManager(name, poolName, hotelv1alpha1.KubeletSpec{MaxPods: ptr.To[int32](97)})
	change(fm)
	fm = createFloorManager(fm)
	expectAdmitted("kubelet", fm.UID, nodes[0].Name)
	reportApplied(name, nodes[0])
	expectCondition(name, hotelv1alpha1.ConditionReady, metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutComplete)
	return name, nodes[0]
}

var _ = Describe("Drain", func() {
	It("cordons and drains a Node whose agent waits for it, PodDisruptionBudgets respected, then uncordons it", func() {
		name, n := appliedOnOneNode(func(*hotelv1alpha1.FloorManager) {})
		node, nodes := n.Name, []*corev1.Node{n}
		hash := newConfiguration(name)

		free := workloadPod(node, uniqueName("free"), map[string]string{"app": "free"})
		guardedLabels := map[string]string{"app": uniqueName("guarded")}
		guarded := workloadPod(node, guardedLabels["app"], guardedLabels)
		pdb := budgetNone(guardedLabels)

		By("the agent waits for a drain: the Node is cordoned, and what may be evicted is")
		reportDraining(node, hash)
		Eventually(func() bool { return getNode(node).Spec.Unschedulable }).WithTimeout(timeout).Should(BeTrue())
		Expect(getNode(node).Annotations).To(HaveKeyWithValue(hotelv1alpha1.CordonedAnnotation("kubelet"), hash))
		Eventually(gone(free)).WithTimeout(timeout).Should(BeTrue(), "the pod no budget guards was not evicted")

		By("the budget allows no eviction: the drain waits, and the status says so")
		Consistently(func() map[string]string { return getNode(node).Annotations }).WithTimeout(settle).
			ShouldNot(HaveKey(hotelv1alpha1.DrainedAnnotation("kubelet")))
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(guarded), &corev1.Pod{})).To(Succeed(), "a guarded pod was evicted")
		Eventually(func() string { return condition(name, hotelv1alpha1.ConditionReconciling).Message }).
			WithTimeout(timeout).Should(ContainSubstring("draining " + node))

		By("the budget lifted: the drain finishes and tells the agent")
		Expect(k8sClient.Delete(ctx, pdb)).To(Succeed())
		Eventually(func() map[string]string { return getNode(node).Annotations }).WithTimeout(timeout).
			Should(HaveKeyWithValue(hotelv1alpha1.DrainedAnnotation("kubelet"), hash))
		Expect(gone(guarded)()).To(BeTrue())
		Eventually(func() []eventsv1.Event { return eventsAbout(name) }).WithTimeout(timeout).Should(ContainElement(And(
			HaveField("Type", corev1.EventTypeNormal), HaveField("Reason", hotelv1alpha1.ReasonDrained),
			HaveField("Note", ContainSubstring(fmt.Sprintf("Cordoned and drained Node %s for configuration %s", node, hash))))))

		By("the agent applied: the Node is uncordoned and the drain's record goes")
		reportApplied(name, nodes[0])
		Eventually(func() bool { return getNode(node).Spec.Unschedulable }).WithTimeout(timeout).Should(BeFalse())
		Expect(getNode(node).Annotations).NotTo(HaveKey(hotelv1alpha1.DrainedAnnotation("kubelet")))
		Expect(getNode(node).Annotations).NotTo(HaveKey(hotelv1alpha1.CordonedAnnotation("kubelet")))
	})

	It("uncordons the Nodes of a FloorManager deleted in the middle of a drain", func() {
		name, n := appliedOnOneNode(func(fm *hotelv1alpha1.FloorManager) {
			fm.Spec.DeletionPolicy = hotelv1alpha1.NodeDeletionPolicyOrphan
		})
		node := n.Name
		hash := newConfiguration(name)
		guardedLabels := map[string]string{"app": uniqueName("held")}
		workloadPod(node, guardedLabels["app"], guardedLabels)
		budgetNone(guardedLabels)
		reportDraining(node, hash)
		Eventually(func() bool { return getNode(node).Spec.Unschedulable }).WithTimeout(timeout).Should(BeTrue())

		fm := getFloorManager(name)
		Expect(k8sClient.Delete(ctx, fm)).To(Succeed())
		Eventually(gone(fm)).WithTimeout(timeout).Should(BeTrue())
		Eventually(func() bool { return getNode(node).Spec.Unschedulable }).WithTimeout(timeout).Should(BeFalse(),
			"a deleted FloorManager's Node stays cordoned")
		Expect(getNode(node).Annotations).NotTo(HaveKey(hotelv1alpha1.CordonedAnnotation("kubelet")))
	})

	It("leaves a Node that someone else cordoned cordoned after the drain", func() {
		name, n := appliedOnOneNode(func(*hotelv1alpha1.FloorManager) {})
		node, nodes := n.Name, []*corev1.Node{n}
		hash := newConfiguration(name)
		Eventually(func() error {
			n := getNode(node)
			n.Spec.Unschedulable = true
			return k8sClient.Update(ctx, n)
		}).WithTimeout(timeout).Should(Succeed())

		reportDraining(node, hash)
		Eventually(func() map[string]string { return getNode(node).Annotations }).WithTimeout(timeout).
			Should(HaveKeyWithValue(hotelv1alpha1.DrainedAnnotation("kubelet"), hash))
		Expect(getNode(node).Annotations).NotTo(HaveKey(hotelv1alpha1.CordonedAnnotation("kubelet")))
		reportApplied(name, nodes[0])
		Eventually(func() map[string]string { return getNode(node).Annotations }).WithTimeout(timeout).
			ShouldNot(HaveKey(hotelv1alpha1.DrainedAnnotation("kubelet")))
		Expect(getNode(node).Spec.Unschedulable).To(BeTrue(), "a cordon that was not innkeeper's was lifted")
	})
})
