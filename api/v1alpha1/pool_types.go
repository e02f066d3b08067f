package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// PoolSpec selects a pool of Nodes and says how fast a new configuration may roll out across it.
// Every innkeeper kind embeds it.
type PoolSpec struct {
	// nodeSelector selects the Nodes of the pool by their labels. It is required; an empty
	// selector ({}) selects every Node of the cluster. A Node may belong to at most one pool of
	// each kind: where two objects of one kind select the same Node, the older object keeps it
	// and the newer one stalls with reason PoolConflict until the overlap is gone. An object so
	// stalled keeps no Node, so it stalls no newer object in turn.
	// +required
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn', 'Exists', 'DoesNotExist'])",message="nodeSelector.matchExpressions[].operator must be one of In, NotIn, Exists, DoesNotExist"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, !(e.operator in ['In', 'NotIn', 'Exists', 'DoesNotExist']) || (e.operator in ['In', 'NotIn']) == (has(e.values) && size(e.values) > 0))",message="nodeSelector.matchExpressions[].values must be non-empty for In and NotIn and empty for Exists and DoesNotExist"
	NodeSelector metav1.LabelSelector `json:"nodeSelector"`

	// rollout paces the rollout of a new configuration across the pool.
	// +optional
	// +kubebuilder:default={}
	Rollout RolloutSpec `json:"rollout,omitempty"`
}

// RolloutSpec paces a rollout.
type RolloutSpec struct {
	// maxUnavailable is the largest number of the pool's Nodes that may be updating, or unready after
	// an update, at the same time: an integer of at least 1, or a percentage of the pool from 1% to
	// 100% (rounded up, as for a DaemonSet). A Node whose update fails counts as unavailable, so a
	// failing configuration stops spreading once this many Nodes have failed. Default 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 1 : self.matches('^([1-9][0-9]?|100)%$')",message="maxUnavailable must be an integer of at least 1 or a percentage from 1% to 100%"
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`

	// paused, when true, stops the rollout where it is: no Node receives a newer configuration and
	// every Node keeps what it has. Set it back to false to resume.
	// +optional
	Paused bool `json:"paused,omitempty"`
}

// PoolStatus is what innkeeper observed of a pool and its rollout. Every innkeeper kind embeds it.
type PoolStatus struct {
	// observedGeneration is the metadata.generation that this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// configHash identifies the rendered configuration now being rolled out (or, while paused or
	// stalled, the one most recently rolled out). Nodes that run it count as updated.
	// +optional
	ConfigHash string `json:"configHash,omitempty"`

	// nodes counts the pool's Nodes by rollout state.
	// +optional
	Nodes NodeCounts `json:"nodes,omitzero"`

	// nodesReady is nodes.ready of nodes.selected, such as "3/4": Nodes that run the current
	// configuration and are Ready, of the Nodes the pool selects (kubectl's NODES column).
	// +optional
	// +kubebuilder:validation:MaxLength=32
	NodesReady string `json:"nodesReady,omitempty"`

	// nodeConditions counts the pool's Nodes by the node conditions that need attention.
	// +optional
	NodeConditions NodeConditionCounts `json:"nodeConditions,omitzero"`

	// capacity is the sum of the pool's Nodes' capacity (cpu, memory, pods, ephemeral-storage).
	// +optional
	Capacity corev1.ResourceList `json:"capacity,omitempty"`

	// allocatable is the sum of the pool's Nodes' allocatable resources (cpu, memory, pods,
	// ephemeral-storage): what remains for pods once the reserved resources are taken.
	// +optional
	Allocatable corev1.ResourceList `json:"allocatable,omitempty"`

	// degradedNodes names up to 10 Nodes that failed to apply the configuration, sorted by name,
	// each with the reason and the node agent's message. nodes.degraded gives the full count.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=10
	DegradedNodes []DegradedNode `json:"degradedNodes,omitempty"`

	// conditions are Ready, Reconciling, Stalled, Degraded, NodesHealthy and Paused. What each means,
	// and what to do about each reason, is in https://github.com/innkeeper-dev/innkeeper/tree/main/docs
	// (concepts.md, and node-agent.md: Troubleshooting).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
}

// NodeCounts counts a pool's Nodes by rollout state, as a MachineConfigPool does.
type NodeCounts struct {
	// selected is the number of Nodes the nodeSelector selects.
	// +optional
	Selected int32 `json:"selected"`
	// updated is the number of selected Nodes that run the current configuration.
	// +optional
	Updated int32 `json:"updated"`
	// ready is the number of selected Nodes that are updated and Ready.
	// +optional
	Ready int32 `json:"ready"`
	// unavailable is the number of selected Nodes that are updating, not Ready, or degraded.
	// +optional
	Unavailable int32 `json:"unavailable"`
	// degraded is the number of selected Nodes that failed to apply the configuration.
	// +optional
	Degraded int32 `json:"degraded"`
}

// NodeConditionCounts counts a pool's Nodes by node condition.
type NodeConditionCounts struct {
	// notReady is the number of selected Nodes whose Ready condition is not True.
	// +optional
	NotReady int32 `json:"notReady"`
	// memoryPressure is the number of selected Nodes with MemoryPressure=True.
	// +optional
	MemoryPressure int32 `json:"memoryPressure"`
	// diskPressure is the number of selected Nodes with DiskPressure=True.
	// +optional
	DiskPressure int32 `json:"diskPressure"`
	// pidPressure is the number of selected Nodes with PIDPressure=True.
	// +optional
	PIDPressure int32 `json:"pidPressure"`
}

// DegradedNode is a Node that failed to apply the configuration.
type DegradedNode struct {
	// name is the Node's name.
	// +required
	Name string `json:"name"`
	// reason is a CamelCase word for why the Node is degraded, such as HealthCheckFailed.
	// +optional
	Reason string `json:"reason,omitempty"`
	// message is the node agent's account of the failure.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
}
