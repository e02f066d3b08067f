package controllers_test

import (
	"encoding/json"
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// overflowingDuration is a duration that matches the CRDs' duration pattern but overflows the
// int64 of nanoseconds that metav1.Duration decodes it into: the API server stores it, and a typed
// client cannot read it back.
const overflowingDuration = "2562048h"

// relaxSchema replaces the schema of one field of an innkeeper kind's spec (path, under spec) with
// a plain string, as an older version of the CRD might have had it, so that the API server stores
// values that today's schema refuses, and waits until it admits admitted there. When the spec ends
// it restores the CRD, and waits until the API server refuses refused for that field again, so
// that later specs see today's schema.
func relaxSchema(kind, plural, refused, admitted string, path ...string) {
	GinkgoHelper()
	crd := &unstructured.Unstructured{}
	crd.SetGroupVersionKind(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"})
	key := client.ObjectKey{Name: plural + "." + hotelv1alpha1.GroupVersion.Group}
	Expect(k8sClient.Get(ctx, key, crd)).To(Succeed())
	original, _, err := unstructured.NestedSlice(crd.Object, "spec", "versions")
	Expect(err).NotTo(HaveOccurred())

	relaxed := make([]any, len(original))
	for i, v := range original {
		version := runtime.DeepCopyJSON(v.(map[string]any))
		if version["name"] == hotelv1alpha1.GroupVersion.Version {
			fields := []string{"schema", "openAPIV3Schema", "properties", "spec"}
			for _, p := range path {
				fields = append(fields, "properties", p)
			}
			_, found, err := unstructured.NestedMap(version, fields...)
			Expect(err).NotTo(HaveOccurred())
			Expect(found).To(BeTrue(), "no field spec.%s in the %s CRD", strings.Join(path, "."), kind)
			Expect(unstructured.SetNestedMap(version, map[string]any{"type": "string"}, fields...)).To(Succeed())
		}
		relaxed[i] = version
	}
	Expect(unstructured.SetNestedSlice(crd.Object, relaxed, "spec", "versions")).To(Succeed())
	Expect(k8sClient.Update(ctx, crd)).To(Succeed())
	probe := poolObject(kind, uniqueName("probe"), minimalSpec[kind])
	Expect(unstructured.SetNestedField(probe.Object, admitted, append([]string{"spec"}, path...)...)).To(Succeed())
	Eventually(func() error { return k8sClient.Create(ctx, probe.DeepCopy(), client.DryRunAll) }).
		WithTimeout(timeout).WithPolling(interval).Should(Succeed(), "the relaxed %s CRD refuses spec.%s: %q", kind, strings.Join(path, "."), admitted)

	DeferCleanup(func() {
		Eventually(func() error {
			live := crd.DeepCopy()
			if err := k8sClient.Get(ctx, key, live); err != nil {
				return err
			}
			if err := unstructured.SetNestedSlice(live.Object, original, "spec", "versions"); err != nil {
				return err
			}
			return k8sClient.Update(ctx, live)
		}).WithTimeout(timeout).Should(Succeed())
		probe := poolObject(kind, uniqueName("probe"), minimalSpec[kind])
		Expect(unstructured.SetNestedField(probe.Object, refused, append([]string{"spec"}, path...)...)).To(Succeed())
		Eventually(func() error { return k8sClient.Create(ctx, probe, createOpts...) }).
			WithTimeout(timeout).WithPolling(interval).Should(Satisfy(apierrors.IsInvalid),
			"the restored %s CRD still admits spec.%s: %q", kind, strings.Join(path, "."), refused)
	})
}

// minimalSpec is, by kind, the least spec the API server admits, which relaxSchema's probes set
// one field in: so that a probe is refused for that field alone.
var minimalSpec = map[string]string{
	"FloorManager": "{kubelet: {}}", "Concierge": "{kubeProxy: {}}", "RoomService": "{containerd: {configVersion: 2}}",
}

// createUnstructured creates an innkeeper object from a YAML spec (see poolObject), deleting it when
// the spec ends: a typed client could not read back the objects these specs make undecodable.
func createUnstructured(kind, name, specYAML string) *unstructured.Unstructured {
	GinkgoHelper()
	obj := poolObject(kind, name, specYAML)
	Expect(k8sClient.Create(ctx, obj)).To(Succeed())
	DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, obj))).To(Succeed()) })
	return obj
}

// setSpecField writes one field of an innkeeper object's spec with a JSON merge patch, which needs
// no typed decoding of the object.
func setSpecField(obj *unstructured.Unstructured, value any, path ...string) {
	GinkgoHelper()
	patch := map[string]any{}
	cur := patch
	for _, p := range append([]string{"spec"}, path[:len(path)-1]...) {
		next := map[string]any{}
		cur[p] = next
		cur = next
	}
	cur[path[len(path)-1]] = value
	raw, err := json.Marshal(patch)
	Expect(err).NotTo(HaveOccurred())
	Expect(k8sClient.Patch(ctx, obj.DeepCopy(), client.RawPatch(types.MergePatchType, raw))).To(Succeed())
}

// expectStored checks that the API server stores value at spec.path of obj, and that a typed client
// cannot read the object, failing with decodeErr: it is a poison pill for any typed informer of its kind.
func expectStored(obj *unstructured.Unstructured, typed client.Object, decodeErr, value string, path ...string) {
	GinkgoHelper()
	live := obj.DeepCopy()
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), live)).To(Succeed())
	got, found, err := unstructured.NestedString(live.Object, append([]string{"spec"}, path...)...)
	Expect(err).NotTo(HaveOccurred())
	Expect(found).To(BeTrue(), "spec.%s is not stored", strings.Join(path, "."))
	Expect(got).To(Equal(value))
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), typed)).To(MatchError(ContainSubstring(decodeErr)))
}

// expectUndecodable waits until obj (read unstructured) is Stalled with reason Undecodable for its
// current generation, with a message naming field, and has a Warning Event that names it too.
func expectUndecodable(obj *unstructured.Unstructured, field string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		live := obj.DeepCopy()
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), live)).To(Succeed())
		conditions, _, err := unstructured.NestedSlice(live.Object, "status", "conditions")
		g.Expect(err).NotTo(HaveOccurred())
		var stalled map[string]any
		for _, c := range conditions {
			if c.(map[string]any)["type"] == hotelv1alpha1.ConditionStalled {
				stalled = c.(map[string]any)
			}
		}
		g.Expect(stalled).NotTo(BeNil(), "no Stalled condition")
		g.Expect(stalled).To(HaveKeyWithValue("status", string(metav1.ConditionTrue)))
		g.Expect(stalled).To(HaveKeyWithValue("reason", hotelv1alpha1.ReasonUndecodable))
		g.Expect(stalled).To(HaveKeyWithValue("message", ContainSubstring(field)))
		g.Expect(stalled).To(HaveKeyWithValue("observedGeneration", live.GetGeneration()))
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())

	Eventually(func(g Gomega) {
		events := &eventsv1.EventList{}
		g.Expect(k8sClient.List(ctx, events, client.InNamespace("default"))).To(Succeed())
		var notes []string
		for _, e := range events.Items {
			if e.Regarding.Name == obj.GetName() && e.Regarding.Kind == obj.GetKind() &&
				e.Type == corev1.EventTypeWarning && e.Reason == hotelv1alpha1.ReasonUndecodable {
				notes = append(notes, e.Note)
			}
		}
		g.Expect(notes).To(ContainElement(ContainSubstring(field)), "no Undecodable warning for %s %s", obj.GetKind(), obj.GetName())
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
}

var _ = Describe("An object the manager cannot decode", func() {
	It("costs only that object: every kind keeps reconciling, and it stalls with a Warning naming the field", func() {
		fmPool, _ := createPool(1)
		cgPool, _ := createPool(1)
		badFM := createUnstructured("FloorManager", uniqueName("fm-bad"),
			fmt.Sprintf(`{nodeSelector: {matchLabels: {%q: %q}}, kubelet: {maxPods: 64}}`, poolKey, fmPool))
		rolledOut := templateHash(daemonSetOf(badFM.GetName()))

		By("storing a FloorManager and a Concierge whose durations overflow, past a schema that admits them")
		relaxSchema("FloorManager", "floormanagers", "five minutes", overflowingDuration, "kubelet", "evictionPressureTransitionPeriod")
		relaxSchema("Concierge", "concierges", "five minutes", overflowingDuration, "kubeProxy", "conntrack", "tcpEstablishedTimeout")
		setSpecField(badFM, overflowingDuration, "kubelet", "evictionPressureTransitionPeriod")
		expectStored(badFM, &hotelv1alpha1.FloorManager{}, "invalid duration", overflowingDuration, "kubelet", "evictionPressureTransitionPeriod")
		badCG := createUnstructured("Concierge", uniqueName("cg-bad"),
			fmt.Sprintf(`{nodeSelector: {matchLabels: {%q: %q}}, kubeProxy: {conntrack: {tcpEstablishedTimeout: %s}}}`,
				poolKey, cgPool, overflowingDuration))
		expectStored(badCG, &hotelv1alpha1.Concierge{}, "invalid duration", overflowingDuration, "kubeProxy", "conntrack", "tcpEstablishedTimeout")
		By("and a RoomService with a string where a number goes")
		rsPool, _ := createPool(1)
		relaxSchema("RoomService", "roomservices", "many", "many", "containerd", "maxConcurrentDownloads")
		badRS := createUnstructured("RoomService", uniqueName("rs-bad"),
			fmt.Sprintf(`{nodeSelector: {matchLabels: {%q: %q}}, containerd: {configVersion: 2, maxConcurrentDownloads: many}}`, poolKey, rsPool))
		expectStored(badRS, &hotelv1alpha1.RoomService{}, "cannot unmarshal string", "many", "containerd", "maxConcurrentDownloads")

		By("new objects of every kind are reconciled")
		fm := createFloorManager(newFloorManager(uniqueName("fm"), createPoolName(), hotelv1alpha1.KubeletSpec{}))
		daemonSetOf(fm.Name)
		expectCondition(fm.Name, hotelv1alpha1.ConditionStalled, metav1.ConditionFalse, hotelv1alpha1.ReasonAsExpected)
		cg := createConcierge(uniqueName("cg"), createPoolName(), hotelv1alpha1.KubeProxySpec{})
		kubeProxyDaemonSet(cg.Name)
		expectConditionOf(cg, hotelv1alpha1.ConditionStalled, metav1.ConditionFalse, hotelv1alpha1.ReasonAsExpected)
		rs := createRoomService(uniqueName("rs"), createPoolName(), hotelv1alpha1.ContainerdSpec{ConfigVersion: 2})
		containerdDaemonSet(rs.Name)
		expectConditionOf(rs, hotelv1alpha1.ConditionStalled, metav1.ConditionFalse, hotelv1alpha1.ReasonAsExpected)

		By("a change to an object reconciled before is rolled out")
		before := templateHash(daemonSetOf(fm.Name))
		updateFloorManager(fm.Name, func(f *hotelv1alpha1.FloorManager) { f.Spec.Kubelet.MaxPods = ptr.To[int32](80) })
		Eventually(func() string { return templateHash(daemonSetOf(fm.Name)) }).WithTimeout(timeout).ShouldNot(Equal(before))

		By("the undecodable objects are Stalled, with a Warning naming the field; what was rolled out stays")
		expectUndecodable(badFM, "spec.kubelet.evictionPressureTransitionPeriod")
		expectUndecodable(badCG, "spec.kubeProxy.conntrack.tcpEstablishedTimeout")
		expectUndecodable(badRS, "spec.containerd.maxConcurrentDownloads")
		Expect(templateHash(daemonSetOf(badFM.GetName()))).To(Equal(rolledOut))

		By("its pool stays its own: a newer FloorManager over it stalls on the conflict")
		newer := createFloorManager(newFloorManager(uniqueName("fm-newer"), fmPool, hotelv1alpha1.KubeletSpec{}))
		expectCondition(newer.Name, hotelv1alpha1.ConditionStalled, metav1.ConditionTrue, hotelv1alpha1.ReasonPoolConflict)
		Expect(condition(newer.Name, hotelv1alpha1.ConditionStalled).Message).To(ContainSubstring(badFM.GetName()))

		By("corrected, the objects are reconciled again")
		setSpecField(badFM, "5m", "kubelet", "evictionPressureTransitionPeriod")
		expectCondition(badFM.GetName(), hotelv1alpha1.ConditionStalled, metav1.ConditionFalse, hotelv1alpha1.ReasonAsExpected)
		Eventually(func() string { return templateHash(daemonSetOf(badFM.GetName())) }).WithTimeout(timeout).ShouldNot(Equal(rolledOut))
		setSpecField(badCG, "24h", "kubeProxy", "conntrack", "tcpEstablishedTimeout")
		kubeProxyDaemonSet(badCG.GetName())
		expectConditionOf(&hotelv1alpha1.Concierge{ObjectMeta: metav1.ObjectMeta{Name: badCG.GetName()}},
			hotelv1alpha1.ConditionStalled, metav1.ConditionFalse, hotelv1alpha1.ReasonAsExpected)
		setSpecField(badRS, nil, "containerd", "maxConcurrentDownloads") // the relaxed schema takes strings only: unset it
		containerdDaemonSet(badRS.GetName())
		expectConditionOf(&hotelv1alpha1.RoomService{ObjectMeta: metav1.ObjectMeta{Name: badRS.GetName()}},
			hotelv1alpha1.ConditionStalled, metav1.ConditionFalse, hotelv1alpha1.ReasonAsExpected)
	})
})

// createPoolName creates a pool of one Node and returns its label value.
func createPoolName() string {
	name, _ := createPool(1)
	return name
}
