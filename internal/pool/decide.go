package pool

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// action is what a reconcile does to an object's workloads.
type action int

const (
	// actNone leaves the DaemonSet as it is, or absent: the spec cannot be rolled out and what is
	// rolled out stays, the pool is another's and there is no DaemonSet to remove, or the rollout is
	// paused with no configuration to hold. (Unused ConfigMaps are pruned after any action.)
	actNone action = iota
	// actApply applies the configuration's ConfigMap and the DaemonSet that rolls it out.
	actApply
	// actHold applies the DaemonSet at the configuration it rolls out already, with the OnDelete
	// strategy, so that the DaemonSet controller replaces no further pod: the rollout is paused.
	actHold
	// actRemoveDaemonSet deletes the object's DaemonSet: the pool's Nodes are another's, and two
	// agents, or two kube-proxies, never manage one Node.
	actRemoveDaemonSet
)

func (a action) String() string {
	switch a {
	case actNone:
		return "none"
	case actApply:
		return "apply"
	case actHold:
		return "hold"
	case actRemoveDaemonSet:
		return "remove DaemonSet"
	}
	return fmt.Sprintf("action(%d)", int(a))
}

// decision is what a reconcile does, decided from what it observed.
type decision struct {
	action action
	// config is the configuration that actApply rolls out, or that actHold holds.
	config Config
	// stall, if not nil, is why the rollout cannot progress without a human.
	stall *stall
	// wait, if not nil, is why the rollout waits, by design and not for a human: outside the
	// maintenance windows. Nodes keep what they run; the reconcile is requeued for waitUntil.
	wait      *stall
	waitUntil time.Time
	// admission is which Nodes to admit to the rollout, and to release from it (see admit).
	admission admission
	// maxUnavailable, if not nil, paces actApply's rolling update instead of
	// spec.rollout.maxUnavailable; canary, if not 0, is the size of the canary in progress, which
	// caps how many Nodes the rollout admits (see canary.go).
	maxUnavailable *intstr.IntOrString
	canary         int
	// canaryPassed is the configuration whose canary passed, recorded on the DaemonSet: the one
	// the action applies or holds, if it did.
	canaryPassed string
	// drains is which Nodes to drain, and which are done with their drain (see drain.go).
	drains drainPlan
}

// stall is why a rollout cannot progress without a human.
type stall struct {
	reason  string
	message string
	// retry, if not nil, is a failure that the stall reports and that may clear by itself, such as
	// taking the pool from another DaemonSet: the reconcile returns it, to be retried with backoff.
	retry error
}

// retryErr returns the failure to retry with backoff, nil for none or no stall.
func (s *stall) retryErr() error {
	if s == nil {
		return nil
	}
	return s.retry
}

// decide returns what to do about an object from what was observed. A spec that cannot be rolled
// out (an invalid selector, missing references, a configuration that does not render) leaves the
// workloads as they are; a pool whose Nodes another DaemonSet or an older object holds keeps no
// DaemonSet; otherwise the newest configuration is applied, or, while paused, the configuration
// the DaemonSet rolls out is held where it is. Then it decides which Nodes to admit to the rollout
// (see admit).
func decide(o observed) decision {
	d := decideAction(o)
	if ds := o.daemonSet; ds != nil && d.config.Hash != "" && ds.Annotations[AnnotationCanaryPassed] == d.config.Hash {
		d.canaryPassed = d.config.Hash
	}
	if d.canaryPassed != d.config.Hash {
		d.canaryPassed = ""
	}
	d.admission = admit(o, d)
	d.drains = planDrains(o)
	if at := d.drains.retryAt; !at.IsZero() && (d.waitUntil.IsZero() || at.Before(d.waitUntil)) {
		d.waitUntil = at
	}
	if o.deleting && !revertDone(d.admission) {
		d.wait = revertWait(o, d.admission)
	}
	if d.admission.adopting && d.admission.waiting > 0 {
		// Gating the template now would remove the pods of the Nodes not labelled yet: the next
		// reconcile (the labels' events bring it) admits the next chunk.
		d.action = actNone
	}
	return d
}

// decideAction returns what to do about an object's workloads.
func decideAction(o observed) decision {
	if o.deleting {
		// Whatever the spec says now: the Nodes are reverted from what they run, and no further
		// Node is given the configuration on its way out (held, whatever held it before).
		if o.daemonSet != nil && o.applied.Hash != "" {
			return decision{action: actHold, config: o.applied}
		}
		return decision{action: actNone}
	}
	if s := specStall(o); s != nil {
		return decision{action: actNone, stall: s}
	}
	if s := poolStall(o); s != nil {
		if o.daemonSet == nil {
			return decision{action: actNone, stall: s}
		}
		return decision{action: actRemoveDaemonSet, stall: s}
	}
	switch {
	case !o.paused:
		if b := degradedBlock(o); b != nil {
			// A stall: it needs a fix of the configuration or of the Nodes. The hold keeps the
			// DaemonSet controller from replacing a pod whose readiness flickers (it replaces an
			// unavailable old pod at once, whatever maxUnavailable says).
			return decision{action: actHold, config: o.applied, stall: b}
		}
		if h := healthHalt(o); h != nil {
			// A wait, not a stall: it clears by itself as the Nodes recover.
			return decision{action: actHold, config: o.applied, wait: h}
		}
		if w, until := windowWait(o); w != nil {
			if o.daemonSet != nil && o.applied.Hash != "" {
				return decision{action: actHold, config: o.applied, wait: w, waitUntil: until}
			}
			// No DaemonSet yet: one admitted to no Node changes none.
			return decision{action: actApply, config: o.desired, wait: w, waitUntil: until}
		}
		d := withCanary(o, decision{action: actApply, config: o.desired})
		if o.window != nil && !o.window.next.IsZero() && rolloutPending(o) {
			// Back when the window closes, to hold what is left of the rollout.
			d.waitUntil = o.window.next
		}
		return d
	case o.daemonSet != nil && o.applied.Hash != "":
		return decision{action: actHold, config: o.applied}
	}
	return decision{action: actNone}
}

// degradedBlock returns why the rollout is blocked by Nodes where it failed, nil if it is not: the
// DaemonSet rolls out the newest configuration, it is not complete, and as many of the selected
// Nodes as maxUnavailable allows to change at once report it Degraded. No further Node starts until
// the configuration or the Nodes are fixed: a new configuration, maybe the fix, is never blocked.
func degradedBlock(o observed) *stall {
	if o.daemonSet == nil || o.applied.Hash == "" || o.applied.Hash != o.desired.Hash {
		return nil
	}
	degraded := len(degradedNodes(o.nodes, o.component, o.applied.Hash))
	limit := maxChanging(o.maxUnavailable, len(o.nodes))
	if degraded == 0 || degraded < limit {
		return nil
	}
	if rolloutComplete(o) {
		return nil
	}
	return &stall{reason: hotelv1alpha1.ReasonRolloutBlocked, message: fmt.Sprintf(
		"%d of %d Nodes are Degraded with configuration %s, as many as maxUnavailable (%d) allows, so the rollout "+
			"has stopped. See status.degradedNodes, then fix the configuration or the Nodes.",
		degraded, len(o.nodes), o.applied.Hash, limit)}
}

// healthHalt returns why the health gate holds the rollout, nil if it does not: the rollout of the
// newest configuration is in progress, and a Node that already runs it turned NotReady or came
// under pressure since the rollout began (see unhealthyUpdated). A newer configuration is never
// held: it may be the fix. A rollout that is complete has nothing to hold; and a Node unhealthy
// since before the rollout began (an old one, while new Nodes join) does not hold it.
func healthHalt(o observed) *stall {
	if o.healthGate == hotelv1alpha1.HealthGateIgnore || o.daemonSet == nil || o.applied.Hash == "" ||
		o.applied.Hash != o.desired.Hash {
		return nil
	}
	unhealthy := unhealthyUpdated(o)
	if len(unhealthy) == 0 {
		return nil
	}
	if rolloutComplete(o) {
		return nil
	}
	health := aggregateNodeConditions(unhealthy)
	return &stall{reason: hotelv1alpha1.ReasonRolloutHalted, message: fmt.Sprintf(
		"The health gate holds the rollout of configuration %s: Nodes that run it are unhealthy: %s. No further Node "+
			"is updated until they recover; to go on regardless, set spec.rollout.healthGate to Ignore.",
		o.applied.Hash, health.message())}
}

// windowWait returns why the rollout waits for a maintenance window, and until when, nil if it does
// not: the windows are closed and there is something to roll out.
func windowWait(o observed) (*stall, time.Time) {
	if o.window == nil || o.window.open || !rolloutPending(o) {
		return nil, time.Time{}
	}
	when := "no window ever opens"
	if !o.window.next.IsZero() {
		// An absolute time, so that the message, and the status, stay the same until it opens.
		when = "the next opens at " + o.window.next.Format(time.RFC3339)
	}
	return &stall{reason: hotelv1alpha1.ReasonOutsideMaintenanceWindow, message: fmt.Sprintf(
		"No maintenance window of spec.rollout.maintenance is open: %s. Until then no Node starts updating, and "+
			"Nodes keep what they run.", when)}, o.window.next
}

// rolloutPending reports whether there is anything to roll out: a newer configuration than the
// DaemonSet's, or selected Nodes that do not run it yet.
func rolloutPending(o observed) bool {
	if o.daemonSet == nil || o.applied.Hash != o.desired.Hash {
		return len(o.nodes) > 0
	}
	return !rolloutComplete(o)
}

// rolloutComplete reports whether every selected Node runs the configuration the DaemonSet rolls
// out, as the status counts it (see rolloutCounts; which Nodes are Ready does not change that).
func rolloutComplete(o observed) bool {
	_, complete := rolloutCounts(o, acted{daemonSet: o.daemonSet, appliedHash: o.applied.Hash}, int32(len(o.nodes)), 0)
	return complete
}

// unhealthyUpdated returns the selected Nodes that run the configuration the DaemonSet rolls out and
// are NotReady or under memory, disk or PID pressure. Where the component has no node agent, which
// Nodes run it is not known per Node: every admitted Node counts.
func unhealthyUpdated(o observed) []*corev1.Node {
	key := hotelv1alpha1.AgentAnnotation(o.component, hotelv1alpha1.AgentAnnotationConfig)
	var out []*corev1.Node
	for _, n := range o.nodes {
		runs := admitted(n, o.component, o.uid)
		if o.nodeAgent {
			runs = n.Annotations[key] == o.applied.Hash
		}
		if runs && turnedUnhealthySince(n, o.rolloutStart) {
			out = append(out, n)
		}
	}
	return out
}

// turnedUnhealthySince reports whether a Node is NotReady or under memory, disk or PID pressure,
// and became so at or after since (zero: whenever).
func turnedUnhealthySince(n *corev1.Node, since time.Time) bool {
	for _, c := range n.Status.Conditions {
		bad := (c.Type == corev1.NodeReady && c.Status != corev1.ConditionTrue) ||
			(c.Type != corev1.NodeReady && c.Status == corev1.ConditionTrue && slices.Contains(watchedConditions, c.Type))
		if bad && !c.LastTransitionTime.Time.Before(since) {
			return true
		}
	}
	return false
}

// specStall returns why the spec cannot be rolled out, nil if it can.
func specStall(o observed) *stall {
	switch {
	case o.selectorErr != nil:
		return &stall{reason: hotelv1alpha1.ReasonInvalidSpec, message: fmt.Sprintf(
			"spec.nodeSelector is invalid: %v. Fix it; nothing is rolled out until then.", o.selectorErr)}
	case len(o.missing) > 0:
		return &stall{reason: hotelv1alpha1.ReasonReferenceNotFound, message: fmt.Sprintf(
			"The spec references ConfigMaps that do not exist in namespace %s: %s. Create them; nothing is "+
				"rolled out until then, and what is rolled out stays as it is.", o.namespace, strings.Join(o.missing, ", "))}
	case o.renderErr != nil:
		return invalidSpec(o.component, o.renderErr)
	case o.windowErr != nil:
		return &stall{reason: hotelv1alpha1.ReasonInvalidSpec, message: fmt.Sprintf(
			"%v. Fix it; nothing is rolled out until then, and what is rolled out stays as it is.", o.windowErr)}
	}
	return nil
}

// poolStall returns why the pool's Nodes are not the object's to roll out to, nil if they are: a
// DaemonSet innkeeper does not manage runs the component there, or an older object of the kind
// selects some of them.
func poolStall(o observed) *stall {
	if o.foreign != nil {
		return o.foreign
	}
	if c := o.conflict; c != nil {
		return &stall{reason: hotelv1alpha1.ReasonPoolConflict, message: fmt.Sprintf(
			"%d selected Nodes (%s) are also selected by %s %q, which is older and keeps them. Change either "+
				"nodeSelector so that the pools do not overlap; until then nothing is rolled out, and this "+
				"object's DaemonSet is removed so that two agents never manage one Node (Nodes keep what they run).",
			len(c.nodes), nameList(c.nodes), o.kind, c.peer)}
	}
	return nil
}

// invalidSpec turns a render error into a stall whose message names the fields.
func invalidSpec(component string, err error) *stall {
	var fieldErrs field.ErrorList
	var agg interface{ Errors() []error }
	if errors.As(err, &agg) {
		for _, e := range agg.Errors() {
			var fe *field.Error
			if errors.As(e, &fe) {
				fieldErrs = append(fieldErrs, fe)
			}
		}
	}
	detail := err.Error()
	if len(fieldErrs) > 0 {
		detail = fieldErrs.ToAggregate().Error()
	}
	return &stall{reason: hotelv1alpha1.ReasonInvalidSpec, message: fmt.Sprintf(
		"The %s configuration cannot be rendered: %s. Fix the spec, or the ConfigMaps it references; what is rolled out stays as it is until then.",
		component, detail)}
}
