package pool

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// Admission paces what a DaemonSet's own rolling update cannot: its first rollout, a spec that
// selects more Nodes, and a Node that joins the pool. The DaemonSet controller creates a pod on
// every Node that newly matches a DaemonSet's node affinity at once, whatever maxUnavailable says;
// maxUnavailable paces only the replacement of existing pods. So an object's DaemonSet runs only on
// the Nodes the engine has admitted to its rollout, those labelled AdmittedLabel(component) with
// the object's UID (the label is in the pod template's node affinity, beside the pool's selector),
// and the engine admits Nodes in waves: only while the DaemonSet rolls out the newest configuration,
// and only as many as maxUnavailable leaves once the admitted Nodes still updating, failed or not
// Ready are counted. A Node that already runs the configuration, or every Node a DaemonSet from
// before admission runs on, is admitted at once: its pod changes nothing there.
//
// One label key per component holds the UID of the object whose rollout the Node is admitted to:
// a Node belongs to at most one pool of each kind, and a new object of the same name is never
// admitted where an old one was.

// AdmittedLabel is the Node label that admits a Node to the rollout of one object of component's
// kind: hotelv1alpha1.AdmittedLabel.
func AdmittedLabel(component string) string { return hotelv1alpha1.AdmittedLabel(component) }

// admission is which Nodes to admit to an object's rollout and which to release from it.
type admission struct {
	// admit names the Nodes to label, sorted; release, the Nodes labelled with the object's UID
	// that its pool no longer selects, sorted.
	admit, release []string
	// waiting is the number of selected Nodes left unadmitted once admit is done.
	waiting int
	// adopting: the DaemonSet is from before admission (or gated for another UID), and admit
	// admits its Nodes in chunks of adoptChunk; while Nodes are left, its template must stay as it
	// is, or the DaemonSet controller would remove their pods.
	adopting bool
	// behind names, sorted, the admitted Nodes in flight (updating, failed or not Ready) while the
	// budget they take keeps waiting Nodes out: the Nodes to look at when a rollout does not move.
	behind []string

	// For an object whose Nodes are reverted (see revert.go): revert names the Nodes to mark for
	// revert; reverting, those marked whose agent is not done; revertStuck, those marked that are
	// not Ready or whose agent failed to revert them; releaseReverted, those marked that are done,
	// whose label goes (all sorted); revertWaiting, how many are left to mark after revert.
	revert, reverting, revertStuck, releaseReverted []string
	revertWaiting                                   int
}

// admitted reports whether node is admitted to the rollout of the object with uid.
func admitted(node *corev1.Node, component string, uid types.UID) bool {
	return uid != "" && node.Labels[AdmittedLabel(component)] == string(uid)
}

// isAdmitted reports whether node is admitted to the object's rollout, or was admitted by an
// earlier reconcile and the cache does not show it yet.
func (o observed) isAdmitted(node *corev1.Node) bool {
	return admitted(node, o.component, o.uid) || o.admitting[node.Name]
}

// admissionExpiry bounds how long a Node admitted by a reconcile counts as admitted while the cache
// does not show its label: a label removed again in between (by hand) must not count forever.
const admissionExpiry = time.Minute

// expectAdmitted returns the Nodes that earlier reconciles of the object with uid admitted and that
// the cache does not show admitted yet (among nodes, the selected ones), and forgets those it
// shows, those no longer selected and those past admissionExpiry. Counting them keeps a reconcile
// that reads the cache before it caught up from admitting another wave on top of them, as a
// controller's expectations do.
func (r *Reconciler) expectAdmitted(uid types.UID, nodes []*corev1.Node, now time.Time) map[string]bool {
	v, ok := r.admitting.Load(uid)
	if !ok {
		return nil
	}
	pending := v.(*admittingNodes)
	pending.mu.Lock()
	defer pending.mu.Unlock()
	selected := make(map[string]*corev1.Node, len(nodes))
	for _, n := range nodes {
		selected[n.Name] = n
	}
	out := map[string]bool{}
	for name, at := range pending.at {
		n, ok := selected[name]
		if !ok || admitted(n, r.kind.Component.Name(), uid) || now.Sub(at) > admissionExpiry {
			delete(pending.at, name)
			continue
		}
		out[name] = true
	}
	return out
}

// admittingNodes are the Nodes admitted to one object's rollout, by when, not yet seen admitted.
type admittingNodes struct {
	mu sync.Mutex
	at map[string]time.Time
}

// rememberAdmitted records Nodes just admitted to the rollout of the object with uid.
func (r *Reconciler) rememberAdmitted(uid types.UID, names []string, now time.Time) {
	v, _ := r.admitting.LoadOrStore(uid, &admittingNodes{at: map[string]time.Time{}})
	pending := v.(*admittingNodes)
	pending.mu.Lock()
	defer pending.mu.Unlock()
	for _, n := range names {
		pending.at[n] = now
	}
}

// gated reports whether a DaemonSet's pods run only on the Nodes admitted to the rollout of the
// object with uid: DaemonSets that innkeeper rendered before admission existed run on every
// selected Node, and one gated for another UID (an object of the same name, deleted and created
// again before its DaemonSet was collected) on none of the object's.
func gated(ds *appsv1.DaemonSet, component string, uid types.UID) bool {
	a := ds.Spec.Template.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return false
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, e := range term.MatchExpressions {
			if e.Key == AdmittedLabel(component) && len(e.Values) == 1 && e.Values[0] == string(uid) {
				return true
			}
		}
	}
	return false
}

// admit decides, from what a reconcile observed and decided, which Nodes to admit to the object's
// rollout and which to release. It is pure.
//
// Nodes the pool no longer selects are released whenever the selector is valid. Nodes are admitted
// only while the DaemonSet is applied or held (never for a stalled object, which rolls nothing
// out), in three ways:
//   - a DaemonSet from before admission (see gated) runs on every selected Node: all are admitted
//     regardless of the budget (adoptChunk per reconcile), before its pod template is gated, or the
//     DaemonSet controller would remove its pods;
//   - a Node whose agent reports the configuration the DaemonSet rolls out is admitted at no cost
//     (components with a node agent only: for others the engine cannot tell per Node);
//   - otherwise, and only while the rollout is neither paused, nor waiting for a maintenance
//     window, nor changing configuration, up to
//     maxUnavailable (of the selected Nodes, rounded up) less the admitted Nodes that are not yet
//     updated and Ready: Ready Nodes first, then by name, so that a wave is predictable.
func admit(o observed, d decision) admission {
	var ad admission
	var pending []*corev1.Node
	admittedCount := 0
	for _, n := range o.nodes {
		switch {
		case o.isAdmitted(n):
			admittedCount++
		case isMarkedForRevert(n, o.component):
			// Being reverted (back in the pool, or by the object of a pool it left): admitted once
			// that is done.
		default:
			pending = append(pending, n)
		}
	}
	reverting := leave(o, &ad, admittedCount)
	if o.deleting {
		return ad
	}
	ad.waiting = len(pending)
	if len(pending) == 0 || o.daemonSet == nil || (d.action != actApply && d.action != actHold) {
		return ad
	}
	take := func(n *corev1.Node) {
		ad.admit = append(ad.admit, n.Name)
		ad.waiting--
	}
	if !gated(o.daemonSet, o.component, o.uid) {
		// In chunks: on 5,000 Nodes one reconcile would otherwise spend minutes patching. The
		// DaemonSet keeps its ungated template until the last chunk (see decide).
		ad.adopting = true
		for _, n := range pending[:min(len(pending), adoptChunk)] {
			take(n)
		}
		sort.Strings(ad.admit)
		return ad
	}

	var rest []*corev1.Node
	for _, n := range pending {
		if o.nodeAgent && o.applied.Hash != "" && updatedAndReady(n, o.component, o.applied.Hash) {
			take(n)
		} else {
			rest = append(rest, n)
		}
	}
	if d.action != actApply || d.wait != nil || o.paused || o.applied.Hash == "" || o.applied.Hash != d.config.Hash {
		sort.Strings(ad.admit)
		return ad
	}
	budget := maxChanging(o.maxUnavailable, len(o.nodes)) - inFlight(o, admittedCount) - reverting
	if d.canary > 0 {
		// A first rollout's canary: no more Nodes than the canary holds until it passed.
		budget = min(budget, d.canary-admittedCount-len(ad.admit))
	}
	if budget <= 0 && o.nodeAgent {
		for _, n := range o.nodes {
			if o.isAdmitted(n) && !updatedAndReady(n, o.component, o.applied.Hash) {
				ad.behind = append(ad.behind, n.Name)
			}
		}
		sort.Strings(ad.behind)
	}
	if budget > 0 {
		// Only when a wave is admitted: the Nodes that wait may be most of a large pool.
		sortReadyFirst(rest)
	}
	for i := 0; i < budget && i < len(rest); i++ {
		take(rest[i])
	}
	sort.Strings(ad.admit)
	return ad
}

// leave decides what becomes of the Nodes admitted to the object's rollout that its pool no longer
// selects: reverted (see planReverts), or released as they are; it returns how many Nodes are being
// reverted, which take from the rollout's budget.
func leave(o observed, ad *admission, admittedCount int) int {
	if o.reverts {
		rolloutInFlight := 0
		if o.daemonSet != nil {
			rolloutInFlight = inFlight(o, admittedCount)
		}
		return planReverts(o, ad, rolloutInFlight)
	}
	if o.selectorErr == nil {
		for _, n := range o.admittedElsewhere {
			ad.release = append(ad.release, n.Name)
		}
		sort.Strings(ad.release)
	}
	releaseMarked(o, ad)
	return 0
}

// adoptChunk is how many Nodes one reconcile admits to a DaemonSet from before admission.
const adoptChunk = 500

// maxChanging is how many of a pool's Nodes may be changing at once: maxUnavailable of the selected
// Nodes, a percentage rounded up, as for the DaemonSet, and at least one.
func maxChanging(maxUnavailable intstr.IntOrString, selected int) int {
	n, err := intstr.GetScaledValueFromIntOrPercent(&maxUnavailable, selected, true)
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// inFlight counts the admitted Nodes that do not yet run the configuration the DaemonSet rolls out
// and are Ready, with a pod available: those still updating or soaking, those where it failed, and
// those not Ready. Where the
// component has no node agent, the DaemonSet's status counts the Nodes that are (see rolloutCounts):
// a status that lags its spec counts none, so a reconcile that reads it too early admits less, never
// more.
func inFlight(o observed, admittedCount int) int {
	if o.nodeAgent {
		n := 0
		for _, node := range o.nodes {
			if o.isAdmitted(node) && !updatedAndReady(node, o.component, o.applied.Hash) {
				n++
			}
		}
		if o.soakSeconds > 0 {
			// A pod not yet available (Ready for the soak) is still in flight, whatever its agent
			// reports. Without a soak, an agent's pod turns Ready as it reports.
			n = max(n, unavailablePods(o.daemonSet, admittedCount))
		}
		return n
	}
	notReady := int32(0)
	for _, node := range o.nodes {
		if !nodeReady(node) {
			notReady++
		}
	}
	c, _ := rolloutCounts(o, acted{daemonSet: o.daemonSet, appliedHash: o.applied.Hash}, int32(len(o.nodes)), notReady)
	return max(admittedCount-int(c.Ready), 0)
}

// release removes the label that admits the named Nodes to the rollout of the object name with
// uid, if it still holds uid: a JSON patch that tests the value first, so that it never removes
// another object's label.
func (r *Reconciler) release(ctx context.Context, name string, uid types.UID, nodes []string) error {
	return r.releaseLabel(ctx, name, string(uid), nodes)
}

// releaseLabel removes the admission label from the named Nodes if it still holds value.
func (r *Reconciler) releaseLabel(ctx context.Context, name, value string, nodes []string) error {
	return r.patchAdmittedLabel(ctx, nodes, value, jsonPatchOp{Op: patchRemove},
		fmt.Sprintf("release Node %%s from the rollout of %s %s", r.gvk.Kind, name))
}

// patchAdmittedLabel applies op to the admission label of the named Nodes (a Node gone is skipped)
// if it still holds value: a JSON patch that tests it first, so that it never changes another
// object's label. A Node whose label holds something else fails the patch, and its error is
// returned, described by what (a format with the Node's name), for the reconcile to be retried.
func (r *Reconciler) patchAdmittedLabel(ctx context.Context, nodes []string, value string, op jsonPatchOp, what string) error {
	if len(nodes) == 0 {
		return nil
	}
	op.Path = "/metadata/labels/" + jsonPointerEscape(AdmittedLabel(r.kind.Component.Name()))
	body, err := json.Marshal([]jsonPatchOp{{Op: patchTest, Path: op.Path, Value: value}, op})
	if err != nil {
		return err
	}
	for _, n := range nodes {
		node := &corev1.Node{}
		node.Name = n
		if err := r.client.Patch(ctx, node, client.RawPatch(types.JSONPatchType, body)); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf(what+": %w", n, err)
		}
	}
	return nil
}

// releaseDeleted releases the Nodes admitted to the rollout of a deleted object, whose UID the
// engine remembers from the last version it decoded: its DaemonSet is gone with it, and a label
// left would only confuse whoever reads the Node. An object that asked to leave its workloads
// running (an Orphan deletion policy) keeps its Nodes' labels: its DaemonSet, left running,
// requires them. A manager that restarts in between forgets the UID, and leaves the labels (which
// admit nothing any more).
func (r *Reconciler) releaseDeleted(ctx context.Context, name string) error {
	v, ok := r.decoded.Load(name)
	if !ok {
		return nil
	}
	obj := v.(*decoded).peer
	if obj == nil || obj.GetUID() == "" {
		return nil
	}
	if v.(*decoded).obj != nil && r.orphans(obj) {
		return nil
	}
	nodes, err := r.nodes.selected(ctx, labels.SelectorFromSet(labels.Set{
		AdmittedLabel(r.kind.Component.Name()): string(obj.GetUID())}))
	if err != nil {
		return err
	}
	names := make([]string, 0, len(nodes))
	for _, n := range nodes {
		names = append(names, n.Name)
	}
	sort.Strings(names)
	r.admitting.Delete(obj.GetUID())
	return r.release(ctx, name, obj.GetUID(), names)
}

// unavailablePods is how many of a DaemonSet's pods are not available, as its status says; all of
// them (admitted, as the DaemonSet places a pod on every admitted Node) while the status lags the spec.
func unavailablePods(ds *appsv1.DaemonSet, admittedCount int) int {
	if ds.Status.ObservedGeneration < ds.Generation {
		return admittedCount
	}
	return max(int(ds.Status.DesiredNumberScheduled-ds.Status.NumberAvailable), 0)
}

// updatedAndReady reports whether a Node's agent reports that it runs configuration hash, and the
// Node is Ready.
func updatedAndReady(n *corev1.Node, component, hash string) bool {
	return runsConfig(n, component, hash) && nodeReady(n)
}

// runsConfig reports whether a Node's agent reports configuration hash applied and its component
// healthy: the hash alone stays while the component turns unhealthy on it (state Degraded, reason
// Unhealthy).
func runsConfig(n *corev1.Node, component, hash string) bool {
	return hash != "" && n.Annotations[hotelv1alpha1.AgentAnnotation(component, hotelv1alpha1.AgentAnnotationConfig)] == hash &&
		n.Annotations[hotelv1alpha1.AgentAnnotation(component, hotelv1alpha1.AgentAnnotationState)] == hotelv1alpha1.AgentStateApplied
}

func nodeReady(n *corev1.Node) bool {
	return nodeConditionStatus(n, corev1.NodeReady) == corev1.ConditionTrue
}

// applyAdmission labels the Nodes admitted to obj's rollout and removes the label from those
// released. Releasing is conditional: it removes the label only if it still holds obj's UID, and a
// patch that fails its test is returned like any error, for the reconcile to be retried with
// backoff on a cache that has caught up.
func (r *Reconciler) applyAdmission(ctx context.Context, obj Object, ad admission) error {
	key := AdmittedLabel(r.kind.Component.Name())
	if err := r.release(ctx, obj.GetName(), obj.GetUID(), ad.release); err != nil {
		return err
	}
	if err := r.releaseLabel(ctx, obj.GetName(), hotelv1alpha1.RevertValue(string(obj.GetUID())), ad.releaseReverted); err != nil {
		return err
	}
	if err := r.clearReverted(ctx, ad.releaseReverted); err != nil {
		return err
	}
	if err := r.markForRevert(ctx, obj, ad.revert); err != nil {
		return err
	}
	for _, name := range ad.admit {
		merge, err := json.Marshal(map[string]any{fieldMetadata: map[string]any{"labels": map[string]string{key: string(obj.GetUID())}}})
		if err != nil {
			return err
		}
		node := &corev1.Node{}
		node.Name = name
		if err := r.client.Patch(ctx, node, client.RawPatch(types.MergePatchType, merge)); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("admit Node %s to the rollout of %s %s: %w", name, r.gvk.Kind, obj.GetName(), err)
		}
		r.rememberAdmitted(obj.GetUID(), []string{name}, r.now().Time)
	}
	if len(ad.admit) > 0 {
		log.FromContext(ctx).Info("Admitted Nodes to the rollout", "nodes", ad.admit, "waiting", ad.waiting)
	}
	return nil
}
