package pool

import (
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestIndexedRequirement(t *testing.T) {
	tests := []struct {
		name       string
		selector   metav1.LabelSelector
		wantKey    string
		wantValues []string
	}{
		{name: "matchLabels", selector: metav1.LabelSelector{MatchLabels: map[string]string{"pool": "gpu"}},
			wantKey: "pool", wantValues: []string{"gpu"}},
		{name: "the fewest values win", selector: metav1.LabelSelector{
			MatchLabels: map[string]string{"zone": "a"},
			MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "pool", Operator: metav1.LabelSelectorOpIn, Values: []string{"gpu", "general"}},
			}}, wantKey: "zone", wantValues: []string{"a"}},
		{name: "In", selector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "pool", Operator: metav1.LabelSelectorOpIn, Values: []string{"gpu", "general"}},
		}}, wantKey: "pool", wantValues: []string{"general", "gpu"}},
		{name: "only NotIn and Exists: every Node is a candidate", selector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "pool", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"gpu"}},
			{Key: "zone", Operator: metav1.LabelSelectorOpExists},
		}}},
		{name: "empty: every Node", selector: metav1.LabelSelector{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			sel, err := metav1.LabelSelectorAsSelector(&tt.selector)
			g.Expect(err).NotTo(HaveOccurred())
			key, values, ok := indexedRequirement(sel)
			g.Expect(ok).To(Equal(tt.wantKey != ""))
			g.Expect(key).To(Equal(tt.wantKey))
			g.Expect(values).To(Equal(tt.wantValues))
		})
	}
}
