package v1alpha1

// NodeDeletionPolicy says what becomes of the configuration that a FloorManager or RoomService gave
// its Nodes when it is deleted, and when a Node leaves its pool.
// +kubebuilder:validation:Enum=Revert;Orphan
type NodeDeletionPolicy string

const (
	// NodeDeletionPolicyRevert takes innkeeper's files off the Nodes, paced by maxUnavailable like
	// any rollout: each Node's agent removes them, restarts the component if it removed something
	// it reads at start, checks that it is healthy, and removes its annotations from the Node.
	NodeDeletionPolicyRevert NodeDeletionPolicy = "Revert"
	// NodeDeletionPolicyOrphan leaves the Nodes as they are: a deleted object's DaemonSet and
	// ConfigMaps keep running without an owner, and a Node that leaves the pool keeps the files.
	NodeDeletionPolicyOrphan NodeDeletionPolicy = "Orphan"
)

// DefaultRevertTimeoutSeconds is how long, by default, a deleted FloorManager or RoomService waits
// for its Nodes to be reverted.
const DefaultRevertTimeoutSeconds = 1800

// DriftPolicy says what a node agent does when innkeeper's files on its Node are changed or removed
// by someone else after it applied them.
// +kubebuilder:validation:Enum=Correct;Report
type DriftPolicy string

const (
	// DriftPolicyCorrect puts the files back: the agent applies the configuration again (restarting
	// the component if it reads a changed file at start) and checks that it is healthy.
	DriftPolicyCorrect DriftPolicy = "Correct"
	// DriftPolicyReport leaves the files as they are and reports the Node: reason Drifted on the Node,
	// a Warning Event, status.nodes.drifted and the agent's innkeeper_agent_drift_total.
	DriftPolicyReport DriftPolicy = "Report"
)

// NodeFiles is what a FloorManager or RoomService does about the files its agents write on its
// Nodes: when they are changed by hand, when the object is deleted, and when a Node leaves its pool.
type NodeFiles struct {
	// driftPolicy is what a Node's agent does when innkeeper's files there are changed or removed by
	// someone else after they were applied (it checks every 30 seconds): Correct (the default)
	// puts them back, restarting the component if it reads them at start; Report leaves them and
	// reports the Node (reason Drifted, status.nodes.drifted, a Warning Event on the Node).
	// +optional
	// +kubebuilder:default=Correct
	DriftPolicy DriftPolicy `json:"driftPolicy,omitempty"`

	// deletionPolicy is what becomes of the configuration on the Nodes when the object is deleted,
	// or a Node leaves its pool. Revert (the default) removes innkeeper's files from each Node,
	// restarts the component there if that removed something it reads at start, and checks it is
	// healthy, at most maxUnavailable Nodes at a time; a deleted object waits for its Nodes (with
	// a finalizer) for at most revertTimeoutSeconds. Orphan leaves the files on the Nodes, and a
	// deleted object's DaemonSet and ConfigMaps running without an owner.
	// +optional
	// +kubebuilder:default=Revert
	DeletionPolicy NodeDeletionPolicy `json:"deletionPolicy,omitempty"`

	// revertTimeoutSeconds bounds how long a deleted object waits for its Nodes to be reverted
	// (deletionPolicy Revert). Past it, the object goes, with a Warning Event naming the Nodes left
	// with innkeeper's files (those whose agent failed to revert, or never ran). Default 1800.
	// +optional
	// +kubebuilder:validation:Minimum=60
	// +kubebuilder:validation:Maximum=604800
	RevertTimeoutSeconds *int32 `json:"revertTimeoutSeconds,omitempty"`
}

// NodeFilesObject is an object whose agents write files on its Nodes: a FloorManager or RoomService.
// +kubebuilder:object:generate=false
type NodeFilesObject interface {
	// NodeFilesSpec returns what the object does about its Nodes' files.
	NodeFilesSpec() NodeFiles
}

// Reverts reports whether the object's Nodes are reverted when it is deleted or they leave its pool.
func (d NodeFiles) Reverts() bool { return d.DeletionPolicy != NodeDeletionPolicyOrphan }

// RevertTimeout returns revertTimeoutSeconds, or its default.
func (d NodeFiles) RevertTimeout() int32 {
	if d.RevertTimeoutSeconds == nil {
		return DefaultRevertTimeoutSeconds
	}
	return *d.RevertTimeoutSeconds
}

// ReportsDrift reports whether drift is only reported, not corrected.
func (d NodeFiles) ReportsDrift() bool { return d.DriftPolicy == DriftPolicyReport }
