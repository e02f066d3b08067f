package pool

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// needsCleanUp reports whether deleting obj takes work beyond the garbage collector's: orphaning
// its workloads, reverting its Nodes, or giving back Nodes taken from a foreign DaemonSet.
func (r *Reconciler) needsCleanUp(obj Object) bool {
	if r.orphans(obj) {
		return true
	}
	if reverts, _ := r.reverts(obj); reverts {
		return true
	}
	return r.foreign.takesOver(obj)
}

// holdForCleanUp adds the finalizer to an object whose deletion needs clean-up, and removes it
// from one that no longer does.
func (r *Reconciler) holdForCleanUp(ctx context.Context, obj Object) error {
	want := r.needsCleanUp(obj)
	if want == controllerutil.ContainsFinalizer(obj, Finalizer) {
		return nil
	}
	original := obj.DeepCopyObject().(Object)
	if want {
		controllerutil.AddFinalizer(obj, Finalizer)
	} else {
		controllerutil.RemoveFinalizer(obj, Finalizer)
	}
	if err := r.client.Patch(ctx, obj, client.MergeFromWithOptions(original, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("update the finalizers of %s %s: %w", r.gvk.Kind, obj.GetName(), err)
	}
	return nil
}

// finalize does what a deleted object asked for before it lets it go: gives back the Nodes it took
// from foreign DaemonSets and, with an Orphan policy, removes its owner references from its
// DaemonSet and ConfigMaps, so that the garbage collector leaves them running. Without either,
// the owner references hand the ConfigMaps and the DaemonSet to the garbage collector.
func (r *Reconciler) finalize(ctx context.Context, obj Object) error {
	if !controllerutil.ContainsFinalizer(obj, Finalizer) {
		return nil
	}
	if err := r.foreign.giveBack(ctx, obj, r.peers); err != nil {
		// The object's deletion waits for this: say why where kubectl describe shows it.
		r.recorder.Eventf(obj, nil, corev1.EventTypeWarning, r.foreign.reason(), "GiveBack",
			"Giving the pool's Nodes back failed, retried with backoff: %v", err)
		return err
	}
	if r.orphans(obj) {
		if err := r.orphan(ctx, obj); err != nil {
			return err
		}
	}
	if err := r.finishDrains(ctx, obj); err != nil {
		return err
	}
	original := obj.DeepCopyObject().(Object)
	controllerutil.RemoveFinalizer(obj, Finalizer)
	if err := r.client.Patch(ctx, obj, client.MergeFrom(original)); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("remove the finalizer of %s %s: %w", r.gvk.Kind, obj.GetName(), err)
	}
	return nil
}

// orphan removes an object's owner references from its DaemonSet and ConfigMaps.
func (r *Reconciler) orphan(ctx context.Context, obj Object) error {
	component := r.kind.Component.Name()
	var owned []client.Object
	if ds, err := r.daemonSet(ctx, obj); err != nil {
		return err
	} else if ds != nil {
		owned = append(owned, ds)
	}
	cms := &corev1.ConfigMapList{}
	if err := r.client.List(ctx, cms, client.InNamespace(r.namespace), client.MatchingLabels(selectorLabels(obj, component))); err != nil {
		return fmt.Errorf("list ConfigMaps: %w", err)
	}
	for i := range cms.Items {
		owned = append(owned, &cms.Items[i])
	}
	for _, o := range owned {
		if len(o.GetOwnerReferences()) == 0 {
			continue
		}
		patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"ownerReferences":null}}`))
		if err := r.client.Patch(ctx, o, patch); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("release %s from %s %s: %w", o.GetName(), r.gvk.Kind, obj.GetName(), err)
		}
	}
	log.FromContext(ctx).Info("Orphaned the workloads of a deleted object", "objects", len(owned))
	return nil
}
