package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Handler serves the agent's probes: /healthz (the process is alive) and /readyz (200 only once the
// configuration is applied and the component healthy, so that the DaemonSet's rollout waits on it).
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !a.Ready() {
			http.Error(w, fmt.Sprintf("configuration %s is not applied", a.Hash), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	return mux
}

// Goal is what an agent's Node asks of it, as the label that admits the Node to the rollout of
// the agent's object says (hotelv1alpha1.AdmittedLabel).
type Goal int

const (
	// GoalApply asks to apply the configuration: the Node is admitted to the rollout.
	GoalApply Goal = iota
	// GoalRevert asks to revert the Node, removing innkeeper's files: it left the pool, or the
	// object is being deleted.
	GoalRevert
	// GoalWait asks for nothing: the label names no rollout of this pod's object (any more), and
	// the DaemonSet controller removes such a pod.
	GoalWait
)

func (g Goal) String() string {
	switch g {
	case GoalApply:
		return "apply"
	case GoalRevert:
		return "revert"
	}
	return "wait"
}

// Goals tells the agent what its Node asks of it.
type Goals interface {
	// Goal returns what the Node asks now.
	Goal() Goal
	// Changed receives whenever the Node's answer may have changed.
	Changed() <-chan struct{}
}

// Run serves the probes on listener and brings the host to what its Node asks (Goals; nil: always
// apply) until ctx ends: it applies the configuration, or reverts the Node, and does it again
// whenever the Node asks for the other. A transient failure (the API server unreachable, say) is
// retried with backoff. A configuration the Node refused before anything was written, or a
// component unhealthy with its files unchanged (DegradedError.Recheck), is checked again after
// RecheckInterval, then at growing intervals (recheckDelay) while the outcome stays the same, and
// applied once the Node is fixed. Any other Degraded outcome is final for this pod and goal:
// retrying would restart the component again and again, so the agent waits, not Ready, until its
// pod is replaced or the Node asks for the other goal.
func (a *Agent) Run(ctx context.Context, listener net.Listener) error {
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 5 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(listener) }()
	defer func() {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()

	recheck := a.RecheckInterval
	if recheck <= 0 {
		recheck = defaultRecheckInterval
	}
	var changed <-chan struct{}
	if a.Goals != nil {
		changed = a.Goals.Changed()
	}
	settled, attempted := GoalWait, GoalWait
	backoff := time.Second
	var checks rechecks
	// drift ticks while the configuration is applied and healthy, if the agent checks for drift.
	var drift <-chan time.Time
	var driftTicker *time.Ticker
	defer func() {
		if driftTicker != nil {
			driftTicker.Stop()
		}
	}()
	for {
		goal := GoalApply
		if a.Goals != nil {
			goal = a.Goals.Goal()
		}
		if goal != attempted {
			// Another goal: its own backoff and rechecks.
			attempted, backoff, checks = goal, time.Second, rechecks{}
		}
		var wait <-chan time.Time // nil: until the Node asks something else
		if goal != GoalWait && goal != settled {
			delay, done, ok := a.pursue(ctx, goal, &checks, recheck, &backoff)
			a.correcting = false
			if done {
				settled = goal
			} else if ctx.Err() == nil {
				wait = time.After(delay)
			}
			if driftTicker != nil {
				driftTicker.Stop()
				driftTicker, drift = nil, nil
			}
			if done && ok && goal == GoalApply && a.DriftInterval > 0 {
				driftTicker = time.NewTicker(a.DriftInterval)
				drift = driftTicker.C
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-serveErr:
			return fmt.Errorf("serve probes: %w", err)
		case <-changed:
		case <-wait:
		case <-drift:
			if goal == GoalApply && settled == GoalApply && a.checkDrift(ctx) {
				settled, a.correcting = GoalWait, true // apply again, keeping the healthy backups
			}
		}
	}
}

// pursue applies the configuration, or reverts the Node, once. It returns done when the outcome is
// final for this pod (ok: applied or reverted; not ok: failed for good), and otherwise how long to
// wait before trying again.
func (a *Agent) pursue(ctx context.Context, goal Goal, checks *rechecks, recheck time.Duration,
	backoff *time.Duration) (wait time.Duration, done, ok bool) {
	run, subject := a.Apply, "Configuration"
	if goal == GoalRevert {
		run, subject = a.Revert, "Revert"
	}
	err := run(ctx)
	var degraded *DegradedError
	var drainWait *DrainWaitError
	switch {
	case errors.As(err, &drainWait):
		// Woken by the Node's change when the manager has drained it; polled too, in case a
		// notice is missed.
		*backoff = time.Second
		return drainPoll, false, false
	case err == nil:
		if goal == GoalRevert {
			a.Log.Info("Reverted; serving readiness")
		} else {
			a.Log.Info("Configuration applied; serving readiness", "configHash", a.Hash)
		}
		return 0, true, true
	case errors.As(err, &degraded) && degraded.Recheck:
		*backoff = time.Second
		delay, changed := checks.next(degraded, recheck)
		if changed {
			a.Log.Info(subject+" not done; the Node is reported Degraded and checked again",
				"reason", degraded.Reason, "message", degraded.Message, "after", delay)
		}
		return delay, false, false
	case errors.As(err, &degraded):
		a.Log.Info(subject+" failed; the Node is reported Degraded", "reason", degraded.Reason,
			"message", degraded.Message)
		return 0, true, false
	case ctx.Err() != nil:
		return 0, false, false
	default:
		delay := *backoff
		a.Log.Error(err, subject+" failed; retrying", "after", delay)
		*backoff = min(2*delay, time.Minute)
		return delay, false, false
	}
}

// drainPoll is how often an apply that waits for the Node to be drained reads the Node again, in
// case the watch's notice of the drain is missed.
const drainPoll = 15 * time.Second

// rechecks paces the checks of a refused configuration: after base, then longer while the outcome
// stays the same (recheckDelay), and after base again when it changes.
type rechecks struct {
	last DegradedError
	same int // checks in a row with the outcome last
}

// next returns the wait before checking again after outcome de, and whether de is a new outcome.
func (r *rechecks) next(de *DegradedError, base time.Duration) (time.Duration, bool) {
	if !de.same(r.last.Reason, r.last.Message) {
		r.last, r.same = *de, 0
		return base, true
	}
	r.same++
	return recheckDelay(base, r.same), false
}
