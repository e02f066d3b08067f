package kubeproxy

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/render"
)

// FuzzRender feeds kube-proxy's renderer with arbitrary Concierge specs, decoded from arbitrary
// documents. Whatever passes Validate must render, the rendered configuration must decode as
// strictly as kube-proxy decodes it, and decoding it back into a spec and rendering that again must
// give the same bytes. The seed corpus is the golden files and testdata/fuzz/FuzzRender.
func FuzzRender(f *testing.F) {
	goldens, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, g := range goldens {
		data, err := os.ReadFile(g)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("mode: nftables\nnodePortAddresses: [primary]\nconntrack:\n  maxPerCore: 0\n  tcpEstablishedTimeout: 24h\n"))
	f.Add([]byte("{\"iptables\": {\"syncPeriod\": \"1s\", \"minSyncPeriod\": \"0s\"}, \"featureGates\": {\"AllAlpha\": true}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		spec := &hotelv1alpha1.KubeProxySpec{}
		if render.SpecOf(data, spec) != nil {
			return
		}
		if len(Validate(spec, field.NewPath("spec", "kubeProxy"))) > 0 {
			return
		}
		rendered, err := Render(spec)
		if err != nil {
			t.Fatalf("a valid spec does not render: %v\n%s", err, data)
		}
		if _, err := Decode(rendered); err != nil {
			t.Fatalf("kube-proxy would not decode the rendered configuration: %v\n%s", err, rendered)
		}
		again := &hotelv1alpha1.KubeProxySpec{}
		if err := render.SpecOf(rendered, again); err != nil {
			t.Fatalf("the rendered configuration is not a spec: %v\n%s", err, rendered)
		}
		twice, err := Render(again)
		if err != nil {
			t.Fatalf("the spec of a rendered configuration does not render: %v\n%s", err, rendered)
		}
		if !bytes.Equal(twice, rendered) {
			t.Fatalf("rendering is not stable:\n%s\nthen\n%s", rendered, twice)
		}
	})
}
