package pool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

// Exclusive is implemented by a Component of which a Node must never run two, such as kube-proxy:
// before it rolls anything out, the engine looks for DaemonSets that it does not manage and that
// run the component on the pool's Nodes, and stalls while there are any.
type Exclusive interface {
	// Foreign reports whether a DaemonSet runs the component.
	Foreign(ds *appsv1.DaemonSet) bool
	// ForeignReason is the Stalled reason while a foreign DaemonSet runs on the pool, such as
	// ForeignKubeProxy.
	ForeignReason() string
	// TakeOver reports whether obj asks to keep foreign DaemonSets off its pool itself.
	TakeOver(obj Object) bool
}

// Annotations on a foreign DaemonSet that innkeeper took Nodes from.
const (
	// AnnotationTakenOverBy lists, comma-separated, the objects whose pools the DaemonSet is kept off.
	AnnotationTakenOverBy = "hotel.innkeeper.dev/taken-over-by"
	// AnnotationOriginalAffinity holds the DaemonSet's pod affinity before innkeeper changed it, as JSON.
	AnnotationOriginalAffinity = "hotel.innkeeper.dev/original-affinity"
)

// foreignGuard is everything the engine does for an Exclusive component about the DaemonSets it
// does not manage that run the component: it finds them on a pool, keeps them off the pool of an
// object that asks to take its Nodes over, gives the Nodes back when that object goes, and says
// which of their changes matter. The reconciler builds one only for an Exclusive component; a nil
// guard finds nothing and does nothing, so the path the kinds share reads the same for all.
type foreignGuard struct {
	ex        Exclusive
	component string
	// namespace is the engine's: an object's own DaemonSet there is never foreign.
	namespace string
	// client reads the cache (other DaemonSets slimmed, see SlimDaemonSet) and writes; apiReader
	// reads DaemonSets whole and fresh before the guard changes them.
	client    client.Client
	apiReader client.Reader
	// takeOverNamespaces are the only namespaces in which the guard changes a DaemonSet it does not
	// manage (Options.TakeOverNamespaces): those where the installation lets the manager update
	// DaemonSets. A take-over anywhere else is refused before anything is changed.
	takeOverNamespaces []string
}

// check returns a stall if a foreign DaemonSet runs the component on some of the selected Nodes,
// nil if none does. An object that asks to take its Nodes over first keeps those DaemonSets off its
// pool; if that fails, the stall says so and carries the failure to retry with backoff: a conflict
// with the DaemonSet's controller, or a policy that is lifted later, brings no event of its own.
// An error is a failure to read the cache.
func (g *foreignGuard) check(ctx context.Context, obj Object, nodes []*corev1.Node, peers []Object) (*stall, error) {
	if g == nil || len(nodes) == 0 {
		return nil, nil
	}
	dss, err := g.cachedDaemonSets(ctx)
	if err != nil {
		return nil, err
	}
	own := g.namespace + "/" + daemonSetName(obj, g.component)
	overlaps := g.overlaps(dss, nodes, own, obj.GetUID())
	if len(overlaps) > 0 && g.ex.TakeOver(obj) {
		if s := takeOverRefusal(overlaps, g.takeOverNamespaces, g.reason(), g.component); s != nil {
			return s, nil
		}
		for _, o := range overlaps {
			i := findDaemonSet(dss, o.daemonSet)
			if keptOff(&dss[i], AdmittedLabel(g.component), obj.GetUID()) {
				// Kept off already: it runs on the Nodes not admitted yet, and leaves each as it is.
				continue
			}
			updated, err := g.keepOff(ctx, client.ObjectKeyFromObject(&dss[i]), obj.GetName(), peers)
			if err != nil {
				return &stall{reason: g.reason(), retry: err, message: takeOverFailure(&dss[i], err)}, nil
			}
			dss[i] = *updated
		}
		overlaps = g.overlaps(dss, nodes, own, obj.GetUID())
	}
	if len(overlaps) == 0 {
		return nil, nil
	}
	o := overlaps[0]
	more := ""
	if len(overlaps) > 1 {
		more = fmt.Sprintf(" (and %d more DaemonSets)", len(overlaps)-1)
	}
	return &stall{reason: g.reason(), message: fmt.Sprintf(
		"DaemonSet %s%s, which innkeeper does not manage, runs %s on %d selected Nodes (%s); two on one Node "+
			"would fight. Keep it off the pool (for kubeadm's kube-system/kube-proxy, a node-affinity term that "+
			"excludes the pool's label); until then nothing is rolled out and this object's DaemonSet is removed. "+
			"Rechecked whenever that DaemonSet or the pool's Nodes change.",
		o.daemonSet, more, g.component, len(o.nodes), nameList(o.nodes))}, nil
}

// overlaps returns the foreign DaemonSets among dss that would run the component where the object
// with uid runs it: on any of its selected Nodes, or, for one kept off its admitted Nodes already
// (see keptOff), on those only, as it leaves each Node the object's rollout reaches. So a taken-over
// DaemonSet on Nodes not admitted yet (joining ones, say) stalls nobody, whether take-over is still
// asked for or allowed or not: stalling would remove the object's kube-proxy from the Nodes the
// other one left.
func (g *foreignGuard) overlaps(dss []appsv1.DaemonSet, nodes []*corev1.Node, own string, uid types.UID) []foreignOverlap {
	var out []foreignOverlap
	var admittedNodes []*corev1.Node // read once, and only for a DaemonSet kept off
	for _, o := range foreignDaemonSets(g.ex, dss, nodes, own) {
		i := findDaemonSet(dss, o.daemonSet)
		if keptOff(&dss[i], AdmittedLabel(g.component), uid) {
			if admittedNodes == nil {
				admittedNodes = admittedOnly(nodes, g.component, uid)
			}
			out = append(out, foreignDaemonSets(g.ex, dss[i:i+1], admittedNodes, own)...)
			continue
		}
		out = append(out, o)
	}
	return out
}

// keptOff reports whether a DaemonSet is kept off the Nodes admitted to the rollout of the object
// with uid: every term of its required node affinity has admittedKey NotIn a list holding uid (see
// excludingAffinity).
func keptOff(ds *appsv1.DaemonSet, admittedKey string, uid types.UID) bool {
	a := ds.Spec.Template.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil ||
		len(a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms) == 0 {
		return false
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		if !slices.ContainsFunc(term.MatchExpressions, func(e corev1.NodeSelectorRequirement) bool {
			return e.Key == admittedKey && e.Operator == corev1.NodeSelectorOpNotIn && slices.Contains(e.Values, string(uid))
		}) {
			return false
		}
	}
	return true
}

// admittedOnly returns the Nodes among nodes admitted to the rollout of the object with uid.
func admittedOnly(nodes []*corev1.Node, component string, uid types.UID) []*corev1.Node {
	var out []*corev1.Node
	for _, n := range nodes {
		if admitted(n, component, uid) {
			out = append(out, n)
		}
	}
	return out
}

// takeOverRefusal returns the stall of an object that asks to take its pool's Nodes from the
// foreign DaemonSets of overlaps if some of them are outside the namespaces allowed for take-over
// (none, when take-over is not enabled), nil if every one is inside. It refuses them all before
// any is changed: a pool taken from some of them would still run two of the component on a Node.
func takeOverRefusal(overlaps []foreignOverlap, allowed []string, reason, component string) *stall {
	var refused []foreignOverlap
	for _, o := range overlaps {
		if !slices.Contains(allowed, daemonSetNamespace(o.daemonSet)) {
			refused = append(refused, o)
		}
	}
	if len(refused) == 0 {
		return nil
	}
	o := refused[0]
	more := ""
	if len(refused) > 1 {
		more = fmt.Sprintf(" (and %d more DaemonSets)", len(refused)-1)
	}
	var why string
	if len(allowed) == 0 {
		why = "but take-over is not enabled: the manager may change no DaemonSet outside its own namespace. Enable it " +
			"with the chart's concierge.takeOver.enabled=true, which lets the manager update DaemonSets in " +
			"concierge.takeOver.namespaces (default kube-system) and restarts it with --take-over-namespaces"
	} else {
		why = fmt.Sprintf("but the manager takes DaemonSets over only in %s (--take-over-namespaces). Add %s to the "+
			"chart's concierge.takeOver.namespaces", strings.Join(allowed, ", "), daemonSetNamespace(o.daemonSet))
	}
	return &stall{reason: reason, message: fmt.Sprintf("spec.takeOver asks to take the pool's Nodes from DaemonSet %s%s, "+
		"which innkeeper does not manage and which runs %s on %d selected Nodes (%s), %s; or keep that DaemonSet off "+
		"the pool yourself. Until then nothing is rolled out and this object's DaemonSet is removed.",
		o.daemonSet, more, component, len(o.nodes), nameList(o.nodes), why)}
}

// takeOverFailure is the stall message of a failed take-over of ds: it says how to grant the
// manager the update that RBAC forbids, and otherwise gives the error.
func takeOverFailure(ds *appsv1.DaemonSet, err error) string {
	if apierrors.IsForbidden(err) {
		return fmt.Sprintf("Taking the pool's Nodes from DaemonSet %s/%s failed: the manager may not update DaemonSets in "+
			"namespace %s (%v). Grant it update on daemonsets there (the chart's concierge.takeOver.enabled does, in "+
			"concierge.takeOver.namespaces). Retried with backoff.", ds.Namespace, ds.Name, ds.Namespace, err)
	}
	return fmt.Sprintf("Taking the pool's Nodes from DaemonSet %s/%s failed: %v. Retried with backoff.", ds.Namespace, ds.Name, err)
}

// daemonSetNamespace returns the namespace of a DaemonSet named namespace/name.
func daemonSetNamespace(namespacedName string) string {
	ns, _, _ := strings.Cut(namespacedName, "/")
	return ns
}

// takesOver reports whether obj asks to keep foreign DaemonSets off its pool: its deletion then
// gives the Nodes back (see giveBack).
func (g *foreignGuard) takesOver(obj Object) bool {
	return g != nil && g.ex.TakeOver(obj)
}

// cachedDaemonSets returns every DaemonSet of the cluster from the cache: innkeeper's, and the
// others slimmed (see SlimDaemonSet). The slice is the caller's; the objects are the cache's, to be
// read, never modified or written back.
func (g *foreignGuard) cachedDaemonSets(ctx context.Context) ([]appsv1.DaemonSet, error) {
	dss := &appsv1.DaemonSetList{}
	if err := g.client.List(ctx, dss, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list DaemonSets to look for another %s: %w", g.component, err)
	}
	return dss.Items, nil
}

// keepOff reads a foreign DaemonSet afresh (the cache holds a slimmed copy) and sets its node
// affinity to its original one narrowed to Nodes outside the pools of the objects it is kept off
// for: those its annotation names, plus adding if not empty; objects no longer among peers, or
// being deleted, drop out. It records both in annotations; with no object left it restores the
// original affinity. It returns the updated DaemonSet.
func (g *foreignGuard) keepOff(ctx context.Context, key client.ObjectKey, adding string, peers []Object) (*appsv1.DaemonSet, error) {
	ds := &appsv1.DaemonSet{}
	if err := g.apiReader.Get(ctx, key, ds); err != nil {
		return nil, fmt.Errorf("get DaemonSet %s: %w", key, err)
	}
	var original *corev1.Affinity
	if raw, ok := ds.Annotations[AnnotationOriginalAffinity]; ok {
		if err := json.Unmarshal([]byte(raw), &original); err != nil {
			return nil, fmt.Errorf("read annotation %s: %w", AnnotationOriginalAffinity, err)
		}
	} else {
		original = ds.Spec.Template.Spec.Affinity.DeepCopy()
	}
	want := ds.Annotations[AnnotationTakenOverBy]
	if adding != "" {
		want = addName(want, adding)
	}
	var kept, uids []string
	for _, p := range peers {
		if listed(want, p.GetName()) && p.GetDeletionTimestamp().IsZero() {
			kept = append(kept, p.GetName())
			uids = append(uids, string(p.GetUID()))
		}
	}
	sort.Strings(kept)
	affinity := excludingAffinity(original, AdmittedLabel(g.component), uids)
	if ds.Annotations == nil {
		ds.Annotations = map[string]string{}
	}
	if len(kept) == 0 {
		delete(ds.Annotations, AnnotationTakenOverBy)
		delete(ds.Annotations, AnnotationOriginalAffinity)
	} else {
		raw, err := json.Marshal(original)
		if err != nil {
			return nil, err
		}
		ds.Annotations[AnnotationTakenOverBy] = strings.Join(kept, ",")
		ds.Annotations[AnnotationOriginalAffinity] = string(raw)
	}
	ds.Spec.Template.Spec.Affinity = affinity
	// An update, not a patch: it fails on a DaemonSet changed since it was read, and the reconcile
	// is retried from the new one.
	if err := g.client.Update(ctx, ds); err != nil {
		return nil, fmt.Errorf("update DaemonSet %s: %w", key, err)
	}
	log.FromContext(ctx).Info("Kept a foreign DaemonSet off pools", "daemonSet", klog.KObj(ds), "pools", kept)
	return ds, nil
}

// reason is the Stalled reason, and the reason of the Events, of what the guard finds and does,
// such as ForeignKubeProxy; "" for no guard.
func (g *foreignGuard) reason() string {
	if g == nil {
		return ""
	}
	return g.ex.ForeignReason()
}

// giveBack removes a deleted object's pool from the foreign DaemonSets it was kept off; peers lists
// the objects of the kind, whose pools stay excluded. A DaemonSet outside the namespaces allowed
// for take-over (they were narrowed since it was taken over) is not changed: the others are given
// back, the error says how to give that one back, and the object stays until it is, so that its
// own DaemonSet keeps running where the other one is still kept off.
func (g *foreignGuard) giveBack(ctx context.Context, obj Object, peers func(context.Context) ([]Object, error)) error {
	if g == nil {
		return nil
	}
	// Read from the API server, not the cache: this object may have taken a DaemonSet over just
	// before its deletion, later than the cache has seen, and a DaemonSet missed here would stay
	// off the pool for good.
	list := &appsv1.DaemonSetList{}
	if err := g.apiReader.List(ctx, list); err != nil {
		return fmt.Errorf("list DaemonSets: %w", err)
	}
	dss := list.Items
	var others []Object
	var refused []error
	for i := range dss {
		if !listed(dss[i].Annotations[AnnotationTakenOverBy], obj.GetName()) {
			continue
		}
		if others == nil {
			var err error
			if others, err = peers(ctx); err != nil {
				return err
			}
		}
		if !slices.Contains(g.takeOverNamespaces, dss[i].Namespace) {
			refused = append(refused, fmt.Errorf("give DaemonSet %s/%s back the Nodes of %s: the manager takes DaemonSets over only in [%s] "+
				"(--take-over-namespaces) and may not change it. Name %s for take-over again (the chart's "+
				"concierge.takeOver.namespaces), or restore its affinity from its annotation %s and remove that annotation "+
				"and %s yourself", dss[i].Namespace, dss[i].Name, obj.GetName(), strings.Join(g.takeOverNamespaces, ", "),
				dss[i].Namespace, AnnotationOriginalAffinity, AnnotationTakenOverBy))
			continue
		}
		// obj is being deleted: it drops out.
		if _, err := g.keepOff(ctx, client.ObjectKeyFromObject(&dss[i]), "", others); err != nil {
			return err
		}
	}
	return errors.Join(refused...)
}

// daemonSetChange lets through the events of DaemonSets that innkeeper does not manage and that
// run the component: their creation, their deletion, and the updates that can change the Nodes
// they run on or whom they were kept off for (spec, labels, innkeeper's annotations, deletion),
// not the status updates that their controller makes throughout a rollout.
func (g *foreignGuard) daemonSetChange() predicate.Predicate {
	foreign := func(o client.Object) bool {
		ds, ok := o.(*appsv1.DaemonSet)
		return ok && ds.Labels[LabelManagedBy] != ManagedByValue && g.ex.Foreign(ds)
	}
	return predicate.Funcs{
		CreateFunc: func(e event.CreateEvent) bool { return foreign(e.Object) },
		DeleteFunc: func(e event.DeleteEvent) bool { return foreign(e.Object) },
		UpdateFunc: func(e event.UpdateEvent) bool {
			if !foreign(e.ObjectOld) && !foreign(e.ObjectNew) {
				return false
			}
			return !sameButStatus(e.ObjectOld, e.ObjectNew)
		},
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}

// nodeChanged reports whether a Node update can change where a foreign DaemonSet runs: the taints
// that keep pods off the Node. A nil guard cares about none.
func (g *foreignGuard) nodeChanged(oldNode, newNode *corev1.Node) bool {
	return g != nil && !slices.Equal(placementTaints(oldNode), placementTaints(newNode))
}

// findDaemonSet returns the index of the DaemonSet namespace/name among dss, -1 if it is not there.
func findDaemonSet(dss []appsv1.DaemonSet, namespacedName string) int {
	for i := range dss {
		if dss[i].Namespace+"/"+dss[i].Name == namespacedName {
			return i
		}
	}
	return -1
}

// listed reports whether name is in a comma-separated list.
func listed(list, name string) bool {
	return strings.Contains(","+list+",", ","+name+",")
}

// addName adds name to a comma-separated list.
func addName(list, name string) string {
	if list == "" {
		return name
	}
	if listed(list, name) {
		return list
	}
	return list + "," + name
}
