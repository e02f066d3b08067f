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

// Run serves the probes on listener and applies the configuration until ctx ends. A transient
// failure (the API server unreachable, say) is retried with backoff. A configuration the Node
// refused before anything was written, or a component unhealthy with its files unchanged
// (DegradedError.Recheck), is checked again after RecheckInterval, then at growing intervals
// (recheckDelay) while the outcome stays the same, and applied once the Node is fixed. Any other
// Degraded outcome is final for this pod: retrying would restart the component again and again,
// so the agent waits, not Ready, until its pod is replaced.
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
	backoff := time.Second
	var checks rechecks
	for {
		err := a.Apply(ctx)
		var degraded *DegradedError
		switch {
		case err == nil:
			a.Log.Info("Configuration applied; serving readiness", "configHash", a.Hash)
		case errors.As(err, &degraded) && degraded.Recheck:
			delay, changed := checks.next(degraded, recheck)
			if changed {
				a.Log.Info("Configuration not applied; the Node is reported Degraded and checked again",
					"reason", degraded.Reason, "message", degraded.Message, "after", delay)
			}
			backoff = time.Second
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(delay):
			}
			continue
		case errors.As(err, &degraded):
			a.Log.Info("Configuration not applied; the Node is reported Degraded", "reason", degraded.Reason,
				"message", degraded.Message)
		case ctx.Err() != nil:
			return nil
		default:
			a.Log.Error(err, "Applying the configuration failed; retrying", "after", backoff)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Minute)
			continue
		}
		break
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-serveErr:
		return fmt.Errorf("serve probes: %w", err)
	}
}

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
