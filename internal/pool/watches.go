package pool

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// maxRetryDelay caps the backoff of a failing reconcile, which doubles from 5 ms with every
// failure of the same object. controller-runtime caps it at 1000 s: an object that had failed for
// ten minutes, whatever the cause, would then wait a quarter of an hour after the cause is gone. A
// failure during an API server outage needs no wait at all (see outage.Tracker.Source).
const maxRetryDelay = 30 * time.Second

// SetupWithManager registers the reconciler: its objects, the DaemonSets and ConfigMaps they own,
// and the Nodes their pools select; and, with an outage tracker, every object once the API server
// is back after an outage.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	b := ctrl.NewControllerManagedBy(mgr).
		Named(r.kind.Component.Name()).
		WithOptions(controller.Options{
			RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](5*time.Millisecond, maxRetryDelay),
		}).
		// Every update, status included: a status written from a stale cache (or by anyone else)
		// is corrected by the reconcile its own update event triggers. A reconcile that finds the
		// status right writes nothing, so this costs no request at steady state; and the event of
		// the reconciler's own status write, which holds exactly what it computed, is skipped.
		// The objects are watched unstructured, as the engine reads them (see decode.go).
		For(r.newUnstructured(), builder.WithPredicates(r.notOwnStatusWrite())).
		Owns(&appsv1.DaemonSet{}).
		Owns(&corev1.ConfigMap{}).
		Watches(r.newUnstructured(), handler.EnqueueRequestsFromMapFunc(r.otherObjects),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Node{}, handler.EnqueueRequestsFromMapFunc(r.objectsSelecting),
			builder.WithPredicates(r.nodeChangePredicate())).
		// A Node joining or leaving a pool can also change which objects hold their pools, and so
		// whether a newer object, which need not select it, is stalled (see poolConflict).
		Watches(&corev1.Node{}, handler.EnqueueRequestsFromMapFunc(r.objectsFromOldestSelecting),
			builder.WithPredicates(poolMembershipChange()))
	if _, ok := r.kind.Component.(Referencing); ok {
		b = b.Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(r.objectsReferencing))
	}
	if r.foreign != nil {
		// Another DaemonSet that runs the component may start or stop running on any pool.
		b = b.Watches(&appsv1.DaemonSet{}, handler.EnqueueRequestsFromMapFunc(r.everyObject),
			builder.WithPredicates(r.foreign.daemonSetChange()))
	}
	if r.drainer != nil {
		if err := mgr.Add(r.drainer); err != nil {
			return err
		}
		b = b.WatchesRawSource(r.drainer.source())
	}
	if r.outages != nil {
		b = b.WatchesRawSource(r.outages.Source(mgr.GetLogger().WithValues("controller", r.kind.Component.Name()), r.allObjects))
	}
	return b.Complete(r)
}

// allObjects returns a request for every object of the reconciler's kind in the cache, those that
// do not decode too.
func (r *Reconciler) allObjects(ctx context.Context) ([]reconcile.Request, error) {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(r.gvk.GroupVersion().WithKind(r.gvk.Kind + "List"))
	if err := r.objects.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list %s objects: %w", r.gvk.Kind, err)
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return reqs, nil
}

// everyObject maps an event to every object of the reconciler's kind, which are few.
func (r *Reconciler) everyObject(ctx context.Context, ds client.Object) []reconcile.Request {
	return r.peerRequests(ctx, "DaemonSet "+ds.GetNamespace()+"/"+ds.GetName(), func(Object) bool { return true })
}

// peerRequests maps an event about changed to the objects of the reconciler's kind that concern
// says it concerns. If they cannot be listed, it logs why, naming changed, and maps to none.
func (r *Reconciler) peerRequests(ctx context.Context, changed string, concern func(Object) bool) []reconcile.Request {
	peers, err := r.peers(ctx)
	if err != nil {
		log.FromContext(ctx).Error(err, "Cannot map a change to the objects it concerns", "changed", changed)
		return nil
	}
	var reqs []reconcile.Request
	for _, p := range peers {
		if concern(p) {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(p)})
		}
	}
	return reqs
}

// objectsReferencing maps a ConfigMap in the engine's namespace to the objects whose configuration
// reads it.
func (r *Reconciler) objectsReferencing(ctx context.Context, cm client.Object) []reconcile.Request {
	ref, ok := r.kind.Component.(Referencing)
	if !ok || cm.GetNamespace() != r.namespace {
		return nil
	}
	return r.peerRequests(ctx, "ConfigMap "+cm.GetName(), func(p Object) bool {
		return slices.Contains(ref.References(p), cm.GetName())
	})
}

// notOwnStatusWrite lets through every event of the reconciler's objects but an update that
// changes nothing but the status, to the very status the last reconcile computed: the update event
// of the reconciler's own status write. Reconciling on it would only compute that status again,
// at the cost of listing the pool's Nodes once more for every change. A status that anyone else
// wrote, or that a reconcile working from a stale cache computed differently since, still causes
// a reconcile, which puts it right.
// An object that does not decode always passes: its reconcile reports it.
func (r *Reconciler) notOwnStatusWrite() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		newObj, ok := e.ObjectNew.(*unstructured.Unstructured)
		if !ok || e.ObjectOld == nil || !sameButStatus(e.ObjectOld, newObj) {
			return true
		}
		computed, ok := r.computed.Load(newObj.GetName())
		if !ok {
			return true
		}
		// Decoded once per version: the reconcile it lets through reads the same decoded object.
		d := r.decode(context.Background(), newObj)
		return d.obj == nil || !equality.Semantic.DeepEqual(*d.obj.PoolStatus(), computed.(hotelv1alpha1.PoolStatus))
	}}
}

// sameButStatus reports whether two versions of an object differ at most in their status: the
// same generation (spec), deletion, finalizers, labels and annotations.
func sameButStatus(a, b metav1.Object) bool {
	return a.GetGeneration() == b.GetGeneration() &&
		a.GetDeletionTimestamp().Equal(b.GetDeletionTimestamp()) &&
		slices.Equal(a.GetFinalizers(), b.GetFinalizers()) &&
		maps.Equal(a.GetLabels(), b.GetLabels()) &&
		maps.Equal(a.GetAnnotations(), b.GetAnnotations())
}

// objectsSelecting maps a Node to the objects whose pool selects it, and to the object whose
// rollout it is admitted to or reverted by (see AdmittedLabel), in the pool or not. The handler
// calls it with the Node's old and new versions, so an object whose pool a Node leaves hears of it
// too.
func (r *Reconciler) objectsSelecting(ctx context.Context, node client.Object) []reconcile.Request {
	value := node.GetLabels()[AdmittedLabel(r.kind.Component.Name())]
	return r.peerRequests(ctx, "Node "+node.GetName(), func(p Object) bool {
		if uid := string(p.GetUID()); value != "" && uid != "" && (value == uid || value == hotelv1alpha1.RevertValue(uid)) {
			return true
		}
		sel, err := metav1.LabelSelectorAsSelector(p.PoolSpec().NodeSelector.LabelSelector())
		return err == nil && sel.Matches(labels.Set(node.GetLabels()))
	})
}

// objectsFromOldestSelecting maps a Node that joins or leaves a pool to the objects whose pool
// conflict it can change (see claimsAffectedBy). The handler calls it with the Node's old and new
// versions, so the objects of the pool it leaves count too.
func (r *Reconciler) objectsFromOldestSelecting(ctx context.Context, node client.Object) []reconcile.Request {
	peers, err := r.peers(ctx)
	if err != nil {
		log.FromContext(ctx).Error(err, "Cannot map a change to the objects it concerns", "changed", "Node "+node.GetName())
		return nil
	}
	affected := claimsAffectedBy(node.GetLabels(), peers)
	reqs := make([]reconcile.Request, 0, len(affected))
	for _, p := range affected {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(p)})
	}
	return reqs
}

// claimsAffectedBy returns the objects among peers whose pool conflict a Node with nodeLabels can
// change by joining or leaving their pools: the oldest object that selects it and every newer one.
// Whether an object holds its pool depends only on older objects (see poolConflict), so an object
// older than every one selecting the Node cannot change; a newer one can, even if it does not
// select the Node, when an object that selects it starts or stops holding. None if no object
// selects the Node.
func claimsAffectedBy(nodeLabels map[string]string, peers []Object) []Object {
	var oldest Object
	for _, p := range peers {
		sel, err := metav1.LabelSelectorAsSelector(p.PoolSpec().NodeSelector.LabelSelector())
		if err == nil && sel.Matches(labels.Set(nodeLabels)) && (oldest == nil || olderThan(p, oldest)) {
			oldest = p
		}
	}
	if oldest == nil {
		return nil
	}
	var affected []Object
	for _, p := range peers {
		if !olderThan(p, oldest) {
			affected = append(affected, p)
		}
	}
	return affected
}

// poolMembershipChange lets through the Node events that can add a Node to a pool or remove it
// from one: a Node created or deleted, and a change of its labels. Heartbeats and every other
// update do not pass.
func poolMembershipChange() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			return e.ObjectOld == nil || e.ObjectNew == nil || !maps.Equal(e.ObjectOld.GetLabels(), e.ObjectNew.GetLabels())
		},
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}

// otherObjects maps a change to one object (a new selector, a deletion) to every other object of its
// kind: the change may create or resolve a pool conflict with any of them, directly or through the
// objects it stalls or frees. Objects of a kind are few. Only changes of the generation (the spec,
// and the start of a deletion) pass: who holds a pool is computed from specs and Nodes, never
// from another object's status (see poolConflict).
func (r *Reconciler) otherObjects(ctx context.Context, changed client.Object) []reconcile.Request {
	return r.peerRequests(ctx, r.gvk.Kind+" "+changed.GetName(), func(p Object) bool { return p.GetName() != changed.GetName() })
}

// nodeChangePredicate lets through the Node changes that can change a pool's status (see
// NodeChanged), and those that can change where a foreign DaemonSet of an Exclusive component runs.
// Heartbeats, which rewrite condition timestamps every few seconds on every Node, do not pass.
func (r *Reconciler) nodeChangePredicate() predicate.Predicate {
	component := r.kind.Component.Name()
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			oldNode, okOld := e.ObjectOld.(*corev1.Node)
			newNode, okNew := e.ObjectNew.(*corev1.Node)
			if !okOld || !okNew {
				return true
			}
			return NodeChanged(oldNode, newNode, component) || r.foreign.nodeChanged(oldNode, newNode)
		},
	}
}

// NodeChanged reports whether a Node update matters to the status of a pool of the component:
// labels, condition statuses, capacity, allocatable, the component's agent annotations and the
// manager's record of a drain.
func NodeChanged(oldNode, newNode *corev1.Node, component string) bool {
	if !equality.Semantic.DeepEqual(oldNode.Labels, newNode.Labels) ||
		!equality.Semantic.DeepEqual(oldNode.Status.Capacity, newNode.Status.Capacity) ||
		!equality.Semantic.DeepEqual(oldNode.Status.Allocatable, newNode.Status.Allocatable) {
		return true
	}
	for _, suffix := range hotelv1alpha1.AgentAnnotations {
		key := hotelv1alpha1.AgentAnnotation(component, suffix)
		if oldNode.Annotations[key] != newNode.Annotations[key] {
			return true
		}
	}
	for _, key := range []string{hotelv1alpha1.DrainedAnnotation(component), hotelv1alpha1.CordonedAnnotation(component)} {
		if oldNode.Annotations[key] != newNode.Annotations[key] {
			return true
		}
	}
	return !sameConditionStatuses(oldNode.Status.Conditions, newNode.Status.Conditions)
}

// sameConditionStatuses reports whether two lists of Node conditions have the same types and
// statuses in the same order, whatever their timestamps and messages. It allocates nothing: it
// runs for every heartbeat of every Node.
func sameConditionStatuses(a, b []corev1.NodeCondition) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Type != b[i].Type || a[i].Status != b[i].Status {
			return false
		}
	}
	return true
}
