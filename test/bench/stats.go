package main

import (
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// processStats is what a child process reports about itself (GET /stats on its loopback address).
type processStats struct {
	// Synced is true once the process's caches have synced.
	Synced bool `json:"synced"`
	// HeapInuseBytes and HeapAllocBytes are runtime.MemStats.HeapInuse and HeapAlloc.
	HeapInuseBytes uint64 `json:"heapInuseBytes"`
	HeapAllocBytes uint64 `json:"heapAllocBytes"`
	// RSSBytes and PeakRSSBytes are the resident set size now and at its peak.
	RSSBytes     uint64 `json:"rssBytes"`
	PeakRSSBytes uint64 `json:"peakRSSBytes"`
	// CPUSeconds is the user and system CPU time the process has used.
	CPUSeconds float64 `json:"cpuSeconds"`
	// Requests counts the API requests the process sent, keyed "verb resource".
	Requests map[string]int64 `json:"requests"`
	// Reconciles are controller-runtime's reconcile metrics, by controller.
	Reconciles map[string]reconcileStats `json:"reconciles"`
	// StatusWriteMicros are the round trips of the process's status writes, in the order sent, by
	// "verb resource".
	StatusWriteMicros map[string][]int64 `json:"statusWriteMicros"`
}

// reconcileStats are one controller's controller_runtime_reconcile_total (summed over results) and
// controller_runtime_reconcile_time_seconds (sum and count).
type reconcileStats struct {
	Total   int64   `json:"total"`
	Errors  int64   `json:"errors"`
	Seconds float64 `json:"seconds"`
	Timed   uint64  `json:"timed"`
}

// readProcessStats collects the process's stats; with gc it first collects garbage and returns
// free memory to the OS, so that the heap and RSS are what the process holds on to.
func readProcessStats(gc bool, counter *requestCounter, metrics prometheus.Gatherer) processStats {
	if gc {
		runtime.GC()
		debug.FreeOSMemory()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss, peak := residentMemory()
	return processStats{
		HeapInuseBytes: ms.HeapInuse,
		HeapAllocBytes: ms.HeapAlloc,
		RSSBytes:       rss,
		PeakRSSBytes:   peak,
		CPUSeconds:     cpuTime().Seconds(),
		Requests:       counter.snapshot(),
		Reconciles:     reconcileMetrics(metrics),

		StatusWriteMicros: counter.statusWriteSamples(),
	}
}

// reconcileMetrics reads controller-runtime's reconcile counters and timings from metrics.
func reconcileMetrics(metrics prometheus.Gatherer) map[string]reconcileStats {
	out := map[string]reconcileStats{}
	families, err := metrics.Gather()
	if err != nil {
		return out
	}
	for _, family := range families {
		for _, m := range family.GetMetric() {
			var controller, result string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "controller":
					controller = l.GetValue()
				case "result":
					result = l.GetValue()
				}
			}
			s := out[controller]
			switch family.GetName() {
			case "controller_runtime_reconcile_total":
				n := int64(m.GetCounter().GetValue())
				s.Total += n
				if result == "error" {
					s.Errors += n
				}
			case "controller_runtime_reconcile_time_seconds":
				s.Seconds += m.GetHistogram().GetSampleSum()
				s.Timed += m.GetHistogram().GetSampleCount()
			default:
				continue
			}
			out[controller] = s
		}
	}
	return out
}

// leaderElectionResource is the resource of the Lease through which replicas of the manager elect
// a leader. Its renewals, every few seconds, are the manager's requests but no controller's work.
const leaderElectionResource = "leases.coordination.k8s.io"

// splitLeaderElection separates the requests about the leader-election Lease from the others.
func splitLeaderElection(requests map[string]int64) (work, election map[string]int64) {
	work, election = map[string]int64{}, map[string]int64{}
	for key, v := range requests {
		if _, resource, _ := strings.Cut(key, " "); resource == leaderElectionResource {
			election[key] = v
		} else {
			work[key] = v
		}
	}
	return work, election
}

// writes sums the counts of requests that change state.
func writes(requests map[string]int64) int64 {
	var n int64
	for key, v := range requests {
		if isWrite(key) {
			n += v
		}
	}
	return n
}

// total sums every count.
func total(requests map[string]int64) int64 {
	var n int64
	for _, v := range requests {
		n += v
	}
	return n
}

// delta returns after minus before, per key, without the keys that did not change.
func delta(before, after map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for key, v := range after {
		if d := v - before[key]; d != 0 {
			out[key] = d
		}
	}
	return out
}
