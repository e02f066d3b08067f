package pool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/events"
	"k8s.io/kubectl/pkg/drain"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/source"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// Draining (spec.rollout.drain) is a handshake on the Node between the component's agent and the
// manager, paced by the DaemonSet like any update:
//
//  1. The agent of a new configuration finds that the change needs a drain (kubelet.Disruption),
//     writes nothing, and records state Draining with the configuration as its target. Its pod is
//     not Ready, so it takes from the rollout's maxUnavailable.
//  2. The manager cordons the Node (remembering, in CordonedAnnotation, that the cordon is its own)
//     and drains it with the upstream drain library: evictions, so PodDisruptionBudgets hold;
//     DaemonSet pods and mirror pods stay; pods no controller owns are not deleted (the drain fails
//     and says which). One attempt is bounded by spec.rollout.drain.timeoutSeconds; a failed one
//     is reported (Event DrainFailed, and in Reconciling) and tried again after drainRetry.
//  3. Drained, the manager records it in DrainedAnnotation (the configuration's hash); the agent,
//     which watches its Node, applies the configuration, restarts the kubelet and checks it.
//  4. Once the agent is done (Applied, or Degraded and rolled back), the manager uncordons the Node,
//     if the cordon was its own, and removes both annotations.

// drainRetry is how long after a failed attempt a Node's drain is tried again.
const drainRetry = time.Minute

// drainPlan is what a reconcile does about drains.
type drainPlan struct {
	// start names the Nodes to cordon and drain, finish those to uncordon and forget; sorted.
	start, finish []string
	// retryAt is when the earliest failed drain that waits is to be tried again; zero for none.
	retryAt time.Time
}

// planDrains decides, from the Nodes' annotations and the drains that failed, which Nodes to drain
// and which are done with their drain. It is pure.
//
// A Node is drained when its agent waits for it (Draining) for the configuration the DaemonSet
// rolls out, the manager has not drained it for that configuration yet, and no attempt failed
// within drainRetry. A Node whose agent has moved on (applied, failed, reverted, or a pod of
// another configuration that needs no drain) with a drain or a cordon of the manager's is finished.
func planDrains(o observed) drainPlan {
	var p drainPlan
	if !o.nodeAgent {
		return p
	}
	state := hotelv1alpha1.AgentAnnotation(o.component, hotelv1alpha1.AgentAnnotationState)
	target := hotelv1alpha1.AgentAnnotation(o.component, hotelv1alpha1.AgentAnnotationTarget)
	drained := hotelv1alpha1.DrainedAnnotation(o.component)
	cordoned := hotelv1alpha1.CordonedAnnotation(o.component)
	stalledOff := poolStall(o) != nil
	for _, n := range o.nodes {
		a := n.Annotations
		switch {
		case o.deleting || stalledOff:
			// Its Nodes are reverted, or left as they are, or another holds the pool (and this
			// object's DaemonSet goes): none is drained any more.
			if a[drained] != "" || a[cordoned] != "" {
				p.finish = append(p.finish, n.Name)
			}
		case a[state] == hotelv1alpha1.AgentStateDraining && a[target] == o.applied.Hash && o.applied.Hash != "":
			if a[drained] == o.applied.Hash || o.drainRunning[n.Name] || o.drainDone[n.Name] == o.applied.Hash {
				continue
			}
			if f, ok := o.drainFailures[n.Name]; ok && f.hash == o.applied.Hash && o.now.Before(f.at.Add(drainRetry)) {
				if at := f.at.Add(drainRetry); p.retryAt.IsZero() || at.Before(p.retryAt) {
					p.retryAt = at
				}
				continue
			}
			p.start = append(p.start, n.Name)
		case a[state] == hotelv1alpha1.AgentStateDraining || a[state] == hotelv1alpha1.AgentStateApplying:
			// Waiting for a drain of another configuration (its pod is being replaced), or applying
			// on the drained Node: nothing to do yet.
		case a[drained] != "" || a[cordoned] != "":
			p.finish = append(p.finish, n.Name)
		}
	}
	// A Node that left the pool (reverted, or released) is no longer the rollout's to drain: its
	// cordon and record go, whatever its agent does.
	selected := make(map[string]bool, len(o.nodes))
	for _, n := range o.nodes {
		selected[n.Name] = true
	}
	for _, n := range slices.Concat(o.reverting, o.admittedElsewhere) {
		if !selected[n.Name] && !slices.Contains(p.finish, n.Name) &&
			(n.Annotations[drained] != "" || n.Annotations[cordoned] != "") {
			p.finish = append(p.finish, n.Name)
		}
	}
	sort.Strings(p.start)
	sort.Strings(p.finish)
	return p
}

// drainTimeout returns spec.rollout.drain.timeoutSeconds as a duration, 600 s when unset.
func drainTimeout(obj Object) time.Duration {
	if t := obj.PoolSpec().Rollout.Drain.TimeoutSeconds; t > 0 {
		return time.Duration(t) * time.Second
	}
	return 600 * time.Second
}

// applyDrains starts the drains plan names and finishes the Nodes done with theirs.
func (r *Reconciler) applyDrains(ctx context.Context, obj Object, o observed, p drainPlan) error {
	if r.drainer == nil {
		return nil
	}
	component := r.kind.Component.Name()
	for _, name := range p.start {
		r.drainer.start(ctx, obj, component, name, o.applied.Hash, o.drainTimeout)
	}
	var errs []error
	known := slices.Concat(o.nodes, o.reverting, o.admittedElsewhere)
	for _, name := range p.finish {
		i := slices.IndexFunc(known, func(n *corev1.Node) bool { return n.Name == name })
		if i < 0 {
			continue
		}
		if err := r.drainer.finish(ctx, component, known[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// finishDrains ends the drains of a deleted object's Nodes, and uncordons those it cordoned: the
// Nodes are no longer its rollout's, whatever their agents do now.
func (r *Reconciler) finishDrains(ctx context.Context, obj Object) error {
	if r.drainer == nil {
		return nil
	}
	selector, err := metav1.LabelSelectorAsSelector(obj.PoolSpec().NodeSelector.LabelSelector())
	if err != nil {
		return nil // an invalid selector selected no Node to drain
	}
	nodes, err := r.nodes.selected(ctx, selector)
	if err != nil {
		return err
	}
	component := r.kind.Component.Name()
	var errs []error
	for _, n := range nodes {
		if n.Annotations[hotelv1alpha1.DrainedAnnotation(component)] != "" || n.Annotations[hotelv1alpha1.CordonedAnnotation(component)] != "" {
			errs = append(errs, r.drainer.finish(ctx, component, n))
		} else {
			r.drainer.stop(n.Name)
		}
	}
	return errors.Join(errs...)
}

// drainFailure is an attempt to drain a Node that failed.
type drainFailure struct {
	hash    string
	at      time.Time
	message string
}

// drainer drains Nodes in the background, one attempt per Node at a time, and remembers the
// attempts that failed (lost on a restart of the manager, which then tries again at once).
type drainer struct {
	client   kubernetes.Interface
	recorder events.EventRecorder
	now      func() time.Time

	// ended receives the object of each drain that ended, so that it is reconciled: its status
	// says the drain is over, or failed.
	ended chan event.TypedGenericEvent[client.Object]

	mu sync.Mutex
	// base is the manager's context once Start runs: drains end with the manager.
	base context.Context
	// running holds the drain of each Node being drained; drained, by Node, the configuration a
	// drain finished for, until the Node is finished (the cache may not show the record yet);
	// failures, by Node, the attempt that failed.
	running  map[string]*drainRun
	drained  map[string]string
	failures map[string]drainFailure
}

// drainRun is one drain of one Node.
type drainRun struct{ cancel context.CancelFunc }

// Start runs as one of the manager's runnables (while it leads, like the reconcilers) until ctx
// ends; the drains run under ctx, and are stopped with it.
func (d *drainer) Start(ctx context.Context) error {
	d.mu.Lock()
	d.base = ctx
	d.mu.Unlock()
	<-ctx.Done()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, run := range d.running {
		run.cancel()
	}
	return nil
}

func newDrainer(cs kubernetes.Interface, recorder events.EventRecorder) *drainer {
	return &drainer{client: cs, recorder: recorder, now: time.Now, ended: make(chan event.TypedGenericEvent[client.Object], 64),
		running: map[string]*drainRun{}, drained: map[string]string{}, failures: map[string]drainFailure{}}
}

// source returns the source of the drains' ends for the controller.
func (d *drainer) source() source.Source {
	return source.Channel(d.ended, &handler.EnqueueRequestForObject{})
}

// snapshot returns the Nodes being drained, the configuration each Node was drained for (which the
// cache may not show yet), and the failed attempts, for observe.
func (d *drainer) snapshot() (map[string]bool, map[string]string, map[string]drainFailure) {
	if d == nil {
		return nil, nil, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	running := make(map[string]bool, len(d.running))
	for n := range d.running {
		running[n] = true
	}
	drained := make(map[string]string, len(d.drained))
	for n, h := range d.drained {
		drained[n] = h
	}
	failures := make(map[string]drainFailure, len(d.failures))
	for n, f := range d.failures {
		failures[n] = f
	}
	return running, drained, failures
}

// start begins draining node for the configuration hash of obj, unless a drain of it runs.
func (d *drainer) start(ctx context.Context, obj Object, component, node, hash string, timeout time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.running[node]; ok {
		return
	}
	// Not the reconcile's context, which ends with the reconcile: the manager's (see Start).
	base := d.base
	if base == nil {
		base = context.WithoutCancel(ctx)
	}
	runCtx, cancel := context.WithCancel(log.IntoContext(base, log.FromContext(ctx)))
	run := &drainRun{cancel: cancel}
	d.running[node] = run
	logger := log.FromContext(ctx).WithValues("node", node, "configHash", hash)
	go func() {
		defer cancel()
		n, err := d.drain(runCtx, component, node, hash, timeout)
		d.mu.Lock()
		if d.running[node] == run { // not a later drain of the Node, started after a stop
			delete(d.running, node)
		}
		if err == nil {
			delete(d.failures, node)
			d.drained[node] = hash
		} else if runCtx.Err() == nil {
			d.failures[node] = drainFailure{hash: hash, at: d.now(), message: err.Error()}
		}
		d.mu.Unlock()
		select {
		case d.ended <- event.TypedGenericEvent[client.Object]{Object: obj}:
		default: // the queue is full: the next reconcile of the object, or its retry, says it
		}
		switch {
		case err == nil:
			logger.Info("Drained the Node")
			d.event(obj, n, node, corev1.EventTypeNormal, hotelv1alpha1.ReasonDrained, fmt.Sprintf(
				"Cordoned and drained Node %s for configuration %s", node, hash))
		case runCtx.Err() != nil:
			logger.Info("Stopped draining the Node", "error", err.Error())
		default:
			logger.Info("Draining the Node failed; trying again later", "error", err.Error(), "after", drainRetry)
			d.event(obj, n, node, corev1.EventTypeWarning, hotelv1alpha1.ReasonDrainFailed, fmt.Sprintf(
				"Draining Node %s for configuration %s failed: %v. The Node stays cordoned and its kubelet untouched; "+
					"tried again in %s", node, hash, err, drainRetry))
		}
	}()
}

// stop ends the drain of node, if one runs, and forgets its failures: the Node is done with it.
func (d *drainer) stop(node string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if run, ok := d.running[node]; ok {
		run.cancel()
		delete(d.running, node)
	}
	delete(d.drained, node)
	delete(d.failures, node)
}

// drain cordons node, marking the cordon as its own unless the Node was cordoned already, evicts
// its pods, and records on the Node that it is drained for hash.
func (d *drainer) drain(ctx context.Context, component, node, hash string, timeout time.Duration) (*corev1.Node, error) {
	n, err := d.client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("get Node: %w", err)
	}
	if !n.Spec.Unschedulable {
		patch := nodePatch(map[string]any{hotelv1alpha1.CordonedAnnotation(component): hash}, ptrTo(true))
		if _, err := d.client.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return n, fmt.Errorf("cordon: %w", err)
		}
	}
	var out strings.Builder
	helper := &drain.Helper{
		Ctx:    ctx,
		Client: d.client,
		// The pods' own grace periods; DaemonSet pods (innkeeper's agents among them) stay, as
		// do mirror pods; emptyDir data goes with its pod; a pod no controller owns is not
		// deleted: the drain fails and names it.
		GracePeriodSeconds:  -1,
		IgnoreAllDaemonSets: true,
		DeleteEmptyDirData:  true,
		Timeout:             timeout,
		Out:                 io.Discard,
		ErrOut:              &limitedWriter{b: &out, max: 4096},
	}
	if err := drain.RunNodeDrain(helper, node); err != nil {
		msg := strings.TrimSpace(err.Error())
		if strings.Contains(msg, "global timeout reached") {
			msg = fmt.Sprintf("pods still there after %s (a PodDisruptionBudget that allows no eviction, or a pod that "+
				"does not terminate): %s", timeout, msg)
		}
		return n, fmt.Errorf("%s", msg)
	}
	patch := nodePatch(map[string]any{hotelv1alpha1.DrainedAnnotation(component): hash}, nil)
	if _, err := d.client.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return n, fmt.Errorf("record the drain: %w", err)
	}
	return n, nil
}

// finish uncordons node if the manager cordoned it, and removes the drain's annotations.
func (d *drainer) finish(ctx context.Context, component string, node *corev1.Node) error {
	d.stop(node.Name)
	var uncordon *bool
	if node.Annotations[hotelv1alpha1.CordonedAnnotation(component)] != "" {
		uncordon = ptrTo(false)
	}
	patch := nodePatch(map[string]any{hotelv1alpha1.DrainedAnnotation(component): nil,
		hotelv1alpha1.CordonedAnnotation(component): nil}, uncordon)
	if _, err := d.client.CoreV1().Nodes().Patch(ctx, node.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("uncordon Node %s: %w", node.Name, err)
	}
	return nil
}

// fieldMetadata is an object's metadata in a patch or an unstructured object.
const fieldMetadata = "metadata"

// nodePatch returns a JSON merge patch of a Node's annotations (nil removes one) and, if not nil,
// of spec.unschedulable.
func nodePatch(annotations map[string]any, unschedulable *bool) []byte {
	changes := map[string]any{fieldMetadata: map[string]any{"annotations": annotations}}
	if unschedulable != nil {
		changes["spec"] = map[string]any{"unschedulable": *unschedulable}
	}
	patch, _ := json.Marshal(changes)
	return patch
}

// event records an Event on the object and on the Node (n, if it was read; else by its name, as
// the kubelet names it).
func (d *drainer) event(obj Object, n *corev1.Node, node, eventType, reason, note string) {
	if d.recorder == nil {
		return
	}
	d.recorder.Eventf(obj, nil, eventType, reason, "Drain", note)
	var regarding runtime.Object = &corev1.ObjectReference{Kind: "Node", APIVersion: "v1", Name: node, UID: types.UID(node)}
	if n != nil {
		regarding = n
	}
	d.recorder.Eventf(regarding, nil, eventType, reason, "Drain", note)
}

// drainStatus describes the drains of the pool's Nodes for the status, "" for none.
func drainStatus(o observed) string {
	var running, failed []string
	for _, n := range o.nodes {
		if o.drainRunning[n.Name] {
			running = append(running, n.Name)
		}
		if f, ok := o.drainFailures[n.Name]; ok && f.hash == o.applied.Hash {
			failed = append(failed, fmt.Sprintf("%s (%s)", n.Name, f.message))
		}
	}
	var parts []string
	if len(running) > 0 {
		parts = append(parts, "draining "+nameList(running))
	}
	if len(failed) > 0 {
		slices.Sort(failed)
		parts = append(parts, fmt.Sprintf("draining failed on %s; tried again every %s", strings.Join(failed, "; "), drainRetry))
	}
	return strings.Join(parts, "; ")
}

// limitedWriter keeps the first max bytes written to it.
type limitedWriter struct {
	b   *strings.Builder
	max int
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	if room := w.max - w.b.Len(); room > 0 {
		w.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
