package pool

import (
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// A rollout is observed once, though a reconcile reads a stale status again, and again when the
// same configuration rolls out anew (onto Nodes that joined the pool).
func TestTimeRolloutOncePerRollout(t *testing.T) {
	g := NewWithT(t)
	kind := fmt.Sprintf("TimeRollout%d", time.Now().UnixNano())
	r := &Reconciler{gvk: schema.GroupVersionKind{Kind: kind}}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rolling := &hotelv1alpha1.PoolStatus{ConfigHash: "a", Conditions: []metav1.Condition{
		condition(hotelv1alpha1.ConditionReconciling, metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutInProgress, t0)}}
	done := &hotelv1alpha1.PoolStatus{ConfigHash: "a", Conditions: []metav1.Condition{
		condition(hotelv1alpha1.ConditionReconciling, metav1.ConditionFalse, hotelv1alpha1.ReasonRolloutComplete, t0.Add(time.Minute)),
		condition(hotelv1alpha1.ConditionReady, metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutComplete, t0.Add(time.Minute))}}
	count := func() uint64 {
		m := &dto.Metric{}
		g.Expect(rolloutDuration.WithLabelValues(kind).(prometheus.Metric).Write(m)).To(Succeed())
		return m.GetHistogram().GetSampleCount()
	}
	r.timeRollout("fm", rolling, done)
	g.Expect(count()).To(BeEquivalentTo(1))
	r.timeRollout("fm", rolling, done) // a stale read of the status before
	g.Expect(count()).To(BeEquivalentTo(1))
	r.timeRollout("fm", done, rolling) // the pool grows: a new rollout of the same configuration
	r.timeRollout("fm", rolling, done)
	g.Expect(count()).To(BeEquivalentTo(2))
}
