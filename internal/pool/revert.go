package pool

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// Reverting takes an object's configuration off the Nodes that leave its pool, and off all of its
// Nodes when it is deleted, paced like a rollout. The engine marks a Node for revert by setting its
// admission label (AdmittedLabel) to hotelv1alpha1.RevertValue of the object's UID: the DaemonSet's
// node affinity keeps its pod there (a second term, for that value alone), and the node agent,
// which watches its Node's label, removes innkeeper's files, restarts the component if that
// removed something, checks it, and removes its annotations from the Node. A Node so labelled
// whose agent records nothing is reverted, and the engine removes the label: the DaemonSet
// controller then removes the pod. At most maxUnavailable Nodes are being reverted or updated at
// once, reverts first. A deleted object holds a finalizer until none of its Nodes is left, or its
// revert timeout passes.

// reverts returns whether obj's Nodes are reverted, and how long its deletion waits for them: for
// a component with a node agent, as obj's NodeFiles say (hotelv1alpha1.NodeFilesObject).
func (r *Reconciler) reverts(obj Object) (bool, time.Duration) {
	f, ok := obj.(hotelv1alpha1.NodeFilesObject)
	if !ok || !r.kind.Component.NodeAgent() || !f.NodeFilesSpec().Reverts() {
		return false, 0
	}
	return true, time.Duration(f.NodeFilesSpec().RevertTimeout()) * time.Second
}

// orphans reports whether deleting obj leaves its workloads running: a Concierge's deletionPolicy
// (Orphaning), or a FloorManager's or RoomService's (NodeFiles).
func (r *Reconciler) orphans(obj Object) bool {
	if o, ok := r.kind.Component.(Orphaning); ok && o.Orphan(obj) {
		return true
	}
	f, ok := obj.(hotelv1alpha1.NodeFilesObject)
	return ok && r.kind.Component.NodeAgent() && !f.NodeFilesSpec().Reverts()
}

// isReverted reports whether a Node marked for revert is done: its agent says so (state Reverted).
// A Node whose agent records nothing is not: its agent may not have started, or may be applying.
func isReverted(n *corev1.Node, component string) bool {
	return agentState(n, component) == hotelv1alpha1.AgentStateReverted
}

// revertStuck reports whether a Node marked for revert cannot be reverted for now: it is not
// Ready (its agent may not run), or its agent failed to revert it (state Degraded, target revert;
// it put innkeeper's files back). Such a Node takes no place in the budget.
func revertStuck(n *corev1.Node, component string) bool {
	failed := agentState(n, component) == hotelv1alpha1.AgentStateDegraded &&
		n.Annotations[hotelv1alpha1.AgentAnnotation(component, hotelv1alpha1.AgentAnnotationTarget)] == hotelv1alpha1.AgentTargetRevert
	return failed || !nodeReady(n)
}

func agentState(n *corev1.Node, component string) string {
	return n.Annotations[hotelv1alpha1.AgentAnnotation(component, hotelv1alpha1.AgentAnnotationState)]
}

// isMarkedForRevert reports whether a Node is being reverted by any object of the component's kind.
func isMarkedForRevert(n *corev1.Node, component string) bool {
	return strings.HasPrefix(n.Labels[AdmittedLabel(component)], hotelv1alpha1.RevertValue(""))
}

// planReverts decides, for an object whose Nodes are reverted, which Nodes to mark for revert and
// which reverted Nodes to release, and returns how many Nodes are being reverted once that is done
// (they take from the budget of the rollout). It is pure.
//
// The Nodes to revert are those admitted to the object's rollout that its pool no longer selects
// (admittedElsewhere), or all of its admitted Nodes if it is being deleted; they are marked up to
// maxUnavailable of the pool, less the Nodes being reverted and, unless deleted, those in flight
// in the rollout: Ready Nodes first, then by name. Without a DaemonSet, no agent can revert them:
// they are released as they are.
func planReverts(o observed, ad *admission, rolloutInFlight int) int {
	var candidates []*corev1.Node
	if o.selectorErr == nil || o.deleting {
		candidates = append(candidates, o.admittedElsewhere...)
	}
	if o.deleting {
		for _, n := range o.nodes {
			if admitted(n, o.component, o.uid) {
				candidates = append(candidates, n)
			}
		}
	}
	if o.daemonSet == nil {
		// No agent can revert them (the DaemonSet was deleted first: a foreground deletion, or by
		// hand): released as they are.
		for _, n := range candidates {
			ad.release = append(ad.release, n.Name)
		}
		for _, n := range o.reverting {
			ad.releaseReverted = append(ad.releaseReverted, n.Name)
		}
		sort.Strings(ad.release)
		sort.Strings(ad.releaseReverted)
		return 0
	}
	inFlight := 0
	for _, n := range o.reverting {
		switch {
		case isReverted(n, o.component):
			ad.releaseReverted = append(ad.releaseReverted, n.Name)
		case revertStuck(n, o.component):
			ad.revertStuck = append(ad.revertStuck, n.Name)
		default:
			inFlight++
			ad.reverting = append(ad.reverting, n.Name)
		}
	}
	sort.Strings(ad.releaseReverted)
	sort.Strings(ad.reverting)
	sort.Strings(ad.revertStuck)
	// The pool's Nodes, or a deleted object's: all it manages.
	base := len(o.nodes)
	if o.deleting {
		base = len(candidates) + len(o.reverting)
	} else {
		inFlight += rolloutInFlight
	}
	budget := maxChanging(o.maxUnavailable, base) - inFlight
	sortReadyFirst(candidates)
	for i := 0; i < budget && i < len(candidates); i++ {
		ad.revert = append(ad.revert, candidates[i].Name)
	}
	ad.revertWaiting = len(candidates) - len(ad.revert)
	sort.Strings(ad.revert)
	return len(ad.reverting) + len(ad.revert)
}

// releaseMarked releases, as they are, the Nodes marked for revert by an object that no longer
// reverts (its deletionPolicy turned Orphan): no agent is asked to finish.
func releaseMarked(o observed, ad *admission) {
	for _, n := range o.reverting {
		ad.releaseReverted = append(ad.releaseReverted, n.Name)
	}
	sort.Strings(ad.releaseReverted)
}

// sortReadyFirst sorts Nodes Ready first, then by name, so that a wave is predictable.
func sortReadyFirst(nodes []*corev1.Node) {
	sort.Slice(nodes, func(i, j int) bool {
		ri, rj := nodeReady(nodes[i]), nodeReady(nodes[j])
		if ri != rj {
			return ri
		}
		return nodes[i].Name < nodes[j].Name
	})
}

// revertDone reports whether a deleted object has no Node left to revert once ad is applied.
func revertDone(ad admission) bool {
	return len(ad.revert) == 0 && len(ad.reverting) == 0 && len(ad.revertStuck) == 0 && ad.revertWaiting == 0
}

// revertWait says why a deleted object waits: its Nodes are being reverted.
func revertWait(o observed, ad admission) *stall {
	left := len(ad.reverting) + len(ad.revert) + len(ad.revertStuck) + ad.revertWaiting
	names := append(append([]string(nil), ad.reverting...), ad.revert...)
	sort.Strings(names)
	stuck := ""
	if len(ad.revertStuck) > 0 {
		stuck = fmt.Sprintf(" Not Ready, or failed to revert (see their hotel.innkeeper.dev annotations): %s.", nameList(ad.revertStuck))
	}
	return &stall{reason: hotelv1alpha1.ReasonReverting, message: fmt.Sprintf(
		"Deleted: taking configuration %s off the Nodes before the object goes, at most %s at a time: %d left, "+
			"reverting %s.%s The object goes at %s at the latest (spec.revertTimeoutSeconds), reverted or not.",
		orNone(o.applied.Hash), o.maxUnavailable.String(), left, nameList(names), stuck, o.revertDeadline.UTC().Format(time.RFC3339))}
}

// markForRevert sets the admission label of the named Nodes from the object's UID to its revert
// value: a JSON patch that tests the UID first, so that it never takes another object's Node.
func (r *Reconciler) markForRevert(ctx context.Context, obj Object, nodes []string) error {
	if len(nodes) == 0 {
		return nil
	}
	if err := r.patchAdmittedLabel(ctx, nodes, string(obj.GetUID()),
		jsonPatchOp{Op: patchReplace, Value: hotelv1alpha1.RevertValue(string(obj.GetUID()))},
		fmt.Sprintf("mark Node %%s for revert by %s %s", r.gvk.Kind, obj.GetName())); err != nil {
		return err
	}
	log.FromContext(ctx).Info("Reverting Nodes", "nodes", nodes)
	return nil
}

// clearReverted removes the record of a finished revert (state Reverted, and the rest of the
// component's agent annotations) from the named Nodes, once their label is released: the Node is
// as if innkeeper had never configured it. Only a record that still says Reverted is removed.
func (r *Reconciler) clearReverted(ctx context.Context, nodes []string) error {
	component := r.kind.Component.Name()
	state := "/metadata/annotations/" + jsonPointerEscape(hotelv1alpha1.AgentAnnotation(component, hotelv1alpha1.AgentAnnotationState))
	for _, name := range nodes {
		node := &corev1.Node{}
		if err := r.client.Get(ctx, client.ObjectKey{Name: name}, node); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return err
		}
		if !isReverted(node, component) {
			continue
		}
		ops := []jsonPatchOp{{Op: patchTest, Path: state, Value: hotelv1alpha1.AgentStateReverted}}
		for _, suffix := range hotelv1alpha1.AgentAnnotations {
			key := hotelv1alpha1.AgentAnnotation(component, suffix)
			if _, ok := node.Annotations[key]; ok {
				ops = append(ops, jsonPatchOp{Op: patchRemove, Path: "/metadata/annotations/" + jsonPointerEscape(key)})
			}
		}
		body, err := json.Marshal(ops)
		if err != nil {
			return err
		}
		if err := r.client.Patch(ctx, node, client.RawPatch(types.JSONPatchType, body)); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("clear the revert record of Node %s: %w", name, err)
		}
	}
	return nil
}

// labelledWith returns the names of the Nodes whose admission label holds value, sorted.
func (r *Reconciler) labelledWith(ctx context.Context, value string) ([]string, error) {
	nodes, err := r.nodes.selected(ctx, labels.SelectorFromSet(labels.Set{AdmittedLabel(r.kind.Component.Name()): value}))
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(nodes))
	for _, n := range nodes {
		names = append(names, n.Name)
	}
	sort.Strings(names)
	return names, nil
}

// revertDeleted reverts the Nodes of a deleted object that asks for it, and reports done once none
// is left, or its revert timeout has passed (the Nodes left are then released with a Warning Event
// that names them), so that finalize lets it go. Until then, the reconcile observes, decides, acts
// and reports as for any object (see decide: deleting), and is looked at again at the deadline.
func (r *Reconciler) revertDeleted(ctx context.Context, obj Object) (ctrl.Result, bool, error) {
	if reverts, _ := r.reverts(obj); !reverts || !controllerutil.ContainsFinalizer(obj, Finalizer) {
		return ctrl.Result{}, true, nil
	}
	o, err := r.observe(ctx, obj)
	if err != nil {
		return ctrl.Result{}, false, err
	}
	now := r.now().Time
	if !now.Before(o.revertDeadline) {
		return ctrl.Result{}, true, r.abandonReverts(ctx, obj)
	}
	d := decide(o)
	if o.daemonSet == nil {
		if left := append(append([]string(nil), d.admission.release...), d.admission.releaseReverted...); len(left) > 0 {
			sort.Strings(left)
			r.recorder.Eventf(obj, nil, corev1.EventTypeWarning, "RevertSkipped", "Revert",
				"The DaemonSet is gone (deleted first, as kubectl delete --cascade=foreground or a deletion by hand does): "+
					"no agent is left to revert %d Nodes, which keep innkeeper's configuration: %s.", len(left), nameList(left))
		}
	}
	acted, err := r.act(ctx, obj, o, d)
	if err != nil {
		return ctrl.Result{}, false, err
	}
	if acted.err == nil && revertDone(d.admission) {
		if len(o.reverting) > 0 {
			r.recorder.Eventf(obj, nil, corev1.EventTypeNormal, hotelv1alpha1.ReasonReverting, "Revert",
				"Every Node is reverted: innkeeper's configuration is off them.")
		}
		return ctrl.Result{}, true, nil
	}
	if err := r.report(ctx, obj, aggregateStatus(obj.PoolStatus(), o, d, acted, r.now())); err != nil {
		return ctrl.Result{}, false, err
	}
	if acted.err != nil {
		return ctrl.Result{}, false, acted.err
	}
	return ctrl.Result{RequeueAfter: o.revertDeadline.Sub(now) + time.Second}, false, nil
}

// abandonReverts releases the Nodes a deleted object could not revert in time, and says which.
func (r *Reconciler) abandonReverts(ctx context.Context, obj Object) error {
	var left []string
	for _, value := range []string{string(obj.GetUID()), hotelv1alpha1.RevertValue(string(obj.GetUID()))} {
		names, err := r.labelledWith(ctx, value)
		if err != nil {
			return err
		}
		if err := r.releaseLabel(ctx, obj.GetName(), value, names); err != nil {
			return err
		}
		left = append(left, names...)
	}
	if len(left) == 0 {
		return nil
	}
	sort.Strings(left)
	r.recorder.Eventf(obj, nil, corev1.EventTypeWarning, "RevertTimedOut", "Revert",
		"The revert timeout (spec.revertTimeoutSeconds) passed with %d Nodes not reverted, which keep innkeeper's "+
			"configuration: %s. Their agents failed to revert them (see the Nodes' hotel.innkeeper.dev annotations) or "+
			"never ran; remove the files by hand, or apply an object that selects them.", len(left), nameList(left))
	log.FromContext(ctx).Info("Revert timed out; Nodes left with the configuration", "nodes", left)
	return nil
}
