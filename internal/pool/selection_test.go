package pool

import (
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestDisjoint(t *testing.T) {
	req := func(key string, op metav1.LabelSelectorOperator, values ...string) metav1.LabelSelectorRequirement {
		return metav1.LabelSelectorRequirement{Key: key, Operator: op, Values: values}
	}
	byLabels := func(kv ...string) metav1.LabelSelector {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return metav1.LabelSelector{MatchLabels: m}
	}
	byExpressions := func(reqs ...metav1.LabelSelectorRequirement) metav1.LabelSelector {
		return metav1.LabelSelector{MatchExpressions: reqs}
	}
	tests := []struct {
		name string
		a, b metav1.LabelSelector
		want bool
	}{
		{name: "two pools of one label", a: byLabels("pool", "gpu"), b: byLabels("pool", "cpu"), want: true},
		{name: "the same pool", a: byLabels("pool", "gpu"), b: byLabels("pool", "gpu")},
		{name: "In sets that meet", a: byExpressions(req("pool", metav1.LabelSelectorOpIn, "a", "b")),
			b: byExpressions(req("pool", metav1.LabelSelectorOpIn, "b", "c"))},
		{name: "In sets that do not meet", a: byExpressions(req("pool", metav1.LabelSelectorOpIn, "a", "b")),
			b: byLabels("pool", "c"), want: true},
		{name: "different keys", a: byLabels("pool", "gpu"), b: byLabels("zone", "a")},
		{name: "a value, and the label's absence", a: byLabels("pool", "gpu"),
			b: byExpressions(req("pool", metav1.LabelSelectorOpDoesNotExist)), want: true},
		{name: "NotIn proves nothing", a: byLabels("pool", "gpu"),
			b: byExpressions(req("pool", metav1.LabelSelectorOpNotIn, "gpu"))},
		{name: "one disjoint key among others", a: byLabels("pool", "gpu", "zone", "a"), b: byLabels("zone", "b", "arch", "arm64"), want: true},
		{name: "everything", a: metav1.LabelSelector{}, b: byLabels("pool", "gpu")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			a, err := metav1.LabelSelectorAsSelector(&tt.a)
			g.Expect(err).NotTo(HaveOccurred())
			b, err := metav1.LabelSelectorAsSelector(&tt.b)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(disjoint(a, b)).To(Equal(tt.want))
			g.Expect(disjoint(b, a)).To(Equal(tt.want), "symmetric")
		})
	}
}
