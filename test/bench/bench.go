package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"sigs.k8s.io/controller-runtime/pkg/client"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/pool"
)

// managerControllers are the controllers whose reconciles the benchmark counts, one per kind,
// each named after its component: FloorManager, Concierge, RoomService.
var managerControllers = []string{"kubelet", "kube-proxy", "containerd"}

// reconciles sums the reconciles of every kind's controller in a child's stats.
func reconciles(s processStats) reconcileStats {
	var sum reconcileStats
	for _, c := range managerControllers {
		r := s.Reconciles[c]
		sum.Total += r.Total
		sum.Timed += r.Timed
		sum.Seconds += r.Seconds
	}
	return sum
}

// nodeRef is one benchmark Node: its name and pool.
type nodeRef struct {
	name string
	pool string
}

// bench holds a run's control plane, what it created, and the processes it measures.
type bench struct {
	opts    options
	dir     string
	log     *os.File
	cp      *controlPlane
	factory nodeFactory
	// nodes are the Nodes of the main pools, by creation order.
	nodes []nodeRef
	// poolSizes are the Node counts of each pool, the small one included once created.
	poolSizes map[string]int
	// pressure is the MemoryPressure status the benchmark last set on a Node (absent: False).
	pressure map[string]bool
	// pressured counts the Nodes of each pool under MemoryPressure.
	pressured map[string]int32
	// manager is innkeeper's manager, once started.
	manager *childProcess
	// floorManagers observes FloorManager statuses, once started.
	floorManagers *observer
}

// newBench starts the control plane in a new work directory.
func newBench(ctx context.Context, opts options) (*bench, error) {
	dir, err := os.MkdirTemp("", "innkeeper-bench-")
	if err != nil {
		return nil, fmt.Errorf("create a work directory: %w", err)
	}
	logFile, err := os.Create(filepath.Join(dir, "bench.log"))
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	log.SetLogger(zap.New(zap.WriteTo(logFile)))
	progress("starting kube-apiserver and etcd (work directory %s)", dir)
	cp, err := startControlPlane(ctx, dir)
	if err != nil {
		logFile.Close()
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return &bench{
		opts:      opts,
		dir:       dir,
		log:       logFile,
		cp:        cp,
		factory:   nodeFactory{seed: opts.seed, images: opts.images, now: time.Now()},
		poolSizes: map[string]int{},
		pressure:  map[string]bool{},
		pressured: map[string]int32{},
	}, nil
}

// run runs the phases in order: each leaves the cluster as the next expects it.
func (b *bench) run(ctx context.Context) (Results, error) {
	var res Results
	var err error
	if res.Setup, err = b.seedCluster(ctx); err != nil {
		return res, fmt.Errorf("create the Nodes and pools: %w", err)
	}
	if res.Memory, err = b.measureMemory(ctx); err != nil {
		return res, fmt.Errorf("measure memory: %w", err)
	}
	if res.Reaction, err = b.measureReaction(ctx); err != nil {
		return res, fmt.Errorf("measure reaction latency: %w", err)
	}
	if res.SteadyState, err = b.measureSteadyState(ctx); err != nil {
		return res, fmt.Errorf("measure the steady state: %w", err)
	}
	if res.ReconcileCost, err = b.measureReconcileCost(ctx); err != nil {
		return res, fmt.Errorf("measure the cost of a reconcile: %w", err)
	}
	after, err := b.manager.stats(ctx, true)
	if err != nil {
		return res, err
	}
	res.Memory.ManagerAfterRun = memoryOf(after)
	return res, nil
}

// close stops what the run started and removes the work directory unless asked to keep it.
func (b *bench) close() error {
	var errs []error
	if b.floorManagers != nil {
		b.floorManagers.stop()
	}
	if b.manager != nil {
		if err := b.manager.stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := b.cp.stop(); err != nil {
		errs = append(errs, fmt.Errorf("stop the control plane: %w", err))
	}
	b.log.Close()
	if b.opts.keepWorkDir {
		progress("kept the work directory %s", b.dir)
	} else if err := os.RemoveAll(b.dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// waitPoolsReported waits until the status of every object of every kind describes its current
// generation and counts all the Nodes of its pool.
func (b *bench) waitPoolsReported(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if b.allReported(ctx) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the objects' status did not count their Nodes within %s", timeout)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (b *bench) allReported(ctx context.Context) bool {
	var objs []pool.Object
	fms, cgs, rss := &hotelv1alpha1.FloorManagerList{}, &hotelv1alpha1.ConciergeList{}, &hotelv1alpha1.RoomServiceList{}
	for _, list := range []client.ObjectList{fms, cgs, rss} {
		if err := b.cp.client.List(ctx, list); err != nil {
			return false
		}
	}
	for i := range fms.Items {
		objs = append(objs, &fms.Items[i])
	}
	for i := range cgs.Items {
		objs = append(objs, &cgs.Items[i])
	}
	for i := range rss.Items {
		objs = append(objs, &rss.Items[i])
	}
	kinds := len(managerControllers)
	if b.opts.floorManagersOnly {
		kinds = 1
	}
	if len(objs) != kinds*len(b.poolSizes) {
		return false
	}
	for _, o := range objs {
		st := o.PoolStatus()
		if st.ObservedGeneration != o.GetGeneration() || int(st.Nodes.Selected) != b.poolSizes[o.GetName()] {
			return false
		}
	}
	return true
}

// quietTimeout bounds waitQuiet.
const quietTimeout = time.Minute

// waitQuiet waits, up to quietTimeout, until a child has sent no request (leader election's aside)
// and run no reconcile for the quiet period, and returns its stats then.
func (b *bench) waitQuiet(ctx context.Context, c *childProcess) (processStats, error) {
	ctx, cancel := context.WithTimeout(ctx, quietTimeout)
	defer cancel()
	last, err := c.stats(ctx, false)
	if err != nil {
		return last, err
	}
	since := time.Now()
	for time.Since(since) < b.opts.quietPeriod {
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("the %s process did not settle within %s", c.role, quietTimeout)
		case <-time.After(250 * time.Millisecond):
		}
		s, err := c.stats(ctx, false)
		if err != nil {
			return s, err
		}
		if workRequests(s) != workRequests(last) || reconciles(s).Total != reconciles(last).Total {
			since = time.Now()
		}
		last = s
	}
	return last, nil
}

// workRequests counts a child's requests other than leader election's.
func workRequests(s processStats) int64 {
	work, _ := splitLeaderElection(s.Requests)
	return total(work)
}

// childLog is where a child in role writes its log.
func (b *bench) childLog(role string) string {
	return filepath.Join(b.dir, role+".log")
}

// progress tells the person running the benchmark what it is doing.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
