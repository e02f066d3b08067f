package pool

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// stored returns an object as the cache holds it: YAML decoded as the API machinery decodes JSON
// into an unstructured object, whole numbers as int64.
func stored(t *testing.T, kind, yamlText string) map[string]any {
	t.Helper()
	content := map[string]any{}
	if err := utilyaml.Unmarshal([]byte(yamlText), &content); err != nil {
		t.Fatalf("test object: %v", err)
	}
	content["apiVersion"] = hotelv1alpha1.GroupVersion.String()
	content["kind"] = kind
	return content
}

func newFloorManager() Object { return &hotelv1alpha1.FloorManager{} }
func newRoomService() Object  { return &hotelv1alpha1.RoomService{} }

// decodeObject decodes as a typed client does, and names the first field it cannot decode: the
// path a user corrects with kubectl edit.
func TestDecodeObject(t *testing.T) {
	tests := []struct {
		name      string
		kind      string
		yaml      string
		wantField string // "" if the object decodes
		wantErr   string
		check     func(g Gomega, obj Object)
	}{
		{name: "a valid FloorManager", kind: "FloorManager", yaml: `
metadata: {name: a, resourceVersion: "7"}
spec: {nodeSelector: {matchLabels: {pool: a}}, kubelet: {maxPods: 64, evictionPressureTransitionPeriod: 5m}}`,
			check: func(g Gomega, obj Object) {
				fm := obj.(*hotelv1alpha1.FloorManager)
				g.Expect(fm.Name).To(Equal("a"))
				g.Expect(*fm.Spec.Kubelet.MaxPods).To(BeEquivalentTo(64))
				g.Expect(fm.Spec.Kubelet.EvictionPressureTransitionPeriod.Duration).To(Equal(5 * time.Minute))
			}},
		// Unknown fields are dropped and names are case-sensitive, as by the API machinery's decoder:
		// a field stored by a newer version of the CRD does not make an object undecodable.
		{name: "an unknown field, and a known one in the wrong case", kind: "FloorManager", yaml: `
metadata: {name: a}
spec: {nodeSelector: {}, kubelet: {fromTheFuture: true, MaxPods: "many"}}`,
			check: func(g Gomega, obj Object) {
				g.Expect(obj.(*hotelv1alpha1.FloorManager).Spec.Kubelet.MaxPods).To(BeNil())
			}},
		{name: "a duration that overflows", kind: "FloorManager", yaml: `
metadata: {name: a}
spec: {nodeSelector: {}, kubelet: {maxPods: 64, evictionPressureTransitionPeriod: 2562048h}}`,
			wantField: "spec.kubelet.evictionPressureTransitionPeriod", wantErr: `invalid duration "2562048h"`},
		{name: "a string where a number goes", kind: "FloorManager", yaml: `
metadata: {name: a}
spec: {nodeSelector: {}, kubelet: {maxPods: many}}`,
			wantField: "spec.kubelet.maxPods", wantErr: "cannot unmarshal string"},
		{name: "a number that int32 cannot hold", kind: "FloorManager", yaml: `
metadata: {name: a}
spec: {nodeSelector: {}, kubelet: {maxPods: 99999999999}}`,
			wantField: "spec.kubelet.maxPods", wantErr: "int32"},
		// The first field, in the order of the keys, of those that do not decode.
		{name: "two bad fields", kind: "FloorManager", yaml: `
metadata: {name: a}
spec: {nodeSelector: {}, kubelet: {shutdownGracePeriod: forever, evictionPressureTransitionPeriod: 2562048h}}`,
			wantField: "spec.kubelet.evictionPressureTransitionPeriod"},
		{name: "a map's value", kind: "FloorManager", yaml: `
metadata: {name: a}
spec: {nodeSelector: {}, kubelet: {evictionHard: {memory.available: 5, nodefs.available: 10%}}}`,
			wantField: "spec.kubelet.evictionHard[memory.available]"},
		// A field that must hold a string is wrong as a whole when it holds an object: the path
		// stops there and does not name a key that the type does not have.
		{name: "an object where a string goes", kind: "FloorManager", yaml: `
metadata: {name: a}
spec: {nodeSelector: {}, kubelet: {cpuManagerPolicy: {name: static}}}`,
			wantField: "spec.kubelet.cpuManagerPolicy"},
		{name: "an element of a list", kind: "RoomService", yaml: `
metadata: {name: a}
spec:
  nodeSelector: {}
  containerd:
    configVersion: 2
    registries:
    - host: docker.io
      mirrors: [{url: "https://mirror.example", dialTimeout: 30s}]
    - host: ghcr.io
      mirrors:
      - {url: "https://mirror.example", dialTimeout: 30s}
      - {url: "https://other.example", dialTimeout: 2562048h}`,
			wantField: "spec.containerd.registries[1].mirrors[1].dialTimeout", wantErr: "invalid duration"},
		{name: "a list where an object goes", kind: "RoomService", yaml: `
metadata: {name: a}
spec: {nodeSelector: {}, containerd: {configVersion: 2, registries: {host: docker.io}}}`,
			wantField: "spec.containerd.registries"},
		{name: "a spec that is not an object", kind: "FloorManager", yaml: `
metadata: {name: a}
spec: everything`,
			wantField: "spec"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			newObject := newFloorManager
			if tt.kind == "RoomService" {
				newObject = newRoomService
			}
			obj, err := decodeObject(stored(t, tt.kind, tt.yaml), newObject)
			if tt.wantField == "" {
				g.Expect(err).NotTo(HaveOccurred())
				tt.check(g, obj)
				return
			}
			g.Expect(obj).To(BeNil())
			g.Expect(err).To(MatchError(HavePrefix(tt.wantField + ": ")))
			g.Expect(err).To(MatchError(ContainSubstring(tt.wantErr)))
		})
	}
}

// An object that decodes has no undecodable field; undecodableField is called only for one that
// does not, but must not invent a path.
func TestUndecodableFieldOfADecodableObject(t *testing.T) {
	g := NewWithT(t)
	field, err := undecodableField(stored(t, "FloorManager", `
metadata: {name: a, labels: {team: x}}
spec: {nodeSelector: {matchExpressions: [{key: pool, operator: In, values: [a, b]}]}, kubelet: {maxPods: 64}}`), newFloorManager)
	g.Expect(field).To(BeEmpty())
	g.Expect(err).NotTo(HaveOccurred())
}

func TestFieldPath(t *testing.T) {
	tests := []struct {
		path []any
		want string
	}{
		{path: nil, want: ""},
		{path: []any{"spec"}, want: "spec"},
		{path: []any{"spec", "kubelet", "maxPods"}, want: "spec.kubelet.maxPods"},
		{path: []any{"spec", "registries", 1, "mirrors", 0, "url"}, want: "spec.registries[1].mirrors[0].url"},
		{path: []any{"spec", "runtimes", 0, 2}, want: "spec.runtimes[0][2]"},
		// Map keys that cannot be field names are bracketed, as API errors name them.
		{path: []any{"spec", "kubelet", "evictionHard", "memory.available"}, want: "spec.kubelet.evictionHard[memory.available]"},
		{path: []any{"spec", "nodeSelector", "matchLabels", "node.kubernetes.io/pool"},
			want: "spec.nodeSelector.matchLabels[node.kubernetes.io/pool]"},
		{path: []any{"spec", "kubelet", "featureGates", "CPUManager"}, want: "spec.kubelet.featureGates.CPUManager"},
		{path: []any{"metadata", "annotations", ""}, want: "metadata.annotations[]"},
		{path: []any{"spec", "kubelet", "2fast"}, want: "spec.kubelet[2fast]"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			NewWithT(t).Expect(fieldPath(tt.path)).To(Equal(tt.want))
		})
	}
}

// poolOnly keeps, of an object that does not decode, what its peers need to keep its Nodes: its
// identity, age and selector.
func TestPoolOnly(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		// wantPool is the pool label the kept selector matches; "" if nothing is kept.
		wantPool string
	}{
		{name: "a bad duration", wantPool: "a", yaml: `
metadata: {name: a, uid: u-1, creationTimestamp: "2026-01-02T03:04:05Z"}
spec: {nodeSelector: {matchLabels: {pool: a}}, kubelet: {evictionPressureTransitionPeriod: 2562048h}}`},
		// The rollout settings are the pool's too, but no peer reads them: a bad one costs nothing.
		{name: "bad rollout settings", wantPool: "a", yaml: `
metadata: {name: a, uid: u-1, creationTimestamp: "2026-01-02T03:04:05Z"}
spec: {nodeSelector: {matchLabels: {pool: a}}, rollout: {maxUnavailable: {half: true}, paused: maybe}}`},
		{name: "a bad selector", yaml: `
metadata: {name: a}
spec: {nodeSelector: {matchLabels: pool}, kubelet: {evictionPressureTransitionPeriod: 2562048h}}`},
		// An empty selector would select every Node of the cluster.
		{name: "no selector", yaml: `
metadata: {name: a}
spec: {kubelet: {evictionPressureTransitionPeriod: 2562048h}}`},
		{name: "a null selector", yaml: `
metadata: {name: a}
spec: {nodeSelector: null}`},
		{name: "no spec", yaml: `
metadata: {name: a}`},
		{name: "bad metadata", yaml: `
metadata: {name: a, creationTimestamp: yesterday}
spec: {nodeSelector: {matchLabels: {pool: a}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			peer := poolOnly(stored(t, "FloorManager", tt.yaml), newFloorManager)
			if tt.wantPool == "" {
				g.Expect(peer).To(BeNil())
				return
			}
			g.Expect(peer).NotTo(BeNil())
			fm := peer.(*hotelv1alpha1.FloorManager)
			g.Expect(fm.Name).To(Equal("a"))
			g.Expect(string(fm.UID)).To(Equal("u-1"))
			g.Expect(fm.CreationTimestamp.Time).To(BeTemporally("==", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)))
			g.Expect(fm.Spec.NodeSelector).To(Equal(hotelv1alpha1.NodeSelector{MatchLabels: map[string]hotelv1alpha1.LabelValue{"pool": hotelv1alpha1.LabelValue(tt.wantPool)}}))
			g.Expect(fm.Spec.Kubelet).To(BeZero(), "nothing but the pool is kept")
			g.Expect(fm.Spec.Rollout).To(BeZero(), "nothing but the pool is kept")
		})
	}
}

// The engine decodes each version of an object once: the predicate, the Node map functions and the
// reconcile of one version share it.
func TestDecodeOncePerVersion(t *testing.T) {
	g := NewWithT(t)
	r := &Reconciler{kind: Kind{NewObject: newFloorManager}, gvk: hotelv1alpha1.GroupVersion.WithKind("FloorManager")}
	version := func(rv, period string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: stored(t, "FloorManager", `
metadata: {name: a, resourceVersion: "`+rv+`"}
spec: {nodeSelector: {matchLabels: {pool: a}}, kubelet: {evictionPressureTransitionPeriod: `+period+`}}`)}
	}
	ctx := context.Background()

	bad := r.decode(ctx, version("1", "2562048h"))
	g.Expect(bad.obj).To(BeNil())
	g.Expect(bad.err).To(MatchError(ContainSubstring("spec.kubelet.evictionPressureTransitionPeriod")))
	g.Expect(bad.peer).NotTo(BeNil(), "an object that does not decode keeps its pool")
	g.Expect(r.decode(ctx, version("1", "2562048h"))).To(BeIdenticalTo(bad))

	good := r.decode(ctx, version("2", "5m"))
	g.Expect(good.err).NotTo(HaveOccurred())
	g.Expect(good.peer).To(BeIdenticalTo(good.obj))
	g.Expect(r.decode(ctx, version("2", "5m"))).To(BeIdenticalTo(good))

	r.forget("a")
	g.Expect(r.decode(ctx, version("2", "5m"))).NotTo(BeIdenticalTo(good), "a forgotten object is decoded again")
}

func TestUndecodableMessage(t *testing.T) {
	cause := errors.New(`spec.kubelet.evictionPressureTransitionPeriod: time: invalid duration "2562048h"`)
	tests := []struct {
		name     string
		cause    error
		deleting bool
		want     []string
		wantNot  []string
	}{
		{name: "the field and what to do", cause: cause, want: []string{
			"cannot read this FloorManager: " + cause.Error() + ".",
			"kubectl edit floormanager gpu-pool",
			"every other object is reconciled as usual",
		}, wantNot: []string{Finalizer}},
		{name: "a deletion that waits", cause: cause, deleting: true, want: []string{
			"kubectl edit floormanager gpu-pool",
			"Its deletion waits",
			"remove the finalizer " + Finalizer,
		}},
		// The value may be anything once admission is bypassed; the message stays an Event's size.
		{name: "a long value", cause: errors.New(`spec.kubelet.shutdownGracePeriod: time: invalid duration "` +
			strings.Repeat("9", 100_000) + `"`), want: []string{"spec.kubelet.shutdownGracePeriod", "999…", "kubectl edit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			got := undecodableMessage("FloorManager", "gpu-pool", tt.cause, tt.deleting)
			for _, w := range tt.want {
				g.Expect(got).To(ContainSubstring(w))
			}
			for _, w := range tt.wantNot {
				g.Expect(got).NotTo(ContainSubstring(w))
			}
			// An Event's note holds 1,024 characters, with an object name of 253.
			g.Expect(len(undecodableMessage("FloorManager", strings.Repeat("n", 253), tt.cause, tt.deleting))).To(BeNumerically("<=", 1024))
		})
	}
}

func TestSetUndecodable(t *testing.T) {
	earlier := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	now := metav1.NewTime(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))
	cond := func(t string, s metav1.ConditionStatus, reason string, generation int64, at metav1.Time) metav1.Condition {
		return metav1.Condition{Type: t, Status: s, Reason: reason, Message: "before", ObservedGeneration: generation, LastTransitionTime: at}
	}
	tests := []struct {
		name     string
		previous []metav1.Condition
		// wantTransitions are the conditions whose transition time is now.
		wantTransitions []string
		// wantKept are the conditions left exactly as they were.
		wantKept []metav1.Condition
	}{
		{name: "a first status", wantTransitions: []string{
			hotelv1alpha1.ConditionStalled, hotelv1alpha1.ConditionReady, hotelv1alpha1.ConditionReconciling}},
		{name: "a ready object", previous: []metav1.Condition{
			cond(hotelv1alpha1.ConditionReady, metav1.ConditionTrue, hotelv1alpha1.ReasonAsExpected, 1, earlier),
			cond(hotelv1alpha1.ConditionReconciling, metav1.ConditionFalse, hotelv1alpha1.ReasonAsExpected, 1, earlier),
			cond(hotelv1alpha1.ConditionStalled, metav1.ConditionFalse, hotelv1alpha1.ReasonAsExpected, 1, earlier),
			cond(hotelv1alpha1.ConditionNodesHealthy, metav1.ConditionTrue, hotelv1alpha1.ReasonAsExpected, 1, earlier),
		}, wantTransitions: []string{hotelv1alpha1.ConditionStalled, hotelv1alpha1.ConditionReady},
			wantKept: []metav1.Condition{cond(hotelv1alpha1.ConditionNodesHealthy, metav1.ConditionTrue, hotelv1alpha1.ReasonAsExpected, 1, earlier)}},
		// Stalled for another reason, or undecodable since an earlier generation: it stalled then.
		{name: "an object stalled before", previous: []metav1.Condition{
			cond(hotelv1alpha1.ConditionStalled, metav1.ConditionTrue, hotelv1alpha1.ReasonInvalidSpec, 1, earlier),
			cond(hotelv1alpha1.ConditionReady, metav1.ConditionFalse, hotelv1alpha1.ReasonInvalidSpec, 1, earlier),
		}, wantTransitions: []string{hotelv1alpha1.ConditionReconciling}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			conditions := append([]metav1.Condition(nil), tt.previous...)
			setUndecodable(&conditions, 2, "the message", now)

			for _, want := range []struct {
				t string
				s metav1.ConditionStatus
			}{
				{hotelv1alpha1.ConditionStalled, metav1.ConditionTrue},
				{hotelv1alpha1.ConditionReady, metav1.ConditionFalse},
				{hotelv1alpha1.ConditionReconciling, metav1.ConditionFalse},
			} {
				c := meta.FindStatusCondition(conditions, want.t)
				g.Expect(c).NotTo(BeNil(), want.t)
				g.Expect(c.Status).To(Equal(want.s), want.t)
				g.Expect(c.Reason).To(Equal(hotelv1alpha1.ReasonUndecodable), want.t)
				g.Expect(c.ObservedGeneration).To(BeEquivalentTo(2), want.t)
				wantTime := earlier
				if slices.Contains(tt.wantTransitions, want.t) {
					wantTime = now
				}
				g.Expect(c.LastTransitionTime).To(Equal(wantTime), want.t)
			}
			g.Expect(meta.FindStatusCondition(conditions, hotelv1alpha1.ConditionStalled).Message).To(Equal("the message"))
			for _, kept := range tt.wantKept {
				g.Expect(conditions).To(ContainElement(kept))
			}
			g.Expect(conditions).To(HaveLen(max(len(tt.previous), 3)))
		})
	}
}
