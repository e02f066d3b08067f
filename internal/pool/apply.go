package pool

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// acted is the rollout as a reconcile's action left it.
type acted struct {
	// daemonSet is the object's DaemonSet as observed, nil if there is none or it was removed.
	daemonSet *appsv1.DaemonSet
	// daemonSetChanged is true when the action applied a new DaemonSet spec, which the DaemonSet
	// controller has not observed yet: the DaemonSet's status describes the previous one.
	daemonSetChanged bool
	// appliedHash is the configuration the DaemonSet rolls out, "" if there is no DaemonSet.
	appliedHash string
	// err, if not nil, is why applying failed this time: said in status, then retried with backoff.
	err error
}

// act carries out decision d about obj, then deletes the ConfigMaps that no Node needs any more.
// A failure to apply is reported in the result, for the status to say; any other error is
// returned, and the reconcile retried with backoff.
func (r *Reconciler) act(ctx context.Context, obj Object, o observed, d decision) (acted, error) {
	a := acted{daemonSet: o.daemonSet, appliedHash: o.applied.Hash}
	// Nodes first: a DaemonSet from before admission keeps its pods only on the Nodes admitted
	// before its pod template requires it.
	if a.err = r.applyAdmission(ctx, obj, d.admission); a.err != nil {
		recordApplyError(r.gvk.Kind, a.err)
		return a, nil
	}
	switch d.action {
	case actRemoveDaemonSet:
		if err := r.removeDaemonSet(ctx, o.daemonSet); err != nil {
			recordApplyError(r.gvk.Kind, err)
			return a, err
		}
		a.daemonSet, a.appliedHash = nil, ""
	case actApply:
		strategy := rollStrategy{maxUnavailable: d.maxUnavailable, canaryPassed: d.canaryPassed}
		if a.daemonSetChanged, a.err = r.apply(ctx, obj, d.config, o.files, o.daemonSet, strategy); a.err == nil {
			a.appliedHash = d.config.Hash
		}
	case actHold:
		a.daemonSetChanged, a.err = r.applyDaemonSet(ctx, obj, d.config, o.daemonSet, rollStrategy{hold: true, canaryPassed: d.canaryPassed})
	}
	if a.err == nil {
		a.err = r.applyDrains(ctx, obj, o, d.drains)
	}
	if a.err != nil {
		recordApplyError(r.gvk.Kind, a.err)
		return a, nil
	}
	return a, r.pruneConfigMaps(ctx, obj, configsInUse(o, a)...)
}

// configsInUse returns the hashes of the configurations whose ConfigMaps must stay after an
// action: the one the DaemonSet rolled out before it, if the DaemonSet stays (Nodes not yet
// updated mount it), the one it rolls out now, the newest, and the ones Nodes report they run.
func configsInUse(o observed, a acted) []string {
	before := ""
	if a.daemonSet != nil {
		before = o.applied.Hash
	}
	return append(appliedOnNodes(o.nodes, o.component), before, a.appliedHash, o.desired.Hash)
}

// apply applies the ConfigMap, then the DaemonSet that names it, each only if it differs from what
// innkeeper last applied, so that a steady state costs no request. It reports whether the
// DaemonSet's spec changed.
func (r *Reconciler) apply(ctx context.Context, obj Object, cfg Config, files map[string]string,
	current *appsv1.DaemonSet, strategy rollStrategy) (bool, error) {
	cm := desiredConfigMap(obj, r.gvk, r.kind.Component.Name(), r.namespace, cfg, files)
	cmHash := specHash(cm)
	cm.WithAnnotations(map[string]string{AnnotationSpecHash: cmHash})
	live := &corev1.ConfigMap{}
	err := r.client.Get(ctx, client.ObjectKey{Namespace: r.namespace, Name: cfg.ConfigMapName}, live)
	switch {
	case apierrors.IsNotFound(err):
		live = nil
	case err != nil:
		return false, fmt.Errorf("get ConfigMap %s: %w", cfg.ConfigMapName, err)
	}
	if live == nil || !r.upToDate("ConfigMap/"+obj.GetName(), live, cm, cmHash) {
		if err := r.client.Apply(ctx, cm, client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
			return false, fmt.Errorf("apply ConfigMap %s: %w", cfg.ConfigMapName, err)
		}
	}
	return r.applyDaemonSet(ctx, obj, cfg, current, strategy)
}

// applyDaemonSet applies the DaemonSet that rolls cfg out, or holds it, as strategy says, if it
// differs from what innkeeper last applied. It reports whether the DaemonSet's spec changed.
func (r *Reconciler) applyDaemonSet(ctx context.Context, obj Object, cfg Config, current *appsv1.DaemonSet, strategy rollStrategy) (bool, error) {
	ds := desiredDaemonSet(obj, r.gvk, r.kind.Component.Name(), r.namespace, cfg, r.kind.Component.PodSpec(obj, cfg),
		r.nodePods, strategy, r.kind.Component.NodeAgent())
	dsHash := specHash(ds)
	ds.WithAnnotations(map[string]string{AnnotationSpecHash: dsHash})
	key := "DaemonSet/" + obj.GetName()
	if current != nil && !r.isVerified(key, current, dsHash) {
		removed, err := r.removeForeignFields(ctx, obj, current)
		if err != nil || removed {
			// The patch changed the pod template: a rollout, and an event that brings the next
			// reconcile, which applies whatever else differs.
			return removed, err
		}
	}
	if current != nil && r.upToDate(key, current, ds, dsHash) {
		return false, nil
	}
	if err := r.client.Apply(ctx, ds, client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return false, fmt.Errorf("apply DaemonSet %s: %w", *ds.Name, err)
	}
	// The apply answers with the object as stored: a new generation means a new spec to roll out.
	changed := current == nil || ds.Generation == nil || *ds.Generation != current.Generation
	if changed {
		log.FromContext(ctx).Info("Applied DaemonSet", "daemonSet", klog.KRef(r.namespace, *ds.Name), "configHash", cfg.Hash,
			"held", strategy.hold)
	}
	return changed, nil
}

// removeDaemonSet deletes an object's DaemonSet, if there is one.
func (r *Reconciler) removeDaemonSet(ctx context.Context, ds *appsv1.DaemonSet) error {
	if ds == nil {
		return nil
	}
	if err := r.client.Delete(ctx, ds, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("delete DaemonSet %s: %w", ds.Name, err)
	}
	log.FromContext(ctx).Info("Removed the DaemonSet of a conflicting pool", "daemonSet", klog.KObj(ds))
	return nil
}

// removeForeignFields removes from innkeeper's DaemonSet what others added to its pod template
// (see foreignTemplateFields), with a JSON patch that fails if the DaemonSet changed since it was
// read, and says so in a Warning Event on the object. It reports whether it removed anything.
func (r *Reconciler) removeForeignFields(ctx context.Context, obj Object, ds *appsv1.DaemonSet) (bool, error) {
	foreign, err := foreignTemplateFields(ds, FieldOwner)
	if err != nil || len(foreign) == 0 {
		return false, err
	}
	ops := []jsonPatchOp{{Op: patchTest, Path: "/metadata/resourceVersion", Value: ds.ResourceVersion}}
	described := make([]string, 0, len(foreign))
	for _, f := range foreign {
		ops = append(ops, jsonPatchOp{Op: patchRemove, Path: f.pointer})
		described = append(described, fmt.Sprintf("%s (set by %s)", f.path, f.manager))
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		return false, err
	}
	if err := r.client.Patch(ctx, ds, client.RawPatch(types.JSONPatchType, patch)); err != nil {
		return false, fmt.Errorf("remove from DaemonSet %s what innkeeper did not render: %w", ds.Name, err)
	}
	slices.Reverse(described) // in the order of the pod template
	message := fmt.Sprintf("Removed from DaemonSet %s/%s what innkeeper did not render, which its pods would run with "+
		"on every Node of the pool: %s. innkeeper owns the whole pod template of the DaemonSets it renders.",
		ds.Namespace, ds.Name, strings.Join(described, ", "))
	log.FromContext(ctx).Info("Removed fields others added to a DaemonSet's pod template", "daemonSet", klog.KObj(ds),
		"fields", described)
	r.recorder.Eventf(obj, ds, corev1.EventTypeWarning, hotelv1alpha1.ReasonForeignFieldsRemoved, "RemoveForeignFields", "%s", message)
	return true, nil
}

// JSON patch operations (RFC 6902) that the engine uses.
const (
	patchTest    = "test"
	patchRemove  = "remove"
	patchReplace = "replace"
)

// jsonPatchOp is one operation of a JSON patch (RFC 6902).
type jsonPatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// jsonPointerEscape escapes a key for a JSON pointer (RFC 6901), such as a label key in
// /metadata/labels/<key>.
func jsonPointerEscape(key string) string {
	return strings.ReplaceAll(strings.ReplaceAll(key, "~", "~0"), "/", "~1")
}
