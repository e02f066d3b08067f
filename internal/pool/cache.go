package pool

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CacheOptions scope the manager's cache to what the engine needs: ConfigMaps and DaemonSets only
// in the workload namespace and with innkeeper's label (a cluster's ConfigMaps can take gigabytes),
// and Nodes without their image lists and managed fields, which are most of a Node's size and
// which no pool status uses.
func CacheOptions(namespace string) cache.Options {
	managed := labels.SelectorFromSet(labels.Set{LabelManagedBy: ManagedByValue})
	scoped := cache.ByObject{
		Namespaces: map[string]cache.Config{namespace: {}},
		Label:      managed,
	}
	return cache.Options{
		ByObject: map[client.Object]cache.ByObject{
			&corev1.ConfigMap{}: scoped,
			&appsv1.DaemonSet{}: scoped,
			&corev1.Node{}:      {Transform: StripNode},
		},
	}
}

// StripNode drops from a cached Node the fields no pool status reads: status.images (often half of
// a Node's size) and managedFields.
func StripNode(obj any) (any, error) {
	node, ok := obj.(*corev1.Node)
	if !ok {
		return obj, nil // deletion tombstones pass through unchanged
	}
	node.Status.Images = nil
	node.ManagedFields = nil
	return node, nil
}
