package main

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/innkeeper-dev/innkeeper/internal/pool"
	"github.com/innkeeper-dev/innkeeper/internal/render/kubeproxy"
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

type okTransport struct{}

func (okTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
}

func TestRequestCounterTimesStatusWrites(t *testing.T) {
	c := newRequestCounter()
	rt := c.wrap(okTransport{})
	send := func(method, path string) {
		req, err := http.NewRequest(method, "https://127.0.0.1:6443"+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rt.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
	}
	fmStatus := "/apis/hotel.innkeeper.dev/v1alpha1/floormanagers/general/status"
	send(http.MethodPatch, fmStatus)
	send(http.MethodPatch, fmStatus)
	send(http.MethodGet, fmStatus)                                                     // a read
	send(http.MethodPatch, "/apis/hotel.innkeeper.dev/v1alpha1/floormanagers/general") // not status
	send(http.MethodPatch, "/api/v1/nodes/n1/status")

	got := c.statusWriteSamples()
	if n := len(got[floorManagerStatusWrite]); n != 2 {
		t.Errorf("timed %d FloorManager status writes, want 2 (%v)", n, got)
	}
	if n := len(got["patch nodes/status"]); n != 1 {
		t.Errorf("timed %d Node status writes, want 1 (%v)", n, got)
	}
	if len(got) != 2 {
		t.Errorf("timed %v, want only status writes", got)
	}
	if n := c.snapshot()["patch "+"floormanagers.hotel.innkeeper.dev"]; n != 1 {
		t.Errorf("counted %d spec patches, want 1", n)
	}
}

func TestAddOnDaemonSets(t *testing.T) {
	seen := map[string]bool{}
	for i := range 2 * len(addOns) {
		ds := addOnDaemonSet(i)
		if seen[ds.Name] {
			t.Fatalf("two add-ons named %s", ds.Name)
		}
		seen[ds.Name] = true
		if ds.Labels[pool.LabelManagedBy] == pool.ManagedByValue {
			t.Errorf("%s is labelled as innkeeper's", ds.Name)
		}
		// Only kubeadm's kube-proxy is another kube-proxy, and it keeps off every pool.
		isKubeProxy := kubeproxy.Component{}.Foreign(ds)
		if isKubeProxy != (addOns[i%len(addOns)].name == "kube-proxy") {
			t.Errorf("%s: Foreign = %t", ds.Name, isKubeProxy)
		}
		if isKubeProxy {
			terms := ds.Spec.Template.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
			if len(terms) != 1 || terms[0].MatchExpressions[0].Key != poolLabel ||
				terms[0].MatchExpressions[0].Operator != corev1.NodeSelectorOpDoesNotExist {
				t.Errorf("kube-proxy does not keep off the pools: %v", terms)
			}
		}
	}
}

func TestMedianRun(t *testing.T) {
	runs := []ReactionRun{{RatioToInformerPlusWriteP99: 1.3}, {RatioToInformerPlusWriteP99: 0.9}, {RatioToInformerPlusWriteP99: 1.05}}
	if got := medianRun(runs).RatioToInformerPlusWriteP99; got != 1.05 {
		t.Errorf("median of 1.3, 0.9, 1.05 = %v, want 1.05", got)
	}
	if got := medianRun(runs[:2]).RatioToInformerPlusWriteP99; got != 0.9 {
		t.Errorf("median of two = %v, want the lower, 0.9", got)
	}
	if got := medianRun(nil); got != (ReactionRun{}) {
		t.Errorf("median of none = %+v", got)
	}
}
