package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// run picks the subcommand; internal/cmd tests each one's flags.
func TestRunDispatches(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  []string
	}{
		{name: "help", args: []string{"help"}, wantCode: 0, wantOut: []string{"innkeeper [manager] [flags]"}},
		{name: "unknown command", args: []string{"serve"}, wantCode: 2, wantOut: []string{`unknown command "serve"`, "Usage:"}},
		{name: "manager", args: []string{"manager", "--help"}, wantCode: 0, wantOut: []string{"Usage of innkeeper manager:", "-leader-elect"}},
		{name: "flags without the command name", args: []string{"--help"}, wantCode: 0,
			wantOut: []string{"Usage of innkeeper manager:", "-leader-elect"}},
		{name: "a manager flag without the command name", args: []string{"--bogus"}, wantCode: 2,
			wantOut: []string{"flag provided but not defined: -bogus", "Usage of innkeeper manager:"}},
		{name: "agent", args: []string{"agent", "--help"}, wantCode: 0, wantOut: []string{"Usage of innkeeper agent:", "-config-hash"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if code := run(tt.args, &out); code != tt.wantCode {
				t.Errorf("run(%q) = %d, want %d; output:\n%s", tt.args, code, tt.wantCode, out.String())
			}
			for _, want := range tt.wantOut {
				if !strings.Contains(out.String(), want) {
					t.Errorf("run(%q) output lacks %q:\n%s", tt.args, want, out.String())
				}
			}
		})
	}
}

// The build stamps main.version (make build, the Dockerfile), and the manager's default
// --agent-image is innkeeper's image at that tag, so that the agents run the manager's version.
func TestBuildStampsTheAgentImageTag(t *testing.T) {
	for _, file := range []string{"Makefile", "Dockerfile"} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), "-X main.version=") {
			t.Errorf("%s does not build with -ldflags -X main.version=...", file)
		}
	}
	if testing.Short() {
		t.Skip("builds innkeeper")
	}
	bin := filepath.Join(t.TempDir(), "innkeeper")
	build := exec.Command("go", "build", "-ldflags", "-X main.version=v0.0.0-stamped", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	help := exec.Command(bin, "manager", "--help")
	help.Env = append(os.Environ(), "INNKEEPER_IMAGE=")
	out, err := help.CombinedOutput()
	if err != nil {
		t.Fatalf("innkeeper manager --help: %v\n%s", err, out)
	}
	if want := `(default "ghcr.io/innkeeper-dev/innkeeper:v0.0.0-stamped")`; !strings.Contains(string(out), want) {
		t.Errorf("innkeeper manager --help lacks %s:\n%s", want, out)
	}
}
