package pool

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"sigs.k8s.io/controller-runtime/pkg/client"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// report publishes the status a reconcile computed: in the metrics, and in the object's status if
// it differs, with an Event for each condition that changed.
func (r *Reconciler) report(ctx context.Context, obj Object, status hotelv1alpha1.PoolStatus) error {
	// Recorded before the write, whose update event may come back before the write returns (see
	// notOwnStatusWrite).
	r.computed.Store(obj.GetName(), *status.DeepCopy())
	recordPoolMetrics(r.gvk.Kind, obj.GetName(), status)
	previous := obj.PoolStatus().DeepCopy() // writeStatus sets obj's status
	if err := r.writeStatus(ctx, obj, status); err != nil {
		return err
	}
	r.timeRollout(obj.GetName(), previous, &status)
	return nil
}

// timeRollout observes in innkeeper_rollout_duration_seconds a rollout that status, just written,
// completes: once per rollout, though a reconcile may read a stale previous status again.
func (r *Reconciler) timeRollout(name string, previous, status *hotelv1alpha1.PoolStatus) {
	if meta.IsStatusConditionTrue(status.Conditions, hotelv1alpha1.ConditionReconciling) {
		r.timed.Delete(name) // a new rollout, even of the same configuration onto more Nodes
		return
	}
	seconds, ok := rolloutCompleted(previous, status)
	if !ok {
		return
	}
	if last, seen := r.timed.Swap(name, status.ConfigHash); seen && last == status.ConfigHash {
		return
	}
	rolloutDuration.WithLabelValues(r.gvk.Kind).Observe(seconds)
}

// forget drops what the reconciler keeps about a deleted object: its metrics, its last decoded
// version, its last computed status and its workloads found up to date.
func (r *Reconciler) forget(name string) {
	forgetPoolMetrics(r.gvk.Kind, name)
	r.decoded.Delete(name)
	r.computed.Delete(name)
	r.timed.Delete(name)
	r.verified.Delete("ConfigMap/" + name)
	r.verified.Delete("DaemonSet/" + name)
}

// writeStatus writes status if it differs from obj's, and records an Event for each condition
// that changed.
func (r *Reconciler) writeStatus(ctx context.Context, obj Object, status hotelv1alpha1.PoolStatus) error {
	if equality.Semantic.DeepEqual(*obj.PoolStatus(), status) {
		return nil
	}
	previous := obj.PoolStatus().Conditions
	original := obj.DeepCopyObject().(Object)
	*obj.PoolStatus() = status
	if err := r.client.Status().Patch(ctx, obj, client.MergeFrom(original)); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	for _, c := range status.Conditions {
		if old := meta.FindStatusCondition(previous, c.Type); old != nil && old.Status == c.Status {
			continue
		} else if old == nil && !abnormal(c) {
			continue // the first status of an object is news only where something is wrong
		}
		eventType := corev1.EventTypeNormal
		if abnormal(c) {
			eventType = corev1.EventTypeWarning
		}
		r.recorder.Eventf(obj, nil, eventType, c.Reason, "Update"+c.Type, "%s=%s: %s", c.Type, c.Status, c.Message)
	}
	return nil
}

// abnormal reports whether a condition says that something needs attention.
func abnormal(c metav1.Condition) bool {
	switch c.Type {
	case hotelv1alpha1.ConditionStalled, hotelv1alpha1.ConditionDegraded:
		return c.Status == metav1.ConditionTrue
	case hotelv1alpha1.ConditionNodesHealthy:
		return c.Status == metav1.ConditionFalse
	}
	return false
}
