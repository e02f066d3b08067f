package pool

import (
	"strings"
	"sync"
	"unique"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CacheOptions scope the manager's cache to what the engine needs: ConfigMaps only in the workload
// namespace (a cluster's ConfigMaps can take gigabytes; innkeeper's namespace holds its rendered
// configurations and the CA bundles RoomServices reference), Nodes without their image lists and
// managed fields, which are most of a Node's size and which no pool status uses, and DaemonSets:
// innkeeper's whole, every other one slimmed to what tells whether it runs a component on a pool's
// Nodes (see SlimDaemonSet), so that a Concierge finds another kube-proxy from the cache, and hears
// of one at once, instead of listing the cluster's DaemonSets at every reconcile. No object but
// innkeeper's own DaemonSets keeps its managed fields: the engine reads no others', and on a
// server-side-applied object they are a good part of its size.
func CacheOptions(namespace string) cache.Options {
	inNamespace := map[string]cache.Config{namespace: {}}
	return cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.ConfigMap{}: {Namespaces: inNamespace},
			&appsv1.DaemonSet{}: {Transform: SlimDaemonSet},
			&corev1.Node{}:      {Transform: NewNodeStripper().Strip},
		},
	}
}

// SlimDaemonSet is the cache's transform of DaemonSets. It keeps innkeeper's own (labelled
// managed-by innkeeper) whole but for their managed fields. Of any other it keeps what the engine
// reads to find one that runs a component on a pool's Nodes: identity, labels, innkeeper's
// annotations, and of its pod template the node selector, affinity, tolerations, host networking and
// each container's name, image, command and args. A DaemonSet is never written back from this copy: the
// engine reads one afresh before it changes it.
func SlimDaemonSet(obj any) (any, error) {
	ds, ok := obj.(*appsv1.DaemonSet)
	if !ok {
		return obj, nil // deletion tombstones pass through unchanged
	}
	if ds.Labels[LabelManagedBy] == ManagedByValue {
		// Its managed fields tell what others added to its pod template (see foreignTemplateFields);
		// innkeeper's DaemonSets are one per object, so they cost little.
		return ds, nil
	}
	ds.ManagedFields = nil
	pod := ds.Spec.Template.Spec
	slim := &appsv1.DaemonSet{
		TypeMeta: ds.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Namespace:         ds.Namespace,
			Name:              ds.Name,
			UID:               ds.UID,
			ResourceVersion:   ds.ResourceVersion,
			Generation:        ds.Generation,
			CreationTimestamp: ds.CreationTimestamp,
			DeletionTimestamp: ds.DeletionTimestamp,
			Labels:            ds.Labels,
		},
	}
	for k, v := range ds.Annotations {
		if strings.HasPrefix(k, annotationPrefix) {
			if slim.Annotations == nil {
				slim.Annotations = map[string]string{}
			}
			slim.Annotations[k] = v
		}
	}
	// Host networking too: the DaemonSet controller then tolerates a Node's unavailable network.
	slim.Spec.Template.Spec = corev1.PodSpec{NodeSelector: pod.NodeSelector, Affinity: pod.Affinity,
		Tolerations: pod.Tolerations, HostNetwork: pod.HostNetwork}
	for _, c := range pod.Containers {
		slim.Spec.Template.Spec.Containers = append(slim.Spec.Template.Spec.Containers,
			corev1.Container{Name: c.Name, Image: c.Image, Command: c.Command, Args: c.Args})
	}
	return slim, nil
}

// NodeStripper is the cache's transform of Nodes (see Strip). It shares among the cached Nodes one
// copy of each string and of each list of resources they repeat; each cache has its own, so that
// nothing outlives it or is shared between managers.
type NodeStripper struct {
	// interned holds one copy of each string that cached Nodes share. It keeps the unique.Handles:
	// without them the canonical copies would be collected, and Nodes re-cached after that would
	// each get their own again. Distinct label keys and values are few; past maxInterned (a cluster
	// that labels each Node with values of its own) strings are kept as they are.
	internMu sync.Mutex
	interned map[unique.Handle[string]]struct{}
	// resourceLists holds one copy of each distinct list of summed resources that cached Nodes
	// report. A pool's Nodes are mostly of a few machine types, with the same capacity and
	// allocatable, and a map of four quantities per list and Node is a good part of a cached
	// Node's size. Cached Nodes are never modified (a cache read returns a copy, and the engine
	// only reads the Nodes it takes from the informer's store), so they can share the map. Past
	// maxResourceLists distinct lists, a Node keeps its own.
	listsMu       sync.Mutex
	resourceLists map[string]corev1.ResourceList
}

// NewNodeStripper returns the transform of one cache's Nodes.
func NewNodeStripper() *NodeStripper {
	return &NodeStripper{interned: map[unique.Handle[string]]struct{}{}, resourceLists: map[string]corev1.ResourceList{}}
}

// Strip keeps of a cached Node only what the engine reads: its name, labels, taints, the
// hotel.innkeeper.dev/ annotations, its conditions' types and statuses, and the capacity and
// allocatable of the resources a pool sums. Images, managed fields, condition messages and
// heartbeat times, addresses and node info are most of a Node's size, and a manager caches every
// Node of the cluster.
func (ns *NodeStripper) Strip(obj any) (any, error) {
	node, ok := obj.(*corev1.Node)
	if !ok {
		return obj, nil // deletion tombstones pass through unchanged
	}
	stripped := &corev1.Node{
		TypeMeta: node.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name:              node.Name,
			UID:               node.UID,
			ResourceVersion:   node.ResourceVersion,
			Generation:        node.Generation,
			CreationTimestamp: node.CreationTimestamp,
			DeletionTimestamp: node.DeletionTimestamp,
		},
		Spec: corev1.NodeSpec{Taints: node.Spec.Taints, Unschedulable: node.Spec.Unschedulable},
	}
	if len(node.Labels) > 0 {
		// Nodes share most label keys and values (pool, zone, instance type, OS): one copy of each
		// string serves them all. A value unique to the Node, such as its hostname, is kept as is.
		stripped.Labels = make(map[string]string, len(node.Labels))
		for k, v := range node.Labels {
			if v != node.Name {
				v = ns.intern(v)
			}
			stripped.Labels[ns.intern(k)] = v
		}
	}
	for k, v := range node.Annotations {
		if strings.HasPrefix(k, annotationPrefix) {
			if stripped.Annotations == nil {
				stripped.Annotations = map[string]string{}
			}
			stripped.Annotations[k] = v
		}
	}
	if len(node.Status.Conditions) > 0 {
		stripped.Status.Conditions = make([]corev1.NodeCondition, 0, len(node.Status.Conditions))
	}
	for _, c := range node.Status.Conditions {
		// The transition time (not the heartbeat, which changes at every status update) says
		// whether a Node turned unhealthy during a rollout (see unhealthyUpdated).
		stripped.Status.Conditions = append(stripped.Status.Conditions, corev1.NodeCondition{
			Type: corev1.NodeConditionType(ns.intern(string(c.Type))), Status: corev1.ConditionStatus(ns.intern(string(c.Status))),
			LastTransitionTime: c.LastTransitionTime})
	}
	stripped.Status.Capacity = ns.summedOnly(node.Status.Capacity)
	stripped.Status.Allocatable = ns.summedOnly(node.Status.Allocatable)
	return stripped, nil
}

const maxInterned = 100_000

func (ns *NodeStripper) intern(s string) string {
	h := unique.Make(s)
	ns.internMu.Lock()
	defer ns.internMu.Unlock()
	if _, ok := ns.interned[h]; !ok {
		if len(ns.interned) >= maxInterned {
			return s
		}
		ns.interned[h] = struct{}{}
	}
	return h.Value()
}

// annotationPrefix starts the annotations innkeeper reads on Nodes.
const annotationPrefix = "hotel.innkeeper.dev/"

const maxResourceLists = 10_000

// summedOnly keeps the resources a pool's status sums: a shared list if another Node has the same.
func (ns *NodeStripper) summedOnly(list corev1.ResourceList) corev1.ResourceList {
	if list == nil {
		return nil
	}
	var key strings.Builder
	for _, name := range summedResources {
		if q, ok := list[name]; ok {
			key.WriteString(string(name))
			key.WriteByte('=')
			key.WriteString(q.String())
			key.WriteByte(';')
		}
	}
	ns.listsMu.Lock()
	defer ns.listsMu.Unlock()
	if shared, ok := ns.resourceLists[key.String()]; ok {
		return shared
	}
	out := make(corev1.ResourceList, len(summedResources))
	for _, name := range summedResources {
		if q, ok := list[name]; ok {
			out[name] = q
		}
	}
	if len(ns.resourceLists) < maxResourceLists {
		ns.resourceLists[key.String()] = out
	}
	return out
}
