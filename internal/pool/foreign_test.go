package pool

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/event"
)

func TestForeignDaemonSetChange(t *testing.T) {
	p := (&foreignGuard{ex: byImage{}}).daemonSetChange()
	slim := func(change func(*appsv1.DaemonSet)) *appsv1.DaemonSet {
		ds := kubeadmKubeProxy()
		change(ds)
		out, _ := SlimDaemonSet(ds)
		return out.(*appsv1.DaemonSet)
	}
	same := func(*appsv1.DaemonSet) {}
	ours := func(ds *appsv1.DaemonSet) { ds.Labels[LabelManagedBy] = ManagedByValue }
	other := func(ds *appsv1.DaemonSet) {
		ds.Spec.Template.Spec.Containers[0].Image = "quay.io/prometheus/node-exporter:v1.9.1"
	}

	g := NewWithT(t)
	g.Expect(p.Create(event.CreateEvent{Object: slim(same)})).To(BeTrue())
	g.Expect(p.Create(event.CreateEvent{Object: slim(ours)})).To(BeFalse(), "innkeeper's own")
	g.Expect(p.Create(event.CreateEvent{Object: slim(other)})).To(BeFalse(), "not a kube-proxy")
	g.Expect(p.Delete(event.DeleteEvent{Object: slim(same)})).To(BeTrue())
	g.Expect(p.Generic(event.GenericEvent{Object: slim(same)})).To(BeFalse())

	updates := []struct {
		name string
		// before makes the old version; after changes it into the new one.
		before, after func(*appsv1.DaemonSet)
		want          bool
	}{
		{name: "status only, as through a rollout", before: same, after: func(ds *appsv1.DaemonSet) {
			ds.ResourceVersion, ds.Status.NumberReady = "8", 5000
		}},
		{name: "spec", before: same, after: func(ds *appsv1.DaemonSet) {
			ds.Generation, ds.Spec.Template.Spec.NodeSelector = 4, nil
		}, want: true},
		{name: "taken over by another pool", before: same, after: func(ds *appsv1.DaemonSet) {
			ds.Annotations[AnnotationTakenOverBy] = "general,gpu"
		}, want: true},
		{name: "someone else's annotation", before: same, after: func(ds *appsv1.DaemonSet) {
			ds.Annotations["example.com/note"] = "x"
		}},
		{name: "labels", before: same, after: func(ds *appsv1.DaemonSet) { ds.Labels["tier"] = "node" }, want: true},
		{name: "deleting", before: same, after: func(ds *appsv1.DaemonSet) {
			ds.DeletionTimestamp = ptr.To(metav1.Now())
		}, want: true},
		{name: "turns into a kube-proxy", before: other, after: func(ds *appsv1.DaemonSet) {
			ds.Generation, ds.Spec.Template.Spec.Containers[0].Image = 4, "registry.k8s.io/kube-proxy:v1.37.2"
		}, want: true},
		{name: "another DaemonSet's spec", before: other, after: func(ds *appsv1.DaemonSet) { ds.Generation = 4 }},
		{name: "innkeeper's own rolls out", before: ours, after: func(ds *appsv1.DaemonSet) { ds.Generation = 4 }},
	}
	for _, tt := range updates {
		t.Run(tt.name, func(t *testing.T) {
			oldObj, newObj := slim(tt.before), slim(func(ds *appsv1.DaemonSet) { tt.before(ds); tt.after(ds) })
			NewWithT(t).Expect(p.Update(event.UpdateEvent{ObjectOld: oldObj, ObjectNew: newObj})).To(Equal(tt.want))
		})
	}
}

// A component that is not Exclusive has no guard: the shared path calls it all the same, and it
// finds nothing and does nothing.
func TestNilForeignGuard(t *testing.T) {
	g := NewWithT(t)
	var guard *foreignGuard
	fm := floorManager("fm", time.Now(), metav1.LabelSelector{})
	s, err := guard.check(context.Background(), fm, nodes("a"), nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(s).To(BeNil())
	g.Expect(guard.takesOver(fm)).To(BeFalse())
	g.Expect(guard.giveBack(context.Background(), fm, nil)).To(Succeed())
	tainted := node("a", nil, nil)
	tainted.Spec.Taints = []corev1.Taint{{Key: "dedicated", Effect: corev1.TaintEffectNoSchedule}}
	g.Expect(guard.nodeChanged(node("a", nil, nil), tainted)).To(BeFalse())
	g.Expect((&foreignGuard{ex: byImage{}}).nodeChanged(node("a", nil, nil), tainted)).To(BeTrue())
}

// takingOver is byImage for objects that ask to take their pools over.
type takingOver struct{ byImage }

func (takingOver) TakeOver(Object) bool { return true }

func TestTakeOverRefusal(t *testing.T) {
	kubeadm := foreignOverlap{daemonSet: "kube-system/kube-proxy", nodes: []string{"a", "b"}}
	cni := foreignOverlap{daemonSet: "networking/proxy", nodes: []string{"a"}}
	tests := []struct {
		name     string
		overlaps []foreignOverlap
		allowed  []string
		want     []string // in the message; none: no refusal
		wantNot  []string
	}{
		{name: "every DaemonSet in a namespace named for take-over", overlaps: []foreignOverlap{kubeadm, cni},
			allowed: []string{"networking", "kube-system"}},
		{name: "take-over not enabled", overlaps: []foreignOverlap{kubeadm},
			want: []string{"spec.takeOver asks to take the pool's Nodes from DaemonSet kube-system/kube-proxy, ",
				"runs kube-proxy on 2 selected Nodes (a, b)", "but take-over is not enabled",
				"the chart's concierge.takeOver.enabled=true", "--take-over-namespaces",
				"or keep that DaemonSet off the pool yourself", "this object's DaemonSet is removed"}},
		{name: "one in a namespace not named, though another is", overlaps: []foreignOverlap{kubeadm, cni}, allowed: []string{"kube-system"},
			want: []string{"from DaemonSet networking/proxy, ", "on 1 selected Nodes (a)",
				"the manager takes DaemonSets over only in kube-system (--take-over-namespaces)",
				"Add networking to the chart's concierge.takeOver.namespaces"},
			wantNot: []string{"kube-system/kube-proxy", "not enabled"}},
		{name: "several in namespaces not named", overlaps: []foreignOverlap{kubeadm, cni}, allowed: []string{"monitoring", "kube-public"},
			want: []string{"from DaemonSet kube-system/kube-proxy (and 1 more DaemonSets), ", "only in monitoring, kube-public"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			s := takeOverRefusal(tt.overlaps, tt.allowed, "ForeignKubeProxy", "kube-proxy")
			if len(tt.want) == 0 {
				g.Expect(s).To(BeNil())
				return
			}
			g.Expect(s).NotTo(BeNil())
			g.Expect(s.reason).To(Equal("ForeignKubeProxy"))
			g.Expect(s.retry).NotTo(HaveOccurred(), "only a restart with other namespaces changes this: no backoff")
			for _, want := range tt.want {
				g.Expect(s.message).To(ContainSubstring(want))
			}
			for _, not := range tt.wantNot {
				g.Expect(s.message).NotTo(ContainSubstring(not))
			}
		})
	}
}

func TestTakeOverFailure(t *testing.T) {
	g := NewWithT(t)
	ds := kubeadmKubeProxy()
	forbidden := fmt.Errorf("update DaemonSet kube-system/kube-proxy: %w", apierrors.NewForbidden(
		schema.GroupResource{Group: "apps", Resource: "daemonsets"}, "kube-proxy", errors.New("RBAC: no")))
	g.Expect(takeOverFailure(ds, forbidden)).To(And(
		HavePrefix("Taking the pool's Nodes from DaemonSet kube-system/kube-proxy failed: the manager may not update DaemonSets in namespace kube-system"),
		ContainSubstring("Grant it update on daemonsets there (the chart's concierge.takeOver.enabled does"),
		HaveSuffix("Retried with backoff.")))
	conflict := apierrors.NewConflict(schema.GroupResource{Group: "apps", Resource: "daemonsets"}, "kube-proxy", errors.New("changed"))
	g.Expect(takeOverFailure(ds, conflict)).To(And(
		HavePrefix("Taking the pool's Nodes from DaemonSet kube-system/kube-proxy failed: "), ContainSubstring("changed"),
		Not(ContainSubstring("Grant it"))))
}

// The guard writes only in the namespaces named for take-over: it neither takes a DaemonSet
// elsewhere nor gives one back there.
func TestForeignGuardWritesOnlyInTakeOverNamespaces(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	scheme := runtime.NewScheme()
	g.Expect(appsv1.AddToScheme(scheme)).To(Succeed())
	kubeadm := kubeadmKubeProxy()
	kubeadm.ResourceVersion, kubeadm.Annotations, kubeadm.ManagedFields = "", nil, nil
	// Listed before kube-system: refusing it must not keep kube-system's from being given back.
	cni := kubeadm.DeepCopy()
	cni.Namespace, cni.UID = "cni", "uid-2"
	cl := fake.NewClientBuilder().WithScheme(scheme).WithObjects(kubeadm, cni).Build()
	live := func(ds *appsv1.DaemonSet) *appsv1.DaemonSet {
		out := &appsv1.DaemonSet{}
		g.Expect(cl.Get(ctx, client.ObjectKeyFromObject(ds), out)).To(Succeed())
		return out
	}
	before := []string{live(kubeadm).ResourceVersion, live(cni).ResourceVersion}

	cg := floorManager("cg", time.Now(), metav1.LabelSelector{MatchLabels: map[string]string{"pool": "gpu"}})
	pool := nodes("a")
	pool[0].Labels = map[string]string{"pool": "gpu", "kubernetes.io/os": "linux"}
	guard := &foreignGuard{ex: takingOver{}, component: "kube-proxy", namespace: "innkeeper-system", client: cl, apiReader: cl}

	// Take-over not enabled: refused, neither DaemonSet touched.
	s, err := guard.check(ctx, cg, pool, []Object{cg})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(s).NotTo(BeNil())
	g.Expect(s.message).To(ContainSubstring("take-over is not enabled"))
	// Only kube-system named: refused too, before kube-system's is changed.
	guard.takeOverNamespaces = []string{"kube-system"}
	s, err = guard.check(ctx, cg, pool, []Object{cg})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(s).NotTo(BeNil())
	g.Expect(s.message).To(ContainSubstring("Add cni to the chart's concierge.takeOver.namespaces"))
	g.Expect([]string{live(kubeadm).ResourceVersion, live(cni).ResourceVersion}).To(Equal(before))

	// Both named: both taken over.
	guard.takeOverNamespaces = []string{"kube-system", "cni"}
	s, err = guard.check(ctx, cg, pool, []Object{cg})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(s).To(BeNil())
	g.Expect(live(kubeadm).Annotations).To(HaveKeyWithValue(AnnotationTakenOverBy, "cg"))
	g.Expect(live(cni).Annotations).To(HaveKeyWithValue(AnnotationTakenOverBy, "cg"))
	g.Expect(keptOff(live(kubeadm), AdmittedLabel("kube-proxy"), cg.GetUID())).To(BeTrue())

	// Taken over: the other kube-proxy stays on the Nodes not admitted yet and leaves each as it
	// is admitted, so checking again writes nothing, the Node admitted or not.
	taken := []string{live(kubeadm).ResourceVersion, live(cni).ResourceVersion}
	for _, admittedNow := range []bool{false, true} {
		if admittedNow {
			pool[0].Labels[AdmittedLabel("kube-proxy")] = string(cg.GetUID())
		}
		s, err = guard.check(ctx, cg, pool, []Object{cg})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(s).To(BeNil())
		g.Expect([]string{live(kubeadm).ResourceVersion, live(cni).ResourceVersion}).To(Equal(taken))
	}

	// Take-over no longer allowed, or asked for: a DaemonSet kept off already stalls nobody for the
	// Nodes it still runs on, which the object's rollout has not reached.
	pool[0].Labels[AdmittedLabel("kube-proxy")] = "another-uid"
	guard.takeOverNamespaces = nil
	s, err = guard.check(ctx, cg, pool, []Object{cg})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(s).To(BeNil())
	guard.ex = byImage{}
	s, err = guard.check(ctx, cg, pool, []Object{cg})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(s).To(BeNil())
	guard.ex = takingOver{}

	// cni no longer named: kube-system's given back, cni's not, and the error says how to.
	noPeers := func(context.Context) ([]Object, error) { return nil, nil }
	guard.takeOverNamespaces = []string{"kube-system"}
	err = guard.giveBack(ctx, cg, noPeers)
	g.Expect(err).To(MatchError(And(ContainSubstring("give DaemonSet cni/kube-proxy back the Nodes of cg"),
		ContainSubstring("only in [kube-system]"), ContainSubstring(AnnotationOriginalAffinity))))
	g.Expect(live(kubeadm).Annotations).NotTo(HaveKey(AnnotationTakenOverBy))
	g.Expect(live(kubeadm).Spec.Template.Spec.Affinity).To(Equal(&corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{}}), "its own affinity back")
	g.Expect(live(cni).Annotations).To(HaveKeyWithValue(AnnotationTakenOverBy, "cg"))

	// Named again: given back.
	guard.takeOverNamespaces = []string{"cni"}
	g.Expect(guard.giveBack(ctx, cg, noPeers)).To(Succeed())
	g.Expect(live(cni).Annotations).NotTo(HaveKey(AnnotationTakenOverBy))
}
