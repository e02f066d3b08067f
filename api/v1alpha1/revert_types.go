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

// NodeDeletion is what a FloorManager or RoomService does to its Nodes' files when it is deleted,
// or when a Node leaves its pool.
type NodeDeletion struct {
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

// Reverts reports whether the object's Nodes are reverted when it is deleted or they leave its pool.
func (d NodeDeletion) Reverts() bool { return d.DeletionPolicy != NodeDeletionPolicyOrphan }

// RevertTimeout returns revertTimeoutSeconds, or its default.
func (d NodeDeletion) RevertTimeout() int32 {
	if d.RevertTimeoutSeconds == nil {
		return DefaultRevertTimeoutSeconds
	}
	return *d.RevertTimeoutSeconds
}
