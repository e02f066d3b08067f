package v1alpha1

// TaintUnconfigured is the registration taint: a Node that registers with it (the kubelet's
// --register-with-taints=hotel.innkeeper.dev/unconfigured=:NoSchedule, or registerWithTaints in its
// configuration file) takes no pod that does not tolerate it until innkeeper removes it, once every
// innkeeper object that selects the Node has configured it. innkeeper never adds it.
const TaintUnconfigured = "hotel.innkeeper.dev/unconfigured"

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
	// AgentStateReverted: the agent took innkeeper's configuration off the Node, which runs its own
	// (target revert); the manager then removes the Node's admission label and this record.
	AgentStateReverted = "Reverted"
	// AgentStateDraining: the configuration (target) changes a field that needs the Node drained
	// first (see spec.rollout.drain); the agent waits, its files untouched, until the manager has
	// cordoned and drained the Node and says so in DrainedAnnotation.
	AgentStateDraining = "Draining"
)

// DrainedAnnotation is the Node annotation in which the manager tells component's agent that it
// cordoned and drained the Node for a configuration: its value is the configuration's hash. The
// manager removes it, and uncordons the Node if CordonedAnnotation says it cordoned it, once the
// agent is done with that configuration. Neither is the agent's to write.
func DrainedAnnotation(component string) string { return "hotel.innkeeper.dev/drained-" + component }

// CordonedAnnotation is the Node annotation by which the manager remembers that it cordoned the
// Node to drain it for component (a Node cordoned before stays cordoned afterwards).
func CordonedAnnotation(component string) string { return "hotel.innkeeper.dev/cordoned-" + component }

// Reasons of an agent's Degraded state, as the Node's hotel.innkeeper.dev/<component>-reason and
// the object's status.degradedNodes[].reason. The agent's message (-message) names what it found.
// A configuration that failed on a Node (HealthCheckFailed, RestartFailed) is not tried there again
// until a new one comes; one the Node refused before anything was written is checked again, after
// a minute and then at growing intervals up to five minutes, or at once in a new agent pod.
const (
	// ReasonHealthCheckFailed: the agent applied the configuration and restarted the component,
	// which was not healthy within --health-timeout; the agent restored the previous configuration.
	// Fix the spec (a new configuration rolls out), or fix the Node, then remove the record of the
	// failure (kubectl annotate node <node> hotel.innkeeper.dev/<component>-state-) and delete the
	// agent pod. A Degraded state recorded without a reason reads as this one.
	ReasonHealthCheckFailed = "HealthCheckFailed"
	// ReasonRestartFailed: systemd failed to restart the component with the configuration; the
	// agent restored the previous configuration. The message has systemd's error: recover as for
	// HealthCheckFailed.
	ReasonRestartFailed = "RestartFailed"
	// ReasonInvalidConfig: the configuration failed the agent's own check, as strictly as the
	// component reads it, and nothing was written. Fix the spec; a new agent pod checks again.
	ReasonInvalidConfig = "InvalidConfig"
	// ReasonAgentApplyFailed is "ApplyFailed", as the condition reason ReasonApplyFailed, which is
	// the manager's: here, writing or backing up a file on the Node failed (a full or read-only
	// disk, say), and what was written was restored. Fix the Node; a new agent pod tries again.
	ReasonAgentApplyFailed = "ApplyFailed"
	// ReasonDrifted is not a Degraded reason: with state Applied, it says that innkeeper's files on
	// the Node were changed or removed by someone else after they were applied, and that the
	// object's driftPolicy is Report, so they were left so. The message names the files. The agent
	// clears it once the files hold the configuration again.
	ReasonDrifted = "Drifted"
	// ReasonUnhealthy: the component is unhealthy while its files already hold the configuration, so
	// nothing was changed and nothing is rolled back; the agent checks again and reports Applied once
	// it is healthy. Fix the component on the Node; the message has the first error.
	ReasonUnhealthy = "Unhealthy"
	// ReasonDropInUnsupported: the kubelet does not run with --config-dir set to
	// /etc/kubernetes/kubelet.conf.d, so it would never read the drop-in, and nothing was written
	// (innkeeper does not edit the kubelet's main configuration). Add the flag the message names to
	// the kubelet's flags and restart it.
	ReasonDropInUnsupported = "DropInUnsupported"
	// ReasonImportMissing: containerd's main config.toml is missing, is not TOML, or does not import
	// the drop-in directory, so containerd would not read the drop-in, and nothing was written
	// (innkeeper never rewrites containerd's main file). Add imports = ["/etc/containerd/conf.d/*.toml"]
	// to it.
	ReasonImportMissing = "ImportMissing"
	// ReasonConfigVersionMismatch: the RoomService's spec.containerd.configVersion is not that of the
	// Node's config.toml, or containerd 1.x runs a version 1 config.toml, or containerd's version is
	// unreadable; nothing was written. Set configVersion to the Node's (or give such Nodes their own
	// RoomService), or migrate config.toml (containerd config migrate).
	ReasonConfigVersionMismatch = "ConfigVersionMismatch"
	// ReasonDropInConflict: another file containerd imports would undo innkeeper's drop-in: on
	// containerd 1.x, one that sets the CRI section, which each import replaces whole; on containerd
	// 2, one read after innkeeper's that sets one of its settings to another value. Nothing was
	// written. Remove the setting the message names from that file, or make the RoomService agree.
	ReasonDropInConflict = "DropInConflict"
	// ReasonRegistryConfigConflict: config.toml configures registries in a way that the drop-in's
	// registry.config_path would break (mirrors, or a registry's TLS settings, which containerd
	// refuses together with it) or hide (another hosts directory that holds anything, or that the
	// agent cannot see). Nothing was written. Move those settings into the RoomService's registries.
	ReasonRegistryConfigConflict = "RegistryConfigConflict"
	// ReasonHostsFileConflict: a registry's files that innkeeper would write would hide an admin's: a
	// hosts.toml it did not write, Docker-style certificates in the host's directory, or a host:port
	// directory beside its host_port_ one. Nothing was written. Remove them, or move their settings
	// into the RoomService's registries.
	ReasonHostsFileConflict = "HostsFileConflict"
	// ReasonUnsupportedRuntime: the Node's CRI runtime is not containerd; nothing was written. Select
	// only Nodes that run containerd.
	ReasonUnsupportedRuntime = "UnsupportedRuntime"
)

// AgentAnnotations lists the suffixes of a component's agent annotations.
var AgentAnnotations = []string{
	AgentAnnotationConfig, AgentAnnotationTarget, AgentAnnotationState, AgentAnnotationReason, AgentAnnotationMessage,
}

// AgentAnnotation returns the Node annotation key of a component's agent for a suffix, such as
// hotel.innkeeper.dev/kubelet-state.
func AgentAnnotation(component, suffix string) string {
	if key, ok := agentAnnotations[component][suffix]; ok {
		return key // read per Node of a pool: no string built each time
	}
	return agentAnnotation(component, suffix)
}

func agentAnnotation(component, suffix string) string {
	return "hotel.innkeeper.dev/" + component + "-" + suffix
}

// agentAnnotations are the agent annotations of innkeeper's node components, built once.
var agentAnnotations = func() map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, component := range []string{"kubelet", "containerd"} {
		out[component] = map[string]string{}
		for _, suffix := range AgentAnnotations {
			out[component][suffix] = agentAnnotation(component, suffix)
		}
	}
	return out
}()

// AdmittedLabel is the Node label that admits a Node to the rollout of one object of component's
// kind ("kubelet", "containerd", "kube-proxy"): its value is the object's UID, or RevertValue of it
// while the Node is being reverted. The node agent reads it to know what its Node asks of it.
//
// Its prefix is node-restriction.kubernetes.io/, which the NodeRestriction admission plugin keeps a
// kubelet from setting on its own Node: a Node cannot register admitted and skip its turn.
func AdmittedLabel(component string) string {
	if key, ok := admittedLabels[component]; ok {
		return key // the rollout engine asks for it per Node of a pool: no string built each time
	}
	return admittedLabel(component)
}

func admittedLabel(component string) string {
	return "node-restriction.kubernetes.io/innkeeper-" + component + "-admitted"
}

// admittedLabels are the admission labels of innkeeper's components, built once.
var admittedLabels = map[string]string{
	"kubelet": admittedLabel("kubelet"), "kube-proxy": admittedLabel("kube-proxy"), "containerd": admittedLabel("containerd"),
}

// RevertValue is the value of AdmittedLabel on a Node whose configuration by the object with uid is
// being reverted: the Node left the object's pool, or the object is being deleted, and the node
// agent removes innkeeper's files from it.
func RevertValue(uid string) string { return "revert." + uid }

// AgentTargetRevert is the target (hotel.innkeeper.dev/<component>-target) that a node agent records
// while it reverts its Node (state Applying), when the revert failed (state Degraded), and once it is
// done (state Reverted, which the manager removes with the label).
const AgentTargetRevert = "revert"
