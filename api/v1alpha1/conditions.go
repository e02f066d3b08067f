package v1alpha1

// Condition types that every innkeeper kind reports in status.conditions. They follow kstatus:
// Ready is the summary, Reconciling and Stalled are abnormal-true, so that `kubectl wait
// --for=condition=Ready`, Argo CD and Flux read an innkeeper object's health without special cases.
const (
	// ConditionReady is True when every selected Node runs the current configuration and is Ready,
	// and at least one Node is selected: a pool of no Node is not Ready (ReasonNoNodesSelected).
	ConditionReady = "Ready"
	// ConditionReconciling is True while a rollout is in progress.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when the rollout cannot progress without a human.
	ConditionStalled = "Stalled"
	// ConditionDegraded is True when at least one Node failed to apply the configuration.
	ConditionDegraded = "Degraded"
	// ConditionNodesHealthy is False when a selected Node is NotReady or under memory, disk or PID pressure.
	ConditionNodesHealthy = "NodesHealthy"
	// ConditionPaused is True while spec.rollout.paused holds back a configuration not yet rolled out.
	ConditionPaused = "Paused"
)

// Condition reasons. They are CamelCase, as metav1.Condition requires, and each names one cause.
const (
	// ReasonRolloutComplete: every selected Node runs the current configuration.
	ReasonRolloutComplete = "RolloutComplete"
	// ReasonRolloutInProgress: Nodes are being updated to the current configuration.
	ReasonRolloutInProgress = "RolloutInProgress"
	// ReasonRolloutPaused: spec.rollout.paused holds the rollout.
	ReasonRolloutPaused = "RolloutPaused"
	// ReasonNotPaused: spec.rollout.paused is false.
	ReasonNotPaused = "NotPaused"
	// ReasonNoNodesSelected: the nodeSelector selects no Node, so the object is not Ready.
	ReasonNoNodesSelected = "NoNodesSelected"
	// ReasonPoolConflict: an older object of the same kind, not itself stalled by a pool conflict,
	// selects some of the same Nodes.
	ReasonPoolConflict = "PoolConflict"
	// ReasonInvalidSpec: the spec passed admission but cannot be rendered into a valid configuration.
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonUndecodable: the object is stored, but the manager cannot read it into its Go type: a value
	// the API's types cannot hold, such as a duration past about 292 years, stored before a schema
	// change or written around admission. The condition's message names the field. Nothing is rolled
	// out for the object and what it rolled out is left as it is; every other object is reconciled
	// as usual. Correct or remove the field (kubectl edit) and the object is reconciled again.
	ReasonUndecodable = "Undecodable"
	// ReasonReferenceNotFound: the spec references a ConfigMap (such as a registry's CA bundle) that
	// does not exist in innkeeper's namespace.
	ReasonReferenceNotFound = "ReferenceNotFound"
	// ReasonForeignKubeProxy: a kube-proxy DaemonSet innkeeper does not manage runs on the pool's Nodes.
	ReasonForeignKubeProxy = "ForeignKubeProxy"
	// ReasonRolloutBlocked: Nodes failed past maxUnavailable, so the rollout cannot go on.
	ReasonRolloutBlocked = "RolloutBlocked"
	// ReasonRolloutHalted: the health gate holds the rollout: a Node that already runs the
	// configuration being rolled out is NotReady or under memory, disk or PID pressure. No further
	// Node is updated until it recovers, or until spec.rollout.healthGate is Ignore.
	ReasonRolloutHalted = "RolloutHalted"
	// ReasonOutsideMaintenanceWindow: spec.rollout.maintenance has no window open, so the rollout
	// waits for the next one: no Node starts updating until then.
	ReasonOutsideMaintenanceWindow = "OutsideMaintenanceWindow"
	// ReasonCanaryInProgress: a new configuration has reached the canary Nodes of
	// spec.rollout.canary, and no further Node starts until they run it with their pods Ready for
	// soakSeconds.
	ReasonCanaryInProgress = "CanaryInProgress"
	// ReasonDrainFailed: draining a Node before a change that needs it did not finish within
	// spec.rollout.drain.timeoutSeconds (an Event on the object and the Node says why); it is tried
	// again a minute later.
	ReasonDrainFailed = "DrainFailed"
	// ReasonDrained: a Node was cordoned and drained before a change that needs it (an Event).
	ReasonDrained = "Drained"
	// ReasonReverting: the object is being deleted, and its Nodes' agents take its configuration
	// off them (deletionPolicy Revert), at most maxUnavailable at a time; the object goes once they
	// are done, or at its revert timeout.
	ReasonReverting = "Reverting"
	// ReasonApplyFailed: the API server refused to apply the rendered ConfigMap or DaemonSet; the
	// manager retries with backoff.
	ReasonApplyFailed = "ApplyFailed"
	// ReasonForeignFieldsRemoved (an Event's reason only): innkeeper removed from one of its
	// DaemonSets what others had added to the pod template (a container, a volume, hostIPC...),
	// which would have run with the node agent's privileges on every Node of the pool.
	ReasonForeignFieldsRemoved = "ForeignFieldsRemoved"
	// ReasonNodeConfigured (an Event's reason only, on a Node): every innkeeper object that selects
	// the Node has configured it, and innkeeper removed the registration taint (TaintUnconfigured).
	ReasonNodeConfigured = "NodeConfigured"
	// ReasonAsExpected: the condition is in its normal state.
	ReasonAsExpected = "AsExpected"
	// ReasonNodesDegraded: at least one Node's agent reports Degraded: it rolled back a configuration
	// that failed there, or the Node refused it (it does not read it as it is), or the component is
	// unhealthy.
	ReasonNodesDegraded = "NodesDegraded"
	// ReasonNodesUnhealthy: at least one selected Node is NotReady or under pressure.
	ReasonNodesUnhealthy = "NodesUnhealthy"
)
