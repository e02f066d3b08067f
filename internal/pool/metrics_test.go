package pool

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

func condition(t string, s metav1.ConditionStatus, reason string, at time.Time) metav1.Condition {
	return metav1.Condition{Type: t, Status: s, Reason: reason, LastTransitionTime: metav1.NewTime(at)}
}

func TestRolloutCompleted(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	reconciling := func(s metav1.ConditionStatus, at time.Time) metav1.Condition {
		return condition(hotelv1alpha1.ConditionReconciling, s, hotelv1alpha1.ReasonRolloutInProgress, at)
	}
	ready := func(s metav1.ConditionStatus, reason string, at time.Time) metav1.Condition {
		return condition(hotelv1alpha1.ConditionReady, s, reason, at)
	}
	tests := []struct {
		name           string
		previous, next []metav1.Condition
		want           float64
		ok             bool
	}{
		{name: "a rollout that completes is timed from Reconciling turning True",
			previous: []metav1.Condition{reconciling(metav1.ConditionTrue, t0), ready(metav1.ConditionFalse, hotelv1alpha1.ReasonRolloutInProgress, t0)},
			next:     []metav1.Condition{ready(metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutComplete, t0.Add(95*time.Second))},
			want:     95, ok: true},
		{name: "Ready already: no rollout",
			previous: []metav1.Condition{reconciling(metav1.ConditionFalse, t0), ready(metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutComplete, t0)},
			next:     []metav1.Condition{ready(metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutComplete, t0)}},
		{name: "still rolling out",
			previous: []metav1.Condition{reconciling(metav1.ConditionTrue, t0)},
			next:     []metav1.Condition{reconciling(metav1.ConditionTrue, t0), ready(metav1.ConditionFalse, hotelv1alpha1.ReasonRolloutInProgress, t0)}},
		{name: "an empty pool is not a completed rollout",
			previous: []metav1.Condition{reconciling(metav1.ConditionTrue, t0)},
			next:     []metav1.Condition{ready(metav1.ConditionTrue, hotelv1alpha1.ReasonNoNodesSelected, t0.Add(time.Second))}},
		{name: "rolled out but Nodes not Ready: not yet",
			previous: []metav1.Condition{reconciling(metav1.ConditionTrue, t0)},
			next:     []metav1.Condition{ready(metav1.ConditionFalse, hotelv1alpha1.ReasonNodesUnhealthy, t0.Add(time.Second))}},
		{name: "no earlier status", next: []metav1.Condition{ready(metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutComplete, t0)}},
		{name: "clocks that disagree never give a negative duration",
			previous: []metav1.Condition{reconciling(metav1.ConditionTrue, t0)},
			next:     []metav1.Condition{ready(metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutComplete, t0.Add(-time.Second))},
			want:     0, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			got, ok := rolloutCompleted(&hotelv1alpha1.PoolStatus{Conditions: tt.previous}, &hotelv1alpha1.PoolStatus{Conditions: tt.next})
			g.Expect(ok).To(Equal(tt.ok))
			g.Expect(got).To(Equal(tt.want))
		})
	}
}

// Each condition has one series per status, 1 for the status it has; a deleted object's series go.
func TestRecordPoolMetrics(t *testing.T) {
	g := NewWithT(t)
	kind := fmt.Sprintf("RecordPoolMetrics%d", time.Now().UnixNano())
	st := hotelv1alpha1.PoolStatus{Nodes: hotelv1alpha1.NodeCounts{Selected: 3, Updated: 2, Ready: 2, Degraded: 1},
		Conditions: []metav1.Condition{
			{Type: hotelv1alpha1.ConditionReady, Status: metav1.ConditionFalse},
			{Type: hotelv1alpha1.ConditionStalled, Status: metav1.ConditionTrue},
		}}
	recordPoolMetrics(kind, "fm", st)
	g.Expect(testutil.ToFloat64(objectCondition.WithLabelValues(kind, "fm", "Ready", "false"))).To(Equal(1.0))
	g.Expect(testutil.ToFloat64(objectCondition.WithLabelValues(kind, "fm", "Ready", "true"))).To(Equal(0.0))
	g.Expect(testutil.ToFloat64(objectCondition.WithLabelValues(kind, "fm", "Stalled", "true"))).To(Equal(1.0))
	g.Expect(testutil.ToFloat64(poolNodes.WithLabelValues(kind, "fm", "degraded"))).To(Equal(1.0))

	forgetPoolMetrics(kind, "fm")
	g.Expect(objectCondition.DeletePartialMatch(prometheus.Labels{metricLabelKind: kind})).To(BeZero())
	g.Expect(poolNodes.DeletePartialMatch(prometheus.Labels{metricLabelKind: kind})).To(BeZero())
}

func TestRecordApplyError(t *testing.T) {
	g := NewWithT(t)
	kind := fmt.Sprintf("RecordApplyError%d", time.Now().UnixNano())
	forbidden := apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "daemonsets"}, "ds", errors.New("no"))
	recordApplyError(kind, fmt.Errorf("apply DaemonSet ds: %w", forbidden))
	recordApplyError(kind, errors.New("connection refused"))
	g.Expect(testutil.ToFloat64(applyErrors.WithLabelValues(kind, "Forbidden"))).To(Equal(1.0))
	g.Expect(testutil.ToFloat64(applyErrors.WithLabelValues(kind, "Unknown"))).To(Equal(1.0))
}

// The chart's alerts and dashboard name the manager's metrics as the code does: a metric renamed
// here must be renamed there (hack/promcheck checks that their PromQL parses).
func TestChartMonitoringNamesTheManagersMetrics(t *testing.T) {
	g := NewWithT(t)
	reg := prometheus.NewPedanticRegistry()
	g.Expect(reg.Register(poolNodes)).To(Succeed())
	g.Expect(reg.Register(objectCondition)).To(Succeed())
	g.Expect(reg.Register(rolloutDuration)).To(Succeed())
	g.Expect(reg.Register(applyErrors)).To(Succeed())
	kind := fmt.Sprintf("ChartMonitoring%d", time.Now().UnixNano())
	recordPoolMetrics(kind, "x", hotelv1alpha1.PoolStatus{Conditions: []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue}}})
	rolloutDuration.WithLabelValues(kind).Observe(1)
	applyErrors.WithLabelValues(kind, "Unknown").Inc()
	defer forgetPoolMetrics(kind, "x")
	families, err := reg.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	exported := map[string]bool{}
	for _, f := range families {
		exported[f.GetName()] = true
	}

	name := regexp.MustCompile(`\binnkeeper_[a-z_]+\b`)
	used := map[string]bool{}
	for _, file := range []string{"../../charts/innkeeper/templates/monitoring.yaml", "../../charts/innkeeper/files/dashboard.json"} {
		data, err := os.ReadFile(file)
		g.Expect(err).NotTo(HaveOccurred())
		for _, m := range name.FindAllString(string(data), -1) {
			if strings.HasPrefix(m, "innkeeper_agent_") {
				continue // the node agents', checked by internal/agent
			}
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(m, suffix); ok && exported[base] {
					m = base
				}
			}
			used[m] = true
		}
	}
	g.Expect(used).NotTo(BeEmpty())
	for m := range used {
		g.Expect(exported).To(HaveKey(m), "the chart's monitoring names %s, which the manager does not export", m)
	}
	for m := range exported {
		g.Expect(used).To(HaveKey(m), "no alert or dashboard panel uses %s", m)
	}
}
