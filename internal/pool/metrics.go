package pool

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// poolNodes exports each object's node counters, so that alerts need not parse status.
var poolNodes = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "innkeeper_pool_nodes",
	Help: "Nodes of an innkeeper object's pool, by rollout state (selected, updated, ready, unavailable, degraded).",
}, []string{metricLabelKind, metricLabelName, "state"})

// The labels that name an object's series.
const (
	metricLabelKind = "kind"
	metricLabelName = "name"
)

func init() {
	metrics.Registry.MustRegister(poolNodes)
}

func recordPoolMetrics(kind, name string, c hotelv1alpha1.NodeCounts) {
	for state, v := range map[string]int32{
		"selected": c.Selected, "updated": c.Updated, "ready": c.Ready,
		"unavailable": c.Unavailable, "degraded": c.Degraded,
	} {
		poolNodes.WithLabelValues(kind, name, state).Set(float64(v))
	}
}

// forgetPoolMetrics removes a deleted object's series.
func forgetPoolMetrics(kind, name string) {
	poolNodes.DeletePartialMatch(prometheus.Labels{metricLabelKind: kind, metricLabelName: name})
}
