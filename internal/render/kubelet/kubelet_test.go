package kubelet

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/render/featuregates"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func quantity(s string) *resource.Quantity {
	q := resource.MustParse(s)
	return &q
}

func duration(s string) *metav1.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return &metav1.Duration{Duration: d}
}

func TestRenderGolden(t *testing.T) {
	tests := []struct {
		name string
		spec hotelv1alpha1.KubeletSpec
	}{
		{name: "empty", spec: hotelv1alpha1.KubeletSpec{}},
		{name: "reserved-and-eviction", spec: hotelv1alpha1.KubeletSpec{
			MaxPods:        ptr.To[int32](110),
			KubeReserved:   &hotelv1alpha1.ReservedResources{CPU: quantity("200m"), Memory: quantity("1Gi"), EphemeralStorage: quantity("1Gi")},
			SystemReserved: &hotelv1alpha1.ReservedResources{CPU: quantity("1"), PID: quantity("1000")},
			EvictionHard:   map[string]hotelv1alpha1.Threshold{"memory.available": "500Mi", "nodefs.available": "10%"},
			EvictionSoft:   map[string]hotelv1alpha1.Threshold{"memory.available": "1Gi"},
			EvictionSoftGracePeriod: map[string]hotelv1alpha1.GracePeriod{
				"memory.available": "1m30s",
			},
			EvictionPressureTransitionPeriod: duration("5m"),
		}},
		{name: "every-field", spec: hotelv1alpha1.KubeletSpec{
			MaxPods:                          ptr.To[int32](250),
			PodsPerCore:                      ptr.To[int32](0),
			PodPidsLimit:                     ptr.To[int64](-1),
			EvictionMinimumReclaim:           map[string]hotelv1alpha1.MinimumReclaim{"nodefs.available": "500Mi"},
			EvictionMaxPodGracePeriod:        ptr.To[int32](0),
			ImageGCHighThresholdPercent:      ptr.To[int32](90),
			ImageGCLowThresholdPercent:       ptr.To[int32](70),
			ImageMinimumGCAge:                duration("2m"),
			ImageMaximumGCAge:                duration("168h"),
			SerializeImagePulls:              ptr.To(false),
			MaxParallelImagePulls:            ptr.To[int32](5),
			RegistryPullQPS:                  ptr.To[int32](0),
			RegistryBurst:                    ptr.To[int32](20),
			ContainerLogMaxSize:              ptr.To("50Mi"),
			ContainerLogMaxFiles:             ptr.To[int32](3),
			CPUManagerPolicy:                 ptr.To("static"),
			TopologyManagerPolicy:            ptr.To("single-numa-node"),
			TopologyManagerScope:             ptr.To("pod"),
			ShutdownGracePeriod:              duration("1m"),
			ShutdownGracePeriodCriticalPods:  duration("20s"),
			FeatureGates:                     map[string]bool{"KubeletTracing": true, "MemoryQoS": false},
			KubeReserved:                     &hotelv1alpha1.ReservedResources{CPU: quantity("500m")},
			EvictionPressureTransitionPeriod: duration("30s"),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			got, err := Render(&tt.spec)
			g.Expect(err).NotTo(HaveOccurred())

			golden := filepath.Join("testdata", tt.name+".yaml")
			if *update {
				g.Expect(os.WriteFile(golden, got, 0o644)).To(Succeed())
			}
			want, err := os.ReadFile(golden)
			g.Expect(err).NotTo(HaveOccurred(), "run go test -update to create %s", golden)
			g.Expect(string(got)).To(Equal(string(want)))

			again, err := Render(&tt.spec)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(again).To(Equal(got), "rendering is not deterministic")
		})
	}
}

// Zero values the user set explicitly must be written: the drop-in overrides what the node has.
func TestRenderKeepsExplicitZeros(t *testing.T) {
	g := NewWithT(t)
	got, err := Render(&hotelv1alpha1.KubeletSpec{PodsPerCore: ptr.To[int32](0), RegistryPullQPS: ptr.To[int32](0)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(got)).To(ContainSubstring("podsPerCore: 0\n"))
	g.Expect(string(got)).To(ContainSubstring("registryPullQPS: 0\n"))
}

// Every field the API offers must land in the upstream type under the same meaning.
func TestRenderedDropInDecodesIntoKubeletConfiguration(t *testing.T) {
	g := NewWithT(t)
	data, err := Render(&hotelv1alpha1.KubeletSpec{
		MaxPods:             ptr.To[int32](42),
		KubeReserved:        &hotelv1alpha1.ReservedResources{CPU: quantity("250m"), EphemeralStorage: quantity("2Gi")},
		EvictionHard:        map[string]hotelv1alpha1.Threshold{"imagefs.available": "15%"},
		ImageMaximumGCAge:   duration("72h"),
		ShutdownGracePeriod: duration("45s"),
		FeatureGates:        map[string]bool{"KubeletTracing": true},
		ContainerLogMaxSize: ptr.To("20Mi"),
		SerializeImagePulls: ptr.To(false),
	})
	g.Expect(err).NotTo(HaveOccurred())
	kc, err := Decode(data)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(kc.MaxPods).To(Equal(int32(42)))
	g.Expect(kc.KubeReserved).To(Equal(map[string]string{"cpu": "250m", "ephemeral-storage": "2Gi"}))
	g.Expect(kc.EvictionHard).To(Equal(map[string]string{"imagefs.available": "15%"}))
	g.Expect(kc.ImageMaximumGCAge.Duration.String()).To(Equal("72h0m0s"))
	g.Expect(kc.ShutdownGracePeriod.Duration.String()).To(Equal("45s"))
	g.Expect(kc.FeatureGates).To(Equal(map[string]bool{"KubeletTracing": true}))
	g.Expect(kc.ContainerLogMaxSize).To(Equal("20Mi"))
	g.Expect(kc.SerializeImagePulls).To(Equal(ptr.To(false)))
}

func TestDecodeRejectsWhatTheKubeletWould(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown field": "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nmaxPodz: 3\n",
		"wrong type":    "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nmaxPods: many\n",
		"wrong kind":    "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeProxyConfiguration\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Decode([]byte(doc))
			NewWithT(t).Expect(err).To(HaveOccurred())
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		spec    hotelv1alpha1.KubeletSpec
		wantErr string
	}{
		{name: "nothing set", spec: hotelv1alpha1.KubeletSpec{}},
		{name: "both thresholds", spec: hotelv1alpha1.KubeletSpec{
			ImageGCHighThresholdPercent: ptr.To[int32](60), ImageGCLowThresholdPercent: ptr.To[int32](50)}},
		{name: "high alone above the default low", spec: hotelv1alpha1.KubeletSpec{ImageGCHighThresholdPercent: ptr.To[int32](81)}},
		{name: "high alone at the default low",
			spec:    hotelv1alpha1.KubeletSpec{ImageGCHighThresholdPercent: ptr.To[int32](80)},
			wantErr: "spec.kubelet.imageGCHighThresholdPercent: Invalid value: 80: must be above the kubelet's default imageGCLowThresholdPercent (80)"},
		{name: "low alone below the default high", spec: hotelv1alpha1.KubeletSpec{ImageGCLowThresholdPercent: ptr.To[int32](84)}},
		{name: "low not below high",
			spec:    hotelv1alpha1.KubeletSpec{ImageGCHighThresholdPercent: ptr.To[int32](60), ImageGCLowThresholdPercent: ptr.To[int32](60)},
			wantErr: "spec.kubelet.imageGCLowThresholdPercent: Invalid value: 60: must be lower than imageGCHighThresholdPercent"},
		{name: "a zero hard threshold, which the kubelet refuses",
			spec:    hotelv1alpha1.KubeletSpec{EvictionHard: map[string]hotelv1alpha1.Threshold{"memory.available": "0Mi"}},
			wantErr: "spec.kubelet.evictionHard[memory.available]: Invalid value: \"0Mi\": must be a positive quantity"},
		{name: "0% switches a signal off", spec: hotelv1alpha1.KubeletSpec{EvictionHard: map[string]hotelv1alpha1.Threshold{"imagefs.available": "0%"}}},
		{name: "a zero reclaim percentage, which the kubelet refuses",
			spec:    hotelv1alpha1.KubeletSpec{EvictionMinimumReclaim: map[string]hotelv1alpha1.MinimumReclaim{"nodefs.available": "0%"}},
			wantErr: "must be a percentage above 0%"},
		{name: "a zero reclaim quantity", spec: hotelv1alpha1.KubeletSpec{EvictionMinimumReclaim: map[string]hotelv1alpha1.MinimumReclaim{"nodefs.available": "0"}}},
		{name: "an unknown signal", spec: hotelv1alpha1.KubeletSpec{EvictionHard: map[string]hotelv1alpha1.Threshold{"memory.free": "1Gi"}},
			wantErr: "spec.kubelet.evictionHard: Unsupported value: \"memory.free\""},
		{name: "a soft threshold without a grace period",
			spec:    hotelv1alpha1.KubeletSpec{EvictionSoft: map[string]hotelv1alpha1.Threshold{"memory.available": "1Gi"}},
			wantErr: "spec.kubelet.evictionSoftGracePeriod[memory.available]: Required value"},
		{name: "one log file", spec: hotelv1alpha1.KubeletSpec{ContainerLogMaxFiles: ptr.To[int32](1)},
			wantErr: "spec.kubelet.containerLogMaxFiles: Invalid value: 1: must be at least 2"},
		{name: "parallel pulls while serialized", spec: hotelv1alpha1.KubeletSpec{MaxParallelImagePulls: ptr.To[int32](3)},
			wantErr: "greater than 1 needs serializeImagePulls: false"},
		{name: "static CPU manager without reserved CPU", spec: hotelv1alpha1.KubeletSpec{CPUManagerPolicy: ptr.To("static")},
			wantErr: "needs a CPU reservation"},
		{name: "critical pods longer than the shutdown", spec: hotelv1alpha1.KubeletSpec{
			ShutdownGracePeriod: duration("10s"), ShutdownGracePeriodCriticalPods: duration("20s")},
			wantErr: "must not exceed shutdownGracePeriod"},
		{name: "a maximum GC age below the default minimum", spec: hotelv1alpha1.KubeletSpec{ImageMaximumGCAge: duration("1m")},
			wantErr: "must be 0 (no maximum) or greater than imageMinimumGCAge"},
		{name: "a lower-case feature gate", spec: hotelv1alpha1.KubeletSpec{FeatureGates: map[string]bool{"tracing": true}},
			wantErr: "must be a CamelCase feature gate name"},
		{name: "a soft grace period that overflows int64", spec: hotelv1alpha1.KubeletSpec{
			EvictionSoft:            map[string]hotelv1alpha1.Threshold{"memory.available": "1Gi"},
			EvictionSoftGracePeriod: map[string]hotelv1alpha1.GracePeriod{"memory.available": "2562048h"}},
			wantErr: "spec.kubelet.evictionSoftGracePeriod[memory.available]: Invalid value: \"2562048h\": must be a duration"},
		{name: "a fractional containerLogMaxSize", spec: hotelv1alpha1.KubeletSpec{ContainerLogMaxSize: ptr.To("1.5")},
			wantErr: "spec.kubelet.containerLogMaxSize: Invalid value: \"1.5\": must be a whole number of bytes"},
		{name: "a containerLogMaxSize in millibytes", spec: hotelv1alpha1.KubeletSpec{ContainerLogMaxSize: ptr.To("500m")},
			wantErr: "must be a whole number of bytes"},
		{name: "a fraction of a binary unit, which the kubelet refuses", spec: hotelv1alpha1.KubeletSpec{ContainerLogMaxSize: ptr.To("1.5Ki")},
			wantErr: "must be a whole number of bytes"},
		{name: "a whole containerLogMaxSize", spec: hotelv1alpha1.KubeletSpec{ContainerLogMaxSize: ptr.To("1.5M")}},
		{name: "static CPU manager whose reserved CPU rounds to 0 millicores", spec: hotelv1alpha1.KubeletSpec{
			CPUManagerPolicy: ptr.To("static"), KubeReserved: &hotelv1alpha1.ReservedResources{CPU: quantity("1u")},
			SystemReserved: &hotelv1alpha1.ReservedResources{CPU: quantity("499u")}},
			wantErr: "needs a CPU reservation"},
		{name: "static CPU manager whose reserved CPU rounds to 1 millicore", spec: hotelv1alpha1.KubeletSpec{
			CPUManagerPolicy: ptr.To("static"), SystemReserved: &hotelv1alpha1.ReservedResources{CPU: quantity("500u")}}},
		{name: "a CPU reservation whose millionths of a core overflow, which the kubelet reads as 0", spec: hotelv1alpha1.KubeletSpec{
			CPUManagerPolicy: ptr.To("static"), KubeReserved: &hotelv1alpha1.ReservedResources{CPU: quantity("1E")}},
			wantErr: `spec.kubelet.kubeReserved.cpu: Invalid value: "1E": must be at most 1M`},
		{name: "a CPU reservation of a million cores", spec: hotelv1alpha1.KubeletSpec{
			SystemReserved: &hotelv1alpha1.ReservedResources{CPU: quantity("1M")}}},
		{name: "a zero imageMinimumGCAge, which the kubelet turns into 2m, above imageMaximumGCAge", spec: hotelv1alpha1.KubeletSpec{
			ImageMinimumGCAge: duration("0s"), ImageMaximumGCAge: duration("2m")},
			wantErr: "spec.kubelet.imageMaximumGCAge: Invalid value: \"2m0s\": must be 0 (no maximum) or greater than imageMinimumGCAge"},
		{name: "a zero imageMinimumGCAge below imageMaximumGCAge", spec: hotelv1alpha1.KubeletSpec{
			ImageMinimumGCAge: duration("0s"), ImageMaximumGCAge: duration("3m")}},
		{name: "an unknown feature gate", spec: hotelv1alpha1.KubeletSpec{FeatureGates: map[string]bool{"NoSuchGate": true}},
			wantErr: "spec.kubelet.featureGates[NoSuchGate]: Invalid value: true: is no feature gate of Kubernetes"},
		{name: "a feature gate locked to its default", spec: hotelv1alpha1.KubeletSpec{FeatureGates: map[string]bool{"ImageMaximumGCAge": false}},
			wantErr: "is locked to true"},
		{name: "a shutdown grace period without its gate", spec: hotelv1alpha1.KubeletSpec{ShutdownGracePeriod: duration("30s"),
			FeatureGates: map[string]bool{"GracefulNodeShutdown": false, "GracefulNodeShutdownBasedOnPodPriority": false, "WindowsGracefulNodeShutdown": false}},
			wantErr: "spec.kubelet.featureGates[GracefulNodeShutdown]: Invalid value: false: is off, but shutdownGracePeriod is set above 0"},
		{name: "a zero shutdown grace period without its gate", spec: hotelv1alpha1.KubeletSpec{ShutdownGracePeriod: duration("0s"),
			FeatureGates: map[string]bool{"GracefulNodeShutdown": false, "GracefulNodeShutdownBasedOnPodPriority": false, "WindowsGracefulNodeShutdown": false}}},
		{name: "a gate on whose default the kubelet defaults a field, turned off", spec: hotelv1alpha1.KubeletSpec{
			FeatureGates: map[string]bool{"KubeletEnsureSecretPulledImages": false}},
			wantErr: "spec.kubelet.featureGates[KubeletEnsureSecretPulledImages]: Invalid value: false: cannot be turned off in a configuration file: the kubelet defaults imagePullCredentialsVerificationPolicy"},
		{name: "the other such gate", spec: hotelv1alpha1.KubeletSpec{FeatureGates: map[string]bool{"KubeletCrashLoopBackOffMax": false}},
			wantErr: "spec.kubelet.featureGates[KubeletCrashLoopBackOffMax]"},
		{name: "such a gate turned on", spec: hotelv1alpha1.KubeletSpec{FeatureGates: map[string]bool{"KubeletCrashLoopBackOffMax": true}}},
		{name: "a grace period without a soft threshold, which the kubelet ignores", spec: hotelv1alpha1.KubeletSpec{
			EvictionSoftGracePeriod: map[string]hotelv1alpha1.GracePeriod{"memory.available": "1m"}}},
		{name: "low alone at the default high",
			spec:    hotelv1alpha1.KubeletSpec{ImageGCLowThresholdPercent: ptr.To[int32](85)},
			wantErr: "spec.kubelet.imageGCLowThresholdPercent: Invalid value: 85: must be below the kubelet's default imageGCHighThresholdPercent (85)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			_, err := Render(&tt.spec)
			if tt.wantErr == "" {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			g.Expect(err).To(MatchError(ContainSubstring(tt.wantErr)))
		})
	}
}

func TestEmptyRenderHoldsOnlyTheHeader(t *testing.T) {
	g := NewWithT(t)
	got, err := Render(&hotelv1alpha1.KubeletSpec{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(strings.TrimSpace(string(got))).To(Equal("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration"))
}

// Every gated setting the admission rules are generated from is one the renderer checks too.
func TestGatedSettingsAreChecked(t *testing.T) {
	g := NewWithT(t)
	for _, s := range featuregates.KubeletGatedSettings {
		g.Expect(gatedDurations(&hotelv1alpha1.KubeletSpec{})).To(HaveKey(s.Field), "the renderer does not check %s", s.Field)
	}
}
