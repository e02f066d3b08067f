package agent

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// The agent's metrics, served on its --metrics-port like the manager's (HTTPS, to callers the API
// server authorizes for GET /metrics). An agent pod applies one configuration, so its counters
// start at zero with each new pod: alert on increase(), which Prometheus corrects for resets.
var (
	applies = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "innkeeper_agent_applies_total",
		Help: "Outcomes of the node agent's applies of its configuration: applied (written, the component " +
			"healthy), unchanged (already on the host and healthy), degraded (refused, rolled back or failed).",
	}, []string{labelComponent, "result"})
	drifts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "innkeeper_agent_drift_total",
		Help: "Times the node agent found its configuration's files changed on its Node after it applied them, by " +
			"action: corrected (put back) or reported (driftPolicy Report).",
	}, []string{labelComponent, "action"})
	rollbacks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "innkeeper_agent_rollbacks_total",
		Help: "Configurations the node agent rolled back on its Node, by reason (HealthCheckFailed, RestartFailed, ApplyFailed).",
	}, []string{labelComponent, "reason"})
	healthCheckDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "innkeeper_agent_health_check_duration_seconds",
		Help: "Time from a change (the component's restart, or a write that needs none) to the component " +
			"found healthy, or to the check giving up (result unhealthy).",
		Buckets: []float64{0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300},
	}, []string{labelComponent, "result"})
	agentState = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "innkeeper_agent_state",
		Help: "The state the node agent last recorded on its Node (Applying, Applied, Degraded, Draining): 1 for it, 0 for the others.",
	}, []string{labelComponent, "state"})
)

// labelComponent names the component an agent configures in its series.
const labelComponent = "component"

func init() {
	metrics.Registry.MustRegister(applies, rollbacks, healthCheckDuration, agentState, drifts)
}

// recordState sets innkeeper_agent_state to state.
func recordState(component, state string) {
	for _, s := range []string{StateApplying, StateApplied, StateDegraded, StateDraining} {
		v := 0.0
		if s == state {
			v = 1
		}
		agentState.WithLabelValues(component, s).Set(v)
	}
}

// observeHealthCheck records how long a health check after a change took.
func observeHealthCheck(component string, since time.Time, healthy bool) {
	result := "healthy"
	if !healthy {
		result = "unhealthy"
	}
	healthCheckDuration.WithLabelValues(component, result).Observe(time.Since(since).Seconds())
}
