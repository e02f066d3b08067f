package pool

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// labelIndexes indexes the cached Nodes by the label keys that pools select on, so that a
// reconcile lists the pool's Nodes instead of matching its selector against every Node of the
// cluster (on 5,000 Nodes, most of a reconcile's CPU). An index is added, to the running informer,
// the first time a selector needs its key; the keys pools select on are few, and each index holds
// one entry per Node that has the label.
type labelIndexes struct {
	indexer client.FieldIndexer
	mu      sync.Mutex
	keys    map[string]bool
}

// nodeLabelIndexes are the label indexes of each manager's cache: the reconcilers of every kind
// share the cache's Node informer, and an index can be added to it only once.
var nodeLabelIndexes sync.Map // client.FieldIndexer -> *labelIndexes

func labelIndexesOf(indexer client.FieldIndexer) *labelIndexes {
	li, _ := nodeLabelIndexes.LoadOrStore(indexer, &labelIndexes{indexer: indexer, keys: map[string]bool{}})
	return li.(*labelIndexes)
}

// labelIndexField names the index of a label key.
func labelIndexField(key string) string { return "innkeeper.label:" + key }

// ensure adds the index of key if it is missing.
func (li *labelIndexes) ensure(ctx context.Context, key string) error {
	li.mu.Lock()
	defer li.mu.Unlock()
	if li.keys[key] {
		return nil
	}
	err := li.indexer.IndexField(ctx, &corev1.Node{}, labelIndexField(key), func(o client.Object) []string {
		if v, ok := o.GetLabels()[key]; ok {
			return []string{v}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("index Nodes by label %s: %w", key, err)
	}
	li.keys[key] = true
	return nil
}

// indexedRequirement returns a requirement of selector that only Nodes with one of a few values of
// one label meet (key = value, key in (values)), for the index to narrow the list to those Nodes.
func indexedRequirement(selector labels.Selector) (string, []string, bool) {
	reqs, selectable := selector.Requirements()
	if !selectable {
		return "", nil, false
	}
	best, found := labels.Requirement{}, false
	for _, r := range reqs {
		switch r.Operator() {
		case selection.Equals, selection.DoubleEquals, selection.In:
			if !found || r.Values().Len() < best.Values().Len() {
				best, found = r, true
			}
		}
	}
	if !found {
		return "", nil, false
	}
	return best.Key(), best.Values().List(), true
}
