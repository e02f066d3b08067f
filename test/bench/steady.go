package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// SteadyState is what the manager did while every Node only heartbeated.
type SteadyState struct {
	WindowSeconds float64 `json:"windowSeconds"`
	// IntervalSeconds is the heartbeat interval asked for; Rounds how many rounds started, and
	// SlowestRoundSeconds how long the slowest took to send (longer than the interval: the API
	// server could not keep up and the next round started late).
	IntervalSeconds     float64 `json:"intervalSeconds"`
	Rounds              int     `json:"rounds"`
	SlowestRoundSeconds float64 `json:"slowestRoundSeconds"`
	// LeaseRenewals and NodeHeartbeats count the updates sent.
	LeaseRenewals  int64 `json:"leaseRenewals"`
	NodeHeartbeats int64 `json:"nodeHeartbeats"`
	// Reconciles and Writes are the manager's, over the window and the settle time after it;
	// Writes leaves out leader election's Lease renewals, which LeaderElectionWrites counts.
	Reconciles           int64 `json:"reconciles"`
	Writes               int64 `json:"writes"`
	LeaderElectionWrites int64 `json:"leaderElectionWrites"`
	// ManagerCPUSeconds is the CPU time the manager used in that time: receiving the heartbeats.
	ManagerCPUSeconds float64 `json:"managerCPUSeconds"`
	// Requests are the manager's requests in that time, by "verb resource", leader election's aside.
	Requests map[string]int64 `json:"requests"`
	Met      bool             `json:"met"`
}

// measureSteadyState lets every Node renew its Lease and the heartbeat times of its conditions
// every heartbeat interval, as kubelets do, for the steady-state window, and counts the manager's
// reconciles and writes meanwhile: a heartbeat changes nothing a pool reports, so both should be 0.
func (b *bench) measureSteadyState(ctx context.Context) (SteadyState, error) {
	st := SteadyState{WindowSeconds: b.opts.steady.Seconds(), IntervalSeconds: b.opts.heartbeat.Seconds()}
	before, err := b.waitQuiet(ctx, b.manager)
	if err != nil {
		return st, err
	}
	progress("heartbeating %d Nodes every %s for %s", len(b.nodes), b.opts.heartbeat, b.opts.steady)
	if err := b.heartbeat(ctx, &st); err != nil {
		return st, err
	}
	if err := sleep(ctx, b.opts.settleWindow); err != nil {
		return st, err
	}
	after, err := b.manager.stats(ctx, false)
	if err != nil {
		return st, err
	}
	var election map[string]int64
	st.Requests, election = splitLeaderElection(delta(before.Requests, after.Requests))
	st.Writes, st.LeaderElectionWrites = writes(st.Requests), writes(election)
	st.Reconciles = reconciles(after).Total - reconciles(before).Total
	st.ManagerCPUSeconds = after.CPUSeconds - before.CPUSeconds
	st.Met = st.Reconciles == 0 && st.Writes == 0
	return st, nil
}

// heartbeat sends rounds of heartbeats, one round every interval (or at once when a round took
// longer), until the window is over; the round under way then sends no more (requests in flight
// complete).
func (b *bench) heartbeat(ctx context.Context, st *SteadyState) error {
	window, cancel := context.WithTimeout(ctx, b.opts.steady)
	defer cancel()
	var leases, heartbeats atomic.Int64
	for window.Err() == nil {
		start := time.Now()
		st.Rounds++
		err := forEach(ctx, len(b.nodes), b.opts.writers, func(ctx context.Context, i int) error {
			if window.Err() != nil {
				return nil
			}
			now := time.Now()
			if err := b.renewLease(ctx, b.nodes[i].name, now); err != nil {
				return err
			}
			leases.Add(1)
			if err := b.patchNodeConditions(ctx, b.nodes[i].name, conditionHeartbeats(now)); err != nil {
				return err
			}
			heartbeats.Add(1)
			return nil
		})
		if err != nil {
			return err
		}
		st.SlowestRoundSeconds = max(st.SlowestRoundSeconds, time.Since(start).Seconds())
		if err := sleep(window, time.Until(start.Add(b.opts.heartbeat))); err != nil {
			break
		}
	}
	st.LeaseRenewals, st.NodeHeartbeats = leases.Load(), heartbeats.Load()
	if err := ctx.Err(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// renewLease renews a Node's Lease as its kubelet does every 10 seconds.
func (b *bench) renewLease(ctx context.Context, node string, now time.Time) error {
	data, err := json.Marshal(map[string]any{"spec": map[string]any{"renewTime": metav1.NewMicroTime(now)}})
	if err != nil {
		return err
	}
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: node, Namespace: nodeLeaseNamespace}}
	if err := b.cp.client.Patch(ctx, lease, client.RawPatch(types.MergePatchType, data)); err != nil {
		return fmt.Errorf("renew the Lease of Node %s: %w", node, err)
	}
	return nil
}

// conditionHeartbeats updates the heartbeat time of each kubelet condition, and nothing else.
func conditionHeartbeats(now time.Time) []any {
	at := metav1.NewTime(now)
	var out []any
	for _, t := range []corev1.NodeConditionType{
		corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure, corev1.NodeReady,
	} {
		out = append(out, map[string]any{"type": t, "lastHeartbeatTime": at})
	}
	return out
}
