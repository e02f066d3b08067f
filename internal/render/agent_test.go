package render_test

import (
	"encoding/json"
	"flag"
	"io"
	"reflect"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/render"
	"github.com/innkeeper-dev/innkeeper/internal/render/containerd"
	"github.com/innkeeper-dev/innkeeper/internal/render/kubelet"
)

// parseAgentFlags parses an agent's arguments as `innkeeper agent` does.
func parseAgentFlags(args []string) (render.AgentFlags, error) {
	fs := flag.NewFlagSet("innkeeper agent", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var f render.AgentFlags
	f.Bind(fs)
	return f, fs.Parse(args)
}

// everyAgentFlag sets every flag to a value other than its default.
var everyAgentFlag = render.AgentFlags{
	Component: render.ContainerdComponent, Config: "/etc/innkeeper/config", ConfigHash: "0123abcd", HostRoot: "/rootfs",
	HealthPort: 10300, MetricsPort: 10301, NodeName: "node-7", HealthTimeout: 90 * time.Second, DropInDir: "/etc/kubelet.d",
	KubeletHealthzURL: "http://127.0.0.1:10249/healthz", ProcRoot: "/host/proc", ContainerdConfig: "/etc/containerd/main.toml",
	CRISocket: "/run/k3s/containerd/containerd.sock", Kubeconfig: "/etc/innkeeper/kubeconfig",
	ObjectUID: "4f1e2d3c-0000-4000-8000-000000000007", DriftPolicy: "Report", DriftInterval: time.Minute,
	Drain: false,
}

// What a DaemonSet renders is what the agent parses: Args, parsed by the flags Bind defines, gives
// back the same AgentFlags.
func TestAgentFlagsRoundTrip(t *testing.T) {
	t.Setenv("NODE_NAME", "") // the pod sets it; here the default of --node-name is empty
	tests := []struct {
		name  string
		flags render.AgentFlags
	}{
		{name: "the kubelet's agent", flags: kubelet.AgentFlags("7f9c2a1e")},
		{name: "containerd's agent", flags: containerd.AgentFlags("7f9c2a1e")},
		{name: "the agent's defaults", flags: render.DefaultAgentFlags()},
		{name: "every flag set", flags: everyAgentFlag},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			got, err := parseAgentFlags(tt.flags.Args())
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(tt.flags), "args %q", tt.flags.Args())
		})
	}
}

// everyAgentFlag covers every field, so that the round trip covers a field added later.
func TestEveryAgentFlagSetsEveryField(t *testing.T) {
	every, defaults := reflect.ValueOf(everyAgentFlag), reflect.ValueOf(render.DefaultAgentFlags())
	for i := range every.NumField() {
		if every.Field(i).Equal(defaults.Field(i)) {
			t.Errorf("everyAgentFlag.%s is its default: set it to another value", every.Type().Field(i).Name)
		}
	}
}

// The agent's flags and defaults, as `innkeeper agent --help` has always shown them.
func TestAgentFlagsBind(t *testing.T) {
	g := NewWithT(t)
	t.Setenv("NODE_NAME", "node-7")
	fs := flag.NewFlagSet("innkeeper agent", flag.ContinueOnError)
	var f render.AgentFlags
	f.Bind(fs)
	defaults := map[string]string{}
	fs.VisitAll(func(fl *flag.Flag) { defaults[fl.Name] = fl.DefValue })
	g.Expect(defaults).To(Equal(map[string]string{
		"component":           "kubelet",
		"config":              "",
		"config-hash":         "",
		"host-root":           "/host",
		"health-port":         "10288",
		"metrics-port":        "0",
		"node-name":           "node-7",
		"health-timeout":      "2m0s",
		"drop-in-dir":         "/etc/kubernetes/kubelet.conf.d",
		"kubelet-healthz-url": "http://127.0.0.1:10248/healthz",
		"proc-root":           "/proc",
		"containerd-config":   "/etc/containerd/config.toml",
		"cri-socket":          "/run/containerd/containerd.sock",
		"kubeconfig":          "",
		"object-uid":          "",
		"drift-policy":        "Correct",
		"drift-interval":      "30s",
		"drain":               "true",
	}))
	g.Expect(f.NodeName).To(Equal("node-7"), "the Node's name comes from $NODE_NAME, which AgentContainer sets")

	// The rendered arguments name no Node: the agent takes it from its pod's environment.
	got, err := parseAgentFlags(kubelet.AgentFlags("7f9c2a1e").Args())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got.NodeName).To(Equal("node-7"))
	g.Expect(render.AgentContainer("img", kubelet.AgentFlags("7f9c2a1e"), nil).Env).To(
		ContainElement(HaveField("Name", HaveValue(Equal("NODE_NAME")))))
}

func TestAgentFlagsValidate(t *testing.T) {
	valid := kubelet.AgentFlags("7f9c2a1e")
	valid.NodeName = "node-7"
	tests := []struct {
		name    string
		change  func(f *render.AgentFlags)
		wantErr string
	}{
		{name: "the kubelet's agent", change: func(*render.AgentFlags) {}},
		{name: "containerd's agent", change: func(f *render.AgentFlags) { f.Component = render.ContainerdComponent }},
		{name: "another component", change: func(f *render.AgentFlags) { f.Component = "kube-proxy" },
			wantErr: "need --component=kubelet or --component=containerd, and []"},
		{name: "no configuration, hash or Node", change: func(f *render.AgentFlags) { f.Config, f.ConfigHash, f.NodeName = "", "", "" },
			wantErr: "need --component=kubelet or --component=containerd, and [--config --config-hash --node-name]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			f := valid
			tt.change(&f)
			if tt.wantErr == "" {
				g.Expect(f.Validate()).To(Succeed())
				return
			}
			g.Expect(f.Validate()).To(MatchError(tt.wantErr))
		})
	}
}

// The agent's resources: the defaults render exactly what every earlier release did (a change would
// roll every DaemonSet); the installation's replace them; none renders none.
func TestAgentContainerResources(t *testing.T) {
	g := NewWithT(t)
	rendered := func(r *corev1.ResourceRequirements) string {
		data, err := json.Marshal(render.AgentContainer("img", kubelet.AgentFlags("h"), r).Resources)
		g.Expect(err).NotTo(HaveOccurred())
		return string(data)
	}
	g.Expect(rendered(nil)).To(MatchJSON(`{"limits":{"memory":"128Mi"},"requests":{"cpu":"10m","memory":"32Mi"}}`))
	g.Expect(rendered(&corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m")}})).
		To(MatchJSON(`{"requests":{"cpu":"50m"}}`))
	g.Expect(rendered(&corev1.ResourceRequirements{})).To(MatchJSON(`{}`))
}

// The flags that come from the object: its UID always; its driftPolicy only from a kind whose agents
// write files on its Nodes, and only when it sets one (the agent's default is Correct).
func TestAgentFlagsSetObject(t *testing.T) {
	g := NewWithT(t)
	meta := metav1.ObjectMeta{Name: "gpu", UID: "uid-1"}
	f := render.DefaultAgentFlags()
	f.SetObject(&hotelv1alpha1.FloorManager{ObjectMeta: meta,
		Spec: hotelv1alpha1.FloorManagerSpec{NodeFiles: hotelv1alpha1.NodeFiles{DriftPolicy: hotelv1alpha1.DriftPolicyReport}}})
	g.Expect(f.ObjectUID).To(Equal("uid-1"))
	g.Expect(f.DriftPolicy).To(Equal("Report"))

	f = render.DefaultAgentFlags()
	f.SetObject(&hotelv1alpha1.RoomService{ObjectMeta: meta})
	g.Expect(f.ObjectUID).To(Equal("uid-1"))
	g.Expect(f.DriftPolicy).To(Equal("Correct"), "none set: the agent's default")

	f = render.DefaultAgentFlags()
	f.SetObject(&hotelv1alpha1.Concierge{ObjectMeta: meta})
	g.Expect(f.ObjectUID).To(Equal("uid-1"))
	g.Expect(f.DriftPolicy).To(Equal("Correct"))
}
