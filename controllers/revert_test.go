package controllers_test

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/pool"
)

// manualAgent labels a Node whose agents the spec plays itself: the simulated agents leave it alone.
const manualAgent = "test.innkeeper.dev/manual-agent"

// simulateRevertingAgents plays the node agents' part in a revert until ctx ends, as there are no
// agents in envtest: on every Node that a FloorManager or RoomService marked for revert, unless
// labelled manualAgent, it records the component's state Reverted, as an agent does once the Node
// is reverted. Without it, deleting an object whose Nodes are admitted would wait for its revert
// timeout.
func simulateRevertingAgents(ctx context.Context, c client.Client) {
	for ctx.Err() == nil {
		nodes := &corev1.NodeList{}
		if err := c.List(ctx, nodes); err == nil {
			for i := range nodes.Items {
				revertNode(ctx, c, &nodes.Items[i])
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// revertNode records Reverted for every component whose admission label marks node for revert,
// unless it is labelled manualAgent.
func revertNode(ctx context.Context, c client.Client, node *corev1.Node) {
	if node.Labels[manualAgent] != "" {
		return
	}
	for _, component := range []string{"kubelet", "containerd"} {
		if strings.HasPrefix(node.Labels[pool.AdmittedLabel(component)], hotelv1alpha1.RevertValue("")) &&
			node.Annotations[hotelv1alpha1.AgentAnnotation(component, hotelv1alpha1.AgentAnnotationState)] != hotelv1alpha1.AgentStateReverted {
			reportReverted(ctx, c, node.Name, component)
		}
	}
}

// reportReverted records on a Node what a component's agent records once it reverted the Node.
func reportReverted(ctx context.Context, c client.Client, name, component string) {
	patch := map[string]any{}
	for _, suffix := range hotelv1alpha1.AgentAnnotations {
		patch[hotelv1alpha1.AgentAnnotation(component, suffix)] = nil
	}
	patch[hotelv1alpha1.AgentAnnotation(component, hotelv1alpha1.AgentAnnotationState)] = hotelv1alpha1.AgentStateReverted
	patch[hotelv1alpha1.AgentAnnotation(component, hotelv1alpha1.AgentAnnotationTarget)] = hotelv1alpha1.AgentTargetRevert
	body, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": patch}})
	_ = c.Patch(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, client.RawPatch(types.MergePatchType, body))
}

// markedForRevert returns the names of the Nodes marked for revert by the object with uid.
func markedForRevert(component string, uid types.UID) []string {
	return admittedNodes(component, types.UID(hotelv1alpha1.RevertValue(string(uid))))
}

var _ = Describe("Revert", func() {
	It("reverts a deleted FloorManager's Nodes maxUnavailable at a time, then lets it go", func() {
		poolName, nodes := createPool(3)
		for _, n := range nodes {
			labelNode(n.Name, manualAgent, "true")
		}
		name := uniqueName("fm")
		fm := createFloorManager(newFloorManager(name, poolName, hotelv1alpha1.KubeletSpec{MaxPods: ptr.To[int32](93)}))
		for i := range nodes {
			expectAdmitted("kubelet", fm.UID, namesOf(nodes[:i+1])...)
			reportApplied(name, nodes[i])
		}
		expectCondition(name, hotelv1alpha1.ConditionReady, metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutComplete)
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: name}, fm)).To(Succeed())
		Expect(fm.Finalizers).To(ContainElement(pool.Finalizer), "nothing holds the FloorManager for its revert")

		Expect(k8sClient.Delete(ctx, fm)).To(Succeed())
		By("one Node at a time, Ready ones by name")
		revert := func(component string) []string { return markedForRevert(component, fm.UID) }
		Eventually(revert).WithArguments("kubelet").WithTimeout(timeout).Should(Equal([]string{nodes[0].Name}))
		Consistently(revert).WithArguments("kubelet").WithTimeout(settle).Should(Equal([]string{nodes[0].Name}))
		expectCondition(name, hotelv1alpha1.ConditionReconciling, metav1.ConditionTrue, hotelv1alpha1.ReasonReverting)
		Expect(condition(name, hotelv1alpha1.ConditionReady).Message).To(And(
			ContainSubstring("3 left"), ContainSubstring(nodes[0].Name)))
		ds := daemonSetOf(name)
		Expect(ds.Spec.UpdateStrategy.Type).To(Equal(appsv1.OnDeleteDaemonSetStrategyType),
			"a deleted object's DaemonSet must give no further Node its configuration")
		terms := ds.Spec.Template.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
		Expect(terms).To(ContainElement(HaveField("MatchExpressions", ContainElement(HaveField("Values",
			ConsistOf(hotelv1alpha1.RevertValue(string(fm.UID))))))), "the agent would leave a Node marked for revert")

		By("each reverted Node is released, and the next one marked")
		for i, n := range nodes {
			reportReverted(ctx, k8sClient, n.Name, "kubelet")
			if i+1 < len(nodes) {
				Eventually(revert).WithArguments("kubelet").WithTimeout(timeout).Should(Equal([]string{nodes[i+1].Name}))
			}
		}
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKey{Name: name}, &hotelv1alpha1.FloorManager{}))
		}).WithTimeout(timeout).Should(BeTrue(), "the FloorManager is held although every Node is reverted")
		Expect(revert("kubelet")).To(BeEmpty())
		Expect(admittedNodes("kubelet", fm.UID)).To(BeEmpty())
		for _, n := range nodes {
			Eventually(func() map[string]string {
				node := &corev1.Node{}
				Expect(k8sClient.Get(ctx, client.ObjectKey{Name: n.Name}, node)).To(Succeed())
				return node.Annotations
			}).WithTimeout(timeout).ShouldNot(HaveKey(hotelv1alpha1.AgentAnnotation("kubelet", hotelv1alpha1.AgentAnnotationState)),
				"the record of the revert is left on %s", n.Name)
		}
		Eventually(func() []eventsv1.Event { return eventsAbout(name) }).WithTimeout(timeout).Should(ContainElement(And(
			HaveField("Type", corev1.EventTypeNormal), HaveField("Reason", hotelv1alpha1.ReasonReverting))))
	})

	It("reverts a Node that leaves the pool, and admits it again once it is back and reverted", func() {
		poolName, nodes := createPool(2)
		labelNode(nodes[1].Name, manualAgent, "true")
		name := uniqueName("fm")
		fm := createFloorManager(newFloorManager(name, poolName, hotelv1alpha1.KubeletSpec{MaxPods: ptr.To[int32](94)}))
		expectAdmitted("kubelet", fm.UID, nodes[0].Name)
		reportApplied(name, nodes[0])
		expectAdmitted("kubelet", fm.UID, nodes[0].Name, nodes[1].Name)
		reportApplied(name, nodes[1])

		labelNode(nodes[1].Name, poolKey, poolName+"-elsewhere")
		Eventually(markedForRevert).WithArguments("kubelet", fm.UID).WithTimeout(timeout).Should(Equal([]string{nodes[1].Name}))
		Consistently(markedForRevert).WithArguments("kubelet", fm.UID).WithTimeout(settle).Should(Equal([]string{nodes[1].Name}),
			"released before its agent reverted it")

		By("back in the pool before its revert is done: it waits for it")
		labelNode(nodes[1].Name, poolKey, poolName)
		Consistently(markedForRevert).WithArguments("kubelet", fm.UID).WithTimeout(settle).Should(Equal([]string{nodes[1].Name}))
		reportReverted(ctx, k8sClient, nodes[1].Name, "kubelet")
		expectAdmitted("kubelet", fm.UID, nodes[0].Name, nodes[1].Name)
		Expect(markedForRevert("kubelet", fm.UID)).To(BeEmpty())
	})

	It("leaves the Nodes and the DaemonSet as they are with deletionPolicy Orphan", func() {
		poolName, nodes := createPool(1)
		name := uniqueName("fm")
		fm := newFloorManager(name, poolName, hotelv1alpha1.KubeletSpec{MaxPods: ptr.To[int32](95)})
		fm.Spec.DeletionPolicy = hotelv1alpha1.NodeDeletionPolicyOrphan
		fm = createFloorManager(fm)
		expectAdmitted("kubelet", fm.UID, nodes[0].Name)
		reportApplied(name, nodes[0])
		expectCondition(name, hotelv1alpha1.ConditionReady, metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutComplete)

		Expect(k8sClient.Delete(ctx, fm)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKey{Name: name}, &hotelv1alpha1.FloorManager{}))
		}).WithTimeout(timeout).Should(BeTrue())
		Consistently(func() []string { return admittedNodes("kubelet", fm.UID) }).WithTimeout(settle).
			Should(Equal([]string{nodes[0].Name}), "the orphaned DaemonSet's pod must stay on the Node")
		Expect(markedForRevert("kubelet", fm.UID)).To(BeEmpty())
		ds := daemonSetOf(name)
		Expect(ds.OwnerReferences).To(BeEmpty())
	})
})

// eventsAbout lists the Events about an object of the given name.
func eventsAbout(name string) []eventsv1.Event {
	list := &eventsv1.EventList{}
	Expect(k8sClient.List(ctx, list, client.InNamespace("default"))).To(Succeed())
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Name == name {
			out = append(out, e)
		}
	}
	return out
}

// namesOf returns the Nodes' names.
func namesOf(nodes []*corev1.Node) []string {
	names := make([]string, len(nodes))
	for i, n := range nodes {
		names[i] = n.Name
	}
	return names
}
