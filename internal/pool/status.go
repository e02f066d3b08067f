package pool

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// maxDegradedNodes bounds status.degradedNodes, as the API does.
const maxDegradedNodes = 10

// summedResources are the resources whose capacity and allocatable a pool reports.
var summedResources = []corev1.ResourceName{
	corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourcePods, corev1.ResourceEphemeralStorage,
}

// aggregateStatus computes an object's status from what a reconcile observed, what it decided and
// what its action left. previous supplies the conditions' last transition times, which change only
// when a condition's status does.
func aggregateStatus(previous *hotelv1alpha1.PoolStatus, o observed, d decision, a acted, now metav1.Time) hotelv1alpha1.PoolStatus {
	st := hotelv1alpha1.PoolStatus{
		ObservedGeneration: o.generation,
		ConfigHash:         a.appliedHash,
		Conditions:         append([]metav1.Condition(nil), previous.Conditions...),
	}
	health := aggregateNodeConditions(o.nodes)
	st.NodeConditions = health.counts
	st.Capacity, st.Allocatable = sumResources(o.nodes)
	degraded := degradedNodes(o.nodes, o.component, a.appliedHash)
	st.DegradedNodes = degraded
	if len(st.DegradedNodes) > maxDegradedNodes {
		st.DegradedNodes = st.DegradedNodes[:maxDegradedNodes]
	}

	selected := int32(len(o.nodes))
	var complete bool
	st.Nodes, complete = rolloutCounts(o, a, selected, health.counts.NotReady)
	st.Nodes.Degraded = int32(len(degraded))
	st.Nodes.Drifted = int32(len(driftedNodes(o.nodes, o.component)))
	st.NodesReady = fmt.Sprintf("%d/%d", st.Nodes.Ready, selected)

	// A soak is part of the rollout: the last Nodes updated are done only once their pods have
	// stayed Ready for it (the DaemonSet counts them available), as the Nodes before them were
	// before further Nodes started, so that the health gate has had its time on every Node.
	soaking := 0
	if o.soakSeconds > 0 {
		soaking = soakingPods(o)
	}
	// The rollout is done when the DaemonSet rolls out the newest configuration and has updated
	// every selected Node, soaked.
	rolledOut := o.desired.Hash != "" && a.appliedHash == o.desired.Hash
	done := rolledOut && complete && soaking == 0
	blocked := d.stall

	set := func(t string, s metav1.ConditionStatus, reason, message string) {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{
			Type: t, Status: s, Reason: reason, Message: message,
			ObservedGeneration: o.generation, LastTransitionTime: now,
		})
	}

	// Stalled
	if blocked != nil {
		set(hotelv1alpha1.ConditionStalled, metav1.ConditionTrue, blocked.reason, blocked.message)
	} else {
		set(hotelv1alpha1.ConditionStalled, metav1.ConditionFalse, hotelv1alpha1.ReasonAsExpected,
			"The rollout can progress.")
	}

	// Reconciling and Ready
	progress := rolloutProgress(o, d, st.Nodes, a.appliedHash, soaking)
	switch {
	case blocked != nil:
		set(hotelv1alpha1.ConditionReconciling, metav1.ConditionFalse, blocked.reason, "The rollout is stalled; see the Stalled condition.")
		set(hotelv1alpha1.ConditionReady, metav1.ConditionFalse, blocked.reason, blocked.message)
	case a.err != nil:
		msg := fmt.Sprintf("Applying the rendered objects failed: %v. The manager retries with backoff; if this "+
			"persists, check its RBAC and the API server.", a.err)
		set(hotelv1alpha1.ConditionReconciling, metav1.ConditionTrue, hotelv1alpha1.ReasonApplyFailed, msg)
		set(hotelv1alpha1.ConditionReady, metav1.ConditionFalse, hotelv1alpha1.ReasonApplyFailed, msg)
	case o.deleting && d.wait != nil:
		set(hotelv1alpha1.ConditionReconciling, metav1.ConditionTrue, d.wait.reason, d.wait.message)
		set(hotelv1alpha1.ConditionReady, metav1.ConditionFalse, d.wait.reason, d.wait.message)
	case selected == 0 && (rolledOut || o.paused):
		// Not Ready: no Node runs the configuration, and a Ready object would let kubectl wait
		// (and kstatus, which reads Ready=False as in progress) pass on a selector with a typo.
		// Not Reconciling, as no rollout is going on, and not Stalled: a pool may have no Node on
		// purpose (scaled to zero), and Nodes that join it get the configuration.
		set(hotelv1alpha1.ConditionReconciling, metav1.ConditionFalse, hotelv1alpha1.ReasonNoNodesSelected,
			"There is nothing to roll out: the nodeSelector selects no Node.")
		set(hotelv1alpha1.ConditionReady, metav1.ConditionFalse, hotelv1alpha1.ReasonNoNodesSelected,
			"The nodeSelector selects no Node, so no Node runs the configuration. Label Nodes to add them to the "+
				"pool, or fix spec.nodeSelector if it does not say what you meant; Nodes that join get the configuration.")
	case !done && d.wait != nil:
		set(hotelv1alpha1.ConditionReconciling, metav1.ConditionTrue, d.wait.reason, progress+". "+d.wait.message)
		set(hotelv1alpha1.ConditionReady, metav1.ConditionFalse, d.wait.reason, progress+". "+d.wait.message)
	case !done && o.paused:
		set(hotelv1alpha1.ConditionReconciling, metav1.ConditionFalse, hotelv1alpha1.ReasonRolloutPaused, "The rollout is paused.")
		set(hotelv1alpha1.ConditionReady, metav1.ConditionFalse, hotelv1alpha1.ReasonRolloutPaused,
			progress+". The rollout is paused: set spec.rollout.paused to false to resume it.")
	case !done:
		pace := fmt.Sprintf("; updating at most %s at a time.", paceCount(o.maxUnavailable))
		if d.canary > 0 {
			pace = fmt.Sprintf("; the canary (%s) first, then at most %s at a time.", nodeCount(d.canary), paceCount(o.maxUnavailable))
		}
		set(hotelv1alpha1.ConditionReconciling, metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutInProgress, progress+pace)
		set(hotelv1alpha1.ConditionReady, metav1.ConditionFalse, hotelv1alpha1.ReasonRolloutInProgress,
			progress+"; the rollout is in progress.")
	case st.Nodes.Ready < selected:
		set(hotelv1alpha1.ConditionReconciling, metav1.ConditionFalse, hotelv1alpha1.ReasonRolloutComplete,
			"Every selected Node runs the newest configuration.")
		set(hotelv1alpha1.ConditionReady, metav1.ConditionFalse, hotelv1alpha1.ReasonNodesUnhealthy,
			progress+"; see the NodesHealthy condition for the Nodes that are not Ready.")
	default:
		set(hotelv1alpha1.ConditionReconciling, metav1.ConditionFalse, hotelv1alpha1.ReasonRolloutComplete,
			"Every selected Node runs the newest configuration.")
		set(hotelv1alpha1.ConditionReady, metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutComplete,
			fmt.Sprintf("All %d Nodes run configuration %s and are Ready.", selected, a.appliedHash))
	}

	// Degraded
	if len(degraded) > 0 {
		names := make([]string, len(degraded))
		for i := range degraded {
			names[i] = degraded[i].Name
		}
		set(hotelv1alpha1.ConditionDegraded, metav1.ConditionTrue, hotelv1alpha1.ReasonNodesDegraded, fmt.Sprintf(
			"%d Nodes are Degraded: %s. See status.degradedNodes for why: the agent rolled back a configuration that "+
				"failed there, or the Node refused it, or its component is unhealthy (the last two are checked again).",
			len(degraded), nameList(names)))
	} else {
		set(hotelv1alpha1.ConditionDegraded, metav1.ConditionFalse, hotelv1alpha1.ReasonAsExpected,
			"No Node failed to apply the configuration.")
	}

	// NodesHealthy
	if msg := health.message(); msg != "" {
		set(hotelv1alpha1.ConditionNodesHealthy, metav1.ConditionFalse, hotelv1alpha1.ReasonNodesUnhealthy,
			msg+". Look at these Nodes (kubectl describe node) before rolling out further.")
	} else {
		set(hotelv1alpha1.ConditionNodesHealthy, metav1.ConditionTrue, hotelv1alpha1.ReasonAsExpected,
			"Every selected Node is Ready and under no memory, disk or PID pressure.")
	}

	// Paused
	pausedStatus, pausedReason, pausedMessage := pausedCondition(o, a, done)
	set(hotelv1alpha1.ConditionPaused, pausedStatus, pausedReason, pausedMessage)
	return st
}

// pausedCondition returns the Paused condition's status, reason and message.
func pausedCondition(o observed, a acted, done bool) (metav1.ConditionStatus, string, string) {
	switch {
	case o.paused && !done:
		return metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutPaused, fmt.Sprintf(
			"spec.rollout.paused holds back configuration %s; Nodes keep what they run (%s). Set it to false to resume.",
			orNone(o.desired.Hash), orNone(a.appliedHash))
	case o.paused:
		return metav1.ConditionFalse, hotelv1alpha1.ReasonRolloutComplete,
			"spec.rollout.paused is true, but nothing is held back: every Node runs the newest configuration."
	}
	return metav1.ConditionFalse, hotelv1alpha1.ReasonNotPaused, "spec.rollout.paused is false."
}

// rolloutCounts derives the rollout counters, and whether every selected Node runs the rolled-out
// configuration: from the node agents' records on the Nodes where the component has an agent, else
// from the DaemonSet's status. updated and ready never exceed the selected Nodes, and a NotReady
// Node is never counted ready.
func rolloutCounts(o observed, a acted, selected, notReady int32) (hotelv1alpha1.NodeCounts, bool) {
	c := hotelv1alpha1.NodeCounts{Selected: selected}
	complete := false
	if o.nodeAgent {
		key := hotelv1alpha1.AgentAnnotation(o.component, hotelv1alpha1.AgentAnnotationConfig)
		for i := range o.nodes {
			if a.appliedHash == "" || o.nodes[i].Annotations[key] != a.appliedHash {
				continue
			}
			c.Updated++
			if nodeConditionStatus(o.nodes[i], corev1.NodeReady) == corev1.ConditionTrue {
				c.Ready++
			}
		}
		complete = c.Updated == selected
	} else if ds := a.daemonSet; ds != nil && !a.daemonSetChanged && ds.Status.ObservedGeneration >= ds.Generation {
		// A status that predates the DaemonSet's current spec says nothing about the current rollout.
		s := ds.Status
		c.Updated = min(s.UpdatedNumberScheduled, selected)
		// NumberAvailable counts old pods too: at least this many of the updated ones are available.
		oldPods := max(s.DesiredNumberScheduled-s.UpdatedNumberScheduled, 0)
		c.Ready = max(min(c.Updated, s.NumberAvailable-oldPods, selected-notReady), 0)
		complete = c.Updated == selected && s.UpdatedNumberScheduled >= s.DesiredNumberScheduled &&
			s.NumberAvailable >= s.DesiredNumberScheduled
	}
	c.Unavailable = selected - c.Ready
	return c, complete
}

// nodeHealth counts the selected Nodes' conditions and remembers which Nodes have each problem.
type nodeHealth struct {
	counts hotelv1alpha1.NodeConditionCounts
	names  map[string][]string
}

var watchedConditions = []corev1.NodeConditionType{
	corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure,
}

// aggregateNodeConditions counts the Nodes that are not Ready or under memory, disk or PID pressure.
func aggregateNodeConditions(nodes []*corev1.Node) nodeHealth {
	h := nodeHealth{names: map[string][]string{}}
	for i := range nodes {
		n := nodes[i]
		if nodeConditionStatus(n, corev1.NodeReady) != corev1.ConditionTrue {
			h.counts.NotReady++
			h.names["NotReady"] = append(h.names["NotReady"], n.Name)
		}
		for _, t := range watchedConditions {
			if nodeConditionStatus(n, t) == corev1.ConditionTrue {
				h.names[string(t)] = append(h.names[string(t)], n.Name)
			}
		}
	}
	h.counts.MemoryPressure = int32(len(h.names[string(corev1.NodeMemoryPressure)]))
	h.counts.DiskPressure = int32(len(h.names[string(corev1.NodeDiskPressure)]))
	h.counts.PIDPressure = int32(len(h.names[string(corev1.NodePIDPressure)]))
	return h
}

// message describes the unhealthy Nodes, "" if there are none: "2 NotReady (a, b); 1 DiskPressure (c)".
func (h nodeHealth) message() string {
	var parts []string
	for _, t := range []string{"NotReady", string(corev1.NodeMemoryPressure), string(corev1.NodeDiskPressure), string(corev1.NodePIDPressure)} {
		if names := h.names[t]; len(names) > 0 {
			sort.Strings(names)
			parts = append(parts, fmt.Sprintf("%d %s (%s)", len(names), t, nameList(names)))
		}
	}
	return strings.Join(parts, "; ")
}

func nodeConditionStatus(n *corev1.Node, t corev1.NodeConditionType) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return corev1.ConditionUnknown
}

// sumResources sums the Nodes' capacity and allocatable of the summedResources. With no Nodes
// both are nil.
func sumResources(nodes []*corev1.Node) (capacity, allocatable corev1.ResourceList) {
	if len(nodes) == 0 {
		return nil, nil
	}
	capacity, allocatable = corev1.ResourceList{}, corev1.ResourceList{}
	for _, name := range summedResources {
		c, a := resource.Quantity{}, resource.Quantity{}
		for i := range nodes {
			if q, ok := nodes[i].Status.Capacity[name]; ok {
				c.Add(q)
			}
			if q, ok := nodes[i].Status.Allocatable[name]; ok {
				a.Add(q)
			}
		}
		// Rebuild from the canonical string so that the sum compares equal to a decoded status.
		capacity[name] = resource.MustParse(c.String())
		allocatable[name] = resource.MustParse(a.String())
	}
	return capacity, allocatable
}

// degradedNodes lists, sorted by name, the Nodes whose agent reports that it failed to apply the
// configuration being rolled out (hash). A failure of an older configuration is history: the Node
// gets the new one like any other.
func degradedNodes(nodes []*corev1.Node, component, hash string) []hotelv1alpha1.DegradedNode {
	var out []hotelv1alpha1.DegradedNode
	for i := range nodes {
		a := nodes[i].Annotations
		if a[hotelv1alpha1.AgentAnnotation(component, hotelv1alpha1.AgentAnnotationState)] != hotelv1alpha1.AgentStateDegraded {
			continue
		}
		if target := a[hotelv1alpha1.AgentAnnotation(component, hotelv1alpha1.AgentAnnotationTarget)]; target != "" && target != hash {
			continue
		}
		reason := a[hotelv1alpha1.AgentAnnotation(component, hotelv1alpha1.AgentAnnotationReason)]
		if reason == "" {
			reason = hotelv1alpha1.ReasonHealthCheckFailed
		}
		msg := a[hotelv1alpha1.AgentAnnotation(component, hotelv1alpha1.AgentAnnotationMessage)]
		if len(msg) > 1024 {
			msg = msg[:1021] + "..."
		}
		out = append(out, hotelv1alpha1.DegradedNode{Name: nodes[i].Name, Reason: reason, Message: msg})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// driftedNodes returns the names of the Nodes whose agent reports its files changed by someone else
// and left so (reason Drifted, with state Applied), sorted.
func driftedNodes(nodes []*corev1.Node, component string) []string {
	var out []string
	for _, n := range nodes {
		if n.Annotations[hotelv1alpha1.AgentAnnotation(component, hotelv1alpha1.AgentAnnotationState)] == hotelv1alpha1.AgentStateApplied &&
			n.Annotations[hotelv1alpha1.AgentAnnotation(component, hotelv1alpha1.AgentAnnotationReason)] == hotelv1alpha1.ReasonDrifted {
			out = append(out, n.Name)
		}
	}
	sort.Strings(out)
	return out
}

func orNone(hash string) string {
	if hash == "" {
		return "(none)"
	}
	return hash
}

// nodeCount says n Nodes: "1 Node", "3 Nodes".
// rolloutProgress says how far a rollout is: "3 of 8 Nodes run configuration h, 3 of them Ready",
// then what is going on, if anything: drains, Nodes soaking, Nodes waiting to be admitted.
func rolloutProgress(o observed, d decision, c hotelv1alpha1.NodeCounts, appliedHash string, soaking int) string {
	progress := fmt.Sprintf("%d of %d Nodes run configuration %s, %d of them Ready", c.Updated, c.Selected,
		orNone(appliedHash), c.Ready)
	if s := drainStatus(o); s != "" {
		progress += "; " + s
	}
	if soaking > 0 {
		progress += fmt.Sprintf("; %s soaking (Ready for less than soakSeconds, %d s)", nodeCount(soaking), o.soakSeconds)
	}
	if w := d.admission.waiting; w > 0 && !o.paused && d.stall == nil && d.wait == nil {
		progress += fmt.Sprintf("; %d wait to be admitted to the rollout", w)
		if len(d.admission.behind) > 0 {
			progress += fmt.Sprintf(", behind %s (updating, failed there, or not Ready)", nameList(d.admission.behind))
		}
	}
	return progress
}

// paceCount says maxUnavailable in words: "1 Node", "3 Nodes", "10% of the Nodes".
func paceCount(maxUnavailable intstr.IntOrString) string {
	if maxUnavailable.Type == intstr.Int {
		return nodeCount(maxUnavailable.IntValue())
	}
	return maxUnavailable.String() + " of the Nodes"
}

func nodeCount(n int) string {
	if n == 1 {
		return "1 Node"
	}
	return fmt.Sprintf("%d Nodes", n)
}
