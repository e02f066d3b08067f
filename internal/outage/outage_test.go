package outage

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// refused is the error of a request to an API server that is not listening.
var refused = &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}

// fakeAPIServer is a probe target that is down until it is brought up.
type fakeAPIServer struct {
	up     atomic.Bool
	probes atomic.Int32
}

func (s *fakeAPIServer) probe(context.Context) error {
	s.probes.Add(1)
	if s.up.Load() {
		return nil
	}
	return refused
}

func TestUnwell(t *testing.T) {
	gr := schema.GroupResource{Resource: "nodes"}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "none", err: nil, want: false},
		{name: "connection refused", err: fmt.Errorf("list nodes: %w", refused), want: true},
		{name: "a transport error", err: errors.New("http2: client connection lost"), want: true},
		{name: "internal error", err: apierrors.NewInternalError(errors.New("etcdserver: request timed out")), want: true},
		{name: "service unavailable", err: apierrors.NewServiceUnavailable("shutting down"), want: true},
		{name: "gateway timeout", err: apierrors.NewTimeoutError("timeout", 1), want: true},
		{name: "not found", err: apierrors.NewNotFound(gr, "a"), want: false},
		{name: "conflict", err: apierrors.NewConflict(gr, "a", errors.New("changed")), want: false},
		{name: "forbidden", err: apierrors.NewForbidden(gr, "a", errors.New("no")), want: false},
		{name: "too many requests: the server is there, and wants less", err: apierrors.NewTooManyRequests("slow down", 1), want: false},
		{name: "expired", err: apierrors.NewResourceExpired("too old resource version"), want: false},
		{name: "canceled", err: fmt.Errorf("list: %w", context.Canceled), want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			NewWithT(t).Expect(Unwell(tt.err)).To(Equal(tt.want))
		})
	}
}

// Waiters wait for the API server together, on one probe every interval, and are released as
// soon as it answers; subscribers then hear that an outage ended, once.
func TestWaitForTheAPIServer(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	server := &fakeAPIServer{}
	tracker := NewTracker(ctx, server.probe, 20*time.Millisecond)
	ended := tracker.Subscribe(ctx)

	var released atomic.Int32
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if tracker.Wait(ctx) == nil {
				released.Add(1)
			}
		}()
	}
	g.Eventually(server.probes.Load).Should(BeNumerically(">=", 5))
	g.Consistently(released.Load).WithTimeout(100 * time.Millisecond).Should(BeZero())
	g.Expect(ended).NotTo(Receive())

	server.up.Store(true)
	upAt := server.probes.Load()
	wg.Wait()
	g.Expect(released.Load()).To(BeEquivalentTo(10))
	g.Expect(server.probes.Load()-upAt).To(BeNumerically("<=", 2), "one probe for every waiter")
	g.Eventually(ended).Should(Receive())
	g.Consistently(ended).WithTimeout(100*time.Millisecond).ShouldNot(Receive(), "one outage, one notice")
}

// An API server that answers at once had no outage: a waiter goes on, no one hears of an outage.
func TestWaitWithoutOutage(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	server := &fakeAPIServer{}
	server.up.Store(true)
	tracker := NewTracker(ctx, server.probe, 20*time.Millisecond)
	ended := tracker.Subscribe(ctx)
	g.Expect(tracker.Wait(ctx)).To(Succeed())
	g.Expect(server.probes.Load()).To(BeEquivalentTo(1))
	g.Consistently(ended).WithTimeout(100 * time.Millisecond).ShouldNot(Receive())
}

// A waiter gives up when its context ends; the probe goes on for the others.
func TestWaitGivesUpWithItsContext(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	server := &fakeAPIServer{}
	tracker := NewTracker(ctx, server.probe, 20*time.Millisecond)
	waitCtx, giveUp := context.WithTimeout(ctx, 100*time.Millisecond)
	defer giveUp()
	g.Expect(tracker.Wait(waitCtx)).To(MatchError(context.DeadlineExceeded))
	before := server.probes.Load()
	g.Eventually(server.probes.Load).Should(BeNumerically(">", before), "the probe stopped")
}

// A failed reconcile starts a probe only when its error says the API server is unwell; the probe
// ends the outage for the subscribers without anyone waiting.
func TestSuspect(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	server := &fakeAPIServer{}
	tracker := NewTracker(ctx, server.probe, 20*time.Millisecond)
	ended := tracker.Subscribe(ctx)

	tracker.Suspect(apierrors.NewConflict(schema.GroupResource{Resource: "nodes"}, "a", errors.New("changed")))
	g.Consistently(server.probes.Load).WithTimeout(100 * time.Millisecond).Should(BeZero())

	tracker.Suspect(fmt.Errorf("patch status: %w", refused))
	g.Eventually(server.probes.Load).Should(BeNumerically(">=", 2))
	server.up.Store(true)
	g.Eventually(ended).Should(Receive())
}

// fakeListerWatcher fails its lists and watches while its server is down.
type fakeListerWatcher struct {
	server  *fakeAPIServer
	lists   atomic.Int32
	watches atomic.Int32
	err     error
}

func (lw *fakeListerWatcher) List(metav1.ListOptions) (runtime.Object, error) {
	lw.lists.Add(1)
	if lw.err != nil {
		return nil, lw.err
	}
	if !lw.server.up.Load() {
		return nil, refused
	}
	return &metav1.List{}, nil
}

func (lw *fakeListerWatcher) Watch(metav1.ListOptions) (watch.Interface, error) {
	lw.watches.Add(1)
	if lw.err != nil {
		return nil, lw.err
	}
	if !lw.server.up.Load() {
		return nil, refused
	}
	return watch.NewFake(), nil
}

// A list or watch that finds the API server down waits for it and tries once more; one that the
// API server refuses fails at once, into the reflector's own handling.
func TestListerWatcherWaitsForTheAPIServer(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	server := &fakeAPIServer{}
	tracker := NewTracker(ctx, server.probe, 20*time.Millisecond)
	lw := &fakeListerWatcher{server: server}
	wrapped := toolscache.ToListerWatcherWithContext(tracker.ListerWatcher(lw))

	type result struct {
		w   watch.Interface
		err error
	}
	done := make(chan result, 1)
	go func() {
		w, err := wrapped.WatchWithContext(ctx, metav1.ListOptions{})
		done <- result{w, err}
	}()
	g.Eventually(server.probes.Load).Should(BeNumerically(">=", 3))
	g.Expect(done).NotTo(Receive(), "the watch failed while the API server was down")
	g.Expect(lw.watches.Load()).To(BeEquivalentTo(1), "the watch was retried before the API server was back")
	server.up.Store(true)
	var r result
	g.Eventually(done).Should(Receive(&r))
	g.Expect(r.err).NotTo(HaveOccurred())
	g.Expect(lw.watches.Load()).To(BeEquivalentTo(2))

	server.up.Store(false)
	go func() {
		_, err := wrapped.ListWithContext(ctx, metav1.ListOptions{})
		done <- result{nil, err}
	}()
	g.Consistently(done).WithTimeout(100 * time.Millisecond).ShouldNot(Receive())
	server.up.Store(true)
	g.Eventually(done).Should(Receive(&r))
	g.Expect(r.err).NotTo(HaveOccurred())

	expired := apierrors.NewResourceExpired("too old resource version")
	refusing := toolscache.ToListerWatcherWithContext(tracker.ListerWatcher(&fakeListerWatcher{server: server, err: expired}))
	probes := server.probes.Load()
	_, err := refusing.WatchWithContext(ctx, metav1.ListOptions{})
	g.Expect(err).To(MatchError(expired))
	g.Expect(server.probes.Load()).To(Equal(probes), "a refusal is no outage")
}

// fakeQueue records what a source does to a controller's queue.
type fakeQueue struct {
	workqueue.TypedRateLimitingInterface[reconcile.Request]
	mu            sync.Mutex
	forgot, added []string
}

func (q *fakeQueue) Forget(r reconcile.Request) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.forgot = append(q.forgot, r.Name)
}

func (q *fakeQueue) Add(r reconcile.Request) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.added = append(q.added, r.Name)
}

func (q *fakeQueue) snapshot() ([]string, []string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]string(nil), q.forgot...), append([]string(nil), q.added...)
}

// After an outage, the source queues every object at once, its backoff forgotten; and nothing
// before.
func TestSourceQueuesEveryObjectAfterAnOutage(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	server := &fakeAPIServer{}
	tracker := NewTracker(ctx, server.probe, 20*time.Millisecond)
	objects := func(context.Context) ([]reconcile.Request, error) {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: "a"}}, {NamespacedName: types.NamespacedName{Name: "b"}}}, nil
	}
	queue := &fakeQueue{}
	g.Expect(tracker.Source(logr.Discard(), objects).Start(ctx, queue)).To(Succeed())

	tracker.Suspect(refused)
	g.Consistently(func() []string { _, added := queue.snapshot(); return added }).WithTimeout(100 * time.Millisecond).Should(BeEmpty())
	server.up.Store(true)
	g.Eventually(func() []string { _, added := queue.snapshot(); return added }).Should(ConsistOf("a", "b"))
	forgot, _ := queue.snapshot()
	g.Expect(forgot).To(ConsistOf("a", "b"))
}

// The /readyz probe: an API server that answers 200 is back, and so is one that denies /readyz
// (a cluster may unbind system:public-info-viewer): it serves; one that is not ready (500) or not
// there is not.
func TestReadyzProbe(t *testing.T) {
	for _, tt := range []struct {
		name   string
		status int
		back   bool
	}{
		{name: "ready", status: http.StatusOK, back: true},
		{name: "readyz denied", status: http.StatusForbidden, back: true},
		{name: "not ready", status: http.StatusInternalServerError, back: false},
		{name: "behind a proxy with no backend", status: http.StatusServiceUnavailable, back: false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				g.Expect(r.URL.Path).To(Equal("/readyz"))
				w.WriteHeader(tt.status)
			}))
			defer srv.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tracker, err := NewReadyzTracker(ctx, &rest.Config{Host: srv.URL})
			g.Expect(err).NotTo(HaveOccurred())
			waitCtx, giveUp := context.WithTimeout(ctx, 3*ProbeInterval)
			defer giveUp()
			if tt.back {
				g.Expect(tracker.Wait(waitCtx)).To(Succeed())
			} else {
				g.Expect(tracker.Wait(waitCtx)).To(MatchError(context.DeadlineExceeded))
			}
		})
	}
}
