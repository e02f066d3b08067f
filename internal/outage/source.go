package outage

import (
	"context"

	"github.com/go-logr/logr"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// Source is a controller's source of the reconciles that catch up after an outage: when one ends,
// it forgets the backoff of every request that requests returns and queues each at once. A
// reconcile that failed during the outage would otherwise wait out its backoff, which doubles
// with every failure, although nothing is wrong any more; and one that failed for no change of its
// objects would wait for the next change. It logs to logger.
func (t *Tracker) Source(logger logr.Logger, requests func(context.Context) ([]reconcile.Request, error)) source.Source {
	return source.Func(func(ctx context.Context, queue workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		ended := t.Subscribe(ctx)
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-ended:
				}
				reqs, err := requests(ctx)
				if err != nil {
					logger.Error(err, "Cannot list the objects to reconcile after an API server outage")
					continue
				}
				logger.Info("The API server is back: reconciling every object", "objects", len(reqs))
				for _, req := range reqs {
					queue.Forget(req)
					queue.Add(req)
				}
			}
		}()
		return nil
	})
}
