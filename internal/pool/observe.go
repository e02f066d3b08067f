package pool

import (
	"context"
	"fmt"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// observed is what one reconcile read about an object: its spec as rendered, its pool, its
// DaemonSet, and whether another DaemonSet or an older object of its kind holds the pool's Nodes.
// decide computes from it alone; aggregateStatus from it, the decision and what the action left.
type observed struct {
	// kind is the object's kind and namespace the workloads' namespace, as messages name them.
	kind, namespace string
	generation      int64
	paused          bool
	healthGate      hotelv1alpha1.HealthGatePolicy
	soakSeconds     int32
	maxUnavailable  intstr.IntOrString
	// canary is spec.rollout.canary, nil for none.
	canary *intstr.IntOrString
	// drainTimeout bounds one attempt to drain a Node (spec.rollout.drain.timeoutSeconds);
	// drainRunning names the Nodes being drained, drainDone holds, by Node, the configuration a
	// drain finished for, and drainFailures the attempts that failed (see drain.go).
	drainTimeout  time.Duration
	drainRunning  map[string]bool
	drainDone     map[string]string
	drainFailures map[string]drainFailure
	component     string
	// nodeAgent is true when the component's agent records the applied configuration on each Node.
	nodeAgent bool

	// now is when the reconcile observed. window, if not nil, is where now stands against
	// spec.rollout.maintenance; windowErr, if not nil, is why that cannot be read.
	now time.Time
	// rolloutStart is when the rollout in progress began, as far as the status tells (the last
	// transition of Reconciling to True), or now if it did not say one is in progress.
	rolloutStart time.Time
	window       *windowState
	windowErr    error

	// selectorErr, if not nil, is why spec.nodeSelector is invalid; nodes are then not read.
	selectorErr error
	// nodes are the selected Nodes, the cache's own objects: read them, never modify them.
	nodes []*corev1.Node
	// uid is the object's UID, the value of the label that admits a Node to its rollout, and
	// admittedElsewhere the Nodes so labelled that the pool no longer selects (see admission.go).
	uid               types.UID
	admittedElsewhere []*corev1.Node
	// admitting names the selected Nodes that earlier reconciles admitted and the cache does not
	// show admitted yet: they count as admitted (see expectAdmitted).
	admitting map[string]bool
	// reverts: the Nodes that leave the pool, and all of them when the object is deleted, are
	// reverted (see revert.go); reverting are the Nodes marked for revert. deleting: the object is
	// being deleted and waits for its Nodes until revertDeadline.
	reverts        bool
	reverting      []*corev1.Node
	deleting       bool
	revertDeadline time.Time
	// daemonSet is the object's DaemonSet, nil if there is none.
	daemonSet *appsv1.DaemonSet
	// applied is the configuration the DaemonSet rolls out, zero if there is no DaemonSet.
	applied Config

	// missing names the referenced ConfigMaps that do not exist; the spec is then not rendered.
	missing []string
	// renderErr, if not nil, is why the spec does not render.
	renderErr error
	// files are the rendered configuration's files, and desired identifies it; zero if the spec
	// does not render.
	files   map[string]string
	desired Config

	// The pool's Nodes held by others, observed only for a spec that renders. foreign, if not
	// nil, says which DaemonSet that innkeeper does not manage runs an Exclusive component on them
	// (see foreignGuard); conflict, if not nil, which older object of the kind holds some of them.
	foreign  *stall
	conflict *conflict
}

// observe reads what decide and aggregateStatus need about obj. It writes only in one case: an
// Exclusive component's object that asks to take its pool over (kube-proxy's spec.takeOver) first
// keeps the foreign DaemonSets off the pool (see foreignGuard.check), so that the decision, in the
// same reconcile, sees the pool free. An error is transient: the reconcile is retried with backoff.
func (r *Reconciler) observe(ctx context.Context, obj Object) (observed, error) {
	component := r.kind.Component.Name()
	o := observed{
		kind:           r.gvk.Kind,
		namespace:      r.namespace,
		generation:     obj.GetGeneration(),
		paused:         obj.PoolSpec().Rollout.Paused,
		healthGate:     obj.PoolSpec().Rollout.HealthGate,
		soakSeconds:    obj.PoolSpec().Rollout.SoakSeconds,
		maxUnavailable: maxUnavailable(obj),
		canary:         obj.PoolSpec().Rollout.Canary,
		drainTimeout:   drainTimeout(obj),
		component:      component,
		nodeAgent:      r.kind.Component.NodeAgent(),
		uid:            obj.GetUID(),
		now:            r.now().Time,
	}
	o.rolloutStart = o.now
	o.drainRunning, o.drainDone, o.drainFailures = r.drainer.snapshot()
	if c := meta.FindStatusCondition(obj.PoolStatus().Conditions, hotelv1alpha1.ConditionReconciling); c != nil &&
		c.Status == metav1.ConditionTrue {
		o.rolloutStart = c.LastTransitionTime.Time
	}
	if m := obj.PoolSpec().Rollout.Maintenance; m != nil {
		st, err := maintenanceWindows(o.now, m)
		o.window, o.windowErr = &st, err
	}
	var timeout time.Duration
	o.reverts, timeout = r.reverts(obj)
	if r.kind.Component.NodeAgent() && obj.GetUID() != "" {
		// Whatever the policy: one that turned Orphan releases the Nodes it marked.
		var err error
		if o.reverting, err = r.nodes.selected(ctx, labels.SelectorFromSet(labels.Set{
			AdmittedLabel(component): hotelv1alpha1.RevertValue(string(obj.GetUID()))})); err != nil {
			return o, err
		}
	}
	if t := obj.GetDeletionTimestamp(); o.reverts && !t.IsZero() {
		o.deleting, o.revertDeadline = true, t.Add(timeout)
	}
	selector, err := metav1.LabelSelectorAsSelector(obj.PoolSpec().NodeSelector.LabelSelector())
	if err != nil {
		o.selectorErr = err
		if o.deleting {
			// Its Nodes are reverted all the same: every Node admitted to its rollout.
			if o.admittedElsewhere, err = r.admittedElsewhere(ctx, obj, labels.Nothing()); err != nil {
				return o, err
			}
		}
	} else {
		if o.nodes, err = r.nodes.selected(ctx, selector); err != nil {
			return o, err
		}
		if o.admittedElsewhere, err = r.admittedElsewhere(ctx, obj, selector); err != nil {
			return o, err
		}
		o.admitting = r.expectAdmitted(obj.GetUID(), o.nodes, o.now)
	}
	if o.daemonSet, err = r.daemonSet(ctx, obj); err != nil {
		return o, err
	}
	if o.daemonSet != nil {
		if hash := o.daemonSet.Spec.Template.Annotations[AnnotationHash]; hash != "" {
			o.applied = Config{Hash: hash, ConfigMapName: configMapName(obj, component, hash)}
		}
	}

	inputs, missing, err := r.inputs(ctx, obj)
	if err != nil {
		return o, err
	}
	if o.missing = missing; len(missing) == 0 {
		if o.files, o.renderErr = r.kind.Component.Render(obj, inputs); o.renderErr == nil {
			hash := ConfigHash(o.files)
			o.desired = Config{Hash: hash, ConfigMapName: configMapName(obj, component, hash)}
		}
	}
	if o.selectorErr != nil || len(o.missing) > 0 || o.renderErr != nil {
		return o, nil
	}

	peers, err := r.peers(ctx)
	if err != nil {
		return o, err
	}
	if o.foreign, err = r.foreign.check(ctx, obj, o.nodes, peers); err != nil {
		return o, err
	}
	o.conflict, err = poolConflict(obj, o.nodes, peers, func(sel labels.Selector) ([]*corev1.Node, error) {
		return r.nodes.selected(ctx, sel)
	})
	return o, err
}

// admittedElsewhere returns the Nodes admitted to obj's rollout that its selector no longer selects.
func (r *Reconciler) admittedElsewhere(ctx context.Context, obj Object, selector labels.Selector) ([]*corev1.Node, error) {
	if obj.GetUID() == "" {
		return nil, nil
	}
	admitted, err := r.nodes.selected(ctx, labels.SelectorFromSet(labels.Set{
		AdmittedLabel(r.kind.Component.Name()): string(obj.GetUID())}))
	if err != nil {
		return nil, err
	}
	var out []*corev1.Node
	for _, n := range admitted {
		if !selector.Matches(labels.Set(n.Labels)) {
			out = append(out, n)
		}
	}
	return out, nil
}

// daemonSet returns the object's DaemonSet from the cache, nil if there is none.
func (r *Reconciler) daemonSet(ctx context.Context, obj Object) (*appsv1.DaemonSet, error) {
	ds := &appsv1.DaemonSet{}
	key := client.ObjectKey{Namespace: r.namespace, Name: daemonSetName(obj, r.kind.Component.Name())}
	if err := r.client.Get(ctx, key, ds); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("get DaemonSet %s: %w", key, err)
	}
	return ds, nil
}

// inputs reads the ConfigMaps a Referencing component's object references, and names the missing.
func (r *Reconciler) inputs(ctx context.Context, obj Object) (Inputs, []string, error) {
	ref, ok := r.kind.Component.(Referencing)
	if !ok {
		return Inputs{}, nil, nil
	}
	in := Inputs{ConfigMaps: map[string]map[string]string{}}
	var missing []string
	for _, name := range ref.References(obj) {
		if _, done := in.ConfigMaps[name]; done {
			continue
		}
		cm := &corev1.ConfigMap{}
		err := r.client.Get(ctx, types.NamespacedName{Namespace: r.namespace, Name: name}, cm)
		switch {
		case apierrors.IsNotFound(err):
			missing = append(missing, name)
		case err != nil:
			return in, nil, fmt.Errorf("get ConfigMap %s/%s: %w", r.namespace, name, err)
		default:
			in.ConfigMaps[name] = cm.Data
		}
	}
	sort.Strings(missing)
	return in, missing, nil
}

// peers returns every object of the reconciler's kind from the cache, decoded once per version
// and shared: they are only read (selectors, names, ages), and a Node event maps through them for
// every kind. An object that does not decode is there with its metadata and pool alone, so that it
// keeps its Nodes; if even those do not decode, it is left out (decode logs it).
func (r *Reconciler) peers(ctx context.Context) ([]Object, error) {
	list, err := r.list(ctx, r.objects)
	if err != nil {
		return nil, err
	}
	peers := make([]Object, 0, len(list.Items))
	for i := range list.Items {
		if p := r.decode(ctx, &list.Items[i]).peer; p != nil {
			peers = append(peers, p)
		}
	}
	return peers, nil
}

// livePeers is peers read from live, the API server, where a decision must not rest on a cache
// that may not hold an object created a moment ago. They are decoded apart from the cache's
// versions (see decode), which they never replace, and without a log: the reconciles log.
func (r *Reconciler) livePeers(ctx context.Context, live client.Reader) ([]Object, error) {
	list, err := r.list(ctx, live)
	if err != nil {
		return nil, err
	}
	peers := make([]Object, 0, len(list.Items))
	for i := range list.Items {
		p, err := decodeObject(list.Items[i].Object, r.kind.NewObject)
		if err != nil {
			p = poolOnly(list.Items[i].Object, r.kind.NewObject)
		}
		if p != nil {
			peers = append(peers, p)
		}
	}
	return peers, nil
}

// list lists the objects of the reconciler's kind, unstructured, from a reader.
func (r *Reconciler) list(ctx context.Context, from client.Reader) (*unstructured.UnstructuredList, error) {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(r.gvk.GroupVersion().WithKind(r.gvk.Kind + "List"))
	if err := from.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list %s objects: %w", r.gvk.Kind, err)
	}
	return list, nil
}
