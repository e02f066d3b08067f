package pool

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// Registration removes the registration taint (hotelv1alpha1.TaintUnconfigured) from a Node once
// every innkeeper object that selects it has configured it, so that a new Node takes no workload
// before its kubelet, kube-proxy and container runtime run innkeeper's configuration. Nodes get the
// taint when they register (the kubelet's --register-with-taints, or registerWithTaints in its
// configuration); innkeeper never adds it.
type Registration struct {
	client client.Client
	// live reads from the API server, uncached: the rollout pods on one Node, only for a Node that
	// waits and only of a component without an agent, whose pods alone say whether it runs on the
	// Node; and every object again before a Node loses the taint (see Reconcile).
	live     client.Reader
	kinds    []*Reconciler
	recorder recorder.EventRecorder
}

// NewRegistration returns the controller of the registration taint over the reconcilers of every kind.
func NewRegistration(mgr ctrl.Manager, kinds []*Reconciler) *Registration {
	return &Registration{client: mgr.GetClient(), live: mgr.GetAPIReader(), kinds: kinds,
		recorder: mgr.GetEventRecorder("innkeeper")}
}

// SetupWithManager registers the controller: Nodes with the taint, and every object of each kind,
// whose status says which configuration its Nodes must run.
func (g *Registration) SetupWithManager(mgr ctrl.Manager) error {
	b := ctrl.NewControllerManagedBy(mgr).
		Named("registration").
		For(&corev1.Node{}, builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
			n, ok := o.(*corev1.Node)
			return ok && hasTaint(n, hotelv1alpha1.TaintUnconfigured)
		})))
	for _, r := range g.kinds {
		b = b.Watches(r.newUnstructured(), handler.EnqueueRequestsFromMapFunc(g.taintedNodes),
			builder.WithPredicates(predicate.Funcs{UpdateFunc: func(event.UpdateEvent) bool { return true }}))
		if !r.kind.Component.NodeAgent() {
			b = b.Watches(&appsv1.DaemonSet{}, handler.EnqueueRequestsFromMapFunc(g.taintedNodes),
				builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
					return o.GetLabels()[LabelComponent] == r.kind.Component.Name()
				})))
		}
	}
	return b.Complete(g)
}

// taintedNodes maps any change to the Nodes that still have the registration taint, which are few:
// the Nodes that registered and are not configured yet.
// Every status write of every object maps here: the Nodes come from an index of the tainted ones,
// not from a scan of the cluster's.
func (g *Registration) taintedNodes(ctx context.Context, _ client.Object) []reconcile.Request {
	nodes, err := g.kinds[0].nodes.tainted(ctx, hotelv1alpha1.TaintUnconfigured)
	if err != nil {
		log.FromContext(ctx).Error(err, "Cannot read the Nodes that wait to be configured")
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(nodes))
	for _, n := range nodes {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: n.Name}})
	}
	return reqs
}

// Reconcile removes the taint from a Node that every object selecting it has configured.
//
// The objects come from the cache, which may not hold yet one created a moment before the Node
// registered (the Node and the objects are separate watches): so the cache only decides that a Node
// waits. A Node that waits for nothing in the cache is checked again against the objects read from
// the API server before it loses the taint; if one the cache lacks selects it, it waits, and that
// object's arrival in the cache brings it back here.
func (g *Registration) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	node := &corev1.Node{}
	if err := g.client.Get(ctx, req.NamespacedName, node); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !hasTaint(node, hotelv1alpha1.TaintUnconfigured) {
		return ctrl.Result{}, nil
	}
	for _, source := range []struct {
		name  string
		peers func(*Reconciler) ([]Object, error)
	}{
		{"cache", func(r *Reconciler) ([]Object, error) { return r.peers(ctx) }},
		{"API server", func(r *Reconciler) ([]Object, error) { return r.livePeers(ctx, g.live) }},
	} {
		var views []kindView
		for _, r := range g.kinds {
			peers, err := source.peers(r)
			if err != nil {
				return ctrl.Result{}, err
			}
			v := r.view(peers)
			if !v.nodeAgent {
				if err := g.runsOn(ctx, r, &v, node); err != nil {
					return ctrl.Result{}, err
				}
			}
			views = append(views, v)
		}
		if waiting := unconfigured(node, views); len(waiting) > 0 {
			log.FromContext(ctx).V(1).Info("The Node waits to be configured before it loses the registration taint",
				"waiting", waiting, "objectsFrom", source.name)
			return ctrl.Result{}, nil
		}
	}
	return ctrl.Result{}, g.untaint(ctx, node)
}

// untaint removes the registration taint, with a JSON patch that fails if the Node changed since it
// was read (the taint at another index, say): the reconcile is then retried on a fresher Node.
func (g *Registration) untaint(ctx context.Context, node *corev1.Node) error {
	ops := []jsonPatchOp{{Op: patchTest, Path: "/metadata/resourceVersion", Value: node.ResourceVersion}}
	for i := len(node.Spec.Taints) - 1; i >= 0; i-- {
		if node.Spec.Taints[i].Key == hotelv1alpha1.TaintUnconfigured {
			ops = append(ops, jsonPatchOp{Op: patchRemove, Path: fmt.Sprintf("/spec/taints/%d", i)})
		}
	}
	body, err := json.Marshal(ops)
	if err != nil {
		return err
	}
	if err := g.client.Patch(ctx, node, client.RawPatch(types.JSONPatchType, body)); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("remove the taint %s from Node %s: %w", hotelv1alpha1.TaintUnconfigured, node.Name, err)
	}
	log.FromContext(ctx).Info("Removed the registration taint: every innkeeper object selecting the Node has configured it")
	g.recorder.Eventf(node, nil, corev1.EventTypeNormal, hotelv1alpha1.ReasonNodeConfigured, "Untaint",
		"Every innkeeper object that selects the Node has configured it: removed the taint %s.", hotelv1alpha1.TaintUnconfigured)
	return nil
}

// runsOn sets, for the object of a component without an agent that node is admitted to, whether
// its pod on node runs the object's configuration and is Ready: the DaemonSet's status counts pods,
// not Nodes, and lags a Node just admitted.
func (g *Registration) runsOn(ctx context.Context, r *Reconciler, v *kindView, node *corev1.Node) error {
	uid := node.Labels[AdmittedLabel(v.component)]
	for i := range v.objects {
		o := &v.objects[i]
		if uid == "" || o.uid != types.UID(uid) || o.configHash == "" {
			continue
		}
		pods := &corev1.PodList{}
		if err := g.live.List(ctx, pods, client.InNamespace(r.namespace),
			client.MatchingLabels{LabelPool: o.name, LabelComponent: v.component},
			client.MatchingFields{"spec.nodeName": node.Name}); err != nil {
			return fmt.Errorf("list the %s pods on Node %s: %w", v.component, node.Name, err)
		}
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && p.Annotations[AnnotationHash] == o.configHash && podReady(&p) {
				o.rolledOut = true
			}
		}
	}
	return nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// kindView is what the registration taint needs to know of the objects of one kind.
type kindView struct {
	kind, component string
	nodeAgent       bool
	objects         []objectView
}

// objectView is one object as the registration taint sees it.
type objectView struct {
	name string
	uid  types.UID
	// selector is nil for an invalid one, which selects nothing.
	selector labels.Selector
	// configHash is the configuration the object rolls out (status.configHash).
	configHash string
	// rolledOut is true, for a component without a node agent, when its pod on the Node in question
	// runs configHash and is Ready (see runsOn).
	rolledOut bool
}

// view is what the registration taint needs of the reconciler's objects, peers.
func (r *Reconciler) view(peers []Object) kindView {
	v := kindView{kind: r.gvk.Kind, component: r.kind.Component.Name(), nodeAgent: r.kind.Component.NodeAgent()}
	for _, p := range peers {
		if !p.GetDeletionTimestamp().IsZero() {
			continue
		}
		ov := objectView{name: p.GetName(), uid: p.GetUID(), configHash: p.PoolStatus().ConfigHash}
		if sel, err := metav1.LabelSelectorAsSelector(p.PoolSpec().NodeSelector.LabelSelector()); err == nil {
			ov.selector = sel
		}
		v.objects = append(v.objects, ov)
	}
	return v
}

// unconfigured returns, sorted, what a Node still waits for, as "FloorManager gpu": each object that
// selects it and has not configured it yet; nil once it waits for nothing. It is pure.
//
// Of each kind, the object the Node is admitted to (see AdmittedLabel) has configured it when the
// Node's agent reports the configuration the object rolls out applied, or, for a component without
// an agent, when the object's pod on the Node runs it and is Ready. A Node that no object of a kind
// is admitted to waits for every object of that kind that selects it (to be admitted, in turn),
// and for none if none does.
func unconfigured(node *corev1.Node, views []kindView) []string {
	var waiting []string
	for _, v := range views {
		uid := node.Labels[AdmittedLabel(v.component)]
		var holder *objectView
		for i := range v.objects {
			if uid != "" && v.objects[i].uid == types.UID(uid) {
				holder = &v.objects[i]
			}
		}
		if holder == nil {
			for _, o := range v.objects {
				if o.selector != nil && o.selector.Matches(labels.Set(node.Labels)) {
					waiting = append(waiting, v.kind+" "+o.name)
				}
			}
			continue
		}
		done := holder.rolledOut
		if v.nodeAgent {
			done = runsConfig(node, v.component, holder.configHash)
		}
		if !done {
			waiting = append(waiting, v.kind+" "+holder.name)
		}
	}
	sort.Strings(waiting)
	return waiting
}

func hasTaint(n *corev1.Node, key string) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == key {
			return true
		}
	}
	return false
}
