package v1alpha1

// PoolObject is an innkeeper object: it selects a pool of Nodes with a PoolSpec and reports a
// PoolStatus. The shared rollout engine works on this interface, so every kind is handled alike.
// +kubebuilder:object:generate=false
type PoolObject interface {
	// PoolSpec returns the object's pool and rollout settings.
	PoolSpec() *PoolSpec
	// PoolStatus returns the object's status, to read and to write.
	PoolStatus() *PoolStatus
}
