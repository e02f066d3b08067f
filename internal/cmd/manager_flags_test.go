package cmd

import (
	"bytes"
	"io"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/innkeeper-dev/innkeeper/internal/pool"
)

func TestManagerNodePodsFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    pool.NodePods
		wantErr string // in the flag package's message; the flag's name is checked too
	}{
		{name: "defaults: as innkeeper always rendered", want: pool.DefaultNodePods()},
		{name: "another priority class", args: []string{"--agent-priority-class=innkeeper-node"},
			want: pool.NodePods{PriorityClassName: "innkeeper-node", Tolerations: pool.DefaultNodePods().Tolerations}},
		{name: "no priority class", args: []string{"--agent-priority-class="},
			want: pool.NodePods{Tolerations: pool.DefaultNodePods().Tolerations}},
		{name: "no tolerations", args: []string{"--agent-tolerations=[]"},
			want: pool.NodePods{PriorityClassName: pool.PriorityClass, Tolerations: []corev1.Toleration{}}},
		{name: "tolerations of some taints", args: []string{`--agent-tolerations=[
			{"key":"example.com/gpu","operator":"Equal","value":"true","effect":"NoSchedule"},
			{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":60}]`},
			want: pool.NodePods{PriorityClassName: pool.PriorityClass, Tolerations: []corev1.Toleration{
				{Key: "example.com/gpu", Operator: corev1.TolerationOpEqual, Value: "true", Effect: corev1.TaintEffectNoSchedule},
				{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute,
					TolerationSeconds: ptr.To[int64](60)},
			}}},
		{name: "a priority class that is no DNS subdomain", args: []string{"--agent-priority-class=Node_Critical"},
			wantErr: `-agent-priority-class: Invalid value: "Node_Critical": a lowercase RFC 1123 subdomain`},
		{name: "not JSON", args: []string{"--agent-tolerations=operator=Exists"},
			wantErr: "-agent-tolerations: want a JSON list of tolerations"},
		{name: "an object, not a list", args: []string{`--agent-tolerations={"operator":"Exists"}`},
			wantErr: "-agent-tolerations: want a JSON list of tolerations"},
		{name: "broken JSON", args: []string{`--agent-tolerations=[{"operator":"Exists"`},
			wantErr: "-agent-tolerations: not a JSON list of tolerations: unexpected EOF"},
		{name: "a wrong type", args: []string{`--agent-tolerations=[{"tolerationSeconds":"60"}]`},
			wantErr: "-agent-tolerations: not a JSON list of tolerations: json: cannot unmarshal string"},
		{name: "an unknown field", args: []string{`--agent-tolerations=[{"operator":"Exists","tolerationSecs":60}]`},
			wantErr: `-agent-tolerations: not a JSON list of tolerations: json: unknown field "tolerationSecs"`},
		{name: "more after the list", args: []string{`--agent-tolerations=[] []`},
			wantErr: "-agent-tolerations: not a JSON list of tolerations: more data after the list"},
		{name: "an unknown operator", args: []string{`--agent-tolerations=[{"key":"a","operator":"Maybe"}]`},
			wantErr: `-agent-tolerations: tolerations[0].operator: Unsupported value: "Maybe": supported values: "Equal", "Exists"`},
		{name: "Exists with a value", args: []string{`--agent-tolerations=[{"key":"a","operator":"Exists","value":"x"}]`},
			wantErr: "-agent-tolerations: tolerations[0].value: Invalid value: \"x\": value must be empty when operator is Exists"},
		{name: "an unknown effect", args: []string{`--agent-tolerations=[{"operator":"Exists","effect":"NoRun"}]`},
			wantErr: `-agent-tolerations: tolerations[0].effect: Unsupported value: "NoRun"`},
		{name: "an empty key without Exists", args: []string{`--agent-tolerations=[{"value":"x"}]`},
			wantErr: "-agent-tolerations: tolerations[0].operator: Invalid value: \"\": operator must be Exists when key is empty"},
		{name: "errors of several tolerations", args: []string{`--agent-tolerations=[{"operator":"Exists"},{"key":"a","effect":"NoSchedule","tolerationSeconds":1}]`},
			wantErr: "tolerations[1].effect: Invalid value: \"NoSchedule\": effect must be NoExecute when tolerationSeconds is set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			var out bytes.Buffer
			fs, opts, _ := managerFlags(&out, "latest")
			err := fs.Parse(tt.args)
			if tt.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tt.wantErr)))
				g.Expect(err.Error()).To(HavePrefix("invalid value "), "the flag package names the flag")
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(opts.NodePods).NotTo(BeNil())
			g.Expect(*opts.NodePods).To(Equal(tt.want))
		})
	}
}

// A bad value stops `innkeeper manager` before it does anything, with exit code 2.
func TestManagerRefusesBadNodePodsFlags(t *testing.T) {
	for _, args := range [][]string{
		{`--agent-tolerations=[{"operator":"Maybe"}]`},
		{`--agent-tolerations=[{"operater":"Exists"}]`},
		{"--agent-priority-class=-critical"},
	} {
		var out bytes.Buffer
		if code := Manager(args, &out, "latest"); code != 2 {
			t.Errorf("Manager(%q) = %d, want 2; output:\n%s", args, code, out.String())
		}
		flagName := strings.SplitN(strings.TrimPrefix(args[0], "-"), "=", 2)[0]
		if !strings.Contains(out.String(), "for flag "+flagName+": ") {
			t.Errorf("Manager(%q) does not name flag %s:\n%s", args, flagName, out.String())
		}
	}
}

func TestTolerationsFlagString(t *testing.T) {
	g := NewWithT(t)
	g.Expect(tolerationsFlag{}.String()).To(BeEmpty())
	tolerations := pool.DefaultNodePods().Tolerations
	g.Expect(tolerationsFlag{&tolerations}.String()).To(Equal(`[{"operator":"Exists"}]`))
	fs, _, _ := managerFlags(io.Discard, "latest")
	g.Expect(fs.Lookup("agent-tolerations").DefValue).To(Equal(`[{"operator":"Exists"}]`))
	g.Expect(fs.Lookup("agent-priority-class").DefValue).To(Equal("system-node-critical"))
}
