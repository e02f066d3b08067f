package pool

import (
	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// The manager's metrics: what an SRE alerts on without parsing status. Every series of an object
// is named by its kind and name, and removed when the object is deleted.
var (
	poolNodes = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "innkeeper_pool_nodes",
		Help: "Nodes of an innkeeper object's pool, by rollout state (selected, updated, ready, unavailable, degraded).",
	}, []string{metricLabelKind, metricLabelName, "state"})

	// objectCondition is kube-state-metrics' kube_pod_status_condition for innkeeper's objects: one
	// series per condition and status, 1 for the status the condition has and 0 for the others, so
	// that an alert on status="true" also fires for a condition that flipped a moment ago.
	objectCondition = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "innkeeper_object_condition",
		Help: "An innkeeper object's status conditions (Ready, Reconciling, Stalled, Degraded, NodesHealthy, Paused): " +
			"1 for the status (true, false, unknown) the condition has, 0 for the others.",
	}, []string{metricLabelKind, metricLabelName, "type", "status"})

	rolloutDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "innkeeper_rollout_duration_seconds",
		Help: "Time from an object's rollout starting (Reconciling turning True, on a new configuration or more " +
			"Nodes) to its pool being Ready with every Node on the new configuration, in whole seconds.",
		Buckets: []float64{5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400},
	}, []string{metricLabelKind})

	applyErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "innkeeper_apply_errors_total",
		Help: "Failures to apply or remove an object's ConfigMap or DaemonSet, by the API server's reason " +
			"(Forbidden, Invalid, Conflict, ...; Unknown when the request got no answer).",
	}, []string{metricLabelKind, "reason"})
)

// The labels that name an object's series.
const (
	metricLabelKind = "kind"
	metricLabelName = "name"
)

// conditionStatuses are the values of the status label, as kube-state-metrics spells them.
var conditionStatuses = map[metav1.ConditionStatus]string{
	metav1.ConditionTrue: "true", metav1.ConditionFalse: "false", metav1.ConditionUnknown: "unknown",
}

func init() {
	metrics.Registry.MustRegister(poolNodes, objectCondition, rolloutDuration, applyErrors)
}

// recordPoolMetrics publishes the status an object's reconcile computed.
func recordPoolMetrics(kind, name string, st hotelv1alpha1.PoolStatus) {
	c := st.Nodes
	for state, v := range map[string]int32{
		"selected": c.Selected, "updated": c.Updated, "ready": c.Ready,
		"unavailable": c.Unavailable, "degraded": c.Degraded,
	} {
		poolNodes.WithLabelValues(kind, name, state).Set(float64(v))
	}
	for _, cond := range st.Conditions {
		for s, label := range conditionStatuses {
			v := 0.0
			if cond.Status == s {
				v = 1
			}
			objectCondition.WithLabelValues(kind, name, cond.Type, label).Set(v)
		}
	}
}

// rolloutCompleted returns how long the rollout that next's status completes took: from the
// moment the previous status turned Reconciling True to the moment next turned Ready True with
// every Node on the new configuration. ok is false unless next completes a rollout that previous
// was in. Transition times come from the stored status, so a rollout that a restarted manager
// completes is timed from its real start; they have whole seconds (see Reconciler.now).
func rolloutCompleted(previous, next *hotelv1alpha1.PoolStatus) (seconds float64, ok bool) {
	started := meta.FindStatusCondition(previous.Conditions, hotelv1alpha1.ConditionReconciling)
	ready := meta.FindStatusCondition(next.Conditions, hotelv1alpha1.ConditionReady)
	if started == nil || started.Status != metav1.ConditionTrue || ready == nil ||
		ready.Status != metav1.ConditionTrue || ready.Reason != hotelv1alpha1.ReasonRolloutComplete {
		return 0, false
	}
	return max(ready.LastTransitionTime.Sub(started.LastTransitionTime.Time).Seconds(), 0), true
}

// recordApplyError counts a failure to apply or remove an object's workloads.
func recordApplyError(kind string, err error) {
	reason := string(apierrors.ReasonForError(err))
	if reason == "" {
		reason = "Unknown"
	}
	applyErrors.WithLabelValues(kind, reason).Inc()
}

// forgetPoolMetrics removes a deleted object's series.
func forgetPoolMetrics(kind, name string) {
	labels := prometheus.Labels{metricLabelKind: kind, metricLabelName: name}
	poolNodes.DeletePartialMatch(labels)
	objectCondition.DeletePartialMatch(labels)
}
