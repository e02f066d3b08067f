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
	"github.com/innkeeper-dev/innkeeper/internal/pool"
	"github.com/innkeeper-dev/innkeeper/internal/render/containerd"
	"github.com/innkeeper-dev/innkeeper/internal/render/kubelet"
)

// Agent is `innkeeper agent`: the node agent of a component's DaemonSet pod. It applies its
// configuration and serves its probes until it is signalled to stop, and returns the exit code.
func Agent(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("innkeeper agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	component := fs.String("component", kubelet.Name, "The node component to configure: kubelet or containerd.")
	configPath := fs.String("config", "", "The rendered configuration, mounted from its ConfigMap: one file, or the directory of all its files.")
	configHash := fs.String("config-hash", "", "Hash of the configuration, from the pod template; the agent checks the file against it.")
	hostRoot := fs.String("host-root", "/host", "Where the host's root filesystem is mounted.")
	healthPort := fs.Int("health-port", kubelet.AgentHealthPort, "Port on 127.0.0.1 for /healthz and /readyz.")
	nodeName := fs.String("node-name", os.Getenv("NODE_NAME"), "This Node's name (default: $NODE_NAME).")
	healthTimeout := fs.Duration("health-timeout", 2*time.Minute, "How long to wait for the component to be healthy after a restart before rolling back.")
	dropInDir := fs.String("drop-in-dir", kubelet.DropInDir, "The kubelet's --config-dir on the host (the pod mounts only this directory).")
	healthzURL := fs.String("kubelet-healthz-url", "http://127.0.0.1:10248/healthz", "The kubelet's healthz endpoint.")
	procRoot := fs.String("proc-root", "/proc", "The host's /proc (the pod shares the host's PID namespace).")
	containerdConfig := fs.String("containerd-config", "/etc/containerd/config.toml", "containerd's main configuration file on the host, which must import the drop-in directory.")
	criSocket := fs.String("cri-socket", "/run/containerd/containerd.sock", "containerd's CRI socket, as mounted in the agent's pod.")
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
	if len(missing) > 0 || (*component != kubelet.Name && *component != containerd.Name) {
		fmt.Fprintf(stderr, "innkeeper agent: need --component=kubelet or --component=containerd, and %v\n", missing)
		return 2
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("agent")

	files, err := readConfig(*configPath)
	if err != nil {
		log.Error(err, "Cannot read the configuration")
		return 1
	}
	// The files must be the configuration the pod template names, not another one mounted by mistake.
	if got := pool.ConfigHash(files); got != *configHash {
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
	var target agent.Target = &agent.Kubelet{
		DropInDir:  *dropInDir,
		HealthzURL: *healthzURL,
		Client:     &http.Client{Timeout: 5 * time.Second},
		Args:       agent.ProcessArgs(*procRoot, "kubelet"),
		Node: func(ctx context.Context) (*corev1.Node, error) {
			return reporter.Node(ctx)
		},
	}
	if *component == containerd.Name {
		cri, closeCRI, err := agent.DialCRI(*criSocket)
		if err != nil {
			log.Error(err, "Cannot reach containerd")
			return 1
		}
		defer func() { _ = closeCRI() }()
		target = &agent.Containerd{ConfigPath: *containerdConfig, CRI: cri}
	}
	config := make(map[string][]byte, len(files))
	for name, data := range files {
		config[name] = []byte(data)
	}
	a := &agent.Agent{
		Target:         target,
		Restarter:      agent.SystemdRestarter{},
		Reporter:       reporter,
		HostRoot:       *hostRoot,
		Config:         config,
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
