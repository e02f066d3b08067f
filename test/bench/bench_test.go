package main

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// The benchmark itself needs a control plane and minutes (make bench); these tests cover its pure
// parts, so that `make test` builds and checks it.

func TestClassifyRequest(t *testing.T) {
	tests := []struct {
		method, path, watch string
		wantVerb, wantRes   string
	}{
		{"GET", "/api/v1/nodes", "true", "watch", "nodes"},
		{"GET", "/api/v1/nodes", "", "list", "nodes"},
		{"GET", "/api/v1/nodes/n1", "", "get", "nodes"},
		{"PATCH", "/api/v1/nodes/n1/status", "", "patch", "nodes/status"},
		{"PATCH", "/apis/hotel.innkeeper.dev/v1alpha1/floormanagers/fm/status", "", "patch", "floormanagers.hotel.innkeeper.dev/status"},
		{"POST", "/apis/events.k8s.io/v1/namespaces/default/events", "", "create", "events.events.k8s.io"},
		{"PUT", "/apis/coordination.k8s.io/v1/namespaces/ns/leases/l", "", "update", "leases.coordination.k8s.io"},
		{"DELETE", "/api/v1/namespaces/ns/configmaps/cm", "", "delete", "configmaps"},
		{"DELETE", "/api/v1/namespaces/ns/configmaps", "", "deletecollection", "configmaps"},
		{"GET", "/api/v1/namespaces/ns", "", "get", "namespaces"},
		{"GET", "/apis/apps/v1", "", "get", "discovery"},
		{"GET", "/version", "", "get", "discovery"},
	}
	for _, tt := range tests {
		verb, resource := classifyRequest(tt.method, tt.path, tt.watch)
		if verb != tt.wantVerb || resource != tt.wantRes {
			t.Errorf("classifyRequest(%s %s watch=%q) = %s %s, want %s %s",
				tt.method, tt.path, tt.watch, verb, resource, tt.wantVerb, tt.wantRes)
		}
	}
}

func TestRequestArithmetic(t *testing.T) {
	before := map[string]int64{"watch nodes": 1, "patch nodes/status": 2}
	after := map[string]int64{"watch nodes": 1, "patch nodes/status": 5, "update leases.coordination.k8s.io": 3, "list nodes": 1}
	d := delta(before, after)
	if len(d) != 3 || d["patch nodes/status"] != 3 || d["list nodes"] != 1 {
		t.Fatalf("delta = %v", d)
	}
	work, election := splitLeaderElection(d)
	if writes(work) != 3 || total(work) != 4 || writes(election) != 3 {
		t.Errorf("work %v, election %v", work, election)
	}
}

func TestPercentile(t *testing.T) {
	var samples []time.Duration
	for i := 100; i >= 1; i-- {
		samples = append(samples, time.Duration(i)*time.Millisecond)
	}
	for _, tt := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0, time.Millisecond}} {
		if got := percentile(samples, tt.p); got != tt.want {
			t.Errorf("percentile(1..100ms, %v) = %v, want %v", tt.p, got, tt.want)
		}
	}
	if got := percentile(nil, 99); got != 0 {
		t.Errorf("percentile(nil) = %v, want 0", got)
	}
}

func TestForEach(t *testing.T) {
	var calls atomic.Int64
	if err := forEach(context.Background(), 100, 4, func(context.Context, int) error {
		calls.Add(1)
		return nil
	}); err != nil || calls.Load() != 100 {
		t.Fatalf("forEach ran %d calls, err %v; want 100, nil", calls.Load(), err)
	}
	boom := errors.New("boom")
	err := forEach(context.Background(), 100, 4, func(_ context.Context, i int) error {
		if i == 10 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Errorf("forEach error = %v, want %v", err, boom)
	}
}

func TestNodeFactory(t *testing.T) {
	f := nodeFactory{seed: 1, images: 50, now: time.Unix(0, 0)}
	n := f.node("pool-3", 7, 42)
	if n.Name != "pool-3-node-0007" || n.Labels[poolLabel] != "pool-3" {
		t.Errorf("node %s has pool label %q", n.Name, n.Labels[poolLabel])
	}
	if len(n.Status.Images) != 50 || len(n.Status.Conditions) != 4 || underMemoryPressure(n) {
		t.Errorf("node has %d images, %d conditions, memory pressure %t", len(n.Status.Images), len(n.Status.Conditions), underMemoryPressure(n))
	}
	if again := f.node("pool-3", 7, 42); again.Status.Images[0].Names[0] != n.Status.Images[0].Names[0] {
		t.Error("the same seed and serial built different Nodes")
	}
}
