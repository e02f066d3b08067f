package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"text/tabwriter"
)

// Targets the benchmark prints next to its numbers; missing one does not fail the run.
const (
	// targetRatio bounds innkeeper's rollout time (change to pool Ready) against the bare
	// DaemonSet's (template change to the DaemonSet's status rolled out), in the median run.
	targetRatio = 1.15
	// targetReadyLagSeconds bounds how long after its last Node is updated the pool is reported
	// Ready, in the median run.
	targetReadyLagSeconds = 1.0
)

// Results are everything a benchmark measured; they are written as JSON.
type Results struct {
	ApplyTimeSeconds float64 `json:"applyTimeSeconds"`
	MaxUnavailable   string  `json:"maxUnavailable"`
	Runs             int     `json:"runs"`
	Sizes            []Size  `json:"sizes"`
	WallSeconds      float64 `json:"wallSeconds"`
}

// Size is what one pool size measured.
type Size struct {
	Nodes int `json:"nodes"`
	// MaxChanging is maxUnavailable resolved against the pool: Nodes updating at once.
	MaxChanging int `json:"maxChanging"`
	// FirstRolloutSeconds is the new FloorManager's first rollout, created to pool Ready: paced
	// by maxUnavailable (no bare DaemonSet paces its first rollout; for reference only).
	FirstRolloutSeconds float64 `json:"firstRolloutSeconds"`
	Rollouts            []Run   `json:"rollouts"`
	// Median is the run of median ratio (innkeeper's time over the bare DaemonSet's).
	Median Run `json:"median"`
}

// Run is one rollout of each kind, one after the other on the same cluster.
type Run struct {
	// BareSeconds is the bare DaemonSet's template change to its status rolled out.
	BareSeconds float64 `json:"bareSeconds"`
	// BareLastPodSeconds is its template change to its last new pod Ready.
	BareLastPodSeconds float64 `json:"bareLastPodSeconds"`
	// InnkeeperSeconds is the FloorManager's change to the pool reported Ready.
	InnkeeperSeconds float64 `json:"innkeeperSeconds"`
	// LastNodeSeconds is the FloorManager's change to its last Node recording the new configuration.
	LastNodeSeconds float64 `json:"lastNodeSeconds"`
}

// Ratio is innkeeper's time over the bare DaemonSet's.
func (r Run) Ratio() float64 {
	if r.BareSeconds <= 0 {
		return 0
	}
	return r.InnkeeperSeconds / r.BareSeconds
}

// ReadyLag is how long after its last Node was updated the pool was reported Ready.
func (r Run) ReadyLag() float64 { return r.InnkeeperSeconds - r.LastNodeSeconds }

// medianRun returns the run of median ratio: of an even count, the higher of the two middle ones.
func medianRun(runs []Run) Run {
	if len(runs) == 0 {
		return Run{}
	}
	sorted := slices.Clone(runs)
	slices.SortStableFunc(sorted, func(a, b Run) int {
		switch {
		case a.Ratio() < b.Ratio():
			return -1
		case a.Ratio() > b.Ratio():
			return 1
		}
		return 0
	})
	return sorted[len(sorted)/2]
}

func metOrMissed(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// printResults prints every rollout, then each size's median run against the targets.
func printResults(w io.Writer, res Results) {
	fmt.Fprintf(w, "\nRollout of a FloorManager change vs a bare DaemonSet: maxUnavailable %s, simulated apply time %.1f s per Node\n\n",
		res.MaxUnavailable, res.ApplyTimeSeconds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "Nodes\tat once\trun\tbare DS (s)\tlast pod (s)\tinnkeeper (s)\tlast Node (s)\tratio\tReady lag (s)\t")
	for _, s := range res.Sizes {
		for i, r := range s.Rollouts {
			fmt.Fprintf(tw, "%d\t%d\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.2f\t%.2f\t\n", s.Nodes, s.MaxChanging, i+1,
				r.BareSeconds, r.BareLastPodSeconds, r.InnkeeperSeconds, r.LastNodeSeconds, r.Ratio(), r.ReadyLag())
		}
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Nodes\tmedian ratio\ttarget\t\tReady lag\ttarget\t\tfirst rollout")
	for _, s := range res.Sizes {
		m := s.Median
		fmt.Fprintf(tw, "%d\t%.2f×\t≤ %.2f×\t%s\t%.2f s\t≤ %.1f s\t%s\t%.1f s\n", s.Nodes, m.Ratio(), targetRatio,
			metOrMissed(m.Ratio() <= targetRatio), m.ReadyLag(), targetReadyLagSeconds,
			metOrMissed(m.ReadyLag() <= targetReadyLagSeconds), s.FirstRolloutSeconds)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\nwall time %.0f s\n", res.WallSeconds)
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
	fmt.Printf("results written to %s\n", path)
	return nil
}
