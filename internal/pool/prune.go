package pool

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// keepConfigMaps is how many of an object's configurations stay in the cluster, the ones in use
// included, so that a rollback finds its ConfigMap.
const keepConfigMaps = 3

// pruneConfigMaps deletes an object's ConfigMaps beyond the keepConfigMaps newest, never one that
// is rolled out or about to be.
func (r *Reconciler) pruneConfigMaps(ctx context.Context, obj Object, inUse ...string) error {
	list := &corev1.ConfigMapList{}
	if err := r.client.List(ctx, list, client.InNamespace(r.namespace),
		client.MatchingLabels(selectorLabels(obj, r.kind.Component.Name()))); err != nil {
		return fmt.Errorf("list ConfigMaps: %w", err)
	}
	for _, name := range configMapsToPrune(list.Items, inUse) {
		cm := &corev1.ConfigMap{}
		cm.Name, cm.Namespace = name, r.namespace
		if err := r.client.Delete(ctx, cm); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("delete old ConfigMap %s: %w", name, err)
		}
	}
	return nil
}

// configMapsToPrune returns the names of the ConfigMaps to delete: all but the keepConfigMaps
// newest (by the object generation that rendered them, then creation time), keeping those whose
// configuration hash is in inUse whatever their age.
func configMapsToPrune(cms []corev1.ConfigMap, inUse []string) []string {
	used := map[string]bool{}
	for _, h := range inUse {
		if h != "" {
			used[h] = true
		}
	}
	sorted := append([]corev1.ConfigMap(nil), cms...)
	generation := func(cm *corev1.ConfigMap) int64 {
		g, _ := strconv.ParseInt(cm.Annotations[AnnotationGeneration], 10, 64)
		return g
	}
	sort.SliceStable(sorted, func(i, j int) bool {
		gi, gj := generation(&sorted[i]), generation(&sorted[j])
		if gi != gj {
			return gi > gj
		}
		return sorted[j].CreationTimestamp.Before(&sorted[i].CreationTimestamp)
	})
	kept := 0
	for i := range sorted {
		if used[sorted[i].Annotations[AnnotationHash]] {
			kept++
		}
	}
	var prune []string
	for i := range sorted {
		if used[sorted[i].Annotations[AnnotationHash]] {
			continue
		}
		if kept < keepConfigMaps {
			kept++
			continue
		}
		prune = append(prune, sorted[i].Name)
	}
	return prune
}

// appliedOnNodes returns the configuration hashes that the component's agents report on the Nodes.
func appliedOnNodes(nodes []*corev1.Node, component string) []string {
	key := hotelv1alpha1.AgentAnnotation(component, hotelv1alpha1.AgentAnnotationConfig)
	var hashes []string
	for i := range nodes {
		if h := nodes[i].Annotations[key]; h != "" {
			hashes = append(hashes, h)
		}
	}
	return hashes
}
