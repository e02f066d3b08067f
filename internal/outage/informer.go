package outage

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	toolscache "k8s.io/client-go/tools/cache"
)

// NewInformer builds the manager cache's informers (cache.Options.NewInformer): client-go's
// shared informers, whose lists and watches wait for an API server that is unreachable or unwell
// to be ready again (see ListerWatcher).
func (t *Tracker) NewInformer(lw toolscache.ListerWatcher, obj runtime.Object, resync time.Duration,
	indexers toolscache.Indexers) toolscache.SharedIndexInformer {
	return toolscache.NewSharedIndexInformer(t.ListerWatcher(lw), obj, resync, indexers)
}

// ListerWatcher wraps an informer's lister-watcher so that a list or watch that finds the API
// server unreachable or unwell (see Unwell) waits until it is ready again (see Wait), and then
// tries once more; its error, if that fails too, goes to the reflector as before. A reflector
// backs off from every failure, longer each time up to a minute (its backoff is not
// configurable), and so would learn of what changed during an outage up to a minute after the API
// server is back; waiting, it tries again within a probe interval of its return.
func (t *Tracker) ListerWatcher(lw toolscache.ListerWatcher) toolscache.ListerWatcher {
	return &waitingListerWatcher{lw: toolscache.ToListerWatcherWithContext(lw), tracker: t}
}

type waitingListerWatcher struct {
	lw      toolscache.ListerWatcherWithContext
	tracker *Tracker
}

var _ toolscache.ListerWatcherWithContext = &waitingListerWatcher{}

func (w *waitingListerWatcher) ListWithContext(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
	obj, err := w.lw.ListWithContext(ctx, opts)
	if !Unwell(err) || w.tracker.Wait(ctx) != nil {
		return obj, err
	}
	return w.lw.ListWithContext(ctx, opts)
}

func (w *waitingListerWatcher) WatchWithContext(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	wi, err := w.lw.WatchWithContext(ctx, opts)
	if !Unwell(err) || w.tracker.Wait(ctx) != nil {
		return wi, err
	}
	return w.lw.WatchWithContext(ctx, opts)
}

// List and Watch serve callers that pass no context; the reflector passes its own.
func (w *waitingListerWatcher) List(opts metav1.ListOptions) (runtime.Object, error) {
	return w.ListWithContext(context.Background(), opts)
}

func (w *waitingListerWatcher) Watch(opts metav1.ListOptions) (watch.Interface, error) {
	return w.WatchWithContext(context.Background(), opts)
}

// IsWatchListSemanticsUnSupported passes on what the wrapped lister-watcher says of streaming
// lists (client-go's watchlist.DoesClientNotSupportWatchListSemantics): supported unless it says not.
func (w *waitingListerWatcher) IsWatchListSemanticsUnSupported() bool {
	u, ok := w.lw.(interface{ IsWatchListSemanticsUnSupported() bool })
	return ok && u.IsWatchListSemanticsUnSupported()
}
