// Command innkeeper rolls out kubelet, kube-proxy and container-runtime configuration across
// Kubernetes node pools.
//
//	innkeeper [manager] [flags]   run the controller manager (the default)
//	innkeeper agent [flags]       run the node agent (in a DaemonSet pod on each Node)
//	innkeeper help                show this help
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/innkeeper-dev/innkeeper/internal/cmd"
)

const usage = `innkeeper rolls out kubelet, kube-proxy and container-runtime configuration across node pools.

Usage:
  innkeeper [manager] [flags]   run the controller manager (the default)
  innkeeper agent [flags]       run the node agent (in a DaemonSet pod on each Node)
  innkeeper help                show this help

Run "innkeeper manager --help" or "innkeeper agent --help" for their flags.
`

// version is this build's version, set at build time with -ldflags "-X main.version=v0.1.0" (make
// build, the Dockerfile). The manager's default --agent-image is its own image at this tag.
var version = "latest"

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// run dispatches to a subcommand and returns the process's exit code.
func run(args []string, stderr io.Writer) int {
	command := "manager"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		command, args = args[0], args[1:]
	}
	switch command {
	case "manager":
		return cmd.Manager(args, stderr, version)
	case "agent":
		return cmd.Agent(args, stderr)
	case "help":
		fmt.Fprint(stderr, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "innkeeper: unknown command %q\n\n%s", command, usage)
		return 2
	}
}
