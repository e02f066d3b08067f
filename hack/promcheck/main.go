// Command promcheck checks the monitoring the chart ships: every PromQL expression of the
// PrometheusRules and Grafana dashboards in a rendered chart parses, as Prometheus parses it, and
// names only metrics that exist.
//
//	helm template ... | go run ./hack/promcheck --metrics=innkeeper_pool_nodes,...
//
// It is a module of its own, so that innkeeper never depends on Prometheus's server code.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"
)

func main() {
	known := flag.String("metrics", "", "comma-separated metric names that exist (histograms by their base name); "+
		"a name ending in * stands for every metric with that prefix")
	flag.Parse()
	n, err := check(os.Stdin, strings.Split(*known, ","))
	if err != nil {
		fmt.Fprintln(os.Stderr, "promcheck:", err)
		os.Exit(1)
	}
	fmt.Printf("promcheck: %d expressions parse and name known metrics\n", n)
}

// manifest is what promcheck reads of a rendered object.
type manifest struct {
	Kind string `json:"kind"`
	Spec struct {
		Groups []any `json:"groups"`
	} `json:"spec"`
	Data map[string]string `json:"data"`
}

// check reads a rendered chart and returns how many expressions it checked.
func check(r io.Reader, known []string) (int, error) {
	var exprs []string
	docs, err := split(r)
	if err != nil {
		return 0, err
	}
	for _, doc := range docs {
		var m manifest
		if err := yaml.Unmarshal(doc, &m); err != nil {
			return 0, fmt.Errorf("decode a manifest: %w", err)
		}
		switch m.Kind {
		case "PrometheusRule":
			out, err := yaml.Marshal(map[string]any{"groups": m.Spec.Groups})
			if err != nil {
				return 0, err
			}
			// Strict, as promtool check rules is: an unknown field is an error.
			groups, errs := rulefmt.Parse(out, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.Default())
			if len(errs) > 0 {
				return 0, fmt.Errorf("the PrometheusRule's rules: %w", errors.Join(errs...))
			}
			for _, g := range groups.Groups {
				for _, rule := range g.Rules {
					exprs = append(exprs, rule.Expr)
				}
			}
		case "ConfigMap":
			for key, data := range m.Data {
				if !strings.HasSuffix(key, ".json") {
					continue
				}
				found, err := dashboardExprs([]byte(data))
				if err != nil {
					return 0, fmt.Errorf("dashboard %s: %w", key, err)
				}
				exprs = append(exprs, found...)
			}
		}
	}
	if len(exprs) == 0 {
		return 0, errors.New("no PrometheusRule or dashboard expression found: render the chart with them enabled")
	}
	for _, e := range exprs {
		if err := checkExpr(e, known); err != nil {
			return 0, err
		}
	}
	return len(exprs), nil
}

// split splits a YAML stream into its documents.
func split(r io.Reader) ([][]byte, error) {
	var docs [][]byte
	var cur bytes.Buffer
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if sc.Text() == "---" {
			docs = append(docs, slices.Clone(cur.Bytes()))
			cur.Reset()
			continue
		}
		cur.WriteString(sc.Text() + "\n")
	}
	return append(docs, cur.Bytes()), sc.Err()
}

// dashboardExprs returns the expressions of a Grafana dashboard's panels and query variables.
func dashboardExprs(data []byte) ([]string, error) {
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, err
	}
	var out []string
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			return nil, fmt.Errorf("panel %q has no query", p.Title)
		}
		for _, t := range p.Targets {
			out = append(out, grafanaToPromQL(t.Expr))
		}
	}
	labelValues := regexp.MustCompile(`^label_values\((.*),\s*[a-zA-Z_]+\)$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			return nil, err
		}
		if m := labelValues.FindStringSubmatch(q.Query); m != nil {
			out = append(out, grafanaToPromQL(m[1]))
		}
	}
	return out, nil
}

// grafanaToPromQL replaces Grafana's variables with values PromQL takes.
func grafanaToPromQL(expr string) string {
	return strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h").
		Replace(regexp.MustCompile(`\$\{?[a-z_]+\}?`).ReplaceAllStringFunc(expr, func(v string) string {
			if strings.HasPrefix(v, "$__") {
				return v
			}
			return ".*"
		}))
}

// checkExpr parses expr and checks the metric names it selects.
func checkExpr(expr string, known []string) error {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return fmt.Errorf("%q: %w", expr, err)
	}
	var unknown []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		if !isKnown(vs.Name, known) {
			unknown = append(unknown, vs.Name)
		}
		return nil
	})
	if len(unknown) > 0 {
		return fmt.Errorf("%q names metrics that do not exist: %s", expr, strings.Join(unknown, ", "))
	}
	return nil
}

func isKnown(name string, known []string) bool {
	for _, k := range known {
		if prefix, ok := strings.CutSuffix(k, "*"); ok && strings.HasPrefix(name, prefix) {
			return true
		}
		for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
			if name == k+suffix {
				return true
			}
		}
	}
	return false
}
