package controllers_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/pool"
)

// createForeignKubeProxy creates a kube-proxy DaemonSet in kube-system that innkeeper does not
// manage, tolerating every taint as kubeadm's does (envtest's Nodes keep the not-ready taint the API
// server gives new Nodes).
func createForeignKubeProxy(nodeSelector map[string]string) *appsv1.DaemonSet {
	return createForeignKubeProxyIn("kube-system", nodeSelector)
}

// createForeignKubeProxyIn creates a kube-proxy DaemonSet as createForeignKubeProxy does, in namespace.
func createForeignKubeProxyIn(namespace string, nodeSelector map[string]string) *appsv1.DaemonSet {
	name := uniqueName("kube-proxy")
	labels := map[string]string{"k8s-app": name}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers:   []corev1.Container{{Name: "kube-proxy", Image: "registry.k8s.io/kube-proxy:v1.36.4"}},
					NodeSelector: nodeSelector,
					Tolerations:  []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
				},
			},
		},
	}
	Expect(k8sClient.Create(ctx, ds)).To(Succeed())
	DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, ds))).To(Succeed()) })
	return ds
}

// freezeUpdates makes the API server deny every update of ds, as an admission policy (or a
// DaemonSet controller's conflicting write) would, until the returned function lifts it.
func freezeUpdates(ds *appsv1.DaemonSet) (lift func()) {
	name := uniqueName("freeze")
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{ResourceNames: []string{ds.Name}, RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update},
					Rule: admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"},
						Resources: []string{"daemonsets"}},
				}}},
			},
			Validations: []admissionregistrationv1.Validation{{Expression: "false", Message: "updates are frozen"}},
		},
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}},
	}
	Expect(k8sClient.Create(ctx, policy)).To(Succeed())
	Expect(k8sClient.Create(ctx, binding)).To(Succeed())
	lift = func() {
		Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, binding))).To(Succeed())
		Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, policy))).To(Succeed())
	}
	DeferCleanup(lift)
	// The API server loads policies asynchronously.
	Eventually(func() error {
		live := &appsv1.DaemonSet{}
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(ds), live); err != nil {
			return err
		}
		live.Annotations = map[string]string{"probe": "1"}
		return k8sClient.Update(ctx, live, client.DryRunAll)
	}).WithTimeout(timeout).WithPolling(interval).Should(MatchError(ContainSubstring("updates are frozen")))
	return lift
}

// createConcierge creates a Concierge over a pool; change, if given, sets more of its spec first.
func createConcierge(name, poolName string, spec hotelv1alpha1.KubeProxySpec, change ...func(*hotelv1alpha1.ConciergeSpec)) *hotelv1alpha1.Concierge {
	cg := &hotelv1alpha1.Concierge{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: hotelv1alpha1.ConciergeSpec{
			PoolSpec:  hotelv1alpha1.PoolSpec{NodeSelector: hotelv1alpha1.NodeSelectorOf(metav1.LabelSelector{MatchLabels: map[string]string{poolKey: poolName}})},
			KubeProxy: spec,
		},
	}
	for _, c := range change {
		c(&cg.Spec)
	}
	Expect(k8sClient.Create(ctx, cg)).To(Succeed())
	DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, cg))).To(Succeed()) })
	return cg
}

func kubeProxyDaemonSet(name string) *appsv1.DaemonSet {
	ds := &appsv1.DaemonSet{}
	Eventually(func() error {
		return k8sClient.Get(ctx, client.ObjectKey{Namespace: testNamespace, Name: name + "-kube-proxy"}, ds)
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	return ds
}

// writeDaemonSetStatus writes what the DaemonSet controller, absent from envtest, would once
// `updated` of `desired` pods run the current template and `available` pods are available.
func writeDaemonSetStatus(ds *appsv1.DaemonSet, desired, updated, available int32) {
	Eventually(func() error {
		live := &appsv1.DaemonSet{}
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(ds), live); err != nil {
			return err
		}
		live.Status = appsv1.DaemonSetStatus{ObservedGeneration: live.Generation, DesiredNumberScheduled: desired,
			CurrentNumberScheduled: desired, UpdatedNumberScheduled: updated, NumberAvailable: available, NumberReady: available,
			NumberUnavailable: desired - available}
		return k8sClient.Status().Update(ctx, live)
	}).WithTimeout(timeout).Should(Succeed())
}

var _ = Describe("Concierge controller", func() {
	It("runs kube-proxy on the pool with the rendered configuration, and reports its rollout", func() {
		poolName, _ := createPool(2)
		name := uniqueName("cg")
		cg := createConcierge(name, poolName, hotelv1alpha1.KubeProxySpec{Mode: ptr.To("ipvs"),
			IPVS: &hotelv1alpha1.IPVS{StrictARP: ptr.To(true)}})

		ds := kubeProxyDaemonSet(name)
		kp := ds.Spec.Template.Spec.Containers[0]
		Expect(kp.Image).To(Equal("registry.k8s.io/kube-proxy:v1.37.2"), "the default image is the API server's version")
		Expect(kp.Command).To(ContainElement("--hostname-override=$(NODE_NAME)"))
		Expect(ds.Spec.Template.Spec.HostNetwork).To(BeTrue())
		Expect(kp.Env).To(ContainElements(
			corev1.EnvVar{Name: "KUBERNETES_SERVICE_HOST", Value: "203.0.113.10"},
			corev1.EnvVar{Name: "KUBERNETES_SERVICE_PORT", Value: "6443"},
		), "kube-proxy must reach the API server without the Service it programs")
		hash := ds.Spec.Template.Annotations[pool.AnnotationHash]
		cm := &corev1.ConfigMap{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: testNamespace, Name: name + "-kube-proxy-" + hash}, cm)).To(Succeed())
		Expect(cm.Data["config.conf"]).To(ContainSubstring("mode: ipvs"))
		Expect(cm.Data["config.conf"]).To(ContainSubstring("strictARP: true"))

		By("the DaemonSet controller's progress")
		writeDaemonSetStatus(ds, 2, 1, 1)
		expectConditionOf(cg, hotelv1alpha1.ConditionReconciling, metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutInProgress)
		writeDaemonSetStatus(ds, 2, 2, 2)
		expectConditionOf(cg, hotelv1alpha1.ConditionReady, metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutComplete)
		live := &hotelv1alpha1.Concierge{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cg), live)).To(Succeed())
		Expect(live.Status.Nodes).To(Equal(hotelv1alpha1.NodeCounts{Selected: 2, Updated: 2, Ready: 2}))
		Expect(live.Status.Capacity).To(HaveKeyWithValue(corev1.ResourceCPU, resource.MustParse("8")))

		By("a spec change: a new configuration and template")
		Eventually(func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(cg), live); err != nil {
				return err
			}
			live.Spec.KubeProxy.IPVS.Scheduler = ptr.To("lc")
			return k8sClient.Update(ctx, live)
		}).WithTimeout(timeout).Should(Succeed())
		Eventually(func() string { return kubeProxyDaemonSet(name).Spec.Template.Annotations[pool.AnnotationHash] }).
			WithTimeout(timeout).ShouldNot(Equal(hash))
		expectConditionOf(cg, hotelv1alpha1.ConditionReconciling, metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutInProgress)
	})

	It("holds back a new configuration while paused, stalls the newer of two overlapping pools, and stalls on a spec kube-proxy would refuse", func() {
		poolName, _ := createPool(1)
		name := uniqueName("cg-a")
		cg := createConcierge(name, poolName, hotelv1alpha1.KubeProxySpec{})
		hash := kubeProxyDaemonSet(name).Spec.Template.Annotations[pool.AnnotationHash]
		update := func(change func(*hotelv1alpha1.Concierge)) {
			Eventually(func() error {
				live := &hotelv1alpha1.Concierge{}
				if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(cg), live); err != nil {
					return err
				}
				change(live)
				return k8sClient.Update(ctx, live)
			}).WithTimeout(timeout).Should(Succeed())
		}

		By("pausing")
		update(func(c *hotelv1alpha1.Concierge) {
			c.Spec.Rollout.Paused = true
			c.Spec.KubeProxy.Mode = ptr.To("nftables")
		})
		expectConditionOf(cg, hotelv1alpha1.ConditionPaused, metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutPaused)
		Expect(kubeProxyDaemonSet(name).Spec.Template.Annotations[pool.AnnotationHash]).To(Equal(hash))
		Expect(kubeProxyDaemonSet(name).Spec.UpdateStrategy.Type).To(Equal(appsv1.OnDeleteDaemonSetStrategyType))

		By("a spec that passes admission but that the manager refuses: maintenance windows in a time zone no database holds")
		update(func(c *hotelv1alpha1.Concierge) {
			c.Spec.Rollout.Paused = false
			c.Spec.Rollout.Maintenance = unknownTimeZone()
		})
		expectConditionOf(cg, hotelv1alpha1.ConditionStalled, metav1.ConditionTrue, hotelv1alpha1.ReasonInvalidSpec)
		Expect(conditionOf(cg, hotelv1alpha1.ConditionStalled).Message).To(ContainSubstring("Mars/Olympus_Mons"))
		Expect(kubeProxyDaemonSet(name).Spec.Template.Annotations[pool.AnnotationHash]).To(Equal(hash), "the rollout was touched")

		By("a newer Concierge over the same pool")
		newer := createConcierge(uniqueName("cg-b"), poolName, hotelv1alpha1.KubeProxySpec{})
		expectConditionOf(newer, hotelv1alpha1.ConditionStalled, metav1.ConditionTrue, hotelv1alpha1.ReasonPoolConflict)
	})

	It("lets only a Concierge that holds its pool stall a newer one: one that an older one stalls holds nothing", func() {
		p1, p1Nodes := createPool(1)
		p2, _ := createPool(1)
		// Names in the order of creation: objects created in the same second are ordered by name.
		a := createConcierge(uniqueName("cg-a"), p1, hotelv1alpha1.KubeProxySpec{})
		b := createConcierge(uniqueName("cg-b"), "", hotelv1alpha1.KubeProxySpec{}, func(s *hotelv1alpha1.ConciergeSpec) {
			s.NodeSelector = hotelv1alpha1.NodeSelectorOf(metav1.LabelSelector{}) // every Node: p1's too, which a keeps
		})
		c := createConcierge(uniqueName("cg-c"), p2, hotelv1alpha1.KubeProxySpec{})

		expectConditionOf(b, hotelv1alpha1.ConditionStalled, metav1.ConditionTrue, hotelv1alpha1.ReasonPoolConflict)
		Expect(conditionOf(b, hotelv1alpha1.ConditionStalled).Message).To(ContainSubstring(a.Name))
		expectConditionOf(a, hotelv1alpha1.ConditionStalled, metav1.ConditionFalse, hotelv1alpha1.ReasonAsExpected)
		expectConditionOf(c, hotelv1alpha1.ConditionStalled, metav1.ConditionFalse, hotelv1alpha1.ReasonAsExpected)
		kubeProxyDaemonSet(a.Name)
		kubeProxyDaemonSet(c.Name)
		err := k8sClient.Get(ctx, client.ObjectKey{Namespace: testNamespace, Name: b.Name + "-kube-proxy"}, &appsv1.DaemonSet{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "a stalled Concierge runs kube-proxy: %v", err)

		By("p1's only Node leaving it: b holds every Node, p2's too, and c gives way")
		Eventually(func() error {
			n := &corev1.Node{}
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(p1Nodes[0]), n); err != nil {
				return err
			}
			n.Labels[poolKey] = uniqueName("elsewhere")
			return k8sClient.Update(ctx, n)
		}).WithTimeout(timeout).Should(Succeed())
		expectConditionOf(b, hotelv1alpha1.ConditionStalled, metav1.ConditionFalse, hotelv1alpha1.ReasonAsExpected)
		expectConditionOf(c, hotelv1alpha1.ConditionStalled, metav1.ConditionTrue, hotelv1alpha1.ReasonPoolConflict)
		Expect(conditionOf(c, hotelv1alpha1.ConditionStalled).Message).To(ContainSubstring(b.Name))
		Eventually(func() bool {
			err := k8sClient.Get(ctx, client.ObjectKey{Namespace: testNamespace, Name: c.Name + "-kube-proxy"}, &appsv1.DaemonSet{})
			return apierrors.IsNotFound(err)
		}).WithTimeout(timeout).Should(BeTrue(), "two kube-proxies would run on p2's Node")
		expectConditionOf(a, hotelv1alpha1.ConditionReady, metav1.ConditionFalse, hotelv1alpha1.ReasonNoNodesSelected)
	})

	It("leaves kube-proxy running when a Concierge with deletionPolicy Orphan is deleted", func() {
		poolName, _ := createPool(1)
		name := uniqueName("cg")
		cg := createConcierge(name, poolName, hotelv1alpha1.KubeProxySpec{}, func(s *hotelv1alpha1.ConciergeSpec) {
			s.DeletionPolicy = hotelv1alpha1.DeletionPolicyOrphan
		})
		ds := kubeProxyDaemonSet(name)
		Expect(metav1.GetControllerOf(ds)).NotTo(BeNil())
		Eventually(func() []string {
			live := &hotelv1alpha1.Concierge{}
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cg), live)).To(Succeed())
			return live.Finalizers
		}).WithTimeout(timeout).Should(ContainElement(pool.Finalizer))

		Expect(k8sClient.Delete(ctx, cg)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(cg), &hotelv1alpha1.Concierge{}))
		}).WithTimeout(timeout).Should(BeTrue(), "the finalizer was not removed")
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(ds), ds)).To(Succeed())
		Expect(ds.OwnerReferences).To(BeEmpty(), "the garbage collector would delete kube-proxy")
		cms := &corev1.ConfigMapList{}
		Expect(k8sClient.List(ctx, cms, client.InNamespace(testNamespace), client.MatchingLabels{pool.LabelPool: name})).To(Succeed())
		Expect(cms.Items).NotTo(BeEmpty())
		for _, cm := range cms.Items {
			Expect(cm.OwnerReferences).To(BeEmpty())
		}
	})

	It("holds no finalizer with the default deletionPolicy, Delete", func() {
		poolName, _ := createPool(1)
		name := uniqueName("cg")
		cg := createConcierge(name, poolName, hotelv1alpha1.KubeProxySpec{})
		kubeProxyDaemonSet(name)
		live := &hotelv1alpha1.Concierge{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cg), live)).To(Succeed())
		Expect(live.Spec.DeletionPolicy).To(Equal(hotelv1alpha1.DeletionPolicyDelete))
		Expect(live.Finalizers).To(BeEmpty())
	})

	It("takes the pool's Nodes from another kube-proxy with takeOver, and gives them back on deletion", func() {
		poolName, nodes := createPool(1)
		foreign := createForeignKubeProxy(map[string]string{"kubernetes.io/os": "linux"})
		// The pool's Node runs Linux, so the other kube-proxy would run there.
		Eventually(func() error {
			n := &corev1.Node{}
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(nodes[0]), n); err != nil {
				return err
			}
			n.Labels["kubernetes.io/os"] = "linux"
			return k8sClient.Update(ctx, n)
		}).WithTimeout(timeout).Should(Succeed())

		name := uniqueName("cg")
		cg := createConcierge(name, poolName, hotelv1alpha1.KubeProxySpec{}, func(s *hotelv1alpha1.ConciergeSpec) { s.TakeOver = true })
		kubeProxyDaemonSet(name)
		expectConditionOf(cg, hotelv1alpha1.ConditionStalled, metav1.ConditionFalse, hotelv1alpha1.ReasonAsExpected)

		live := &appsv1.DaemonSet{}
		Eventually(func() map[string]string {
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(foreign), live)).To(Succeed())
			return live.Annotations
		}).WithTimeout(timeout).Should(HaveKeyWithValue(pool.AnnotationTakenOverBy, name))
		Expect(live.Annotations).To(HaveKeyWithValue(pool.AnnotationOriginalAffinity, "null"))
		Expect(live.Spec.Template.Spec.NodeSelector).To(HaveKeyWithValue("kubernetes.io/os", "linux"), "its own node selector stays")
		// Kept off the Nodes admitted to the Concierge's rollout, as they are admitted: in its waves.
		Expect(live.Spec.Template.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms).To(Equal(
			[]corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
				{Key: pool.AdmittedLabel("kube-proxy"), Operator: corev1.NodeSelectorOpNotIn, Values: []string{string(cg.UID)}}}}}))
		Eventually(func() map[string]string {
			n := &corev1.Node{}
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(nodes[0]), n)).To(Succeed())
			return n.Labels
		}).WithTimeout(timeout).Should(HaveKeyWithValue(pool.AdmittedLabel("kube-proxy"), string(cg.UID)),
			"the pool's Node is admitted to the Concierge's rollout, and so left by the other kube-proxy")

		By("deleting the Concierge")
		Expect(k8sClient.Delete(ctx, cg)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(cg), &hotelv1alpha1.Concierge{}))
		}).WithTimeout(timeout).Should(BeTrue())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(foreign), live)).To(Succeed())
		Expect(live.Spec.Template.Spec.Affinity).To(BeNil(), "the other kube-proxy gets its Nodes back")
		Expect(live.Annotations).NotTo(HaveKey(pool.AnnotationTakenOverBy))
		Expect(live.Annotations).NotTo(HaveKey(pool.AnnotationOriginalAffinity))
	})

	It("stalls while another kube-proxy runs on the pool, and proceeds once it keeps off", func() {
		poolName, _ := createPool(1)
		foreign := createForeignKubeProxy(nil)

		name := uniqueName("cg")
		cg := createConcierge(name, poolName, hotelv1alpha1.KubeProxySpec{})
		expectConditionOf(cg, hotelv1alpha1.ConditionStalled, metav1.ConditionTrue, hotelv1alpha1.ReasonForeignKubeProxy)
		live := &hotelv1alpha1.Concierge{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cg), live)).To(Succeed())
		Expect(meta.FindStatusCondition(live.Status.Conditions, hotelv1alpha1.ConditionStalled).Message).
			To(ContainSubstring("kube-system/" + foreign.Name))
		err := k8sClient.Get(ctx, client.ObjectKey{Namespace: testNamespace, Name: name + "-kube-proxy"}, &appsv1.DaemonSet{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "a second kube-proxy was rolled out: %v", err)

		By("keeping the other kube-proxy off the pool, as its owner would")
		Eventually(func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(foreign), foreign); err != nil {
				return err
			}
			foreign.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: poolKey, Operator: corev1.NodeSelectorOpNotIn, Values: []string{poolName}}},
				}}}}}
			return k8sClient.Update(ctx, foreign)
		}).WithTimeout(timeout).Should(Succeed())
		// Other DaemonSets are watched: the change is noticed without any change to the Concierge.
		kubeProxyDaemonSet(name)
		expectConditionOf(cg, hotelv1alpha1.ConditionStalled, metav1.ConditionFalse, hotelv1alpha1.ReasonAsExpected)
	})

	It("notices another kube-proxy that appears on a pool it already runs on, and that leaves it", func() {
		poolName, _ := createPool(1)
		name := uniqueName("cg")
		cg := createConcierge(name, poolName, hotelv1alpha1.KubeProxySpec{})
		kubeProxyDaemonSet(name)
		expectConditionOf(cg, hotelv1alpha1.ConditionStalled, metav1.ConditionFalse, hotelv1alpha1.ReasonAsExpected)

		By("creating another kube-proxy that would run on the pool")
		foreign := createForeignKubeProxy(nil)
		expectConditionOf(cg, hotelv1alpha1.ConditionStalled, metav1.ConditionTrue, hotelv1alpha1.ReasonForeignKubeProxy)
		Eventually(func() bool {
			err := k8sClient.Get(ctx, client.ObjectKey{Namespace: testNamespace, Name: name + "-kube-proxy"}, &appsv1.DaemonSet{})
			return apierrors.IsNotFound(err)
		}).WithTimeout(timeout).Should(BeTrue(), "two kube-proxies would run on the pool")

		By("deleting the other kube-proxy")
		Expect(k8sClient.Delete(ctx, foreign)).To(Succeed())
		kubeProxyDaemonSet(name)
		expectConditionOf(cg, hotelv1alpha1.ConditionStalled, metav1.ConditionFalse, hotelv1alpha1.ReasonAsExpected)
	})

	It("retries taking the pool over when updating the other kube-proxy fails", func() {
		poolName, _ := createPool(1)
		foreign := createForeignKubeProxy(nil)
		lift := freezeUpdates(foreign)

		name := uniqueName("cg")
		cg := createConcierge(name, poolName, hotelv1alpha1.KubeProxySpec{}, func(s *hotelv1alpha1.ConciergeSpec) { s.TakeOver = true })
		expectConditionOf(cg, hotelv1alpha1.ConditionStalled, metav1.ConditionTrue, hotelv1alpha1.ReasonForeignKubeProxy)
		live := &hotelv1alpha1.Concierge{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cg), live)).To(Succeed())
		Expect(meta.FindStatusCondition(live.Status.Conditions, hotelv1alpha1.ConditionStalled).Message).
			To(And(ContainSubstring("Taking the pool's Nodes from DaemonSet kube-system/"+foreign.Name+" failed"),
				ContainSubstring("updates are frozen")))

		By("lifting the policy: nothing else changes, the retry takes the pool over")
		lift()
		expectConditionOf(cg, hotelv1alpha1.ConditionStalled, metav1.ConditionFalse, hotelv1alpha1.ReasonAsExpected)
		kubeProxyDaemonSet(name)
		ds := &appsv1.DaemonSet{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(foreign), ds)).To(Succeed())
		Expect(ds.Annotations).To(HaveKeyWithValue(pool.AnnotationTakenOverBy, name))
	})

	It("refuses to take the pool over from a kube-proxy in a namespace not named for take-over, and changes nothing there", func() {
		poolName, _ := createPool(1)
		elsewhere := uniqueName("networking")
		Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: elsewhere}})).To(Succeed())
		foreign := createForeignKubeProxyIn(elsewhere, nil)

		name := uniqueName("cg")
		cg := createConcierge(name, poolName, hotelv1alpha1.KubeProxySpec{}, func(s *hotelv1alpha1.ConciergeSpec) { s.TakeOver = true })
		expectConditionOf(cg, hotelv1alpha1.ConditionStalled, metav1.ConditionTrue, hotelv1alpha1.ReasonForeignKubeProxy)
		live := &hotelv1alpha1.Concierge{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cg), live)).To(Succeed())
		Expect(meta.FindStatusCondition(live.Status.Conditions, hotelv1alpha1.ConditionStalled).Message).To(And(
			ContainSubstring("spec.takeOver asks to take the pool's Nodes from DaemonSet "+elsewhere+"/"+foreign.Name),
			ContainSubstring("the manager takes DaemonSets over only in kube-system (--take-over-namespaces)"),
			ContainSubstring("Add "+elsewhere+" to the chart's concierge.takeOver.namespaces")))
		ds := &appsv1.DaemonSet{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(foreign), ds)).To(Succeed())
		Expect(ds.Annotations).NotTo(HaveKey(pool.AnnotationTakenOverBy))
		Expect(ds.Spec.Template.Spec.Affinity).To(BeNil(), "a DaemonSet outside the take-over namespaces is never changed")
		Expect(ds.Generation).To(Equal(foreign.Generation))
		err := k8sClient.Get(ctx, client.ObjectKey{Namespace: testNamespace, Name: name + "-kube-proxy"}, &appsv1.DaemonSet{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "a second kube-proxy was rolled out: %v", err)

		By("the other kube-proxy gone, the pool is the Concierge's")
		Expect(k8sClient.Delete(ctx, foreign)).To(Succeed())
		kubeProxyDaemonSet(name)
		expectConditionOf(cg, hotelv1alpha1.ConditionStalled, metav1.ConditionFalse, hotelv1alpha1.ReasonAsExpected)
	})

	It("keeps another kube-proxy that appears later off a pool it took over", func() {
		poolName, _ := createPool(1)
		name := uniqueName("cg")
		cg := createConcierge(name, poolName, hotelv1alpha1.KubeProxySpec{}, func(s *hotelv1alpha1.ConciergeSpec) { s.TakeOver = true })
		kubeProxyDaemonSet(name)
		expectConditionOf(cg, hotelv1alpha1.ConditionStalled, metav1.ConditionFalse, hotelv1alpha1.ReasonAsExpected)

		foreign := createForeignKubeProxy(nil)
		live := &appsv1.DaemonSet{}
		Eventually(func() map[string]string {
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(foreign), live)).To(Succeed())
			return live.Annotations
		}).WithTimeout(timeout).Should(HaveKeyWithValue(pool.AnnotationTakenOverBy, name))
		Expect(live.Spec.Template.Spec.Containers).To(HaveLen(1), "the DaemonSet is updated whole, not from a slimmed copy")
		Expect(live.Spec.Template.Spec.Containers[0].Image).To(Equal("registry.k8s.io/kube-proxy:v1.36.4"))
		Expect(live.Spec.Template.Spec.Tolerations).To(HaveLen(1))
		kubeProxyDaemonSet(name)
		expectConditionOf(cg, hotelv1alpha1.ConditionStalled, metav1.ConditionFalse, hotelv1alpha1.ReasonAsExpected)
	})
})
