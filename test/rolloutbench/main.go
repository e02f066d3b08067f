// Command rolloutbench measures what a user waits for: the time from a FloorManager change to its
// pool reported Ready, on the local cluster (test/localcluster: a real kube-apiserver, etcd,
// kube-controller-manager and kube-scheduler, and kwok playing the kubelets of fake Nodes), against
// a bare DaemonSet of the same pod template and maxUnavailable rolled by the same DaemonSet
// controller in the same run, each Node taking the same simulated time to apply. See README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "rolloutbench:", err)
		os.Exit(1)
	}
}

// options are the benchmark's flags.
type options struct {
	binDir         string
	root           string
	sizes          []int
	runs           int
	applyTime      time.Duration
	maxUnavailable string
	rollTimeout    time.Duration
	out            string
	verbose        bool
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("rolloutbench", flag.ContinueOnError)
	o := options{}
	sizes := fs.String("nodes", "100,300,1000", "pool sizes to measure, comma-separated: one local cluster each")
	fs.StringVar(&o.binDir, "bin-dir", os.Getenv("LOCALCLUSTER_BIN"),
		"directory of the local cluster's binaries (make localcluster-assets prints it); default $LOCALCLUSTER_BIN")
	fs.StringVar(&o.root, "root", ".", "the repository's root, whose chart and manager are installed")
	fs.IntVar(&o.runs, "runs", 3, "rollouts of each kind per pool size")
	fs.DurationVar(&o.applyTime, "apply-time", 2*time.Second,
		"simulated time a Node takes to apply a configuration: a new pod is Ready that long after it is scheduled")
	fs.StringVar(&o.maxUnavailable, "max-unavailable", "10%", "maxUnavailable of the FloorManager and of the bare DaemonSet")
	fs.DurationVar(&o.rollTimeout, "roll-timeout", 20*time.Minute, "bound of one rollout")
	fs.StringVar(&o.out, "out", "rollout-results.json", "where to write the results as JSON")
	fs.BoolVar(&o.verbose, "v", false, "print the local cluster's progress")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	for s := range strings.SplitSeq(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return o, fmt.Errorf("-nodes: %q is not a positive number", s)
		}
		o.sizes = append(o.sizes, n)
	}
	switch {
	case o.binDir == "":
		return o, fmt.Errorf("-bin-dir (or $LOCALCLUSTER_BIN) is not set: run make bench-rollout")
	case o.runs < 1:
		return o, fmt.Errorf("-runs must be at least 1")
	case o.applyTime < 0:
		return o, fmt.Errorf("-apply-time must not be negative")
	}
	root, err := filepath.Abs(o.root)
	if err != nil {
		return o, err
	}
	o.root = root
	return o, nil
}

func run() error {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		return err
	}
	// The benchmark's clients log nothing worth reading; the cluster's progress is -v.
	ctrllog.SetLogger(logr.Discard())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	res := Results{ApplyTimeSeconds: o.applyTime.Seconds(), MaxUnavailable: o.maxUnavailable, Runs: o.runs}
	for _, n := range o.sizes {
		fmt.Printf("== %d Nodes: starting a local cluster\n", n)
		size, err := measureSize(ctx, o, n)
		if err != nil {
			return fmt.Errorf("%d Nodes: %w", n, err)
		}
		res.Sizes = append(res.Sizes, size)
	}
	res.WallSeconds = time.Since(start).Seconds()
	printResults(os.Stdout, res)
	return writeResults(o.out, res)
}
