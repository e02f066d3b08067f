package pool

import (
	"errors"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
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

func TestPoolConflict(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	gpu := metav1.LabelSelector{MatchLabels: map[string]string{"pool": "gpu"}}
	cpu := metav1.LabelSelector{MatchLabels: map[string]string{"pool": "cpu"}}
	none := metav1.LabelSelector{MatchLabels: map[string]string{"pool": "none"}}
	all := metav1.LabelSelector{}
	// The cluster's Nodes, which an object selecting every Node selects.
	cluster := []*corev1.Node{
		{ObjectMeta: metav1.ObjectMeta{Name: "n2", Labels: map[string]string{"pool": "gpu"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"pool": "gpu"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "n3", Labels: map[string]string{"pool": "cpu"}}},
	}
	deletingCPU := floorManager("old-deleting-cpu", t0, cpu)
	deletingCPU.DeletionTimestamp = ptr.To(metav1.NewTime(t0))
	deleting := floorManager("old-deleting", t0, all)
	deleting.DeletionTimestamp = ptr.To(metav1.NewTime(t0))
	invalid := floorManager("old-invalid", t0, metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: "pool", Operator: "Has"}}})

	tests := []struct {
		name  string
		obj   Object
		peers []Object
		want  *conflict
	}{
		{name: "no peers", obj: floorManager("me", t0, all)},
		{name: "a newer peer does not take my Nodes", obj: floorManager("me", t0, all),
			peers: []Object{floorManager("later", t0.Add(time.Minute), gpu)}},
		{name: "an older peer keeps the Nodes it selects", obj: floorManager("me", t0.Add(time.Minute), all),
			peers: []Object{floorManager("earlier", t0, gpu)},
			want:  &conflict{peer: "earlier", nodes: []string{"n1", "n2"}}},
		{name: "same creation time: the name decides", obj: floorManager("b", t0, all),
			peers: []Object{floorManager("a", t0, gpu)},
			want:  &conflict{peer: "a", nodes: []string{"n1", "n2"}}},
		{name: "same creation time, and mine is the smaller name", obj: floorManager("a", t0, all),
			peers: []Object{floorManager("b", t0, gpu)}},
		{name: "an older peer with no overlap", obj: floorManager("me", t0.Add(time.Minute), all),
			peers: []Object{floorManager("earlier", t0, metav1.LabelSelector{MatchLabels: map[string]string{"pool": "none"}})}},
		{name: "the oldest overlapping peer is reported", obj: floorManager("me", t0.Add(time.Hour), all),
			peers: []Object{floorManager("second", t0.Add(time.Minute), all), floorManager("first", t0, gpu)},
			want:  &conflict{peer: "first", nodes: []string{"n1", "n2"}}},
		{name: "peers being deleted or with invalid selectors hold nothing", obj: floorManager("me", t0.Add(time.Hour), all),
			peers: []Object{deleting, invalid}},
		{name: "the object itself is not a peer", obj: floorManager("me", t0, all),
			peers: []Object{floorManager("me", t0, all)}},
		// The oldest object that selects a Node keeps it, but a peer that an older one stalls
		// holds nothing: it rolls nothing out, anywhere.
		{name: "an older peer that an even older one stalls holds nothing", obj: floorManager("me", t0.Add(time.Hour), gpu),
			peers: []Object{floorManager("cpu", t0, cpu), floorManager("everything", t0.Add(time.Minute), all)}},
		{name: "an older peer whose own older overlap selects no Node holds its pool", obj: floorManager("me", t0.Add(time.Hour), gpu),
			peers: []Object{floorManager("nothing", t0, none), floorManager("everything", t0.Add(time.Minute), all)},
			want:  &conflict{peer: "everything", nodes: []string{"n1", "n2"}}},
		{name: "an older peer that a peer being deleted overlapped holds its pool", obj: floorManager("me", t0.Add(time.Hour), gpu),
			peers: []Object{deletingCPU, floorManager("everything", t0.Add(time.Minute), all)},
			want:  &conflict{peer: "everything", nodes: []string{"n1", "n2"}}},
		{name: "the oldest peer that holds the Nodes, past one that holds nothing", obj: floorManager("me", t0.Add(time.Hour), gpu),
			peers: []Object{floorManager("cpu", t0, cpu), floorManager("everything", t0.Add(time.Minute), all),
				floorManager("gpu", t0.Add(2*time.Minute), gpu)},
			want: &conflict{peer: "gpu", nodes: []string{"n1", "n2"}}},
		{name: "two older peers that an even older one stalls hold nothing", obj: floorManager("me", t0.Add(time.Hour), gpu),
			// everything-too overlaps everything, which holds nothing, but also cpu, on n3.
			peers: []Object{floorManager("cpu", t0, cpu), floorManager("everything", t0.Add(time.Minute), all),
				floorManager("everything-too", t0.Add(2*time.Minute), all)}},
		{name: "an older peer stalled by an older holder still does not hide that holder", obj: floorManager("me", t0.Add(time.Hour), all),
			peers: []Object{floorManager("cpu", t0, cpu), floorManager("everything", t0.Add(time.Minute), all)},
			want:  &conflict{peer: "cpu", nodes: []string{"n3"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			nodesOf := nodesIn(cluster)
			sel, err := metav1.LabelSelectorAsSelector(tt.obj.PoolSpec().NodeSelector.LabelSelector())
			g.Expect(err).NotTo(HaveOccurred())
			selected, _ := nodesOf(sel)
			got, err := poolConflict(tt.obj, selected, tt.peers, nodesOf)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(tt.want))
		})
	}
}

// nodesIn returns a nodeLookup over the Nodes of a cluster.
func nodesIn(cluster []*corev1.Node) nodeLookup {
	return func(sel labels.Selector) ([]*corev1.Node, error) {
		var nodes []*corev1.Node
		for _, n := range cluster {
			if sel.Matches(labels.Set(n.Labels)) {
				nodes = append(nodes, n)
			}
		}
		return nodes, nil
	}
}

// poolConflict reads a peer's Nodes only to learn whether an older holder's selector, which may
// meet the peer's, selects any of them; and it returns a failure to read them.
func TestPoolConflictReadsNodes(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	byPool := func(name string) metav1.LabelSelector {
		return metav1.LabelSelector{MatchLabels: map[string]string{"pool": name}}
	}
	gpuNode := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"pool": "gpu"}}}
	failing := func(labels.Selector) ([]*corev1.Node, error) { return nil, errors.New("no informer") }

	t.Run("pools apart by a label's values", func(t *testing.T) {
		g := NewWithT(t)
		peers := []Object{floorManager("cpu", t0, byPool("cpu")), floorManager("arm", t0.Add(time.Minute), byPool("arm")),
			floorManager("gpu", t0.Add(2*time.Minute), byPool("gpu"))}
		got, err := poolConflict(floorManager("me", t0.Add(time.Hour), byPool("gpu")), []*corev1.Node{gpuNode}, peers, failing)
		g.Expect(err).NotTo(HaveOccurred(), "no Node was to be read")
		g.Expect(got).To(Equal(&conflict{peer: "gpu", nodes: []string{"n1"}}))
	})
	t.Run("a peer whose selector may meet an older holder's", func(t *testing.T) {
		g := NewWithT(t)
		peers := []Object{floorManager("cpu", t0, byPool("cpu")), floorManager("everything", t0.Add(time.Minute), metav1.LabelSelector{})}
		_, err := poolConflict(floorManager("me", t0.Add(time.Hour), byPool("gpu")), []*corev1.Node{gpuNode}, peers, failing)
		g.Expect(err).To(MatchError(And(ContainSubstring("everything"), ContainSubstring("no informer"))))
	})
}
