package kubelet

import (
	"os"
	"path/filepath"
	"testing"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/render"
)

// FuzzValidateDropIn feeds the node agent's last check before it writes to a host with arbitrary
// documents. It must never panic, and whatever it accepts must be a drop-in that innkeeper could
// have rendered: it decodes into a KubeletSpec that renders into a drop-in which passes again.
// The seed corpus is the golden files and testdata/fuzz/FuzzValidateDropIn.
func FuzzValidateDropIn(f *testing.F) {
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
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := ValidateDropIn(data); err != nil {
			return
		}
		spec := &hotelv1alpha1.KubeletSpec{}
		if err := render.SpecOf(data, spec); err != nil {
			t.Fatalf("accepted a drop-in that is not a KubeletSpec: %v\n%s", err, data)
		}
		rendered, err := Render(spec)
		if err != nil {
			t.Fatalf("accepted a drop-in whose spec does not render: %v\n%s", err, data)
		}
		if err := ValidateDropIn(rendered); err != nil {
			t.Fatalf("the re-rendered drop-in fails validation: %v\n%s", err, rendered)
		}
	})
}
