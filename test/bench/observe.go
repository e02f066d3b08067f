package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/innkeeper-dev/innkeeper/internal/manager"
)

// watchpoint tells when an informer first delivers an object that matches an expectation. One
// expectation is armed at a time: the benchmark arms it, sends a change, and waits.
type watchpoint struct {
	mu    sync.Mutex
	match func(client.Object) bool
	seen  chan time.Time
}

// expect arms the watchpoint with match; the returned channel receives the time at which the
// informer delivered the first matching object.
func (w *watchpoint) expect(match func(client.Object) bool) <-chan time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.match = match
	w.seen = make(chan time.Time, 1)
	return w.seen
}

// observe checks one delivered object against the armed expectation.
func (w *watchpoint) observe(obj any) {
	now := time.Now()
	o, ok := obj.(client.Object)
	if !ok {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.match != nil && w.match(o) {
		w.seen <- now
		w.match = nil
	}
}

// handler feeds the watchpoint with an informer's adds and updates.
func (w *watchpoint) handler() toolscache.ResourceEventHandler {
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { w.observe(obj) },
		UpdateFunc: func(_, obj any) { w.observe(obj) },
	}
}

// observer is a bare controller-runtime cache with one informer, of obj's kind, that feeds a
// watchpoint. It runs in the benchmark process.
type observer struct {
	cache  cache.Cache
	cancel context.CancelFunc
	watch  *watchpoint
}

// startObserver starts an informer on obj's kind and waits for it to sync.
func startObserver(ctx context.Context, cfg *rest.Config, obj client.Object) (*observer, error) {
	c, err := cache.New(cfg, cache.Options{Scheme: manager.Scheme()})
	if err != nil {
		return nil, fmt.Errorf("create a cache: %w", err)
	}
	o := &observer{cache: c, watch: &watchpoint{}}
	informer, err := c.GetInformer(ctx, obj)
	if err != nil {
		return nil, fmt.Errorf("create an informer: %w", err)
	}
	if _, err := informer.AddEventHandler(o.watch.handler()); err != nil {
		return nil, fmt.Errorf("add an event handler: %w", err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	o.cancel = cancel
	go func() { _ = c.Start(runCtx) }()
	syncCtx, syncCancel := context.WithTimeout(ctx, 2*time.Minute)
	defer syncCancel()
	if !c.WaitForCacheSync(syncCtx) {
		cancel()
		return nil, fmt.Errorf("the informer did not sync")
	}
	return o, nil
}

// stop stops the informer.
func (o *observer) stop() { o.cancel() }
