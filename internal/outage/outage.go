// Package outage lets the manager catch up at once when the API server is back after an outage.
//
// client-go and controller-runtime back off from a failing API server, each in its own way, and
// the backoffs outlast the outage. An informer's reflector retries a lost watch after 0.8 s, then
// twice as long each time up to [30 s, 60 s): after a 20 s outage the manager's caches learnt what
// had changed up to a minute after the API server was back. A reconcile that fails is retried
// after 5 ms, then twice as long each time up to 1000 s: after a 20 s outage an object waited
// another 20–40 s, or until something about it changed. (#17 measured the status right 61.6 s after
// the API server was back.)
//
// A Tracker replaces those guesses with a look: when a request finds the API server unreachable
// or unwell, the Tracker asks its /readyz every half second, and as soon as it answers, the
// informers that were waiting for it watch again (see NewInformer) and the controllers reconcile
// every object at once, their backoff forgotten (see Source).
package outage

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// ProbeInterval is how often a Tracker asks the API server whether it is ready during an outage.
const ProbeInterval = 500 * time.Millisecond

// probeTimeout bounds one probe: an API server that does not answer within it is not back.
const probeTimeout = 2 * time.Second

// Tracker watches for the end of API server outages. The zero value is not usable: build one with
// NewTracker.
type Tracker struct {
	ctx      context.Context
	probe    func(context.Context) error
	interval time.Duration

	mu sync.Mutex
	// back is closed when the probe running now succeeds; nil while none runs.
	back chan struct{}
	// subscribers hear of the end of every outage (see Subscribe).
	subscribers map[chan struct{}]struct{}
}

// NewTracker returns a Tracker that probes the API server with probe, every interval while it
// fails. Probes run only after a request failed, and stop when ctx ends.
func NewTracker(ctx context.Context, probe func(context.Context) error, interval time.Duration) *Tracker {
	return &Tracker{ctx: ctx, probe: probe, interval: interval, subscribers: map[chan struct{}]struct{}{}}
}

// NewReadyzTracker returns a Tracker that probes the API server of cfg at /readyz, which answers
// every client by default (system:public-info-viewer), every ProbeInterval. An API server that
// answers anything but a 5xx is back.
func NewReadyzTracker(ctx context.Context, cfg *rest.Config) (*Tracker, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = probeTimeout
	cs, err := kubernetes.NewForConfig(rest.AddUserAgent(cfg, "outage-probe"))
	if err != nil {
		return nil, err
	}
	probe := func(ctx context.Context) error {
		// No retries of its own: the Tracker probes again soon enough.
		err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").MaxRetries(0).Do(ctx).Error()
		if !Unwell(err) {
			// Ready, or an answer that says nothing of readiness but that the API server is there
			// and serving, such as a 403 where a cluster denies /readyz: an informer must not
			// wait for a readiness it will never be shown.
			return nil
		}
		return err
	}
	return NewTracker(ctx, probe, ProbeInterval), nil
}

// Wait returns once the API server answers a probe, at once if it does at the first, or with
// ctx's error. Waiters share one probe.
func (t *Tracker) Wait(ctx context.Context) error {
	select {
	case <-t.probing():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Suspect starts probing the API server, without waiting, if err says it is unreachable or
// unwell (see Unwell): should it be down, its return then ends the outage for every subscriber.
func (t *Tracker) Suspect(err error) {
	if Unwell(err) {
		t.probing()
	}
}

// Subscribe returns a channel that receives a value after each outage has ended, until ctx ends.
// An outage is a probe that failed; values do not queue up: one waiting means at least one
// outage ended since the last was read.
func (t *Tracker) Subscribe(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{}, 1)
	t.mu.Lock()
	t.subscribers[ch] = struct{}{}
	t.mu.Unlock()
	context.AfterFunc(ctx, func() {
		t.mu.Lock()
		delete(t.subscribers, ch)
		t.mu.Unlock()
	})
	return ch
}

// probing starts a probe unless one runs, and returns the channel closed when it succeeds.
func (t *Tracker) probing() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.back == nil {
		t.back = make(chan struct{})
		go t.run(t.back)
	}
	return t.back
}

// run probes the API server until it answers or the Tracker's context ends, then releases the
// waiters, and tells the subscribers if a probe failed before.
func (t *Tracker) run(back chan struct{}) {
	down := false
	for t.ctx.Err() == nil {
		ctx, cancel := context.WithTimeout(t.ctx, probeTimeout)
		err := t.probe(ctx)
		cancel()
		if err == nil {
			break
		}
		down = true
		select {
		case <-t.ctx.Done():
		case <-time.After(t.interval):
		}
	}
	t.mu.Lock()
	t.back = nil
	var subscribers []chan struct{}
	if down && t.ctx.Err() == nil {
		for ch := range t.subscribers {
			subscribers = append(subscribers, ch)
		}
	}
	t.mu.Unlock()
	close(back)
	for _, ch := range subscribers {
		select {
		case ch <- struct{}{}:
		default: // one is waiting already
		}
	}
}

// Unwell reports whether err says that the API server could not be reached or could not serve
// the request at all (a transport error, 500, 502, 503, 504), rather than that it refused it or
// that the caller gave up.
func Unwell(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		switch status.Status().Code {
		case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	return true
}
