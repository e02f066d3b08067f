package kubelet

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

func TestEveryFieldHasADisruptionClass(t *testing.T) {
	g := NewWithT(t)
	classed := slices.Concat(drainAlways, drainWhenTighter, restartOnly)
	var fields []string
	typ := reflect.TypeFor[hotelv1alpha1.KubeletSpec]()
	for i := range typ.NumField() {
		if typ.Field(i).Anonymous {
			continue // rules of the type's own (KubeletGateRules), no field
		}
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		fields = append(fields, name)
	}
	g.Expect(classed).To(ConsistOf(fields), "each kubelet field of the API is in exactly one class")
}

func TestDisruption(t *testing.T) {
	doc := func(body string) []byte {
		return []byte("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n" + body)
	}
	tests := []struct {
		name          string
		current, want []byte
		fields        []string
	}{
		{name: "a restart-only field", current: doc("maxPods: 110\n"), want: doc("maxPods: 110\nimageGCHighThresholdPercent: 90\n")},
		{name: "the same drop-in", current: doc("cpuManagerPolicy: static\n"), want: doc("cpuManagerPolicy: static\n")},
		{name: "the CPU manager's policy", current: doc("cpuManagerPolicy: none\n"), want: doc("cpuManagerPolicy: static\n"),
			fields: []string{"cpuManagerPolicy"}},
		{name: "a policy set for the first time", want: doc("topologyManagerPolicy: best-effort\ntopologyManagerScope: pod\n"),
			fields: []string{"topologyManagerPolicy", "topologyManagerScope"}},
		{name: "a policy removed", current: doc("topologyManagerPolicy: best-effort\n"), want: doc("maxPods: 120\n"),
			fields: []string{"topologyManagerPolicy"}},
		{name: "a reservation that grows", current: doc("kubeReserved:\n  cpu: 500m\n"), want: doc("kubeReserved:\n  cpu: \"1\"\n"),
			fields: []string{"kubeReserved"}},
		{name: "a reservation of a new resource", current: doc("systemReserved:\n  cpu: 500m\n"),
			want: doc("systemReserved:\n  cpu: 500m\n  memory: 1Gi\n"), fields: []string{"systemReserved"}},
		{name: "a reservation set for the first time", want: doc("kubeReserved:\n  memory: 512Mi\n"), fields: []string{"kubeReserved"}},
		{name: "a reservation that shrinks or goes: more room, no drain", current: doc("kubeReserved:\n  cpu: \"1\"\n  memory: 1Gi\n"),
			want: doc("kubeReserved:\n  cpu: 500m\n")},
		{name: "the same reservation written otherwise", current: doc("kubeReserved:\n  cpu: \"1\"\n"), want: doc("kubeReserved:\n  cpu: 1000m\n")},
		{name: "a hard eviction threshold taken off allocatable, raised", current: doc("evictionHard:\n  memory.available: 100Mi\n"),
			want: doc("evictionHard:\n  memory.available: 1Gi\n"), fields: []string{"evictionHard"}},
		{name: "one over the default, set for the first time", want: doc("evictionHard:\n  memory.available: 500Mi\n"),
			fields: []string{"evictionHard"}},
		{name: "one lowered, or another signal: no drain", current: doc("evictionHard:\n  nodefs.available: 15%\n"),
			want: doc("evictionHard:\n  nodefs.available: 10%\n  imagefs.available: 20%\n")},
		{name: "an amount for a percentage: not comparable, drained", current: doc("evictionHard:\n  memory.available: 100Mi\n"),
			want: doc("evictionHard:\n  memory.available: 5%\n"), fields: []string{"evictionHard"}},
		{name: "maxPods raised", current: doc("maxPods: 110\n"), want: doc("maxPods: 250\n")},
		{name: "maxPods lowered", current: doc("maxPods: 250\n"), want: doc("maxPods: 100\n"), fields: []string{"maxPods"}},
		{name: "maxPods under the default set for the first time", want: doc("maxPods: 100\n"), fields: []string{"maxPods"}},
		{name: "maxPods over the default set for the first time", want: doc("maxPods: 200\n")},
		{name: "podsPerCore set", want: doc("podsPerCore: 10\n"), fields: []string{"podsPerCore"}},
		{name: "podsPerCore lifted", current: doc("podsPerCore: 10\n"), want: doc("maxPods: 110\n")},
		{name: "several, sorted", current: doc("maxPods: 110\n"), want: doc("systemReserved:\n  cpu: \"1\"\ncpuManagerPolicy: static\nmaxPods: 50\n"),
			fields: []string{"cpuManagerPolicy", "maxPods", "systemReserved"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			fields, err := Disruption(tt.current, tt.want)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(fields).To(Equal(tt.fields))
		})
	}
	_, err := Disruption(doc("maxPods: many\n"), doc("maxPods: 1\n"))
	NewWithT(t).Expect(err).To(MatchError(ContainSubstring("the drop-in on the Node")))
}
