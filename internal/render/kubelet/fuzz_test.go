package kubelet

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
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
		doc := map[string]any{}
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatalf("accepted a document that is not YAML: %v", err)
		}
		delete(doc, "apiVersion")
		delete(doc, "kind")
		body, err := json.Marshal(doc)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		spec := &hotelv1alpha1.KubeletSpec{}
		if err := json.Unmarshal(body, spec); err != nil {
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
