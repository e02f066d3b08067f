package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/render/kubelet"
)

// Kubelet is the kubelet as the agent manages it: a drop-in in the directory the kubelet reads with
// --config-dir, the kubelet.service unit, and health from its healthz endpoint and its Node's Ready
// condition.
type Kubelet struct {
	// DropInDir is the kubelet's --config-dir on the host.
	DropInDir string
	// HealthzURL is the kubelet's healthz endpoint, http://127.0.0.1:10248/healthz by default.
	HealthzURL string
	// Client makes the healthz requests.
	Client *http.Client
	// Args returns the running kubelet's command line.
	Args func() ([]string, error)
	// Node returns the agent's Node, for its Ready condition.
	Node func(ctx context.Context) (*corev1.Node, error)
	// HostFS is where the agent reaches the host's whole filesystem, for the files its pod does not
	// mount (the kubelet's configuration file, its CPU manager checkpoint): the host's /proc/1/root,
	// as the pod shares the host's PID namespace. Empty: BeforeRestart does nothing.
	HostFS string
}

var _ Target = &Kubelet{}

// Name returns "kubelet".
func (k *Kubelet) Name() string { return kubelet.Name }

// dropInPath returns the drop-in's path on the host.
func (k *Kubelet) dropInPath() string { return filepath.Join(k.DropInDir, kubelet.DropInFile) }

// Unit returns kubelet.service.
func (k *Kubelet) Unit() string { return "kubelet.service" }

// Files checks the drop-in as the manager did when rendering it: the configuration is that one
// file, which the kubelet reads only when it starts.
func (k *Kubelet) Files(config map[string][]byte) ([]File, error) {
	data, ok := config[kubelet.DropInFile]
	if !ok || len(config) != 1 {
		return nil, fmt.Errorf("want exactly the file %s, got %d files", kubelet.DropInFile, len(config))
	}
	if err := kubelet.ValidateDropIn(data); err != nil {
		return nil, err
	}
	return []File{{Path: k.dropInPath(), Data: data, Restart: true}}, nil
}

// Stale returns nothing: every kubelet configuration is the same one file.
func (k *Kubelet) Stale(string, []File) ([]File, error) { return nil, nil }

// Revert returns the drop-in: the kubelet reads it only when it starts.
func (k *Kubelet) Revert(context.Context, string) ([]File, error) {
	return []File{{Path: k.dropInPath(), Restart: true}}, nil
}

// Prepare fails with DropInUnsupported unless the kubelet runs with --config-dir set to
// DropInDir: otherwise it would never read the drop-in, and innkeeper does not edit the main
// configuration file. The drop-in is the same on every host.
func (k *Kubelet) Prepare(_ context.Context, _ string, files []File) ([]File, error) {
	return files, k.checkConfigDir()
}

func (k *Kubelet) checkConfigDir() error {
	args, err := k.Args()
	if err != nil {
		return err
	}
	dir, ok := flagValue(args, "config-dir")
	if !ok {
		return &DegradedError{Reason: hotelv1alpha1.ReasonDropInUnsupported, Message: fmt.Sprintf(
			"the kubelet does not run with --config-dir, so it would not read %s; innkeeper does not edit the "+
				"kubelet's main configuration. Add --config-dir=%s to the kubelet's flags (kubeadm: KUBELET_EXTRA_ARGS)",
			k.dropInPath(), k.DropInDir)}
	}
	if filepath.Clean(dir) != filepath.Clean(k.DropInDir) {
		return &DegradedError{Reason: hotelv1alpha1.ReasonDropInUnsupported, Message: fmt.Sprintf(
			"the kubelet reads drop-ins from %s, but innkeeper writes them to %s: set the kubelet's --config-dir to %s",
			dir, k.DropInDir, k.DropInDir)}
	}
	return nil
}

// Healthy returns nil when the kubelet's healthz answers ok and its Node is Ready with a heartbeat
// from the second of since on: the Ready condition from before a restart says nothing about the
// kubelet after it.
func (k *Kubelet) Healthy(ctx context.Context, since time.Time) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.HealthzURL, nil)
	if err != nil {
		return err
	}
	resp, err := k.Client.Do(req)
	if err != nil {
		return fmt.Errorf("kubelet healthz: %w", err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("kubelet healthz answered %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	node, err := k.Node(ctx)
	if err != nil {
		// The API server's trouble is not the kubelet's: no verdict, keep waiting.
		return &InconclusiveError{Err: fmt.Errorf("get the Node: %w", err)}
	}
	for _, c := range node.Status.Conditions {
		if c.Type != corev1.NodeReady {
			continue
		}
		if c.Status != corev1.ConditionTrue {
			return fmt.Errorf("the Node is not Ready: %s", c.Message)
		}
		// Heartbeats have a resolution of one second. The new kubelet posts the Node's status as it
		// starts, often within the second of its restart, and after that only on a change or every
		// nodeStatusReportFrequency (5 minutes): a heartbeat from that second on is the new
		// kubelet's. (One the old kubelet posted in that same second would pass too; but healthz,
		// which only the new kubelet answers, has passed by then.) Waiting for a later second
		// rolled healthy kubelets back on real nodes.
		if !since.IsZero() && c.LastHeartbeatTime.Time.Before(since.Truncate(time.Second)) {
			return fmt.Errorf("the kubelet has not reported the Node Ready since its restart at %s", since.Format(time.RFC3339))
		}
		return nil
	}
	return fmt.Errorf("the Node has no Ready condition")
}

// flagValue returns the value of --name (or -name) in a command line, as --name=value or --name value.
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		for _, prefix := range []string{"--" + name, "-" + name} {
			if a == prefix && i+1 < len(args) {
				return args[i+1], true
			}
			if v, ok := strings.CutPrefix(a, prefix+"="); ok {
				return v, true
			}
		}
	}
	return "", false
}

// ProcessArgs returns a function that finds the running process whose executable's base name is
// name under procRoot (the host's /proc: the agent's pod shares the host's PID namespace) and
// returns its command line.
func ProcessArgs(procRoot, name string) func() ([]string, error) {
	return func() ([]string, error) {
		entries, err := os.ReadDir(procRoot)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", procRoot, err)
		}
		for _, e := range entries {
			if !e.IsDir() || strings.TrimLeft(e.Name(), "0123456789") != "" {
				continue
			}
			data, err := os.ReadFile(filepath.Join(procRoot, e.Name(), "cmdline"))
			if err != nil || len(data) == 0 {
				continue // the process exited, or is a kernel thread
			}
			args := strings.Split(string(bytes.TrimRight(data, "\x00")), "\x00")
			if filepath.Base(args[0]) == name {
				return args, nil
			}
		}
		return nil, fmt.Errorf("no %s process found under %s", name, procRoot)
	}
}

var (
	_ Disruptive      = &Kubelet{}
	_ RestartPreparer = &Kubelet{}
)

// Disruption returns the fields whose change from the drop-in on the host to the changed one needs
// the Node drained (see kubelet.Disruption).
func (k *Kubelet) Disruption(changed []File) ([]string, error) {
	for _, f := range changed {
		if filepath.Base(f.Path) != kubelet.DropInFile || f.Data == nil {
			continue
		}
		current, _, err := readFile(f.Path)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", f.Path, err)
		}
		return kubelet.Disruption(current, f.Data)
	}
	return nil, nil
}

// cpuManagerStateFile is the CPU manager's checkpoint in the kubelet's root directory.
const cpuManagerStateFile = "cpu_manager_state"

// BeforeRestart removes the CPU manager's checkpoint when it records another policy than the one
// the kubelet is about to start with (the drop-in's, else its configuration file's, else none):
// the kubelet refuses to start on it, and creates a new one. The Node has been drained for the
// change (see kubelet.Disruption), or its owner chose to restart under its pods.
func (k *Kubelet) BeforeRestart(_ context.Context, hostRoot string) error {
	if k.HostFS == "" {
		return nil
	}
	args, err := k.Args()
	if err != nil {
		return err
	}
	rootDir, ok := flagValue(args, "root-dir")
	if !ok {
		rootDir = "/var/lib/kubelet"
	}
	checkpoint := filepath.Join(k.HostFS, rootDir, cpuManagerStateFile)
	data, exists, err := readFile(checkpoint)
	if err != nil || !exists {
		return err
	}
	var state struct {
		PolicyName string `json:"policyName"`
	}
	if err := json.Unmarshal(data, &state); err != nil {
		return nil // not ours to judge: the kubelet says what it makes of it
	}
	policy := "none"
	if base, ok := flagValue(args, "config"); ok {
		if p, err := cpuManagerPolicyIn(filepath.Join(k.HostFS, base)); err != nil {
			return err
		} else if p != "" {
			policy = p
		}
	}
	if p, err := cpuManagerPolicyIn(filepath.Join(hostRoot, k.dropInPath())); err != nil {
		return err
	} else if p != "" {
		policy = p
	}
	if state.PolicyName == policy {
		return nil
	}
	if err := os.Remove(checkpoint); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("remove the CPU manager's checkpoint of policy %q: %w", state.PolicyName, err)
	}
	return nil
}

// cpuManagerPolicyIn returns the cpuManagerPolicy a kubelet configuration file sets, "" if it sets
// none or does not exist.
func cpuManagerPolicyIn(path string) (string, error) {
	data, exists, err := readFile(path)
	if err != nil || !exists {
		return "", err
	}
	var cfg struct {
		CPUManagerPolicy string `json:"cpuManagerPolicy"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return "", fmt.Errorf("read the CPU manager policy in %s: %w", path, err)
	}
	return cfg.CPUManagerPolicy, nil
}
