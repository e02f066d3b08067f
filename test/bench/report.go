package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"text/tabwriter"
)

// Targets the benchmark prints next to its numbers; missing one does not fail the run.
const (
	// targetHeapRatio bounds the whole manager's heap against the untransformed Node cache's.
	targetHeapRatio = 0.35
	// targetReactionRatio bounds the manager's reaction p99 against the bare informer's p99 plus
	// the FloorManager status write's, all three from the same run, in the median of the runs: two
	// watch hops and a write cannot fit under twice one hop, so the engine's own share is what is
	// bounded.
	targetReactionRatio = 1.10
	// targetRequestGrowth bounds how much more requests a reconcile of the large pool may send
	// than one of the small pool, relative to the larger of the two.
	targetRequestGrowth = 0.1
)

// Results are everything a run measured; they are written as JSON.
type Results struct {
	Setup         Setup         `json:"setup"`
	Reaction      Reaction      `json:"reaction"`
	Memory        Memory        `json:"memory"`
	SteadyState   SteadyState   `json:"steadyState"`
	ReconcileCost ReconcileCost `json:"reconcileCost"`
	WallSeconds   float64       `json:"wallSeconds"`
}

// writeResults writes res as indented JSON to path.
func writeResults(path string, res Results) error {
	data, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}

// printResults prints res as a table: each measurement, its value and, where there is one, the
// target and whether it was met.
func printResults(w io.Writer, res Results) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(cells ...any) {
		for i, c := range cells {
			if i > 0 {
				fmt.Fprint(tw, "\t")
			}
			fmt.Fprint(tw, c)
		}
		fmt.Fprintln(tw)
	}
	s := res.Setup
	fmt.Fprintf(w, "\ninnkeeper scale benchmark: %d Nodes (%d images each) in %d pools, created in %.1fs by %d writers, and %d add-on DaemonSets; run took %.0fs\n\n",
		s.Nodes, s.ImagesPerNode, s.Pools, s.NodeCreateSeconds, s.Writers, s.AddOnDaemonSets, res.WallSeconds)
	row("MEASUREMENT", "VALUE", "TARGET", "")

	r := res.Reaction
	for i, run := range r.Runs {
		row(fmt.Sprintf("reaction run %d: manager p99 / (informer p99 + status write p99), %d flips", i+1, run.Samples),
			fmt.Sprintf("%.1f / (%.1f + %.1f) ms = %.2fx", run.ManagerP99, run.InformerP99, run.StatusWriteP99, run.RatioToInformerPlusWriteP99), "", "")
	}
	row(fmt.Sprintf("reaction (median of %d runs): FloorManager status, p50 / p99 (%d flips)", len(r.Runs), r.Samples),
		fmt.Sprintf("%.1f / %.1f ms", r.ManagerP50, r.ManagerP99), "", "")
	row("reaction: bare Node informer, p50 / p99", fmt.Sprintf("%.1f / %.1f ms", r.InformerP50, r.InformerP99), "", "")
	row("reaction: flips the FloorManager status never counted", r.Lost, "0", verdict(r.Lost == 0))
	row("reaction: manager / informer, p50 / p99", fmt.Sprintf("%.2fx / %.2fx", r.RatioP50, r.RatioP99), "", "")
	row(fmt.Sprintf("reaction: FloorManager status write round trip, p50 / p99 (%d writes)", r.StatusWrites),
		fmt.Sprintf("%.1f / %.1f ms", r.StatusWriteP50, r.StatusWriteP99), "", "")
	row("reaction: manager p99 / (informer p99 + status write p99)",
		fmt.Sprintf("%.1f / %.1f ms = %.2fx", r.ManagerP99, r.InformerPlusWriteP99, r.RatioToInformerPlusWriteP99),
		fmt.Sprintf("<= %.2fx", r.Target), verdict(r.Met))

	m := res.Memory
	row("memory: manager heap in use / RSS after sync", fmt.Sprintf("%.1f / %.1f MiB", m.Manager.HeapInuseMiB, m.Manager.RSSMiB), "", "")
	row("memory: untransformed Node cache heap in use / RSS", fmt.Sprintf("%.1f / %.1f MiB", m.NodeCache.HeapInuseMiB, m.NodeCache.RSSMiB), "", "")
	row("memory: manager / Node cache, heap / RSS", fmt.Sprintf("%.2fx / %.2fx", m.HeapRatio, m.RSSRatio), fmt.Sprintf("heap <= %.2fx", m.Target), verdict(m.Met))
	row("memory: manager heap in use / RSS / peak RSS at the end", fmt.Sprintf("%.1f / %.1f / %.1f MiB", m.ManagerAfterRun.HeapInuseMiB, m.ManagerAfterRun.RSSMiB, m.ManagerAfterRun.PeakRSSMiB), "", "")

	st := res.SteadyState
	row(fmt.Sprintf("steady state: heartbeats in %.0fs (%d rounds, slowest %.1fs)", st.WindowSeconds, st.Rounds, st.SlowestRoundSeconds),
		fmt.Sprintf("%d Lease, %d Node", st.LeaseRenewals, st.NodeHeartbeats), fmt.Sprintf("every %.0fs", st.IntervalSeconds), "")
	row("steady state: manager CPU time", fmt.Sprintf("%.1f s", st.ManagerCPUSeconds), "", "")
	row("steady state: manager reconciles / API writes", fmt.Sprintf("%d / %d", st.Reconciles, st.Writes), "0 / 0", verdict(st.Met))
	row("steady state: leader-election Lease writes (not counted above)", st.LeaderElectionWrites, "", "")
	if len(st.Requests) > 0 {
		row("steady state: manager requests", requestList(st.Requests), "", "")
	}

	for _, pc := range res.ReconcileCost.Pools {
		row(fmt.Sprintf("reconcile of %s (%d Nodes): CPU / wall", pc.Pool, pc.Nodes), fmt.Sprintf("%.2f / %.2f ms", pc.CPUMillis, pc.ReconcileMillis), "", "")
		row(fmt.Sprintf("reconcile of %s (%d Nodes): requests (writes)", pc.Pool, pc.Nodes), fmt.Sprintf("%.2f (%.2f)", pc.RequestsPerReconcile, pc.WritesPerReconcile), "", "")
		row(fmt.Sprintf("  requests in %d reconciles", pc.Reconciles), requestList(pc.Requests), "", "")
		row(fmt.Sprintf("  flips the status never counted (of %d)", pc.Flips), pc.Lost, "0", verdict(pc.Lost == 0))
	}
	row("reconcile: requests independent of pool size", fmt.Sprintf("%t", res.ReconcileCost.Independent), "true", verdict(res.ReconcileCost.Independent))
	tw.Flush()
}

// requestList renders request counts sorted by key: "patch floormanagers.hotel.innkeeper.dev/status=20, ...".
func requestList(requests map[string]int64) string {
	if len(requests) == 0 {
		return "none"
	}
	out := ""
	for i, k := range slices.Sorted(maps.Keys(requests)) {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%s=%d", k, requests[k])
	}
	return out
}

func verdict(met bool) string {
	if met {
		return "met"
	}
	return "MISSED"
}
