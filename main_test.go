package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRunCommandLine(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  []string
	}{
		{name: "help", args: []string{"help"}, wantCode: 0, wantOut: []string{"innkeeper [manager] [flags]"}},
		{name: "unknown command", args: []string{"serve"}, wantCode: 2, wantOut: []string{`unknown command "serve"`, "Usage:"}},
		{name: "manager help", args: []string{"manager", "--help"}, wantCode: 0,
			wantOut: []string{"-namespace", "-metrics-bind-address", "-health-probe-bind-address", "-leader-elect", "-kubeconfig"}},
		{name: "flags without the command name", args: []string{"--help"}, wantCode: 0, wantOut: []string{"-leader-elect"}},
		{name: "unknown flag", args: []string{"manager", "--bogus"}, wantCode: 2, wantOut: []string{"flag provided but not defined: -bogus"}},
		{name: "stray argument", args: []string{"manager", "extra"}, wantCode: 2, wantOut: []string{`unexpected arguments ["extra"]`}},
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
