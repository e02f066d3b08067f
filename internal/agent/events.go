package agent

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Events records what the agent did on its Node as Events about the Node, where `kubectl describe
// node` shows them beside the kubelet's. Recording is best effort: an Event that cannot be written
// is logged, never a reason to fail an apply.
type Events interface {
	Event(ctx context.Context, eventType, reason, action, note string)
}

// The reasons of the agent's Normal Events; its Warnings carry the Degraded reason.
const (
	EventReasonApplied  = "ConfigurationApplied"
	EventReasonReverted = "ConfigurationReverted"
)

// The actions of the agent's Events.
const (
	EventActionApply    = "Apply"
	EventActionRollBack = "RollBack"
	EventActionCheck    = "Check"
	EventActionRevert   = "Revert"
	EventActionCorrect  = "Correct"
	EventActionReport   = "Report"
)

// ReportingController names the agent in the Events it writes.
const ReportingController = "innkeeper.dev/agent"

// maxEventNote is the API server's bound on an Event's note.
const maxEventNote = 1024

// NodeEvents writes events.k8s.io/v1 Events about the agent's Node, in the default namespace, where
// Events of cluster-scoped objects go. It needs only create on events.
type NodeEvents struct {
	Client    kubernetes.Interface
	NodeName  string
	Component string
	Log       logr.Logger
	// now returns the time of an Event; time.Now if nil.
	now func() time.Time
	// uid is the Node's UID, read once.
	uid types.UID
}

var _ Events = &NodeEvents{}

// Event writes one Event about the Node.
func (e *NodeEvents) Event(ctx context.Context, eventType, reason, action, note string) {
	now := time.Now
	if e.now != nil {
		now = e.now
	}
	if e.uid == "" {
		// kubectl describe node finds a Node's Events by its UID (or, as the kubelet writes them,
		// by its name); an Event without either is still listed by name.
		if node, err := e.Client.CoreV1().Nodes().Get(ctx, e.NodeName, metav1.GetOptions{}); err == nil {
			e.uid = node.UID
		}
	}
	t := now()
	ev := &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{
			// Unique per Node, component and moment, as the kubelet names its Events.
			Name:      fmt.Sprintf("%s.%s.%x", e.NodeName, e.Component, t.UnixNano()),
			Namespace: metav1.NamespaceDefault,
		},
		EventTime:           metav1.NewMicroTime(t),
		ReportingController: ReportingController,
		ReportingInstance:   truncate(ReportingController+"/"+e.Component+"@"+e.NodeName, 128),
		Action:              action,
		Reason:              reason,
		Type:                eventType,
		Note:                truncate(note, maxEventNote),
		Regarding:           corev1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: e.NodeName, UID: e.uid},
	}
	if _, err := e.Client.EventsV1().Events(metav1.NamespaceDefault).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		e.Log.Error(err, "Could not record an Event on the Node", "reason", reason, "note", ev.Note)
	}
}

// truncate shortens s to at most n bytes, on a rune boundary, marking the cut with an ellipsis.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ellipsis = "…"
	cut := n - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}
