package featuregates

import (
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		set     map[string]bool
		wantErr string
	}{
		{name: "none"},
		{name: "a beta gate turned off", set: map[string]bool{"MemoryQoS": false}},
		{name: "a locked gate set to its default", set: map[string]bool{"ImageMaximumGCAge": true}},
		{name: "an unknown gate", set: map[string]bool{"NoSuchGate": true},
			wantErr: "featureGates[NoSuchGate]: Invalid value: true: is no feature gate of Kubernetes v1.37.2"},
		{name: "a locked gate set otherwise", set: map[string]bool{"ImageMaximumGCAge": false},
			wantErr: "featureGates[ImageMaximumGCAge]: Invalid value: false: is locked to true"},
		{name: "AllAlpha", set: map[string]bool{"AllAlpha": false}, wantErr: "featureGates[AllAlpha]: Forbidden: innkeeper refuses AllAlpha"},
		{name: "AllBeta", set: map[string]bool{"AllBeta": true}, wantErr: "innkeeper refuses AllBeta"},
		{name: "a dependency turned off under a default-on dependent", set: map[string]bool{"GracefulNodeShutdown": false},
			wantErr: "featureGates[GracefulNodeShutdownBasedOnPodPriority]: Invalid value: true: is on (set or by default) but depends on GracefulNodeShutdown"},
		{name: "a dependency and its dependents turned off", set: map[string]bool{
			"GracefulNodeShutdown": false, "GracefulNodeShutdownBasedOnPodPriority": false, "WindowsGracefulNodeShutdown": false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			errs := Validate(tt.set, field.NewPath("featureGates"))
			if tt.wantErr == "" {
				g.Expect(errs).To(BeEmpty())
				return
			}
			g.Expect(errs.ToAggregate()).To(MatchError(ContainSubstring(tt.wantErr)))
		})
	}
}

// The table is generated, not typed: it must hold what any Kubernetes release has.
func TestTableIsGenerated(t *testing.T) {
	g := NewWithT(t)
	g.Expect(KubernetesVersion).To(HavePrefix("v1.37."))
	g.Expect(len(gates)).To(BeNumerically(">", 100))
	g.Expect(gates).To(HaveKey("GracefulNodeShutdown"))
}
