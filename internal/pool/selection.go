package pool

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
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
	for _, peer := range peers {
		if peer.GetUID() == obj.GetUID() || !olderThan(peer, obj) || !peer.GetDeletionTimestamp().IsZero() {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(&peer.PoolSpec().NodeSelector)
		if err != nil {
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

// nameList renders up to maxNamesInMessage names and how many more there are: "a, b and 3 more".
func nameList(names []string) string {
	if len(names) <= maxNamesInMessage {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:maxNamesInMessage], ", "), len(names)-maxNamesInMessage)
}
