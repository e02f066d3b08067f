package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"
)

// ProcessMemory is one process's memory after a garbage collection, in MiB.
type ProcessMemory struct {
	HeapInuseMiB float64 `json:"heapInuseMiB"`
	HeapAllocMiB float64 `json:"heapAllocMiB"`
	RSSMiB       float64 `json:"rssMiB"`
	PeakRSSMiB   float64 `json:"peakRSSMiB"`
}

// Memory compares the manager with a manager that caches only Nodes, untransformed.
type Memory struct {
	// Manager is innkeeper's manager once every object reported its pool.
	Manager ProcessMemory `json:"manager"`
	// NodeCache is the baseline once its Node cache synced.
	NodeCache ProcessMemory `json:"nodeCache"`
	// HeapRatio is Manager.HeapInuseMiB / NodeCache.HeapInuseMiB.
	HeapRatio float64 `json:"heapRatio"`
	// RSSRatio is Manager.RSSMiB / NodeCache.RSSMiB.
	RSSRatio float64 `json:"rssRatio"`
	// Target is the largest HeapRatio that meets the target.
	Target float64 `json:"target"`
	Met    bool    `json:"met"`
	// ManagerAfterRun is the manager at the end of the run, after every phase.
	ManagerAfterRun ProcessMemory `json:"managerAfterRun"`
}

func memoryOf(s processStats) ProcessMemory {
	const mib = 1 << 20
	return ProcessMemory{
		HeapInuseMiB: float64(s.HeapInuseBytes) / mib,
		HeapAllocMiB: float64(s.HeapAllocBytes) / mib,
		RSSMiB:       float64(s.RSSBytes) / mib,
		PeakRSSMiB:   float64(s.PeakRSSBytes) / mib,
	}
}

// measureMemory measures the baseline, then starts innkeeper's manager, which the later phases
// use, and measures it once every object reports its pool and the manager is idle.
func (b *bench) measureMemory(ctx context.Context) (Memory, error) {
	m := Memory{Target: targetHeapRatio}
	baseline, err := b.measureNodeCache(ctx)
	if err != nil {
		return m, err
	}
	m.NodeCache = memoryOf(baseline)

	progress("starting innkeeper's manager")
	start := time.Now()
	leaderElect := fmt.Sprintf("-leader-elect=%t", b.opts.leaderElect)
	if b.manager, err = startChild(roleManager, b.cp.kubeconfig, b.childLog(roleManager), leaderElect); err != nil {
		return m, err
	}
	if err := b.waitPoolsReported(ctx, 3*time.Minute); err != nil {
		return m, err
	}
	progress("every object reports its pool after %.1fs", time.Since(start).Seconds())
	if _, err := b.waitQuiet(ctx, b.manager); err != nil {
		return m, err
	}
	s, err := b.manager.stats(ctx, true)
	if err != nil {
		return m, err
	}
	if err := b.saveHeapProfile(ctx, b.manager); err != nil {
		return m, err
	}
	m.Manager = memoryOf(s)
	m.HeapRatio = m.Manager.HeapInuseMiB / m.NodeCache.HeapInuseMiB
	m.RSSRatio = m.Manager.RSSMiB / m.NodeCache.RSSMiB
	m.Met = m.HeapRatio <= targetHeapRatio
	return m, nil
}

// measureNodeCache runs the baseline until its Node cache has synced and it is idle, and returns
// its stats after a garbage collection.
func (b *bench) measureNodeCache(ctx context.Context) (processStats, error) {
	progress("measuring the baseline: a manager that caches Nodes without a transform")
	c, err := startChild(roleNodeCache, b.cp.kubeconfig, b.childLog(roleNodeCache))
	if err != nil {
		return processStats{}, err
	}
	defer func() { _ = c.stop() }()
	if err := waitSynced(ctx, c, 3*time.Minute); err != nil {
		return processStats{}, err
	}
	if _, err := b.waitQuiet(ctx, c); err != nil {
		return processStats{}, err
	}
	s, err := c.stats(ctx, true)
	if err != nil {
		return s, err
	}
	return s, b.saveHeapProfile(ctx, c)
}

// saveHeapProfile saves a child's heap profile as <role>.heap.pprof in the profile directory, if
// one was given.
func (b *bench) saveHeapProfile(ctx context.Context, c *childProcess) error {
	if b.opts.profileDir == "" {
		return nil
	}
	path := filepath.Join(b.opts.profileDir, c.role+".heap.pprof")
	if err := c.saveProfile(ctx, "heap", path); err != nil {
		return err
	}
	progress("saved the %s process's heap profile to %s", c.role, path)
	return nil
}

// waitSynced waits until a child reports that its caches have synced.
func waitSynced(ctx context.Context, c *childProcess, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if s, err := c.stats(ctx, false); err == nil && s.Synced {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the %s process's caches did not sync within %s", c.role, timeout)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
