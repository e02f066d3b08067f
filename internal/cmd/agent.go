package cmd

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
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/innkeeper-dev/innkeeper/internal/agent"
	"github.com/innkeeper-dev/innkeeper/internal/manager"
	"github.com/innkeeper-dev/innkeeper/internal/pool"
	"github.com/innkeeper-dev/innkeeper/internal/render"
	"github.com/innkeeper-dev/innkeeper/internal/render/containerd"
)

// Agent is `innkeeper agent`: the node agent of a component's DaemonSet pod. It applies its
// configuration and serves its probes until it is signalled to stop, and returns the exit code.
func Agent(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("innkeeper agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var flags render.AgentFlags
	flags.Bind(fs)
	zapOpts := zap.Options{}
	if code, ok := parseFlags(fs, &zapOpts, args, stderr); !ok {
		return code
	}
	if err := flags.Validate(); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", fs.Name(), err)
		return 2
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("agent")

	files, err := readConfig(flags.Config)
	if err != nil {
		log.Error(err, "Cannot read the configuration")
		return 1
	}
	// The files must be the configuration the pod template names, not another one mounted by mistake.
	if got := pool.ConfigHash(files); got != flags.ConfigHash {
		log.Error(nil, "The configuration does not match its hash; refusing to apply it", "want", flags.ConfigHash, "got", got)
		return 1
	}
	cfg, err := loadConfig(flags.Kubeconfig)
	if err != nil {
		log.Error(err, "Unable to load a kubeconfig")
		return 1
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		log.Error(err, "Unable to create a Kubernetes client")
		return 1
	}
	reporter := &agent.NodeReporter{Client: client, NodeName: flags.NodeName, Component: flags.Component}
	var target agent.Target = &agent.Kubelet{
		DropInDir:  flags.DropInDir,
		HealthzURL: flags.KubeletHealthzURL,
		Client:     &http.Client{Timeout: 5 * time.Second},
		Args:       agent.ProcessArgs(flags.ProcRoot, "kubelet"),
		Node: func(ctx context.Context) (*corev1.Node, error) {
			return reporter.Node(ctx)
		},
		HostFS: filepath.Join(flags.ProcRoot, "1", "root"),
	}
	if flags.Component == containerd.Name {
		cri, closeCRI, err := agent.DialCRI(flags.CRISocket)
		if err != nil {
			log.Error(err, "Cannot reach containerd")
			return 1
		}
		defer func() { _ = closeCRI() }()
		target = &agent.Containerd{ConfigPath: flags.ContainerdConfig, CRI: cri}
	}
	config := make(map[string][]byte, len(files))
	for name, data := range files {
		config[name] = []byte(data)
	}
	a := &agent.Agent{
		Target:         target,
		Restarter:      agent.SystemdRestarter{},
		Reporter:       reporter,
		Events:         &agent.NodeEvents{Client: client, NodeName: flags.NodeName, Component: flags.Component, Log: log},
		HostRoot:       flags.HostRoot,
		Config:         config,
		Hash:           flags.ConfigHash,
		HealthTimeout:  flags.HealthTimeout,
		HealthInterval: 2 * time.Second,
		DriftInterval:  flags.DriftInterval,
		DriftPolicy:    agent.DriftPolicy(flags.DriftPolicy),
		Drain:          flags.Drain,
		Log:            log,
	}
	listener, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(flags.HealthPort)))
	if err != nil {
		log.Error(err, "Cannot listen for probes")
		return 1
	}
	ctx := ctrl.SetupSignalHandler()
	if flags.ObjectUID != "" {
		goals, err := agent.WatchNodeGoals(ctx, client, flags.NodeName, flags.Component, flags.ObjectUID)
		if err != nil {
			log.Error(err, "Cannot watch the Node")
			return 1
		}
		a.Goals = goals
	}
	if flags.MetricsPort > 0 {
		srv, err := manager.NewAgentMetricsServer(":"+strconv.Itoa(flags.MetricsPort), cfg)
		if err != nil {
			log.Error(err, "Cannot serve metrics")
			return 1
		}
		go func() {
			// Metrics are not worth stopping an apply for: a port taken is logged, and the agent goes on.
			if err := srv.Start(ctx); err != nil {
				log.Error(err, "The metrics server stopped", "port", flags.MetricsPort)
			}
		}()
	}
	if err := a.Run(ctx, listener); err != nil {
		log.Error(err, "The agent stopped with an error")
		return 1
	}
	return 0
}

// readConfig reads the configuration mounted from its ConfigMap: path is one of its files, or the
// directory that holds all of them (a ConfigMap volume: each key a file, beside the kubelet's
// "..data" links, which are skipped).
func readConfig(path string) (map[string]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		return map[string]string{filepath.Base(path): string(data)}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	files := map[string]string{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(path, e.Name()))
		if err != nil {
			return nil, err
		}
		files[e.Name()] = string(data)
	}
	return files, nil
}
