package agent

import (
	"os"
	"regexp"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
)

// The chart's alerts and dashboard name the agent's metrics as the code does, and use each of
// them (hack/promcheck checks that their PromQL parses).
func TestChartMonitoringNamesTheAgentsMetrics(t *testing.T) {
	g := NewWithT(t)
	exported := map[string]bool{}
	for _, c := range []prometheus.Collector{applies, rollbacks, healthCheckDuration, agentState} {
		ch := make(chan *prometheus.Desc, 1)
		c.Describe(ch)
		// A Desc names its metric only in its String form: Desc{fqName: "name", ...}.
		m := regexp.MustCompile(`fqName: "([a-z_]+)"`).FindStringSubmatch((<-ch).String())
		g.Expect(m).To(HaveLen(2))
		exported[m[1]] = true
	}
	used := map[string]bool{}
	for _, file := range []string{"../../charts/innkeeper/templates/monitoring.yaml", "../../charts/innkeeper/files/dashboard.json"} {
		data, err := os.ReadFile(file)
		g.Expect(err).NotTo(HaveOccurred())
		for _, m := range regexp.MustCompile(`\binnkeeper_agent_[a-z_]+\b`).FindAllString(string(data), -1) {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(m, suffix); ok && exported[base] {
					m = base
				}
			}
			used[m] = true
		}
	}
	for m := range used {
		g.Expect(exported).To(HaveKey(m), "the chart's monitoring names %s, which the agent does not export", m)
	}
	for _, m := range []string{"innkeeper_agent_applies_total", "innkeeper_agent_rollbacks_total", "innkeeper_agent_health_check_duration_seconds"} {
		g.Expect(used).To(HaveKey(m), "no alert or dashboard panel uses %s", m)
	}
}
