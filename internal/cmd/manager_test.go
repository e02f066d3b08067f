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
		// One ServiceAccount per node agent's component, as the chart and config/ create them.
		{name: "the agents' ServiceAccounts", args: []string{"--help"}, wantCode: 0,
			wantOut: []string{"-kubelet-agent-service-account", `(default "innkeeper-kubelet-agent")`,
				"-containerd-agent-service-account", `(default "innkeeper-containerd-agent")`}},
		{name: "one ServiceAccount for every agent is gone", args: []string{"--agent-service-account=innkeeper-agent"}, wantCode: 2,
			wantOut: []string{"flag provided but not defined: -agent-service-account"}},
		{name: "stray argument", args: []string{"extra"}, wantCode: 2, wantOut: []string{`innkeeper manager: unexpected arguments ["extra"]`}},
		{name: "leader election's timing", args: []string{"--help"}, wantCode: 0,
			wantOut: []string{"-leader-elect-identity", "-leader-elect-lease-duration duration", "(default 5s)",
				"-leader-elect-renew-deadline duration", "(default 3s)", "-leader-elect-retry-period duration", "(default 1s)"}},
		// Checked at start, before any request to a cluster, with the three values and why.
		{name: "a renew deadline that outlasts the lease", args: []string{"--leader-elect-lease-duration=5s", "--leader-elect-renew-deadline=5s"},
			wantCode: 2, wantOut: []string{"invalid leader-election timing (--leader-elect-lease-duration=5s, --leader-elect-renew-deadline=5s, --leader-elect-retry-period=1s)",
				"the lease duration (5s) must be more than the renew deadline (5s) and the retry period (1s) together"}},
		{name: "a lease duration the Lease cannot record", args: []string{"--leader-elect-lease-duration=7500ms"},
			wantCode: 2, wantOut: []string{"the lease duration (7.5s) must be a whole number of seconds"}},
		{name: "not a duration", args: []string{"--leader-elect-retry-period=2"},
			wantCode: 2, wantOut: []string{`invalid value "2" for flag -leader-elect-retry-period`}},
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

// Under the chart, the pod's name (the downward API's $POD_NAME) names the replica in the Lease.
func TestManagerLeaderElectionIdentityIsThePodsName(t *testing.T) {
	t.Setenv("POD_NAME", "innkeeper-manager-7d4b9c-x2k8p")
	_, opts, _ := managerFlags(&bytes.Buffer{}, "latest")
	if got, want := opts.LeaderElectionIdentity, "innkeeper-manager-7d4b9c-x2k8p"; got != want {
		t.Errorf("--leader-elect-identity defaults to %q, want %q", got, want)
	}
	t.Setenv("POD_NAME", "")
	_, opts, _ = managerFlags(&bytes.Buffer{}, "latest")
	if opts.LeaderElectionIdentity != "" {
		t.Errorf("--leader-elect-identity defaults to %q without $POD_NAME, want none (a new one for every process)", opts.LeaderElectionIdentity)
	}
}
