package agent

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/klog/v2/ktesting"
)

func TestNodeEvents(t *testing.T) {
	g := NewWithT(t)
	client := fake.NewClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1", UID: "uid-1"}})
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e := &NodeEvents{Client: client, NodeName: "node-1", Component: "kubelet",
		Log: ktesting.NewLogger(t, ktesting.NewConfig()), now: func() time.Time { return at }}
	e.Event(context.Background(), corev1.EventTypeWarning, "HealthCheckFailed", EventActionRollBack, strings.Repeat("é", 600))

	list, err := client.EventsV1().Events(metav1.NamespaceDefault).List(context.Background(), metav1.ListOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(list.Items).To(HaveLen(1))
	ev := list.Items[0]
	g.Expect(ev.Regarding).To(Equal(corev1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: "node-1", UID: "uid-1"}))
	g.Expect(ev).To(And(
		HaveField("Type", corev1.EventTypeWarning), HaveField("Reason", "HealthCheckFailed"), HaveField("Action", "RollBack"),
		HaveField("ReportingController", "innkeeper.dev/agent"), HaveField("ReportingInstance", "innkeeper.dev/agent/kubelet@node-1"),
		HaveField("EventTime.Time", at)))
	g.Expect(len(ev.Note)).To(BeNumerically("<=", maxEventNote), "the API server refuses a longer note")
	g.Expect(ev.Note).To(HaveSuffix("é…"), "cut on a character boundary")
}

// An Event that cannot be written is logged, and the agent goes on: a Node whose UID cannot be read
// still gets its Event, by name.
func TestNodeEventsBestEffort(t *testing.T) {
	g := NewWithT(t)
	client := fake.NewClientset()
	var created []*eventsv1.Event
	client.PrependReactor("create", "events", func(a k8stesting.Action) (bool, runtime.Object, error) {
		created = append(created, a.(k8stesting.CreateAction).GetObject().(*eventsv1.Event))
		return true, nil, errors.New("forbidden")
	})
	e := &NodeEvents{Client: client, NodeName: "node-1", Component: "containerd", Log: ktesting.NewLogger(t, ktesting.NewConfig())}
	e.Event(context.Background(), corev1.EventTypeNormal, EventReasonApplied, EventActionApply, "applied")
	g.Expect(created).To(HaveLen(1))
	g.Expect(created[0].Regarding).To(Equal(corev1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: "node-1"}))
}
