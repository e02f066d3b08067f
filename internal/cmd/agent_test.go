package cmd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/innkeeper-dev/innkeeper/internal/pool"
)

func TestAgentCommandLine(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  []string
	}{
		{name: "help", args: []string{"--help"}, wantCode: 0,
			wantOut: []string{"-config-hash", "-host-root", "-health-timeout", "-drop-in-dir", "-node-name"}},
		{name: "without its configuration", args: []string{"--node-name=n1"}, wantCode: 2,
			wantOut: []string{"need --component=kubelet or --component=containerd, and", "--config", "--config-hash"}},
		{name: "for an unknown component", args: []string{"--component=kube-proxy", "--config=x", "--config-hash=h", "--node-name=n"},
			wantCode: 2, wantOut: []string{"need --component=kubelet"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if code := Agent(tt.args, &out); code != tt.wantCode {
				t.Errorf("Agent(%q) = %d, want %d; output:\n%s", tt.args, code, tt.wantCode, out.String())
			}
			for _, want := range tt.wantOut {
				if !strings.Contains(out.String(), want) {
					t.Errorf("Agent(%q) output lacks %q:\n%s", tt.args, want, out.String())
				}
			}
		})
	}
}

// The agent refuses a configuration file that is not the one its pod template names.
func TestAgentRefusesAConfigurationThatDoesNotMatchItsHash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "50-innkeeper.conf")
	if err := os.WriteFile(path, []byte("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if code := Agent([]string{"--config=" + path, "--config-hash=0000000000", "--node-name=n1"}, &out); code != 1 {
		t.Errorf("Agent = %d, want 1; output:\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "does not match its hash") {
		t.Errorf("the agent did not refuse the configuration for its hash:\n%s", out.String())
	}

	// With the right hash it gets past the check (and stops at the missing kubeconfig).
	out.Reset()
	hash := pool.ConfigHash(map[string]string{"50-innkeeper.conf": "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"})
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "missing"))
	Agent([]string{"--config=" + path, "--config-hash=" + hash, "--node-name=n1", "--kubeconfig=/nonexistent"}, &out)
	if strings.Contains(out.String(), "does not match its hash") {
		t.Errorf("the agent refused a configuration that matches its hash:\n%s", out.String())
	}
}

// TestReadConfigFromAConfigMapVolume reads a configuration as the kubelet mounts a ConfigMap: each
// key a link into a timestamped directory, beside the "..data" link, which is no key.
func TestReadConfigFromAConfigMapVolume(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "..2026_11_27_16_00_00.123")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"50-innkeeper.toml": "version = 3\n", "docker.io.hosts.toml": "# hosts\n"}
	for name, content := range want {
		if err := os.WriteFile(filepath.Join(data, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Base(data), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	got, err := readConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || got["50-innkeeper.toml"] != want["50-innkeeper.toml"] ||
		got["docker.io.hosts.toml"] != want["docker.io.hosts.toml"] {
		t.Fatalf("readConfig(%s) = %v, want %v", dir, got, want)
	}
	if pool.ConfigHash(got) != pool.ConfigHash(want) {
		t.Fatal("the hash of what was read is not the hash of the ConfigMap")
	}
	one, err := readConfig(filepath.Join(dir, "50-innkeeper.toml"))
	if err != nil || len(one) != 1 || one["50-innkeeper.toml"] != "version = 3\n" {
		t.Fatalf("readConfig of one file = %v, %v", one, err)
	}
}
