package pool

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/innkeeper-dev/innkeeper/internal/outage"
)

// Kind is one innkeeper kind and the component it configures.
type Kind struct {
	// Component renders the configuration and builds the rollout pod.
	Component Component
	// NewObject returns an empty object of the kind.
	NewObject func() Object
}

// Options are what the reconcilers of one installation share.
type Options struct {
	// Namespace holds the ConfigMaps and DaemonSets the engine renders.
	Namespace string
	// NodePods are the scheduling settings of every rollout pod.
	NodePods NodePods
	// Nodes reads the pools' Nodes from the manager's Node informer: one store for all the
	// manager's reconcilers (see NewNodeStore).
	Nodes *NodeStore
	// TakeOverNamespaces are the namespaces in which an Exclusive component's objects may take
	// their pools over from DaemonSets that innkeeper does not manage (a Concierge's spec.takeOver),
	// by updating them: those where the installation grants the manager update on DaemonSets. Empty:
	// take-over is not enabled, and such an object stalls saying how to enable it.
	TakeOverNamespaces []string
	// Outages tells the reconcilers when the API server is back after an outage, so that they
	// reconcile every object at once; nil: they wait out their backoff.
	Outages *outage.Tracker
}

// Reconciler reconciles the objects of one kind: it renders, applies and reports. Build it with
// NewReconciler and register it with SetupWithManager.
type Reconciler struct {
	client client.Client
	// objects reads the objects of the kind, unstructured, from the manager's cache (see decode.go).
	objects   client.Reader
	nodes     *NodeStore
	kind      Kind
	gvk       schema.GroupVersionKind
	namespace string
	nodePods  NodePods
	// foreign keeps the DaemonSets innkeeper does not manage off the pools of an Exclusive
	// component; nil for any other component.
	foreign  *foreignGuard
	outages  *outage.Tracker
	recorder recorder.EventRecorder
	now      func() metav1.Time
	// verified remembers the live DaemonSets and ConfigMaps found up to date (see upToDate).
	verified sync.Map
	// decoded holds, by object name, the last version of each object that the engine decoded.
	decoded sync.Map
	// computed holds, by object name, the status the last reconcile computed: an update that only
	// brings the object's status to it needs no reconcile (see notOwnStatusWrite).
	computed sync.Map
	// admitting holds, by object UID, the Nodes admitted to its rollout whose label the cache has
	// not shown yet (see expectAdmitted).
	admitting sync.Map
	// drainer drains the Nodes whose agent waits for it (see drain.go).
	drainer *drainer
	// timed holds, by object name, the configuration whose completed rollout was last observed in
	// innkeeper_rollout_duration_seconds, so that a reconcile that reads its own Ready status back
	// from a cache that lags does not observe it twice (see report).
	timed sync.Map
}

// NewReconciler returns a Reconciler for kind.
func NewReconciler(mgr ctrl.Manager, kind Kind, opts Options) (*Reconciler, error) {
	gvk, err := apiutil.GVKForObject(kind.NewObject(), mgr.GetScheme())
	if err != nil {
		return nil, fmt.Errorf("look up the kind of %s objects: %w", kind.Component.Name(), err)
	}
	if opts.Nodes == nil {
		return nil, errors.New("the reconciler needs the manager's Node store")
	}
	r := &Reconciler{
		client:    mgr.GetClient(),
		objects:   mgr.GetCache(),
		nodes:     opts.Nodes,
		kind:      kind,
		gvk:       gvk,
		namespace: opts.Namespace,
		nodePods:  opts.NodePods,
		outages:   opts.Outages,
		recorder:  mgr.GetEventRecorder("innkeeper"),
		// Whole seconds, as the API server stores condition times: a status read back then equals
		// the one computed (see notOwnStatusWrite).
		now: func() metav1.Time { return metav1.NewTime(time.Now().Truncate(time.Second)) },
	}
	if kind.Component.NodeAgent() {
		cs, err := kubernetes.NewForConfig(mgr.GetConfig())
		if err != nil {
			return nil, fmt.Errorf("create the client that drains Nodes: %w", err)
		}
		r.drainer = newDrainer(cs, r.recorder)
	}
	if ex, ok := kind.Component.(Exclusive); ok {
		r.foreign = &foreignGuard{ex: ex, component: kind.Component.Name(), namespace: opts.Namespace,
			client: mgr.GetClient(), apiReader: mgr.GetAPIReader(), takeOverNamespaces: opts.TakeOverNamespaces}
	}
	return r, nil
}

// Reconcile brings one object's ConfigMap and DaemonSet to what its spec renders and writes what
// it observed into its status: it observes the object's pool and workloads, decides what to do (a
// pure function of what it observed), acts, and reports. A deleted object is finalized instead. One
// that does not decode, deleted or not, is reported Stalled and left alone until it changes (see
// reportUndecodable): what it rolled out stays, and its pool stays its own (see peers).
//
// A reconcile that fails because the API server is unreachable or unwell has the outage tracker
// watch for its return (see outage.Tracker.Suspect).
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, err error) {
	defer func() {
		if err != nil && r.outages != nil {
			r.outages.Suspect(err)
		}
	}()
	cached := r.newUnstructured()
	if err := r.objects.Get(ctx, req.NamespacedName, cached, client.UnsafeDisableDeepCopy); err != nil {
		if apierrors.IsNotFound(err) {
			if err := r.releaseDeleted(ctx, req.Name); err != nil {
				return ctrl.Result{}, err
			}
			r.forget(req.Name)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("get %s %s: %w", r.gvk.Kind, req.Name, err)
	}
	d := r.decode(ctx, cached)
	if d.err != nil {
		return ctrl.Result{}, r.reportUndecodable(ctx, cached, d.err)
	}
	obj := d.obj.DeepCopyObject().(Object)
	if !obj.GetDeletionTimestamp().IsZero() {
		if result, done, err := r.revertDeleted(ctx, obj); err != nil || !done {
			return result, err
		}
		return ctrl.Result{}, r.finalize(ctx, obj)
	}
	if err := r.holdForCleanUp(ctx, obj); err != nil {
		return ctrl.Result{}, err
	}

	observed, err := r.observe(ctx, obj)
	if err != nil {
		return ctrl.Result{}, err
	}
	decision := decide(observed)
	acted, err := r.act(ctx, obj, observed, decision)
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := r.report(ctx, obj, aggregateStatus(obj.PoolStatus(), observed, decision, acted, r.now())); err != nil {
		return ctrl.Result{}, err
	}
	// A failed apply, and a stall that may clear by itself, are retried with backoff; a rollout
	// that waits for a maintenance window, or runs in one, is looked at again when it opens or closes.
	if err := errors.Join(acted.err, decision.stall.retryErr()); err != nil {
		return ctrl.Result{}, err
	}
	var result ctrl.Result
	if !decision.waitUntil.IsZero() {
		result.RequeueAfter = max(decision.waitUntil.Sub(r.now().Time)+time.Second, time.Second)
	}
	return result, nil
}
