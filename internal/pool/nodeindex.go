package pool

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
)

// NodeStore reads the Nodes a selector selects straight from the manager's Node informer: the
// cached objects themselves, as client-go listers return them, without the copy that a cache List
// makes of each Node into its list (on a 500-Node pool, most of a reconcile's allocations). The
// Nodes it returns are shared with the cache and every other reconcile: they must never be
// modified.
//
// It indexes the Nodes by the label keys that pools select on, so that a reconcile reads its pool's
// Nodes instead of matching its selector against every Node of the cluster (on 5,000 Nodes, most of
// a reconcile's CPU). An index is added, to the running informer, the first time a selector needs
// its key; the keys pools select on are few, and each index holds one entry per Node that has the
// label.
//
// A manager has one, shared by the reconcilers of every kind (NewNodeStore): they share the cache's
// Node informer, and an index can be added to it only once.
type NodeStore struct {
	informers cache.Informers
	mu        sync.Mutex
	// informer is the Node informer, and indexer its store; nil until first used.
	informer cache.Informer
	indexer  toolscache.Indexer
	// keys are the label keys indexed so far; taints, the taint keys.
	keys   map[string]bool
	taints map[string]bool
}

// NewNodeStore returns the Node store of a manager's cache, for all its reconcilers (Options.Nodes).
func NewNodeStore(informers cache.Informers) *NodeStore {
	return &NodeStore{informers: informers, keys: map[string]bool{}, taints: map[string]bool{}}
}

// labelIndexName names the index of a label key.
func labelIndexName(key string) string { return "innkeeper.label:" + key }

// indexerOf is what client-go's shared informers offer beyond controller-runtime's Informer: their
// store.
type indexerOf interface {
	GetIndexer() toolscache.Indexer
}

// selected returns the Nodes selector selects, in no particular order. They are the cache's own
// objects: read them, never modify them.
func (s *NodeStore) selected(ctx context.Context, selector labels.Selector) ([]*corev1.Node, error) {
	req, indexed := indexedRequirement(selector)
	key, values := req.Key(), req.Values().List()
	indexer, err := s.store(ctx, key, indexed)
	if err != nil {
		return nil, err
	}
	var candidates []any
	rest := selector // what the candidates are yet to meet
	if !indexed {
		candidates = indexer.List()
	} else {
		rest = without(selector, req)
		for _, v := range values {
			items, err := indexer.ByIndex(labelIndexName(key), v)
			if err != nil {
				return nil, fmt.Errorf("read Nodes by label %s: %w", key, err)
			}
			candidates = append(candidates, items...)
		}
	}
	var nodes []*corev1.Node
	for _, item := range candidates {
		if n, ok := item.(*corev1.Node); ok && (rest.Empty() || rest.Matches(labels.Set(n.Labels))) {
			nodes = append(nodes, n)
		}
	}
	return nodes, nil
}

// store returns the Node informer's store, with the index of key added if indexed and missing.
func (s *NodeStore) store(ctx context.Context, key string, indexed bool) (toolscache.Indexer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.indexer == nil {
		informer, err := s.informers.GetInformer(ctx, &corev1.Node{})
		if err != nil {
			return nil, fmt.Errorf("get the Node informer: %w", err)
		}
		withStore, ok := informer.(indexerOf)
		if !ok {
			return nil, fmt.Errorf("the Node informer (%T) does not expose its store", informer)
		}
		s.informer, s.indexer = informer, withStore.GetIndexer()
	}
	if indexed && !s.keys[key] {
		err := s.informer.AddIndexers(toolscache.Indexers{labelIndexName(key): func(obj any) ([]string, error) {
			if n, ok := obj.(*corev1.Node); ok {
				if v, ok := n.Labels[key]; ok {
					return []string{v}, nil
				}
			}
			return nil, nil
		}})
		if err != nil {
			return nil, fmt.Errorf("index Nodes by label %s: %w", key, err)
		}
		s.keys[key] = true
	}
	return s.indexer, nil
}

// taintIndexName names the index of the Nodes with a taint key.
func taintIndexName(key string) string { return "innkeeper.taint:" + key }

// tainted returns the Nodes with a taint of key, from an index of them: few, where a scan of the
// store would read every Node of the cluster. They are the cache's own objects: read them, never
// modify them.
func (s *NodeStore) tainted(ctx context.Context, key string) ([]*corev1.Node, error) {
	indexer, err := s.store(ctx, "", false)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if !s.taints[key] {
		err = s.informer.AddIndexers(toolscache.Indexers{taintIndexName(key): func(obj any) ([]string, error) {
			if n, ok := obj.(*corev1.Node); ok && hasTaint(n, key) {
				return []string{"true"}, nil
			}
			return nil, nil
		}})
		if err == nil {
			s.taints[key] = true
		}
	}
	s.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("index Nodes by taint %s: %w", key, err)
	}
	items, err := indexer.ByIndex(taintIndexName(key), "true")
	if err != nil {
		return nil, fmt.Errorf("read Nodes by taint %s: %w", key, err)
	}
	nodes := make([]*corev1.Node, 0, len(items))
	for _, item := range items {
		if n, ok := item.(*corev1.Node); ok {
			nodes = append(nodes, n)
		}
	}
	return nodes, nil
}

// without returns selector without the requirement that the index has met (one of them if it has
// it twice): a pool selected by one label alone needs no further matching.
func without(selector labels.Selector, met labels.Requirement) labels.Selector {
	reqs, _ := selector.Requirements()
	rest, dropped := labels.NewSelector(), false
	for _, r := range reqs {
		if !dropped && r.Equal(met) {
			dropped = true
			continue
		}
		rest = rest.Add(r)
	}
	return rest
}

// indexedRequirement returns a requirement of selector that only Nodes with one of a few values of
// one label meet (key = value, key in (values)), for the index to narrow the list to those Nodes.
func indexedRequirement(selector labels.Selector) (labels.Requirement, bool) {
	reqs, selectable := selector.Requirements()
	if !selectable {
		return labels.Requirement{}, false
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
	return best, found
}
