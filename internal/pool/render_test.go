package pool

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	fm.Spec.NodeSelector = hotelv1alpha1.NodeSelectorOf(sel)
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
		{name: "empty selector: every admitted Node", sel: metav1.LabelSelector{}},
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
			got := nodeAffinity(&tt.sel, "hotel.innkeeper.dev/kubelet-admitted", "uid-gpu", false)
			var affinity corev1.Affinity
			roundTrip(g, got, &affinity)
			terms := affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
			g.Expect(terms).To(HaveLen(1), "the requirements of one selector are ANDed: one term")
			want := append(tt.want, corev1.NodeSelectorRequirement{
				Key: "hotel.innkeeper.dev/kubelet-admitted", Operator: corev1.NodeSelectorOpIn, Values: []string{"uid-gpu"}})
			g.Expect(terms[0].MatchExpressions).To(Equal(want), "the pool's selector, and admitted to the object's rollout")
		})
	}
}

// A node agent's DaemonSet also runs on the Nodes marked for revert by its object, in its pool or
// not: the terms of a node affinity are ORed.
func TestNodeAffinityKeepsTheAgentOnNodesMarkedForRevert(t *testing.T) {
	g := NewWithT(t)
	sel := metav1.LabelSelector{MatchLabels: map[string]string{"pool": "gpu"}}
	var affinity corev1.Affinity
	roundTrip(g, nodeAffinity(&sel, "k", "uid-gpu", true), &affinity)
	terms := affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	g.Expect(terms).To(HaveLen(2))
	g.Expect(terms[1].MatchExpressions).To(Equal([]corev1.NodeSelectorRequirement{
		{Key: "k", Operator: corev1.NodeSelectorOpIn, Values: []string{"revert.uid-gpu"}}}))
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
			ac := desiredDaemonSet(fm, testGVK, "kubelet", "ns", cfg, pod, DefaultNodePods(), rollStrategy{}, true)

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
	roundTrip(g, desiredDaemonSet(fm, testGVK, "kubelet", "ns", cfg, corev1ac.PodSpec(), DefaultNodePods(), rollStrategy{hold: true}, true), &ds)
	g.Expect(ds.Spec.UpdateStrategy).To(Equal(appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}))
	g.Expect(ds.Spec.Template.Annotations).To(HaveKeyWithValue(AnnotationHash, "abc"))
}

// The default node-pod settings render, byte for byte, the DaemonSets that this version renders:
// their spec-hash is pinned, because a change to it changes every DaemonSet in the cluster when
// the manager is upgraded, which the upgrade notes (docs/install.md) must say. It last changed with
// reverts (revert.go: a node agent's DaemonSet also runs on the Nodes marked for revert, and its
// agent gets --object-uid): the agents' pods roll once, and Nodes keep their configuration.
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
			want: "5114acfd99783a1f"},
		{name: "paused", pod: corev1ac.PodSpec(), paused: true, want: "6b57a2a5b209a018"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			ds := desiredDaemonSet(fm, testGVK, "kubelet", "ns", cfg, tt.pod, DefaultNodePods(), rollStrategy{hold: tt.paused}, true)
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
		{name: "image pull secrets, in order", nodePods: NodePods{ImagePullSecrets: []string{"mirror", "ghcr"}},
			wantJSON: `{"imagePullSecrets":[{"name":"mirror"},{"name":"ghcr"}]}`},
	}
	fm := floorManager("gpu", time.Now(), metav1.LabelSelector{})
	cfg := Config{Hash: "abc", ConfigMapName: "gpu-kubelet-abc"}
	defaultHash := specHash(desiredDaemonSet(fm, testGVK, "kubelet", "ns", cfg, corev1ac.PodSpec(), DefaultNodePods(), rollStrategy{}, true))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			ac := desiredDaemonSet(fm, testGVK, "kubelet", "ns", cfg, corev1ac.PodSpec(), tt.nodePods, rollStrategy{}, true)
			var fields struct {
				Tolerations       json.RawMessage `json:"tolerations,omitempty"`
				PriorityClassName *string         `json:"priorityClassName,omitempty"`
				ImagePullSecrets  json.RawMessage `json:"imagePullSecrets,omitempty"`
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
			if isDefault {
				g.Expect(specHash(ac)).To(Equal(defaultHash))
			} else {
				g.Expect(specHash(ac)).NotTo(Equal(defaultHash))
			}
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

func TestDesiredDaemonSetSoak(t *testing.T) {
	g := NewWithT(t)
	fm := floorManager("gpu", time.Now(), metav1.LabelSelector{})
	cfg := Config{Hash: "abc", ConfigMapName: "gpu-kubelet-abc"}
	var ds appsv1.DaemonSet
	roundTrip(g, desiredDaemonSet(fm, testGVK, "kubelet", "ns", cfg, corev1ac.PodSpec(), DefaultNodePods(), rollStrategy{}, true), &ds)
	g.Expect(ds.Spec.MinReadySeconds).To(BeZero(), "no soak: no minReadySeconds")
	fm.Spec.Rollout.SoakSeconds = 15
	roundTrip(g, desiredDaemonSet(fm, testGVK, "kubelet", "ns", cfg, corev1ac.PodSpec(), DefaultNodePods(), rollStrategy{}, true), &ds)
	g.Expect(ds.Spec.MinReadySeconds).To(Equal(int32(15)), "a pod counts as available once Ready for the soak")
}

func TestDesiredDaemonSetRecordsAPassedCanary(t *testing.T) {
	g := NewWithT(t)
	fm := floorManager("gpu", time.Now(), metav1.LabelSelector{})
	cfg := Config{Hash: "abc", ConfigMapName: "gpu-kubelet-abc"}
	var ds appsv1.DaemonSet
	roundTrip(g, desiredDaemonSet(fm, testGVK, "kubelet", "ns", cfg, corev1ac.PodSpec(), DefaultNodePods(),
		rollStrategy{hold: true, canaryPassed: "abc"}, true), &ds)
	g.Expect(ds.Annotations).To(HaveKeyWithValue(AnnotationCanaryPassed, "abc"))
	var plain appsv1.DaemonSet
	roundTrip(g, desiredDaemonSet(fm, testGVK, "kubelet", "ns", cfg, corev1ac.PodSpec(), DefaultNodePods(), rollStrategy{}, true), &plain)
	g.Expect(plain.Annotations).NotTo(HaveKey(AnnotationCanaryPassed))
}
