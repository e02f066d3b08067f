package v1alpha1

import "testing"

// The keys built once are the keys built each time, for innkeeper's components and any other.
func TestAnnotationKeysBuiltOnce(t *testing.T) {
	for _, component := range []string{"kubelet", "containerd", "kube-proxy", "other"} {
		if got, want := AdmittedLabel(component), "node-restriction.kubernetes.io/innkeeper-"+component+"-admitted"; got != want {
			t.Errorf("AdmittedLabel(%q) = %q, want %q", component, got, want)
		}
		for _, suffix := range append(AgentAnnotations, "other") {
			if got, want := AgentAnnotation(component, suffix), "hotel.innkeeper.dev/"+component+"-"+suffix; got != want {
				t.Errorf("AgentAnnotation(%q, %q) = %q, want %q", component, suffix, got, want)
			}
		}
	}
}

func BenchmarkAgentAnnotation(b *testing.B) {
	for b.Loop() {
		_ = AgentAnnotation("kubelet", AgentAnnotationConfig)
	}
}
