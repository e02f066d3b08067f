// Command bench measures innkeeper's manager at scale: it starts envtest's kube-apiserver and etcd,
// creates 5,000 realistic Nodes in 10 pools with a FloorManager, a Concierge and a RoomService each, runs innkeeper's real
// manager (internal/manager.New) against them and reports
//
//  1. reaction latency: from a Node's MemoryPressure flip to the FloorManager status that counts it,
//     against a bare informer that watches the same Node (p50, p99, ratio);
//  2. memory: the manager's heap and RSS after sync, against a manager that only caches Nodes
//     without a transform;
//  3. steady state: reconciles and API writes of the manager while every Node heartbeats;
//  4. cost per reconcile: CPU time and API requests of one reconcile of a 50-Node and a 500-Node
//     pool.
//
// It prints a table and writes the results as JSON (-out). Targets are printed next to the numbers;
// missing one does not fail the run. See README.md beside this file.
//
// The manager and the memory baseline run as child processes (this binary re-executed with
// -child), so that their heap is measured apart from the benchmark's own; each reports its memory,
// CPU time, controller-runtime reconcile metrics and the API requests it sent (counted by a
// RoundTripper wrapped into its rest.Config) on a loopback HTTP endpoint.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// options are the benchmark's flags.
type options struct {
	nodes           int
	pools           int
	images          int
	addOnDaemonSets int
	writers         int
	samples         int
	reactionRuns    int
	steady          time.Duration
	heartbeat       time.Duration
	smallPool       int
	costSamples     int
	out             string
	seed            uint64
	timeout         time.Duration
	keepWorkDir     bool
	leaderElect     bool
	profileDir      string
	child           string
	kubeconfig      string
	reactionGap     time.Duration
	quietPeriod     time.Duration
	settleWindow    time.Duration
	// floorManagersOnly creates FloorManagers only, one per pool, as the benchmark's first version
	// did: a reaction then costs one reconcile and one status write instead of three.
	floorManagersOnly bool
}

// parseFlags parses the command line into options. The flags have a set of their own: packages
// such as controller-runtime's config register theirs on the default set.
func parseFlags(args []string) options {
	var o options
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	fs.IntVar(&o.nodes, "nodes", 5000, "Nodes to create, spread evenly over the pools.")
	fs.IntVar(&o.pools, "pools", 10, "Pools, each selected by one FloorManager, one Concierge and one RoomService.")
	fs.BoolVar(&o.floorManagersOnly, "floormanagers-only", false, "Create only the FloorManager of each pool, no Concierge or RoomService.")
	fs.IntVar(&o.images, "images", 50, "Entries in each Node's status.images.")
	fs.IntVar(&o.addOnDaemonSets, "addon-daemonsets", len(addOns), "DaemonSets of other node agents (kube-proxy kept off the pools, CNI, CSI, logging, monitoring) to create in kube-system.")
	fs.IntVar(&o.writers, "writers", 16, "Concurrent writers that create Nodes and send heartbeats.")
	fs.IntVar(&o.samples, "samples", 1000, "Reaction-latency samples (MemoryPressure flips) per run.")
	fs.IntVar(&o.reactionRuns, "reaction-runs", 3, "Reaction runs; the target is judged on the median run.")
	fs.DurationVar(&o.steady, "steady", 60*time.Second, "Length of the steady-state window.")
	fs.DurationVar(&o.heartbeat, "heartbeat", 10*time.Second, "Interval at which every Node renews its Lease and condition heartbeats.")
	fs.IntVar(&o.smallPool, "small-pool", 50, "Nodes of the extra pool that the cost of a reconcile is compared on.")
	fs.IntVar(&o.costSamples, "cost-samples", 20, "Reconciles measured per pool for the cost of a reconcile (rounded up to even).")
	fs.StringVar(&o.out, "out", "bench-results.json", "Where to write the results as JSON.")
	fs.Uint64Var(&o.seed, "seed", 1, "Seed of the Nodes' content and of the choice of Nodes to flip.")
	fs.DurationVar(&o.timeout, "timeout", 20*time.Minute, "Upper bound on the whole run.")
	fs.BoolVar(&o.keepWorkDir, "keep", false, "Keep the work directory (kubeconfig, child logs) after the run.")
	fs.StringVar(&o.profileDir, "profile-dir", "", "If set, save the heap profiles of the manager and the baseline, after sync, into this directory.")
	fs.DurationVar(&o.reactionGap, "reaction-gap", 50*time.Millisecond, "Pause between two reaction samples.")
	fs.DurationVar(&o.quietPeriod, "quiet", 3*time.Second, "How long the manager must send no request and run no reconcile to count as settled.")
	fs.DurationVar(&o.settleWindow, "settle", 5*time.Second, "How long after the steady-state window its counts are read, so that events in flight reach the manager.")
	fs.BoolVar(&o.leaderElect, "leader-elect", true, "Run the manager with leader election, as config/manager deploys it.")
	fs.StringVar(&o.child, "child", "", "Internal: run as a child process in this role ("+roleManager+" or "+roleNodeCache+").")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "Internal: the kubeconfig of a child process.")
	_ = fs.Parse(args)
	o.costSamples += o.costSamples % 2
	return o
}

func main() {
	opts := parseFlags(os.Args[1:])
	var err error
	if opts.child != "" {
		err = runChild(opts.child, opts.kubeconfig, opts.leaderElect)
	} else {
		err = runBenchmark(opts)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// runBenchmark runs every phase, prints the table and writes the JSON results.
func runBenchmark(opts options) error {
	if opts.nodes < opts.pools || opts.pools < 1 || opts.samples < 1 || opts.reactionRuns < 1 || opts.writers < 1 || opts.smallPool < 1 || opts.costSamples < 2 {
		return fmt.Errorf("need at least one pool, one Node per pool, one sample, one reaction run, one writer, one Node in the small pool and two cost samples")
	}
	start := time.Now()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()

	b, err := newBench(ctx, opts)
	if err != nil {
		return err
	}
	res, runErr := b.run(ctx)
	if err := b.close(); err != nil && runErr == nil {
		runErr = err
	}
	if runErr != nil {
		return runErr
	}
	res.WallSeconds = time.Since(start).Seconds()
	printResults(os.Stdout, res)
	if err := writeResults(opts.out, res); err != nil {
		return err
	}
	fmt.Printf("\nResults written to %s\n", opts.out)
	return nil
}
