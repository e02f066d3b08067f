package cmd

import (
	"bytes"
	"io"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
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

func TestManagerImagePullSecretsFlag(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    []string
		wantErr string
	}{
		{name: "none by default"},
		{name: "several, spaces trimmed", args: []string{"--image-pull-secrets=ghcr, mirror.example.com"}, want: []string{"ghcr", "mirror.example.com"}},
		{name: `"" for none`, args: []string{"--image-pull-secrets="}},
		{name: "not a Secret's name", args: []string{"--image-pull-secrets=ghcr,My_Registry"},
			wantErr: `-image-pull-secrets: imagePullSecrets[1]: Invalid value: "My_Registry"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			fs, opts, _ := managerFlags(io.Discard, "latest")
			err := fs.Parse(tt.args)
			if tt.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tt.wantErr)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(opts.NodePods.ImagePullSecrets).To(Equal(tt.want))
		})
	}
}

func TestManagerTakeOverNamespacesFlag(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    []string
		wantErr string
	}{
		{name: "none by default: take-over is not enabled"},
		{name: "kube-system", args: []string{"--take-over-namespaces=kube-system"}, want: []string{"kube-system"}},
		{name: "several, spaces trimmed, each once", args: []string{"--take-over-namespaces=kube-system, networking,kube-system"},
			want: []string{"kube-system", "networking"}},
		{name: `"" for none`, args: []string{"--take-over-namespaces="}},
		{name: "not a namespace's name", args: []string{"--take-over-namespaces=kube-system,Kube_Proxy"},
			wantErr: `-take-over-namespaces: takeOverNamespaces[1]: Invalid value: "Kube_Proxy"`},
		{name: "no wildcard: the write must stay namespaced", args: []string{"--take-over-namespaces=*"},
			wantErr: `-take-over-namespaces: takeOverNamespaces[0]: Invalid value: "*"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			fs, opts, _ := managerFlags(io.Discard, "latest")
			err := fs.Parse(tt.args)
			if tt.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tt.wantErr)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(opts.TakeOverNamespaces).To(Equal(tt.want))
		})
	}
}

func TestManagerResourcesFlags(t *testing.T) {
	tests := []struct {
		name          string
		args          []string
		wantAgent     *corev1.ResourceRequirements
		wantKubeProxy *corev1.ResourceRequirements
		wantErr       string
	}{
		{name: "defaults: nil, the components' own"},
		{name: "both", args: []string{`--agent-resources={"requests":{"cpu":"20m"},"limits":{"memory":"256Mi"}}`,
			`--kube-proxy-resources={"requests":{"cpu":"200m","memory":"128Mi"}}`},
			wantAgent: &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("20m")},
				Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")}},
			wantKubeProxy: &corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("200m"), corev1.ResourceMemory: resource.MustParse("128Mi")}}},
		{name: "{} for none", args: []string{`--agent-resources={}`}, wantAgent: &corev1.ResourceRequirements{}},
		{name: "an unknown field", args: []string{`--agent-resources={"request":{"cpu":"10m"}}`},
			wantErr: `-agent-resources: want a container's resources as JSON, such as {"requests":{"cpu":"10m"}}: json: unknown field "request"`},
		{name: "not a quantity", args: []string{`--agent-resources={"requests":{"cpu":"ten"}}`},
			wantErr: "-agent-resources: want a container's resources as JSON"},
		{name: "a request above its limit", args: []string{`--kube-proxy-resources={"requests":{"memory":"1Gi"},"limits":{"memory":"512Mi"}}`},
			wantErr: "-kube-proxy-resources: the memory request 1Gi is above its limit 512Mi"},
		{name: "a negative quantity", args: []string{`--agent-resources={"requests":{"cpu":"-1"}}`},
			wantErr: "-agent-resources: cpu: -1 is negative"},
		{name: "claims", args: []string{`--agent-resources={"claims":[{"name":"gpu"}]}`},
			wantErr: "-agent-resources: claims are not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			fs, opts, _ := managerFlags(io.Discard, "latest")
			err := fs.Parse(tt.args)
			if tt.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tt.wantErr)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(opts.AgentResources).To(Equal(tt.wantAgent))
			g.Expect(opts.KubeProxyResources).To(Equal(tt.wantKubeProxy))
		})
	}
}
