package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/innkeeper-dev/innkeeper/internal/agent"
	"github.com/innkeeper-dev/innkeeper/internal/pool"
	"github.com/innkeeper-dev/innkeeper/internal/render/kubelet"
)

// runAgent is `innkeeper agent`: the node agent of a component's DaemonSet pod.
func runAgent(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("innkeeper agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	component := fs.String("component", kubelet.Name, "The node component to configure: kubelet.")
	configPath := fs.String("config", "", "Path of the rendered configuration, mounted from its ConfigMap.")
	configHash := fs.String("config-hash", "", "Hash of the configuration, from the pod template; the agent checks the file against it.")
	hostRoot := fs.String("host-root", "/host", "Where the host's root filesystem is mounted.")
	healthPort := fs.Int("health-port", kubelet.AgentHealthPort, "Port on 127.0.0.1 for /healthz and /readyz.")
	nodeName := fs.String("node-name", os.Getenv("NODE_NAME"), "This Node's name (default: $NODE_NAME).")
	healthTimeout := fs.Duration("health-timeout", 2*time.Minute, "How long to wait for the component to be healthy after a restart before rolling back.")
	dropInDir := fs.String("drop-in-dir", kubelet.DropInDir, "The kubelet's --config-dir on the host (the pod mounts only this directory).")
	healthzURL := fs.String("kubelet-healthz-url", "http://127.0.0.1:10248/healthz", "The kubelet's healthz endpoint.")
	procRoot := fs.String("proc-root", "/proc", "The host's /proc (the pod shares the host's PID namespace).")
	kubeconfig := fs.String("kubeconfig", "", "Path to a kubeconfig; default: in-cluster.")
	zapOpts := zap.Options{}
	if code, ok := parseFlags(fs, &zapOpts, args, stderr); !ok {
		return code
	}
	var missing []string
	for name, v := range map[string]string{"config": *configPath, "config-hash": *configHash, "node-name": *nodeName} {
		if v == "" {
			missing = append(missing, "--"+name)
		}
	}
	if len(missing) > 0 || *component != kubelet.Name {
		fmt.Fprintf(stderr, "innkeeper agent: need --component=kubelet and %v\n", missing)
		return 2
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("agent")

	data, err := os.ReadFile(*configPath)
	if err != nil {
		log.Error(err, "Cannot read the configuration")
		return 1
	}
	// The file must be the configuration the pod template names, not another one mounted by mistake.
	if got := pool.ConfigHash(map[string]string{filepath.Base(*configPath): string(data)}); got != *configHash {
		log.Error(nil, "The configuration does not match its hash; refusing to apply it", "want", *configHash, "got", got)
		return 1
	}
	cfg, err := loadConfig(*kubeconfig)
	if err != nil {
		log.Error(err, "Unable to load a kubeconfig")
		return 1
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		log.Error(err, "Unable to create a Kubernetes client")
		return 1
	}
	reporter := &agent.NodeReporter{Client: client, NodeName: *nodeName, Component: *component}
	a := &agent.Agent{
		Target: &agent.Kubelet{
			DropInDir:  *dropInDir,
			HealthzURL: *healthzURL,
			Client:     &http.Client{Timeout: 5 * time.Second},
			Args:       agent.ProcessArgs(*procRoot, "kubelet"),
			Node: func(ctx context.Context) (*corev1.Node, error) {
				return reporter.Node(ctx)
			},
		},
		Restarter:      agent.SystemdRestarter{},
		Reporter:       reporter,
		HostRoot:       *hostRoot,
		Config:         data,
		Hash:           *configHash,
		HealthTimeout:  *healthTimeout,
		HealthInterval: 2 * time.Second,
		Log:            log,
	}
	listener, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(*healthPort)))
	if err != nil {
		log.Error(err, "Cannot listen for probes")
		return 1
	}
	if err := a.Run(ctrl.SetupSignalHandler(), listener); err != nil {
		log.Error(err, "The agent stopped with an error")
		return 1
	}
	return 0
}
