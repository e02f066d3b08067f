// Package cmd holds innkeeper's subcommands: Manager (`innkeeper manager`) and Agent (`innkeeper
// agent`). Each parses its own command line and returns the process's exit code; main only picks
// one, so that the subcommands are tested as they run.
package cmd

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// parseFlags binds the logging flags and parses a subcommand's command line. When it returns false,
// the subcommand exits with the code: 0 after --help, 2 on a bad flag or a stray argument.
func parseFlags(fs *flag.FlagSet, zapOpts *zap.Options, args []string, stderr io.Writer) (int, bool) {
	zapOpts.DestWriter = stderr
	zapOpts.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected arguments %q\n", fs.Name(), fs.Args())
		return 2, false
	}
	return 0, true
}

func loadConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	return ctrl.GetConfig()
}

func envOr(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}
