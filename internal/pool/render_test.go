package pool

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/utils/ptr"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

var testGVK = hotelv1alpha1.GroupVersion.WithKind("FloorManager")

func floorManager(name string, created time.Time, sel metav1.LabelSelector) *hotelv1alpha1.FloorManager {
	fm := &hotelv1alpha1.FloorManager{ObjectMeta: metav1.ObjectMeta{
		Name: name, UID: types.UID("uid-" + name), Generation: 3, CreationTimestamp: metav1.NewTime(created),
	}}
	fm.Spec.NodeSelector = sel
	return fm
}

func TestConfigHash(t *testing.T) {
	g := NewWithT(t)
	a := ConfigHash(map[string]string{"a.conf": "x: 1\n", "b.conf": "y: 2\n"})
	g.Expect(a).To(HaveLen(hashLength))
	g.Expect(ConfigHash(map[string]string{"b.conf": "y: 2\n", "a.conf": "x: 1\n"})).To(Equal(a), "order must not matter")
	g.Expect(ConfigHash(map[string]string{"a.conf": "x: 1\n", "b.conf": "y: 3\n"})).NotTo(Equal(a))
	// A name and content that concatenate alike must still differ.
	g.Expect(ConfigHash(map[string]string{"ab": "c"})).NotTo(Equal(ConfigHash(map[string]string{"a": "bc"})))
}

func TestNodeAffinity(t *testing.T) {
	tests := []struct {
		name string
		sel  metav1.LabelSelector
		want []corev1.NodeSelectorRequirement
	}{
		{name: "empty selector: every Node, no affinity", sel: metav1.LabelSelector{}},
		{
			name: "matchLabels become In, sorted by key",
			sel:  metav1.LabelSelector{MatchLabels: map[string]string{"zone": "b", "pool": "gpu"}},
			want: []corev1.NodeSelectorRequirement{
				{Key: "pool", Operator: corev1.NodeSelectorOpIn, Values: []string{"gpu"}},
				{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"b"}},
			},
		},
		{
			name: "every operator",
			sel: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "a", Operator: metav1.LabelSelectorOpIn, Values: []string{"1", "2"}},
				{Key: "b", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"3"}},
				{Key: "c", Operator: metav1.LabelSelectorOpExists},
				{Key: "d", Operator: metav1.LabelSelectorOpDoesNotExist},
			}},
			want: []corev1.NodeSelectorRequirement{
				{Key: "a", Operator: corev1.NodeSelectorOpIn, Values: []string{"1", "2"}},
				{Key: "b", Operator: corev1.NodeSelectorOpNotIn, Values: []string{"3"}},
				{Key: "c", Operator: corev1.NodeSelectorOpExists},
				{Key: "d", Operator: corev1.NodeSelectorOpDoesNotExist},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			got := nodeAffinity(&tt.sel)
			if tt.want == nil {
				g.Expect(got).To(BeNil())
				return
			}
			var affinity corev1.Affinity
			roundTrip(g, got, &affinity)
			terms := affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
			g.Expect(terms).To(HaveLen(1), "the requirements of one selector are ANDed: one term")
			g.Expect(terms[0].MatchExpressions).To(Equal(tt.want))
		})
	}
}

// roundTrip converts an apply configuration to its typed object through JSON.
func roundTrip(g Gomega, in, out any) {
	data, err := json.Marshal(in)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(json.Unmarshal(data, out)).To(Succeed())
}

func TestDesiredDaemonSet(t *testing.T) {
	tests := []struct {
		name           string
		maxUnavailable *intstr.IntOrString
		want           intstr.IntOrString
	}{
		{name: "default maxUnavailable is 1", want: intstr.FromInt32(1)},
		{name: "an integer", maxUnavailable: ptr.To(intstr.FromInt32(3)), want: intstr.FromInt32(3)},
		{name: "a percentage", maxUnavailable: ptr.To(intstr.FromString("20%")), want: intstr.FromString("20%")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			fm := floorManager("gpu", time.Now(), metav1.LabelSelector{MatchLabels: map[string]string{"pool": "gpu"}})
			fm.Spec.Rollout.MaxUnavailable = tt.maxUnavailable
			cfg := Config{Hash: "abc", ConfigMapName: "gpu-kubelet-abc"}
			pod := corev1ac.PodSpec().WithContainers(corev1ac.Container().WithName("agent").WithImage("img"))
			ac := desiredDaemonSet(fm, testGVK, "kubelet", "ns", cfg, pod, DefaultNodePods(), false)

			var ds struct {
				metav1.ObjectMeta `json:"metadata"`
				Spec              struct {
					Selector       metav1.LabelSelector `json:"selector"`
					UpdateStrategy struct {
						Type          string `json:"type"`
						RollingUpdate struct {
							MaxUnavailable intstr.IntOrString `json:"maxUnavailable"`
						} `json:"rollingUpdate"`
					} `json:"updateStrategy"`
					Template corev1.PodTemplateSpec `json:"template"`
				} `json:"spec"`
			}
			roundTrip(g, ac, &ds)
			g.Expect(ds.Name).To(Equal("gpu-kubelet"))
			g.Expect(ds.Namespace).To(Equal("ns"))
			g.Expect(ds.OwnerReferences).To(Equal([]metav1.OwnerReference{{
				APIVersion: "hotel.innkeeper.dev/v1alpha1", Kind: "FloorManager", Name: "gpu", UID: "uid-gpu",
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
			}}))
			g.Expect(ds.Spec.UpdateStrategy.Type).To(Equal("RollingUpdate"))
			g.Expect(ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable).To(Equal(tt.want))
			g.Expect(ds.Spec.Selector.MatchLabels).To(Equal(ds.Spec.Template.Labels))
			g.Expect(ds.Spec.Template.Annotations).To(HaveKeyWithValue(AnnotationHash, "abc"))
			spec := ds.Spec.Template.Spec
			g.Expect(spec.PriorityClassName).To(Equal(PriorityClass))
			g.Expect(spec.Tolerations).To(Equal([]corev1.Toleration{{Operator: corev1.TolerationOpExists}}))
			g.Expect(spec.Volumes).To(Equal([]corev1.Volume{{Name: ConfigVolume, VolumeSource: corev1.VolumeSource{
				ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "gpu-kubelet-abc"}}}}}))
			g.Expect(spec.Affinity.NodeAffinity).NotTo(BeNil())
		})
	}
}

func TestDesiredDaemonSetPausedHoldsPods(t *testing.T) {
	g := NewWithT(t)
	fm := floorManager("gpu", time.Now(), metav1.LabelSelector{})
	cfg := Config{Hash: "abc", ConfigMapName: "gpu-kubelet-abc"}
	var ds appsv1.DaemonSet
	roundTrip(g, desiredDaemonSet(fm, testGVK, "kubelet", "ns", cfg, corev1ac.PodSpec(), DefaultNodePods(), true), &ds)
	g.Expect(ds.Spec.UpdateStrategy).To(Equal(appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}))
	g.Expect(ds.Spec.Template.Annotations).To(HaveKeyWithValue(AnnotationHash, "abc"))
}

// The default node-pod settings render, byte for byte, the DaemonSets that innkeeper rendered when
// its priority class and tolerations were constants: their spec-hash is unchanged, so that a
// manager upgraded with the defaults applies nothing to the DaemonSets already in the cluster.
// The hashes were computed by the code before the settings existed.
func TestDesiredDaemonSetDefaultsKeepTheSpecHash(t *testing.T) {
	fm := floorManager("gpu", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		metav1.LabelSelector{MatchLabels: map[string]string{"pool": "gpu"}})
	cfg := Config{Hash: "abc", ConfigMapName: "gpu-kubelet-abc"}
	tests := []struct {
		name   string
		pod    *corev1ac.PodSpecApplyConfiguration
		paused bool
		want   string
	}{
		{name: "rolling", pod: corev1ac.PodSpec().WithContainers(corev1ac.Container().WithName("agent").WithImage("img")),
			want: "6d962d0fc522ec6d"},
		{name: "paused", pod: corev1ac.PodSpec(), paused: true, want: "031a8be6574b2295"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			ds := desiredDaemonSet(fm, testGVK, "kubelet", "ns", cfg, tt.pod, DefaultNodePods(), tt.paused)
			g.Expect(specHash(ds)).To(Equal(tt.want))
			data, err := json.Marshal(ds.Spec.Template.Spec)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(data)).To(HaveSuffix(`"tolerations":[{"operator":"Exists"}],"priorityClassName":"system-node-critical"}`))
		})
	}
}

func TestDesiredDaemonSetNodePods(t *testing.T) {
	tests := []struct {
		name     string
		nodePods NodePods
		// wantJSON is the JSON of the pod spec's tolerations and priority class, the fields the
		// settings render; absent fields are not in it.
		wantJSON string
	}{
		{name: "defaults", nodePods: DefaultNodePods(),
			wantJSON: `{"tolerations":[{"operator":"Exists"}],"priorityClassName":"system-node-critical"}`},
		{name: "another priority class, tolerations of some taints", nodePods: NodePods{
			PriorityClassName: "innkeeper-node",
			Tolerations: []corev1.Toleration{
				{Key: "example.com/gpu", Operator: corev1.TolerationOpEqual, Value: "true", Effect: corev1.TaintEffectNoSchedule},
				{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute,
					TolerationSeconds: ptr.To[int64](300)},
				{Key: "dedicated", Value: "infra"},
			},
		}, wantJSON: `{"tolerations":[` +
			`{"key":"example.com/gpu","operator":"Equal","value":"true","effect":"NoSchedule"},` +
			`{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":300},` +
			`{"key":"dedicated","value":"infra"}],"priorityClassName":"innkeeper-node"}`},
		{name: "no priority class: the field is left unset", nodePods: NodePods{
			Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}}},
			wantJSON: `{"tolerations":[{"operator":"Exists"}]}`},
		{name: "no tolerations: the field is left unset", nodePods: NodePods{PriorityClassName: PriorityClass, Tolerations: []corev1.Toleration{}},
			wantJSON: `{"priorityClassName":"system-node-critical"}`},
		{name: "neither", wantJSON: `{}`},
	}
	fm := floorManager("gpu", time.Now(), metav1.LabelSelector{})
	cfg := Config{Hash: "abc", ConfigMapName: "gpu-kubelet-abc"}
	defaultHash := specHash(desiredDaemonSet(fm, testGVK, "kubelet", "ns", cfg, corev1ac.PodSpec(), DefaultNodePods(), false))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			ac := desiredDaemonSet(fm, testGVK, "kubelet", "ns", cfg, corev1ac.PodSpec(), tt.nodePods, false)
			var fields struct {
				Tolerations       json.RawMessage `json:"tolerations,omitempty"`
				PriorityClassName *string         `json:"priorityClassName,omitempty"`
			}
			roundTrip(g, ac.Spec.Template.Spec, &fields)
			got, err := json.Marshal(fields)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(got)).To(MatchJSON(tt.wantJSON))

			// The typed pod spec holds exactly the settings, in their order.
			var ds appsv1.DaemonSet
			roundTrip(g, ac, &ds)
			g.Expect(ds.Spec.Template.Spec.PriorityClassName).To(Equal(tt.nodePods.PriorityClassName))
			if len(tt.nodePods.Tolerations) == 0 {
				g.Expect(ds.Spec.Template.Spec.Tolerations).To(BeEmpty())
			} else {
				g.Expect(ds.Spec.Template.Spec.Tolerations).To(Equal(tt.nodePods.Tolerations))
			}
			// Other settings are another DaemonSet: the engine sees the change and applies it.
			isDefault := reflect.DeepEqual(tt.nodePods, DefaultNodePods())
			g.Expect(specHash(ac) == defaultHash).To(Equal(isDefault))
		})
	}
}

func TestDesiredConfigMap(t *testing.T) {
	g := NewWithT(t)
	fm := floorManager("gpu", time.Now(), metav1.LabelSelector{})
	var cm corev1.ConfigMap
	roundTrip(g, desiredConfigMap(fm, testGVK, "kubelet", "ns", Config{Hash: "abc", ConfigMapName: "gpu-kubelet-abc"},
		map[string]string{"50-innkeeper.conf": "maxPods: 3\n"}), &cm)
	g.Expect(cm.Name).To(Equal("gpu-kubelet-abc"))
	g.Expect(cm.Immutable).To(Equal(ptr.To(true)))
	g.Expect(cm.Data).To(Equal(map[string]string{"50-innkeeper.conf": "maxPods: 3\n"}))
	g.Expect(cm.Labels).To(Equal(map[string]string{LabelManagedBy: ManagedByValue, LabelComponent: "kubelet", LabelPool: "gpu"}))
	g.Expect(cm.Annotations).To(Equal(map[string]string{AnnotationHash: "abc", AnnotationGeneration: "3"}))
	g.Expect(metav1.GetControllerOf(&cm).Name).To(Equal("gpu"))
}

func TestPoolConflict(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	gpu := metav1.LabelSelector{MatchLabels: map[string]string{"pool": "gpu"}}
	all := metav1.LabelSelector{}
	selected := []*corev1.Node{
		{ObjectMeta: metav1.ObjectMeta{Name: "n2", Labels: map[string]string{"pool": "gpu"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"pool": "gpu"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "n3", Labels: map[string]string{"pool": "cpu"}}},
	}
	deleting := floorManager("old-deleting", t0, all)
	deleting.DeletionTimestamp = ptr.To(metav1.NewTime(t0))
	invalid := floorManager("old-invalid", t0, metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: "pool", Operator: "Has"}}})

	tests := []struct {
		name  string
		obj   Object
		peers []Object
		want  *conflict
	}{
		{name: "no peers", obj: floorManager("me", t0, all)},
		{name: "a newer peer does not take my Nodes", obj: floorManager("me", t0, all),
			peers: []Object{floorManager("later", t0.Add(time.Minute), gpu)}},
		{name: "an older peer keeps the Nodes it selects", obj: floorManager("me", t0.Add(time.Minute), all),
			peers: []Object{floorManager("earlier", t0, gpu)},
			want:  &conflict{peer: "earlier", nodes: []string{"n1", "n2"}}},
		{name: "same creation time: the name decides", obj: floorManager("b", t0, all),
			peers: []Object{floorManager("a", t0, gpu)},
			want:  &conflict{peer: "a", nodes: []string{"n1", "n2"}}},
		{name: "same creation time, and mine is the smaller name", obj: floorManager("a", t0, all),
			peers: []Object{floorManager("b", t0, gpu)}},
		{name: "an older peer with no overlap", obj: floorManager("me", t0.Add(time.Minute), all),
			peers: []Object{floorManager("earlier", t0, metav1.LabelSelector{MatchLabels: map[string]string{"pool": "none"}})}},
		{name: "the oldest overlapping peer is reported", obj: floorManager("me", t0.Add(time.Hour), all),
			peers: []Object{floorManager("second", t0.Add(time.Minute), all), floorManager("first", t0, gpu)},
			want:  &conflict{peer: "first", nodes: []string{"n1", "n2"}}},
		{name: "peers being deleted or with invalid selectors hold nothing", obj: floorManager("me", t0.Add(time.Hour), all),
			peers: []Object{deleting, invalid}},
		{name: "the object itself is not a peer", obj: floorManager("me", t0, all),
			peers: []Object{floorManager("me", t0, all)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			NewWithT(t).Expect(poolConflict(tt.obj, selected, tt.peers)).To(Equal(tt.want))
		})
	}
}

func TestConfigMapsToPrune(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cm := func(hash, generation string, age time.Duration) corev1.ConfigMap {
		return corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
			Name: "fm-kubelet-" + hash, CreationTimestamp: metav1.NewTime(t0.Add(-age)),
			Annotations: map[string]string{AnnotationHash: hash, AnnotationGeneration: generation},
		}}
	}
	five := []corev1.ConfigMap{cm("h1", "1", 5*time.Hour), cm("h2", "2", 4*time.Hour), cm("h3", "3", 3*time.Hour),
		cm("h4", "4", 2*time.Hour), cm("h5", "5", time.Hour)}
	tests := []struct {
		name  string
		cms   []corev1.ConfigMap
		inUse []string
		want  []string
	}{
		{name: "three or fewer: nothing to prune", cms: five[:3], inUse: []string{"h3"}},
		{name: "keep the three newest", cms: five, inUse: []string{"h5"}, want: []string{"fm-kubelet-h2", "fm-kubelet-h1"}},
		{name: "an old configuration in use is kept", cms: five, inUse: []string{"h1", "h5"},
			want: []string{"fm-kubelet-h3", "fm-kubelet-h2"}},
		{name: "generation, not creation time, orders", cms: []corev1.ConfigMap{cm("a", "9", 5*time.Hour),
			cm("b", "1", time.Hour), cm("c", "2", time.Hour), cm("d", "3", time.Hour)}, want: []string{"fm-kubelet-b"}},
		{name: "nothing in use", cms: five, want: []string{"fm-kubelet-h2", "fm-kubelet-h1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			NewWithT(t).Expect(configMapsToPrune(tt.cms, tt.inUse)).To(Equal(tt.want))
		})
	}
}

func TestNodeChanged(t *testing.T) {
	base := func() *corev1.Node {
		n := node("a", nil, map[string]string{"other": "x"})
		n.Labels = map[string]string{"pool": "gpu"}
		n.Status.Conditions[0].LastHeartbeatTime = metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		n.Status.Images = []corev1.ContainerImage{{Names: []string{"img"}}}
		return n
	}
	tests := []struct {
		name   string
		change func(*corev1.Node)
		// exclusive is true for a component that another DaemonSet must not run beside (kube-proxy).
		exclusive bool
		want      bool
	}{
		{name: "heartbeat", change: func(n *corev1.Node) {
			n.Status.Conditions[0].LastHeartbeatTime = metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 10, 0, time.UTC))
		}},
		{name: "condition message", change: func(n *corev1.Node) { n.Status.Conditions[0].Message = "still fine" }},
		{name: "images", change: func(n *corev1.Node) { n.Status.Images = nil }},
		{name: "an annotation of someone else's", change: func(n *corev1.Node) { n.Annotations["other"] = "y" }},
		{name: "another component's agent annotation", change: func(n *corev1.Node) {
			n.Annotations[hotelv1alpha1.AgentAnnotation("containerd", "state")] = hotelv1alpha1.AgentStateDegraded
		}},
		{name: "label", change: func(n *corev1.Node) { n.Labels["pool"] = "cpu" }, want: true},
		{name: "condition status", change: func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionFalse }, want: true},
		{name: "new condition", change: func(n *corev1.Node) {
			n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: corev1.NodePIDPressure, Status: corev1.ConditionTrue})
		}, want: true},
		{name: "allocatable", change: func(n *corev1.Node) {
			n.Status.Allocatable[corev1.ResourcePods] = n.Status.Capacity[corev1.ResourceCPU]
		}, want: true},
		{name: "this component's agent state", change: func(n *corev1.Node) {
			n.Annotations[hotelv1alpha1.AgentAnnotation("kubelet", "state")] = hotelv1alpha1.AgentStateDegraded
		}, want: true},
		// A taint decides where another kube-proxy's DaemonSet places its pods.
		{name: "a taint, for an exclusive component", change: func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}
		}, exclusive: true, want: true},
		{name: "a taint, for another component", change: func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}
		}},
		{name: "a PreferNoSchedule taint places nothing", change: func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectPreferNoSchedule}}
		}, exclusive: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oldNode, newNode := base(), base()
			tt.change(newNode)
			NewWithT(t).Expect(NodeChanged(oldNode, newNode, "kubelet", tt.exclusive)).To(Equal(tt.want))
		})
	}
}

func TestJSONSubset(t *testing.T) {
	tests := []struct {
		name      string
		want, got any
		subset    bool
	}{
		{name: "equal", want: map[string]any{"a": 1}, got: map[string]any{"a": 1}, subset: true},
		{name: "defaulted extra field", want: map[string]any{"a": map[string]any{"b": 1}},
			got: map[string]any{"a": map[string]any{"b": 1, "c": "default"}}, subset: true},
		{name: "changed value", want: map[string]any{"a": 1}, got: map[string]any{"a": 2}},
		{name: "missing field", want: map[string]any{"a": 1, "b": 2}, got: map[string]any{"a": 1}},
		{name: "list of different length", want: map[string]any{"l": []any{1, 2}}, got: map[string]any{"l": []any{1}}},
		{name: "list elements with defaults", want: []any{map[string]any{"n": "x"}},
			got: []any{map[string]any{"n": "x", "d": true}}, subset: true},
		{name: "list order matters", want: []any{"a", "b"}, got: []any{"b", "a"}},
		{name: "named entries others added", want: []any{map[string]any{"name": "agent", "image": "i"}},
			got: []any{map[string]any{"name": "sidecar"}, map[string]any{"name": "agent", "image": "i", "tty": false}}, subset: true},
		{name: "a named entry changed", want: []any{map[string]any{"name": "agent", "image": "i"}},
			got: []any{map[string]any{"name": "agent", "image": "j"}}},
		{name: "a named entry removed", want: []any{map[string]any{"name": "a"}, map[string]any{"name": "b"}},
			got: []any{map[string]any{"name": "a"}}},
		{name: "mounts by path", want: []any{map[string]any{"mountPath": "/x", "name": "v"}},
			got: []any{map[string]any{"mountPath": "/y", "name": "w"}, map[string]any{"mountPath": "/x", "name": "v"}}, subset: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			NewWithT(t).Expect(jsonSubset(tt.want, tt.got)).To(Equal(tt.subset))
		})
	}
}

func TestStripNode(t *testing.T) {
	g := NewWithT(t)
	n := node("a", map[corev1.NodeConditionType]corev1.ConditionStatus{corev1.NodeDiskPressure: corev1.ConditionTrue}, map[string]string{
		"hotel.innkeeper.dev/kubelet-config": "h1", "node.alpha.kubernetes.io/ttl": "0"})
	n.Labels = map[string]string{"pool": "gpu"}
	n.ResourceVersion, n.UID = "42", "uid-a"
	n.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubelet"}}
	n.Spec.Taints = []corev1.Taint{{Key: "gpu", Effect: corev1.TaintEffectNoSchedule}}
	n.Status.Images = []corev1.ContainerImage{{Names: []string{"img"}, SizeBytes: 1}}
	n.Status.Conditions[0].Message = "kubelet is posting ready status"
	n.Status.Conditions[0].LastHeartbeatTime = metav1.Now()
	n.Status.Capacity["hugepages-2Mi"] = resource.MustParse("1Gi")
	n.Status.NodeInfo.KubeletVersion = "v1.37.2"

	out, err := StripNode(n)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(Equal(&corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "a", UID: "uid-a", ResourceVersion: "42", Labels: map[string]string{"pool": "gpu"},
			Annotations: map[string]string{"hotel.innkeeper.dev/kubelet-config": "h1"}},
		Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: "gpu", Effect: corev1.TaintEffectNoSchedule}}},
		Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue},
				{Type: corev1.NodeDiskPressure, Status: corev1.ConditionTrue}},
			Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("8Gi"),
				corev1.ResourcePods: resource.MustParse("110"), corev1.ResourceEphemeralStorage: resource.MustParse("50Gi")},
			Allocatable: n.Status.Allocatable,
		},
	}))

	other := &schema.GroupVersionKind{}
	passed, err := StripNode(other)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(passed).To(BeIdenticalTo(other))
}
