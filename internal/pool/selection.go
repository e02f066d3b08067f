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

// conflict is an overlap between an object's pool and the pool that an older object of its kind
// holds (see poolConflict).
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

// nodeLookup returns the Nodes a selector selects, as NodeStore.selected does: the cache's own
// objects, to be read, never modified.
type nodeLookup func(labels.Selector) ([]*corev1.Node, error)

// poolConflict returns the overlap of obj's selected Nodes with the pool of the oldest peer (object
// of obj's kind) that is older than obj and holds any of them, or nil. nodesOf reads the Nodes a
// peer selects; its error is returned.
//
// A Node belongs to the oldest object that selects it, and a newer object that overlaps an older
// one's pool rolls nothing out, anywhere (see poolStall). Such an object holds nothing, so it must
// not stall others in turn: a Concierge selecting every Node, itself stalled by an older one, would
// otherwise stall every later Concierge in the cluster while running kube-proxy nowhere (#17).
// A peer therefore holds its pool unless it is being deleted, its selector is invalid, or one of
// its Nodes is held by an older peer. That is a recursion on age: the oldest peer holds whatever
// it selects, and whether each next one holds depends on older peers alone, so one pass over the
// peers, oldest first, decides them all. The answer is deterministic (age is a total order, see
// olderThan), a newer object never changes what an older one holds, and the pass stops at the
// first holder that overlaps obj.
//
// It reads specs and Nodes only, never a status: an object's answer does not wait for another's
// reconcile to write its own, and what can change it is a spec (see otherObjects) or a Node
// joining or leaving a pool (see objectsFromOldestSelecting). A peer stalled for another reason
// still holds: one whose spec does not render or references a missing ConfigMap keeps the
// DaemonSet it rolled out. (So does one that a foreign DaemonSet stalls, which runs nothing; that
// depends on DaemonSets, which this does not read.)
//
// Each peer is compared with the older peers that hold, at most peers²/2 comparisons of
// selectors. A peer's Nodes are read only when its selector may meet a holder's (see disjoint),
// and then matched against that holder's selector: at worst peers²/2 × Nodes label matches, as
// when every pool selects every Node; pools apart by a label's values cost no Node at all.
func poolConflict(obj Object, selected []*corev1.Node, peers []Object, nodesOf nodeLookup) (*conflict, error) {
	sort.Slice(peers, func(i, j int) bool { return olderThan(peers[i], peers[j]) })
	own, ownErr := metav1.LabelSelectorAsSelector(obj.PoolSpec().NodeSelector.LabelSelector())
	// holders are the selectors of the older peers that hold their pools, so far.
	var holders []labels.Selector
	for _, peer := range peers {
		if peer.GetUID() == obj.GetUID() || !peer.GetDeletionTimestamp().IsZero() {
			continue
		}
		if !olderThan(peer, obj) {
			break // peers are sorted: no later one is older either.
		}
		sel, err := metav1.LabelSelectorAsSelector(peer.PoolSpec().NodeSelector.LabelSelector())
		if err != nil {
			continue
		}
		held, err := heldByAny(holders, sel, func() ([]*corev1.Node, error) { return nodesOf(sel) })
		if err != nil {
			return nil, fmt.Errorf("read the Nodes of %s: %w", peer.GetName(), err)
		}
		if held {
			continue
		}
		if ownErr != nil || !disjoint(own, sel) {
			if overlap := matching(sel, selected); len(overlap) > 0 {
				return &conflict{peer: peer.GetName(), nodes: overlap}, nil
			}
		}
		holders = append(holders, sel)
	}
	return nil, nil
}

// heldByAny reports whether any of the holders' selectors selects a Node that sel selects. It reads
// sel's Nodes, with nodes, only if a holder's selector may meet sel, and then once.
func heldByAny(holders []labels.Selector, sel labels.Selector, nodes func() ([]*corev1.Node, error)) (bool, error) {
	var theirs []*corev1.Node
	read := false
	for _, h := range holders {
		if disjoint(h, sel) {
			continue
		}
		if !read {
			var err error
			if theirs, err = nodes(); err != nil {
				return false, err
			}
			read = true
		}
		for _, n := range theirs {
			if h.Matches(labels.Set(n.Labels)) {
				return true, nil
			}
		}
	}
	return false, nil
}

// matching returns the names of the Nodes sel selects, sorted.
func matching(sel labels.Selector, nodes []*corev1.Node) []string {
	var names []string
	for _, n := range nodes {
		if sel.Matches(labels.Set(n.Labels)) {
			names = append(names, n.Name)
		}
	}
	sort.Strings(names)
	return names
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
