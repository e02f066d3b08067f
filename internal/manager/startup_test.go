package manager

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// startupTimeout bounds each wait of the start-up test: the manager starting, syncing its cache and
// reconciling, on a machine that runs other test packages beside it.
const startupTimeout = 60 * time.Second

// A manager that starts while objects it cannot decode are stored, one of every kind (as after an
// upgrade, or a schema change, that found them there), syncs its cache, reports them, and
// reconciles the others. The controllers suite shows the same for objects stored while the manager
// runs; only here is the manager's start-up the step under test: with a typed informer of any of
// these kinds, its first list would fail, no controller would start, and the manager would exit at
// its cache-sync timeout. A controller runs only once all its sources have synced, so every
// condition awaited below proves that the kind's informer synced; that Start has not returned
// proves the manager did not give up on any other.
func TestStartsWithUndecodableObjects(t *testing.T) {
	g := NewWithT(t)
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run `make test`, or export KUBEBUILDER_ASSETS=$(make -s envtest-assets)")
	}
	logs := &lockedBuffer{}
	ctrl.SetLogger(zap.New(zap.WriteTo(logs), zap.UseDevMode(true)))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("manager logs:\n%s", logs.String())
		}
	})

	// Today's CRDs, with the schema of one duration of each kind relaxed to a plain string, as an
	// older schema might have had it: the API server then stores a duration that overflows
	// metav1.Duration.
	testEnv := &envtest.Environment{
		CRDDirectoryPaths: []string{relaxedCRDs(t, map[string][]string{
			"floormanagers": {"kubelet", "evictionPressureTransitionPeriod"},
			"concierges":    {"kubeProxy", "conntrack", "tcpEstablishedTimeout"},
			"roomservices":  {"containerd", "registries[]", "mirrors[]", "dialTimeout"},
		})},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := testEnv.Start()
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { g.Expect(testEnv.Stop()).To(Succeed()) })

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := client.New(cfg, client.Options{Scheme: Scheme()})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: DefaultNamespace}})).To(Succeed())
	g.Expect(c.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-good",
		Labels: map[string]string{"pool": "good"}}})).To(Succeed())

	const overflowing = "2562048h"
	bad := map[string]string{
		"FloorManager": "spec.kubelet.evictionPressureTransitionPeriod",
		"Concierge":    "spec.kubeProxy.conntrack.tcpEstablishedTimeout",
		"RoomService":  "spec.containerd.registries[0].mirrors[0].dialTimeout",
	}
	for kind, spec := range map[string]string{
		"FloorManager": `{nodeSelector: {matchLabels: {pool: fm}}, kubelet: {evictionPressureTransitionPeriod: ` + overflowing + `}}`,
		"Concierge":    `{nodeSelector: {matchLabels: {pool: cg}}, kubeProxy: {conntrack: {tcpEstablishedTimeout: ` + overflowing + `}}}`,
		"RoomService": `{nodeSelector: {matchLabels: {pool: rs}}, containerd: {configVersion: 3, registries: [{host: docker.io,
			mirrors: [{url: "https://mirror.example", dialTimeout: ` + overflowing + `}]}]}}`,
	} {
		g.Expect(c.Create(ctx, poolObject(t, kind, "bad", spec))).To(Succeed(), kind)
	}
	g.Expect(c.Create(ctx, poolObject(t, "FloorManager", "good", `{nodeSelector: {matchLabels: {pool: good}}, kubelet: {maxPods: 64}}`))).To(Succeed())
	// The poison pill as the issue found it: a typed read of the kind fails.
	g.Expect(c.List(ctx, &hotelv1alpha1.FloorManagerList{})).To(MatchError(ContainSubstring("invalid duration")))

	mgr, err := New(ctx, cfg, Options{Namespace: DefaultNamespace, MetricsBindAddress: "0", HealthProbeBindAddress: "0",
		AgentImage: "example.test/innkeeper:test"})
	g.Expect(err).NotTo(HaveOccurred())
	stopped := make(chan error, 1)
	go func() { stopped <- mgr.Start(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-stopped:
			g.Expect(err).NotTo(HaveOccurred(), "the manager's stop")
		case <-time.After(startupTimeout):
			t.Error("the manager did not stop")
		}
	}()

	for kind, field := range bad {
		g.Eventually(func(g Gomega) {
			obj := poolObject(t, kind, "bad", "{}")
			g.Expect(c.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
			conditions, _, err := unstructured.NestedSlice(obj.Object, "status", "conditions")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(conditions).To(ContainElement(And(
				HaveKeyWithValue("type", hotelv1alpha1.ConditionStalled),
				HaveKeyWithValue("status", string(metav1.ConditionTrue)),
				HaveKeyWithValue("reason", hotelv1alpha1.ReasonUndecodable),
				HaveKeyWithValue("message", ContainSubstring(field)))))
		}).WithTimeout(startupTimeout).WithPolling(250*time.Millisecond).Should(Succeed(), "%s bad is reported", kind)
	}
	g.Eventually(func() error {
		return c.Get(ctx, client.ObjectKey{Namespace: DefaultNamespace, Name: "good-kubelet"}, &appsv1.DaemonSet{})
	}).WithTimeout(startupTimeout).WithPolling(250*time.Millisecond).Should(Succeed(), "the good FloorManager is rolled out")

	select {
	case err := <-stopped:
		t.Fatalf("the manager stopped: %v", err)
	default:
	}
}

// poolObject returns an innkeeper object of kind, unstructured, with a spec in YAML.
func poolObject(t *testing.T, kind, name, specYAML string) *unstructured.Unstructured {
	t.Helper()
	spec := map[string]any{}
	if err := utilyaml.Unmarshal([]byte(specYAML), &spec); err != nil {
		t.Fatalf("spec of %s %s: %v", kind, name, err)
	}
	obj := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	obj.SetGroupVersionKind(hotelv1alpha1.GroupVersion.WithKind(kind))
	obj.SetName(name)
	return obj
}

// relaxedCRDs writes the CRDs of the plurals in relax to a directory of the test's and returns it. In
// each, the field at the plural's path under spec (a segment ending in [] is a list whose items the
// path goes on into) is a plain string.
func relaxedCRDs(t *testing.T, relax map[string][]string) string {
	t.Helper()
	dir := t.TempDir()
	for plural, path := range relax {
		name := hotelv1alpha1.GroupVersion.Group + "_" + plural
		data, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", name+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		crd := map[string]any{}
		if err := utilyaml.Unmarshal(data, &crd); err != nil {
			t.Fatalf("CRD %s: %v", name, err)
		}
		versions, _, _ := unstructured.NestedSlice(crd, "spec", "versions")
		for _, v := range versions {
			fields := []string{"schema", "openAPIV3Schema", "properties", "spec"}
			for _, p := range path {
				field, list := strings.CutSuffix(p, "[]")
				fields = append(fields, "properties", field)
				if list {
					fields = append(fields, "items")
				}
			}
			if _, found, err := unstructured.NestedMap(v.(map[string]any), fields...); !found || err != nil {
				t.Fatalf("CRD %s has no field spec.%s (%v)", name, strings.Join(path, "."), err)
			}
			if err := unstructured.SetNestedMap(v.(map[string]any), map[string]any{"type": "string"}, fields...); err != nil {
				t.Fatal(err)
			}
		}
		if err := unstructured.SetNestedSlice(crd, versions, "spec", "versions"); err != nil {
			t.Fatal(err)
		}
		relaxed, err := json.Marshal(crd)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".json"), relaxed, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// lockedBuffer collects the manager's logs, which its goroutines write concurrently.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
