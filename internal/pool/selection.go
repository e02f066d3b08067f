package pool

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// maxNamesInMessage bounds the node names a condition message lists.
const maxNamesInMessage = 5

// conflict is an overlap between an object's pool and the pool of an older object of its kind.
type conflict struct {
	// peer is the older object that keeps the overlapping Nodes.
	peer string
	// nodes are the overlapping Nodes, sorted.
	nodes []string
}

// olderThan reports whether a was created before b: by creation time, then by name, so that of two
// objects exactly one is the older.
func olderThan(a, b metav1.Object) bool {
	ta, tb := a.GetCreationTimestamp(), b.GetCreationTimestamp()
	if !ta.Equal(&tb) {
		return ta.Before(&tb)
	}
	return a.GetName() < b.GetName()
}

// poolConflict returns the overlap of obj's selected Nodes with the pool of the oldest object
// among peers (objects of obj's kind) that is older than obj and selects any of them, or nil. A
// Node belongs to the oldest object that selects it; a newer object rolls nothing out while it
// overlaps. Peers that are being deleted, or whose selector is invalid, hold no Node.
func poolConflict(obj Object, selected []*corev1.Node, peers []Object) *conflict {
	sort.Slice(peers, func(i, j int) bool { return olderThan(peers[i], peers[j]) })
	own, ownErr := metav1.LabelSelectorAsSelector(&obj.PoolSpec().NodeSelector)
	for _, peer := range peers {
		if peer.GetUID() == obj.GetUID() || !olderThan(peer, obj) || !peer.GetDeletionTimestamp().IsZero() {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(&peer.PoolSpec().NodeSelector)
		if err != nil || (ownErr == nil && disjoint(own, sel)) {
			continue
		}
		var overlap []string
		for i := range selected {
			if sel.Matches(labels.Set(selected[i].Labels)) {
				overlap = append(overlap, selected[i].Name)
			}
		}
		if len(overlap) > 0 {
			sort.Strings(overlap)
			return &conflict{peer: peer.GetName(), nodes: overlap}
		}
	}
	return nil
}

// disjoint reports whether no label set can match both selectors, as pools selected by different
// values of one label: both require the same key to have one of sets of values that do not meet,
// or one requires it to have a value and the other requires it to be absent. It is what keeps a
// reconcile from matching its pool's Nodes against every other pool's selector. false means only
// that they may overlap.
func disjoint(a, b labels.Selector) bool {
	ra, _ := a.Requirements()
	rb, _ := b.Requirements()
	for _, x := range ra {
		for _, y := range rb {
			if x.Key() == y.Key() && (excludes(x, y) || excludes(y, x)) {
				return true
			}
		}
	}
	return false
}

// excludes reports whether no value of one label meets both requirements on it, x being key = v or
// key in (vs).
func excludes(x, y labels.Requirement) bool {
	switch x.Operator() {
	case selection.Equals, selection.DoubleEquals, selection.In:
	default:
		return false
	}
	switch y.Operator() {
	case selection.Equals, selection.DoubleEquals, selection.In:
		return !x.Values().HasAny(y.Values().UnsortedList()...)
	case selection.DoesNotExist:
		return true
	}
	return false
}

// nameList renders up to maxNamesInMessage names and how many more there are: "a, b and 3 more".
func nameList(names []string) string {
	if len(names) <= maxNamesInMessage {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:maxNamesInMessage], ", "), len(names)-maxNamesInMessage)
}
