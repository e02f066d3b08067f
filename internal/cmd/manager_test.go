package cmd

import (
	"bytes"
	"strings"
	"testing"
)

func TestManagerCommandLine(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  []string
	}{
		{name: "help", args: []string{"--help"}, wantCode: 0,
			wantOut: []string{"-namespace", "-metrics-bind-address", "-health-probe-bind-address", "-leader-elect", "-kubeconfig", "-enable-http2",
				"-agent-priority-class", "(default system-node-critical)", "-agent-tolerations", `(default [{"operator":"Exists"}])`}},
		{name: "unknown flag", args: []string{"--bogus"}, wantCode: 2, wantOut: []string{"flag provided but not defined: -bogus"}},
		{name: "stray argument", args: []string{"extra"}, wantCode: 2, wantOut: []string{`innkeeper manager: unexpected arguments ["extra"]`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if code := Manager(tt.args, &out, "latest"); code != tt.wantCode {
				t.Errorf("Manager(%q) = %d, want %d; output:\n%s", tt.args, code, tt.wantCode, out.String())
			}
			for _, want := range tt.wantOut {
				if !strings.Contains(out.String(), want) {
					t.Errorf("Manager(%q) output lacks %q:\n%s", tt.args, want, out.String())
				}
			}
		})
	}
}

// The node agent runs from the manager's own image: by default, innkeeper's image at the tag of
// this build's version, unless $INNKEEPER_IMAGE names another.
func TestManagerAgentImageIsThisBuildsImage(t *testing.T) {
	t.Setenv("INNKEEPER_IMAGE", "")
	fs, _, _ := managerFlags(&bytes.Buffer{}, "v1.2.3")
	if got, want := fs.Lookup("agent-image").DefValue, "ghcr.io/innkeeper-dev/innkeeper:v1.2.3"; got != want {
		t.Errorf("--agent-image defaults to %q, want %q", got, want)
	}
	t.Setenv("INNKEEPER_IMAGE", "registry.example/innkeeper:dev")
	fs, _, _ = managerFlags(&bytes.Buffer{}, "v1.2.3")
	if got, want := fs.Lookup("agent-image").DefValue, "registry.example/innkeeper:dev"; got != want {
		t.Errorf("--agent-image with $INNKEEPER_IMAGE defaults to %q, want %q", got, want)
	}
}
