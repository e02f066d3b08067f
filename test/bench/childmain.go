package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/innkeeper-dev/innkeeper/internal/manager"
)

// The roles a child process of the benchmark plays.
const (
	// roleManager runs innkeeper's manager as `innkeeper manager` builds it (internal/manager.New).
	roleManager = "manager"
	// roleNodeCache runs the memory baseline: a manager whose only cache is of Nodes, untransformed.
	roleNodeCache = "node-cache"
)

// benchAgentImage is the node agent image the benchmark's manager renders into DaemonSets; no
// kubelet runs it.
const benchAgentImage = "example.test/innkeeper:bench"

// childHello is the first line a child writes to stdout: where it serves its stats.
type childHello struct {
	Addr string `json:"addr"`
}

// runChild runs a child process: a manager in role, with a counting transport, against the API
// server of kubeconfig. It serves its stats on a loopback port that it announces on stdout, and
// exits when its stdin closes (the benchmark stops it, or died).
func runChild(role, kubeconfig string, leaderElection bool) error {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()

	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	// As ctrl.GetConfig does for a manager in a cluster: no client-side rate limit.
	cfg.QPS = -1
	counter := newRequestCounter()
	cfg.Wrap(counter.wrap)

	mgr, err := newChildManager(ctx, role, cfg, leaderElection)
	if err != nil {
		return err
	}
	var synced atomic.Bool
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen for stats: %w", err)
	}
	server := &http.Server{Handler: statsHandler(counter, &synced), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = server.Serve(listener) }()
	defer server.Close()
	if err := json.NewEncoder(os.Stdout).Encode(childHello{Addr: listener.Addr().String()}); err != nil {
		return fmt.Errorf("announce stats address: %w", err)
	}

	go func() {
		if mgr.GetCache().WaitForCacheSync(ctx) {
			synced.Store(true)
		}
	}()
	if err := mgr.Start(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("run %s: %w", role, err)
	}
	return nil
}

// newChildManager builds the manager of a role; innkeeper's manager elects itself leader if asked
// to, as it is deployed.
func newChildManager(ctx context.Context, role string, cfg *rest.Config, leaderElection bool) (ctrl.Manager, error) {
	switch role {
	case roleManager:
		return manager.New(ctx, cfg, manager.Options{
			Namespace:              manager.DefaultNamespace,
			MetricsBindAddress:     "0",
			HealthProbeBindAddress: "0",
			LeaderElection:         leaderElection,
			AgentImage:             benchAgentImage,
		})
	case roleNodeCache:
		mgr, err := ctrl.NewManager(cfg, ctrl.Options{
			Scheme:                 manager.Scheme(),
			Metrics:                metricsserver.Options{BindAddress: "0"},
			HealthProbeBindAddress: "0",
		})
		if err != nil {
			return nil, fmt.Errorf("create the node-cache manager: %w", err)
		}
		// Registered before Start, the informer starts and syncs with the cache.
		if _, err := mgr.GetCache().GetInformer(ctx, &corev1.Node{}); err != nil {
			return nil, fmt.Errorf("create the Node informer: %w", err)
		}
		return mgr, nil
	default:
		return nil, fmt.Errorf("unknown child role %q", role)
	}
}

// statsHandler serves GET /stats (?gc=true to collect garbage first) as JSON, and the heap and
// CPU profiles at GET /debug/pprof/heap and /debug/pprof/profile.
func statsHandler(counter *requestCounter, synced *atomic.Bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /debug/pprof/heap", pprof.Handler("heap"))
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		stats := readProcessStats(r.URL.Query().Get("gc") == "true", counter, metrics.Registry)
		stats.Synced = synced.Load()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(stats)
	})
	return mux
}
