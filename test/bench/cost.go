package main

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"time"
)

// smallPool names the extra pool that the cost of a reconcile is compared on.
const smallPool = "pool-small"

// PoolCost is the average cost of one reconcile of one pool.
type PoolCost struct {
	Pool  string `json:"pool"`
	Nodes int    `json:"nodes"`
	// Flips are the MemoryPressure flips sent, Reconciles the reconciles they caused.
	Flips      int   `json:"flips"`
	Reconciles int64 `json:"reconciles"`
	// CPUMillis is the manager process's CPU time per reconcile: the reconcile, and the watch event
	// and status write around it.
	CPUMillis float64 `json:"cpuMsPerReconcile"`
	// ReconcileMillis is the mean of controller_runtime_reconcile_time_seconds (wall time).
	ReconcileMillis float64 `json:"reconcileMsMean"`
	// RequestsPerReconcile and WritesPerReconcile are API requests per reconcile; Requests are the
	// totals, by "verb resource". Leader election's Lease renewals are left out.
	RequestsPerReconcile float64          `json:"requestsPerReconcile"`
	WritesPerReconcile   float64          `json:"writesPerReconcile"`
	Requests             map[string]int64 `json:"requests"`
	// Lost counts the flips that the FloorManager's status never counted.
	Lost int `json:"lost"`
}

// ReconcileCost compares the cost of a reconcile of a small and a large pool.
type ReconcileCost struct {
	Pools []PoolCost `json:"pools"`
	// Independent is true when requests per reconcile do not grow with the pool's size.
	Independent bool `json:"independent"`
}

// measureReconcileCost adds a small pool, then, for it and for the first main pool, flips
// MemoryPressure on one Node of the pool back and forth and divides the manager's CPU time,
// reconcile time and requests by its reconciles. Each flip causes one reconcile, which writes the
// pool's status and records an Event for the NodesHealthy transition.
func (b *bench) measureReconcileCost(ctx context.Context) (ReconcileCost, error) {
	var rc ReconcileCost
	if err := b.createSmallPool(ctx); err != nil {
		return rc, err
	}
	large := poolName(0)
	for _, pool := range []string{smallPool, large} {
		progress("timing %d reconciles of %s (%d Nodes)", b.opts.costSamples, pool, b.poolSizes[pool])
		pc, err := b.poolCost(ctx, pool)
		if err != nil {
			return rc, err
		}
		rc.Pools = append(rc.Pools, pc)
	}
	if err := b.profileReconciles(ctx, large); err != nil {
		return rc, err
	}
	small, big := rc.Pools[0].RequestsPerReconcile, rc.Pools[1].RequestsPerReconcile
	rc.Independent = math.Abs(big-small) <= targetRequestGrowth*math.Max(big, small)
	return rc, nil
}

// createSmallPool creates the small pool's Nodes and objects and waits until they are reported.
func (b *bench) createSmallPool(ctx context.Context) error {
	n := b.opts.smallPool
	progress("creating %s: %d Nodes and its FloorManager, Concierge and RoomService", smallPool, n)
	err := forEach(ctx, n, b.opts.writers, func(ctx context.Context, i int) error {
		return b.createNode(ctx, b.factory.node(smallPool, i, len(b.nodes)+i))
	})
	if err != nil {
		return err
	}
	b.poolSizes[smallPool] = n
	if err := b.createPoolObjects(ctx, smallPool); err != nil {
		return err
	}
	return b.waitPoolsReported(ctx, time.Minute)
}

// poolCost measures costSamples reconciles of pool, each caused by a MemoryPressure flip of its
// first Node.
func (b *bench) poolCost(ctx context.Context, pool string) (PoolCost, error) {
	pc := PoolCost{Pool: pool, Nodes: b.poolSizes[pool], Flips: b.opts.costSamples}
	n := nodeRef{name: nodeName(pool, 0), pool: pool}
	before, err := b.waitQuiet(ctx, b.manager)
	if err != nil {
		return pc, err
	}
	for range b.opts.costSamples {
		f, err := b.flipMemoryPressure(ctx, nil, n)
		if err != nil {
			return pc, err
		}
		if f.lost {
			pc.Lost++
		}
		if err := sleep(ctx, b.opts.reactionGap); err != nil {
			return pc, err
		}
	}
	after, err := b.waitQuiet(ctx, b.manager)
	if err != nil {
		return pc, err
	}
	rb, ra := reconciles(before), reconciles(after)
	pc.Reconciles = ra.Total - rb.Total
	if pc.Reconciles == 0 {
		return pc, fmt.Errorf("no reconcile of %s was counted", pool)
	}
	per := float64(pc.Reconciles)
	pc.Requests, _ = splitLeaderElection(delta(before.Requests, after.Requests))
	pc.RequestsPerReconcile = float64(total(pc.Requests)) / per
	pc.WritesPerReconcile = float64(writes(pc.Requests)) / per
	pc.CPUMillis = (after.CPUSeconds - before.CPUSeconds) * 1000 / per
	if timed := ra.Timed - rb.Timed; timed > 0 {
		pc.ReconcileMillis = (ra.Seconds - rb.Seconds) * 1000 / float64(timed)
	}
	return pc, nil
}

// cpuProfileSeconds is how long the manager's CPU is profiled while it reconciles.
const cpuProfileSeconds = 5

// profileReconciles saves, if a profile directory was given, the manager's CPU profile while it
// reconciles pool over and over (a MemoryPressure flip of its first Node each time).
func (b *bench) profileReconciles(ctx context.Context, pool string) error {
	if b.opts.profileDir == "" {
		return nil
	}
	path := filepath.Join(b.opts.profileDir, "manager.reconcile.cpu.pprof")
	done := make(chan error, 1)
	go func() {
		done <- b.manager.saveProfile(ctx, fmt.Sprintf("profile?seconds=%d", cpuProfileSeconds), path)
	}()
	n := nodeRef{name: nodeName(pool, 0), pool: pool}
	for {
		select {
		case err := <-done:
			if err != nil {
				return err
			}
			progress("saved the manager's CPU profile while reconciling %s to %s", pool, path)
			if b.pressure[n.name] {
				_, err = b.flipMemoryPressure(ctx, nil, n)
			}
			return err
		default:
		}
		if _, err := b.flipMemoryPressure(ctx, nil, n); err != nil {
			return err
		}
		if err := sleep(ctx, b.opts.reactionGap); err != nil {
			return err
		}
	}
}
