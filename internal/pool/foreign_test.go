package pool

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
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
