package pool

import (
	"context"
	"slices"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
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
			req, ok := indexedRequirement(sel)
			g.Expect(ok).To(Equal(tt.wantKey != ""))
			if ok {
				g.Expect(req.Key()).To(Equal(tt.wantKey))
				g.Expect(req.Values().List()).To(Equal(tt.wantValues))
			}
		})
	}
}

// informersWith serves one client-go informer as the manager's cache would.
type informersWith struct {
	cache.Informers
	informer toolscache.SharedIndexInformer
}

func (i informersWith) GetInformer(context.Context, client.Object, ...cache.InformerGetOption) (cache.Informer, error) {
	return i.informer, nil
}

func TestNodeStoreSelected(t *testing.T) {
	labelled := func(name string, nodeLabels map[string]string) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: nodeLabels}}
	}
	stored := []*corev1.Node{
		labelled("gpu-a", map[string]string{"pool": "gpu", "zone": "a"}),
		labelled("gpu-b", map[string]string{"pool": "gpu", "zone": "b"}),
		labelled("cpu-a", map[string]string{"pool": "cpu", "zone": "a"}),
		labelled("bare", nil),
	}
	informer := toolscache.NewSharedIndexInformer(&toolscache.ListWatch{}, &corev1.Node{}, 0, toolscache.Indexers{})
	for _, n := range stored {
		if err := informer.GetStore().Add(n); err != nil {
			t.Fatal(err)
		}
	}
	// One store for every case, as one manager's reconcilers share it: indexes pile up.
	store := NewNodeStore(informersWith{informer: informer})

	tests := []struct {
		name     string
		selector metav1.LabelSelector
		want     []string
	}{
		{name: "by an indexed label", selector: metav1.LabelSelector{MatchLabels: map[string]string{"pool": "gpu"}},
			want: []string{"gpu-a", "gpu-b"}},
		{name: "the index narrows, the selector checks the rest", selector: metav1.LabelSelector{
			MatchLabels: map[string]string{"pool": "gpu"},
			MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "zone", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"b"}}}},
			want: []string{"gpu-a"}},
		{name: "In over two values", selector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "pool", Operator: metav1.LabelSelectorOpIn, Values: []string{"gpu", "cpu"}}}},
			want: []string{"cpu-a", "gpu-a", "gpu-b"}},
		{name: "the index meets one requirement on its key, not another", selector: metav1.LabelSelector{
			MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "pool", Operator: metav1.LabelSelectorOpIn, Values: []string{"gpu", "cpu"}},
				{Key: "pool", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"cpu"}}}},
			want: []string{"gpu-a", "gpu-b"}},
		{name: "a second indexed key", selector: metav1.LabelSelector{MatchLabels: map[string]string{"zone": "a"}},
			want: []string{"cpu-a", "gpu-a"}},
		{name: "no index: Exists", selector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "zone", Operator: metav1.LabelSelectorOpExists}}},
			want: []string{"cpu-a", "gpu-a", "gpu-b"}},
		{name: "empty: every Node", selector: metav1.LabelSelector{}, want: []string{"bare", "cpu-a", "gpu-a", "gpu-b"}},
		{name: "a value no Node has", selector: metav1.LabelSelector{MatchLabels: map[string]string{"pool": "none"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			sel, err := metav1.LabelSelectorAsSelector(&tt.selector)
			g.Expect(err).NotTo(HaveOccurred())
			got, err := store.selected(context.Background(), sel)
			g.Expect(err).NotTo(HaveOccurred())
			var names []string
			for _, n := range got {
				names = append(names, n.Name)
				// The cache's own object, not a copy.
				g.Expect(slices.Contains(stored, n)).To(BeTrue(), "Node %s is not the stored object", n.Name)
			}
			slices.Sort(names)
			g.Expect(names).To(Equal(tt.want))
		})
	}
	g := NewWithT(t)
	g.Expect(store.keys).To(Equal(map[string]bool{"pool": true, "zone": true}))

	// A Node added later is found through the index too.
	g.Expect(informer.GetStore().Add(labelled("gpu-c", map[string]string{"pool": "gpu"}))).To(Succeed())
	sel, _ := metav1.LabelSelectorAsSelector(&metav1.LabelSelector{MatchLabels: map[string]string{"pool": "gpu"}})
	got, err := store.selected(context.Background(), sel)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(HaveLen(3))
}

func TestNodeStoreWithoutAStore(t *testing.T) {
	g := NewWithT(t)
	store := NewNodeStore(informersWith{informer: nil})
	_, err := store.selected(context.Background(), labels.Everything())
	g.Expect(err).To(MatchError(ContainSubstring("does not expose its store")))
}

func TestNodeStoreTainted(t *testing.T) {
	g := NewWithT(t)
	tainted := func(name string, keys ...string) *corev1.Node {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
		for _, k := range keys {
			n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: k, Effect: corev1.TaintEffectNoSchedule})
		}
		return n
	}
	informer := toolscache.NewSharedIndexInformer(&toolscache.ListWatch{}, &corev1.Node{}, 0, toolscache.Indexers{})
	for _, n := range []*corev1.Node{tainted("new", "unconfigured"), tainted("old"), tainted("other", "gpu")} {
		g.Expect(informer.GetStore().Add(n)).To(Succeed())
	}
	store := NewNodeStore(informersWith{informer: informer})
	names := func() []string {
		nodes, err := store.tainted(context.Background(), "unconfigured")
		g.Expect(err).NotTo(HaveOccurred())
		var out []string
		for _, n := range nodes {
			out = append(out, n.Name)
		}
		return out
	}
	g.Expect(names()).To(ConsistOf("new"))
	g.Expect(informer.GetStore().Update(tainted("new"))).To(Succeed())
	g.Expect(informer.GetStore().Add(tainted("joined", "gpu", "unconfigured"))).To(Succeed())
	g.Expect(names()).To(ConsistOf("joined"), "the index follows the Nodes")
}
