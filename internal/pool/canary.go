package pool

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// A canary (spec.rollout.canary) sends a new configuration to a few Nodes first and holds the rest
// until those run it with their pods Ready for the soak. The DaemonSet controller does the pacing,
// in three steps that the engine reads off the DaemonSet alone, so that no state is kept:
//
//  1. rolling: fewer than the canary's size of pods run the configuration. The DaemonSet rolls it
//     out with maxUnavailable = the canary's size, and admission (a first rollout) admits no more
//     Nodes than that.
//  2. holding: the canary's pods all run the configuration, not all available yet (Ready for
//     minReadySeconds, the soak). The DaemonSet is held (OnDelete): a canary pod turning available
//     must not let the DaemonSet controller start the next Node before the others are too.
//  3. passed: that many pods run the configuration and are available; the health gate (checked
//     before, see decide) has seen none of their Nodes turn unhealthy. The rollout goes on at
//     spec.rollout.maxUnavailable, and stays there: the count only grows as the rollout goes on.
//
// A DaemonSet status older than its spec (the reconcile right after the engine changed it) says
// nothing about the step: the DaemonSet keeps its strategy until the status catches up, so that a
// decision never flips on a status that lags.

// AnnotationCanaryPassed is the annotation on an object's DaemonSet that names the configuration
// whose canary passed: the rest of its rollout runs at maxUnavailable, whatever the DaemonSet's
// status says meanwhile.
const AnnotationCanaryPassed = "hotel.innkeeper.dev/canary-passed"

// canaryStep is where a configuration's rollout stands against its canary.
type canaryStep int

const (
	// canaryPassed: no canary, or the canary passed: the rollout runs at maxUnavailable.
	canaryPassed canaryStep = iota
	// canaryRolling: the DaemonSet rolls the configuration out to the canary's Nodes.
	canaryRolling
	// canaryHolding: the canary's Nodes run it; the rest waits for them to be available.
	canaryHolding
	// canaryUnknown: the DaemonSet's status lags its spec; it keeps its strategy.
	canaryUnknown
)

// canarySize returns how many Nodes the canary holds: spec.rollout.canary of the selected Nodes
// (a percentage rounded up), at most as many as maxUnavailable lets change at once, and at most the
// pool; 0 for no canary.
func canarySize(o observed) int {
	if o.canary == nil || len(o.nodes) == 0 {
		return 0
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(o.canary, len(o.nodes), true)
	if err != nil || n < 1 {
		n = 1
	}
	return min(n, maxChanging(o.maxUnavailable, len(o.nodes)), len(o.nodes))
}

// canaryState returns where the rollout of the newest configuration stands against its canary, and
// the canary's size. A configuration the DaemonSet does not roll out yet (it is about to) is at the
// start of its canary. Once passed, a configuration stays so: the DaemonSet records it
// (AnnotationCanaryPassed), as its status cannot tell (old pods that the rollout replaces count as
// unavailable until their successors are).
func canaryState(o observed) (canaryStep, int) {
	size := canarySize(o)
	if size == 0 {
		return canaryPassed, 0
	}
	ds := o.daemonSet
	if ds == nil || o.applied.Hash != o.desired.Hash {
		return canaryRolling, size
	}
	if ds.Annotations[AnnotationCanaryPassed] == o.applied.Hash {
		return canaryPassed, size
	}
	if ds.Status.ObservedGeneration < ds.Generation {
		return canaryUnknown, size
	}
	updated, available := updatedPods(ds)
	// The DaemonSet controller replaces the pods of NotReady Nodes first (they are unavailable):
	// they count as updated, and never as the canary's.
	notReady := int32(notReadyAdmitted(o))
	switch {
	case available >= int32(size) || updated >= int32(len(o.nodes)):
		// Passed, or every Node has it already: nothing is left to hold back.
		return canaryPassed, size
	case updated-notReady >= int32(size):
		return canaryHolding, size
	}
	return canaryRolling, size
}

// notReadyAdmitted counts the selected Nodes admitted to the rollout that are not Ready.
func notReadyAdmitted(o observed) int {
	n := 0
	for _, node := range o.nodes {
		if o.isAdmitted(node) && !nodeReady(node) {
			n++
		}
	}
	return n
}

// soakingPods returns how many Nodes of the rollout before a new configuration are still soaking:
// Ready, their agent done with the configuration the DaemonSet rolls out (or still applying it),
// their pod not yet available. Only a component with a node agent can tell: for another (kube-proxy)
// it is 0. It is 0 too when a Node of the rollout before failed (Degraded) or waits for a drain:
// such a pod may never be available, and the new configuration may be its fix.
func soakingPods(o observed) int {
	ds := o.daemonSet
	if ds == nil || !o.nodeAgent || o.applied.Hash == "" {
		return 0
	}
	state := hotelv1alpha1.AgentAnnotation(o.component, hotelv1alpha1.AgentAnnotationState)
	target := hotelv1alpha1.AgentAnnotation(o.component, hotelv1alpha1.AgentAnnotationTarget)
	for _, n := range o.nodes {
		if s := n.Annotations[state]; (s == hotelv1alpha1.AgentStateDegraded || s == hotelv1alpha1.AgentStateDraining) &&
			n.Annotations[target] == o.applied.Hash {
			return 0
		}
	}
	if ds.Status.ObservedGeneration < ds.Generation {
		return int(ds.Status.DesiredNumberScheduled)
	}
	return max(int(ds.Status.NumberUnavailable)-notReadyAdmitted(o), 0)
}

// updatedPods returns how many of a DaemonSet's pods run its current template, and how many of
// those at least are available: NumberAvailable counts old pods too, so the old ones are taken off
// as if every one of them were available.
func updatedPods(ds *appsv1.DaemonSet) (updated, available int32) {
	s := ds.Status
	old := max(s.DesiredNumberScheduled-s.UpdatedNumberScheduled, 0)
	return s.UpdatedNumberScheduled, max(min(s.UpdatedNumberScheduled, s.NumberAvailable-old), 0)
}

// withCanary returns d, the decision to apply the newest configuration, as its canary changes it:
// rolled out at the canary's size, held while the canary soaks, or, while the DaemonSet's status
// lags its spec, with the strategy the DaemonSet has. d.canary caps admission (see admit).
func withCanary(o observed, d decision) decision {
	step, size := canaryState(o)
	switch step {
	case canaryPassed:
		if size > 0 && o.daemonSet != nil && o.applied.Hash == o.desired.Hash {
			d.canaryPassed = o.applied.Hash
		}
	case canaryRolling:
		if n := soakingPods(o); n > 0 && o.applied.Hash != o.desired.Hash && o.applied.Hash != "" {
			// The DaemonSet controller replaces an unavailable old pod at once, whatever
			// maxUnavailable says: changing the template now would update these Nodes too.
			return decision{action: actHold, config: o.applied, canary: size, wait: &stall{
				reason: hotelv1alpha1.ReasonCanaryInProgress, message: fmt.Sprintf(
					"Canary: configuration %s starts once %s of the rollout before it %s soaked (Ready for soakSeconds, "+
						"%d s), or the DaemonSet controller would replace them at once, beyond the canary's %s.",
					o.desired.Hash, nodeCount(n), map[bool]string{true: "has", false: "have"}[n == 1], o.soakSeconds, nodeCount(size))}}
		}
		d.canary = size
		// The pods of NotReady Nodes are unavailable, and count against maxUnavailable: the canary's
		// Nodes come on top of them.
		d.maxUnavailable = ptrTo(intstr.FromInt32(int32(min(size+notReadyAdmitted(o), max(size, maxChanging(o.maxUnavailable, len(o.nodes)))))))
	case canaryHolding:
		_, available := updatedPods(o.daemonSet)
		return decision{action: actHold, config: o.applied, canary: size, wait: &stall{
			reason: hotelv1alpha1.ReasonCanaryInProgress, message: fmt.Sprintf(
				"Canary: configuration %s runs on the canary's %s, %d of them Ready for soakSeconds (%d s) so far; "+
					"the rest of the pool waits until all are, with none turned unhealthy.",
				o.applied.Hash, nodeCount(size), available, o.soakSeconds)}}
	case canaryUnknown:
		d.canary = size
		if s := o.daemonSet.Spec.UpdateStrategy; s.Type == appsv1.OnDeleteDaemonSetStrategyType {
			return decision{action: actHold, config: o.applied, canary: size}
		} else if s.RollingUpdate != nil && s.RollingUpdate.MaxUnavailable != nil {
			d.maxUnavailable = ptrTo(*s.RollingUpdate.MaxUnavailable)
		}
	}
	return d
}

func ptrTo[T any](v T) *T { return &v }
