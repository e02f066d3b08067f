package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// statusTimeout bounds how long a flip may take to show; a bare informer sees one in milliseconds.
const statusTimeout = 10 * time.Second

// Reaction compares how fast the manager reports a Node condition change with how fast a bare
// informer sees it, both measured in the benchmark process from the moment the change is sent, over
// several runs of many flips each; its fields are the median run's (by RatioToInformerPlusWriteP99),
// and Runs holds every run.
type Reaction struct {
	ReactionRun
	// Runs are the runs, in order; the target is met when the median run meets it.
	Runs []ReactionRun `json:"runs"`
	// Target is the largest RatioToInformerPlusWriteP99 of the median run that meets the target.
	Target float64 `json:"target"`
	Met    bool    `json:"met"`
}

// ReactionRun is one run of flips.
type ReactionRun struct {
	Samples     int     `json:"samples"`
	ManagerP50  float64 `json:"managerP50Ms"`
	ManagerP99  float64 `json:"managerP99Ms"`
	InformerP50 float64 `json:"informerP50Ms"`
	InformerP99 float64 `json:"informerP99Ms"`
	// RatioP50 and RatioP99 are the manager's percentile over the informer's.
	RatioP50 float64 `json:"ratioP50"`
	RatioP99 float64 `json:"ratioP99"`
	// Lost counts the flips that the FloorManager's status never counted (within statusTimeout);
	// they are left out of the manager's percentiles.
	Lost int `json:"lost"`

	// StatusWriteP50 and StatusWriteP99 are the round trips of the manager's FloorManager status
	// writes during the flips, as its client timed them: the API server's share of the reaction.
	StatusWriteP50 float64 `json:"statusWriteP50Ms"`
	StatusWriteP99 float64 `json:"statusWriteP99Ms"`
	// StatusWrites counts them.
	StatusWrites int `json:"statusWrites"`
	// InformerPlusWriteP99 is the bare informer's p99 plus the status write's: a Node event and a
	// status write, what any controller that reports a Node change in a status pays before its own
	// work. RatioToInformerPlusWriteP99 is the manager's p99 over it: the target's measure.
	InformerPlusWriteP99        float64 `json:"informerPlusWriteP99Ms"`
	RatioToInformerPlusWriteP99 float64 `json:"ratioToInformerPlusWriteP99"`
}

// floorManagerStatusWrite is how the manager's request counter names a FloorManager status write.
const floorManagerStatusWrite = "patch floormanagers.hotel.innkeeper.dev/status"

// measureReaction flips MemoryPressure on random Nodes, one at a time, in -reaction-runs runs of
// -samples flips, and times when a bare Node informer sees each flip and when the owning
// FloorManager's status.nodeConditions.memoryPressure counts it. Every Node is relieved after each
// run.
func (b *bench) measureReaction(ctx context.Context) (Reaction, error) {
	r := Reaction{Target: targetReactionRatio}
	var err error
	if b.floorManagers, err = startObserver(ctx, b.cp.cfg, &hotelv1alpha1.FloorManager{}); err != nil {
		return r, fmt.Errorf("watch FloorManagers: %w", err)
	}
	progress("starting the bare Node informer")
	nodes, err := startObserver(ctx, b.cp.cfg, &corev1.Node{})
	if err != nil {
		return r, fmt.Errorf("watch Nodes: %w", err)
	}
	defer nodes.stop()
	rng := rand.New(rand.NewPCG(b.opts.seed, 0x5eed))
	for i := range b.opts.reactionRuns {
		progress("reaction run %d of %d", i+1, b.opts.reactionRuns)
		run, err := b.reactionRun(ctx, nodes, rng)
		if err != nil {
			return r, err
		}
		r.Runs = append(r.Runs, run)
	}
	r.ReactionRun = medianRun(r.Runs)
	r.Met = r.Lost == 0 && r.RatioToInformerPlusWriteP99 > 0 && r.RatioToInformerPlusWriteP99 <= targetReactionRatio
	return r, nil
}

// medianRun returns the run whose RatioToInformerPlusWriteP99 is the median of runs' (the lower
// middle one of an even number).
func medianRun(runs []ReactionRun) ReactionRun {
	if len(runs) == 0 {
		return ReactionRun{}
	}
	sorted := slices.Clone(runs)
	slices.SortStableFunc(sorted, func(a, b ReactionRun) int {
		return cmp.Compare(a.RatioToInformerPlusWriteP99, b.RatioToInformerPlusWriteP99)
	})
	return sorted[(len(sorted)-1)/2]
}

// reactionRun times -samples flips.
func (b *bench) reactionRun(ctx context.Context, nodes *observer, rng *rand.Rand) (ReactionRun, error) {
	r := ReactionRun{Samples: b.opts.samples}
	before, err := b.manager.stats(ctx, false)
	if err != nil {
		return r, err
	}
	progress("timing %d MemoryPressure flips", b.opts.samples)
	informer := make([]time.Duration, 0, b.opts.samples)
	mgr := make([]time.Duration, 0, b.opts.samples)
	for range b.opts.samples {
		n := b.nodes[rng.IntN(len(b.nodes))]
		f, err := b.flipMemoryPressure(ctx, nodes.watch, n)
		if err != nil {
			return r, err
		}
		informer = append(informer, f.seen)
		if f.lost {
			r.Lost++
		} else {
			mgr = append(mgr, f.reported)
		}
		if err := sleep(ctx, b.opts.reactionGap); err != nil {
			return r, err
		}
	}
	after, err := b.manager.stats(ctx, false)
	if err != nil {
		return r, err
	}
	var writes []time.Duration
	for _, us := range after.StatusWriteMicros[floorManagerStatusWrite][len(before.StatusWriteMicros[floorManagerStatusWrite]):] {
		writes = append(writes, time.Duration(us)*time.Microsecond)
	}
	if err := b.relieveMemoryPressure(ctx); err != nil {
		return r, err
	}
	r.StatusWrites = len(writes)
	r.StatusWriteP50, r.StatusWriteP99 = millis(percentile(writes, 50)), millis(percentile(writes, 99))
	r.InformerPlusWriteP99 = millis(percentile(informer, 99)) + r.StatusWriteP99
	r.ManagerP50, r.ManagerP99 = millis(percentile(mgr, 50)), millis(percentile(mgr, 99))
	r.InformerP50, r.InformerP99 = millis(percentile(informer, 50)), millis(percentile(informer, 99))
	r.RatioP50, r.RatioP99 = r.ManagerP50/r.InformerP50, r.ManagerP99/r.InformerP99
	if r.InformerPlusWriteP99 > 0 {
		r.RatioToInformerPlusWriteP99 = r.ManagerP99 / r.InformerPlusWriteP99
	}
	return r, nil
}

// flip is what one MemoryPressure flip showed.
type flip struct {
	// seen is when the bare Node informer delivered the flipped Node, after the patch was sent.
	seen time.Duration
	// reported is when the FloorManager's status counted it, after the patch was sent.
	reported time.Duration
	// lost is true when the FloorManager's status never counted it (within statusTimeout).
	lost bool
}

// flipMemoryPressure flips a Node's MemoryPressure condition and waits until the FloorManager of
// its pool counts it and, with a Node watchpoint, until that informer delivers the flipped Node.
// A status that does not count the flip in time is reported as lost, not as an error: the run
// goes on, and the pool's next reconcile corrects it.
func (b *bench) flipMemoryPressure(ctx context.Context, nodeWatch *watchpoint, n nodeRef) (flip, error) {
	var f flip
	want := !b.pressure[n.name]
	count := b.pressured[n.pool]
	if want {
		count++
	} else {
		count--
	}
	var nodeSeen <-chan time.Time
	if nodeWatch != nil {
		nodeSeen = nodeWatch.expect(func(o client.Object) bool {
			return o.GetName() == n.name && underMemoryPressure(o.(*corev1.Node)) == want
		})
	}
	poolReported := b.floorManagers.watch.expect(func(o client.Object) bool {
		return o.GetName() == n.pool && o.(*hotelv1alpha1.FloorManager).Status.NodeConditions.MemoryPressure == count
	})

	sent := time.Now()
	if err := b.patchMemoryPressure(ctx, n.name, want, sent); err != nil {
		return f, err
	}
	b.pressure[n.name], b.pressured[n.pool] = want, count
	timeout := time.NewTimer(statusTimeout)
	defer timeout.Stop()
	for nodeSeen != nil || poolReported != nil {
		select {
		case at := <-nodeSeen:
			f.seen, nodeSeen = at.Sub(sent), nil
		case at := <-poolReported:
			f.reported, poolReported = at.Sub(sent), nil
		case <-timeout.C:
			if nodeSeen != nil {
				return f, fmt.Errorf("the Node informer did not see MemoryPressure=%t on Node %s within %s", want, n.name, statusTimeout)
			}
			progress("lost update: %s", b.describePressure(ctx, n, count))
			f.lost = true
			return f, nil
		case <-ctx.Done():
			return f, ctx.Err()
		}
	}
	return f, nil
}

// describePressure says what the API server holds when a flip did not show: the Node's condition
// and what the pool's FloorManager reports.
func (b *bench) describePressure(ctx context.Context, n nodeRef, count int32) string {
	node := &corev1.Node{}
	fm := &hotelv1alpha1.FloorManager{}
	if err := b.cp.client.Get(ctx, client.ObjectKey{Name: n.name}, node); err != nil {
		return err.Error()
	}
	if err := b.cp.client.Get(ctx, client.ObjectKey{Name: n.pool}, fm); err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%s has MemoryPressure=%t, but after %s FloorManager %s still reports memoryPressure=%d (want %d)",
		n.name, underMemoryPressure(node), statusTimeout, n.pool, fm.Status.NodeConditions.MemoryPressure, count)
}

// relieveMemoryPressure clears MemoryPressure on every Node the benchmark put under it.
func (b *bench) relieveMemoryPressure(ctx context.Context) error {
	for _, n := range b.nodes {
		if b.pressure[n.name] {
			if _, err := b.flipMemoryPressure(ctx, nil, n); err != nil {
				return err
			}
		}
	}
	return nil
}

// patchMemoryPressure sets a Node's MemoryPressure condition, as its kubelet would: a strategic
// merge patch of status.conditions.
func (b *bench) patchMemoryPressure(ctx context.Context, node string, pressure bool, at time.Time) error {
	c := corev1.NodeCondition{
		Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse,
		Reason: "KubeletHasSufficientMemory", Message: "kubelet has sufficient memory available",
		LastHeartbeatTime: metav1.NewTime(at), LastTransitionTime: metav1.NewTime(at),
	}
	if pressure {
		c.Status, c.Reason, c.Message = corev1.ConditionTrue, "KubeletHasInsufficientMemory", "kubelet has insufficient memory available"
	}
	return b.patchNodeConditions(ctx, node, []any{c})
}

// patchNodeConditions merges conditions (by type) into a Node's status.
func (b *bench) patchNodeConditions(ctx context.Context, node string, conditions []any) error {
	data, err := json.Marshal(map[string]any{"status": map[string]any{"conditions": conditions}})
	if err != nil {
		return err
	}
	obj := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}
	if err := b.cp.client.Status().Patch(ctx, obj, client.RawPatch(types.StrategicMergePatchType, data)); err != nil {
		return fmt.Errorf("patch the conditions of Node %s: %w", node, err)
	}
	return nil
}

func underMemoryPressure(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeMemoryPressure {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// percentile returns the p-th percentile of samples by the nearest-rank method.
func percentile(samples []time.Duration, p float64) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	sorted := slices.Clone(samples)
	slices.Sort(sorted)
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

func millis(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
