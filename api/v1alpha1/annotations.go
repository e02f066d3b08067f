package v1alpha1

// The node agent records its state on its own Node in annotations, one set per component
// (hotel.innkeeper.dev/kubelet-state, ...), as the machine-config-operator does; the rollout engine
// reads them to count updated and degraded Nodes.
const (
	// AgentAnnotationConfig holds the hash of the configuration last applied and found healthy.
	AgentAnnotationConfig = "config"
	// AgentAnnotationTarget holds the hash being applied (state Applying) or that failed (Degraded).
	AgentAnnotationTarget = "target"
	// AgentAnnotationState holds Applying, Applied or Degraded.
	AgentAnnotationState = "state"
	// AgentAnnotationReason holds why the state is Degraded, a CamelCase word.
	AgentAnnotationReason = "reason"
	// AgentAnnotationMessage tells a human what the agent did or why it failed.
	AgentAnnotationMessage = "message"
)

// Agent states.
const (
	// AgentStateApplying: the agent is writing the configuration or waiting for the component to be healthy.
	AgentStateApplying = "Applying"
	// AgentStateApplied: the configuration is applied and the component is healthy.
	AgentStateApplied = "Applied"
	// AgentStateDegraded: the configuration could not be applied; the previous one was restored.
	AgentStateDegraded = "Degraded"
)

// AgentAnnotations lists the suffixes of a component's agent annotations.
var AgentAnnotations = []string{
	AgentAnnotationConfig, AgentAnnotationTarget, AgentAnnotationState, AgentAnnotationReason, AgentAnnotationMessage,
}

// AgentAnnotation returns the Node annotation key of a component's agent for a suffix, such as
// hotel.innkeeper.dev/kubelet-state.
func AgentAnnotation(component, suffix string) string {
	return "hotel.innkeeper.dev/" + component + "-" + suffix
}
