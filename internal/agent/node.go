package agent

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// NodeReporter keeps the agent's state in its Node's annotations. It needs only get and patch on
// Nodes; each write is a JSON merge patch of the annotations that changed, nothing else.
type NodeReporter struct {
	Client    kubernetes.Interface
	NodeName  string
	Component string
}

var _ Reporter = &NodeReporter{}

// Node returns the agent's Node.
func (r *NodeReporter) Node(ctx context.Context) (*corev1.Node, error) {
	return r.Client.CoreV1().Nodes().Get(ctx, r.NodeName, metav1.GetOptions{})
}

// Read returns the component's state from the Node's annotations.
func (r *NodeReporter) Read(ctx context.Context) (Report, error) {
	node, err := r.Node(ctx)
	if err != nil {
		return Report{}, err
	}
	return reportFromAnnotations(node.Annotations, r.Component), nil
}

// Write patches the Node's annotations that differ from rep.
func (r *NodeReporter) Write(ctx context.Context, rep Report) error {
	node, err := r.Node(ctx)
	if err != nil {
		return err
	}
	patch := annotationPatch(node.Annotations, r.Component, rep)
	if patch == nil {
		return nil
	}
	if _, err := r.Client.CoreV1().Nodes().Patch(ctx, r.NodeName, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("patch Node %s: %w", r.NodeName, err)
	}
	return nil
}

func reportFromAnnotations(a map[string]string, component string) Report {
	get := func(suffix string) string { return a[hotelv1alpha1.AgentAnnotation(component, suffix)] }
	return Report{
		Config:  get(hotelv1alpha1.AgentAnnotationConfig),
		Target:  get(hotelv1alpha1.AgentAnnotationTarget),
		State:   get(hotelv1alpha1.AgentAnnotationState),
		Reason:  get(hotelv1alpha1.AgentAnnotationReason),
		Message: get(hotelv1alpha1.AgentAnnotationMessage),
		Drained: a[hotelv1alpha1.DrainedAnnotation(component)],
	}
}

// annotationPatch returns the smallest JSON merge patch that turns the component's annotations in
// current into rep (an empty field removes its annotation), or nil if there is nothing to change.
func annotationPatch(current map[string]string, component string, rep Report) []byte {
	want := map[string]string{
		hotelv1alpha1.AgentAnnotationConfig:  rep.Config,
		hotelv1alpha1.AgentAnnotationTarget:  rep.Target,
		hotelv1alpha1.AgentAnnotationState:   rep.State,
		hotelv1alpha1.AgentAnnotationReason:  rep.Reason,
		hotelv1alpha1.AgentAnnotationMessage: rep.Message,
	}
	changes := map[string]any{}
	for suffix, v := range want {
		key := hotelv1alpha1.AgentAnnotation(component, suffix)
		old, present := current[key]
		switch {
		case v == "" && present:
			changes[key] = nil
		case v != "" && (!present || old != v):
			changes[key] = v
		}
	}
	if len(changes) == 0 {
		return nil
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": changes}})
	return patch
}

// NodeGoals tells the agent what its Node asks of it from the Node's admission label (see
// hotelv1alpha1.AdmittedLabel), which it watches: one watch of one Node, as the kubelet keeps on its
// own. The label holds the UID of the object whose rollout the Node is admitted to (apply), or
// hotelv1alpha1.RevertValue of it (revert).
type NodeGoals struct {
	label, uid string
	store      cache.Store
	changed    chan struct{}
}

var _ Goals = &NodeGoals{}

// WatchNodeGoals starts watching the Node nodeName for the admission label of component, for the
// object with uid, until ctx ends, and returns once the watch has synced (or ctx ended).
func WatchNodeGoals(ctx context.Context, client kubernetes.Interface, nodeName, component, uid string) (*NodeGoals, error) {
	g := &NodeGoals{label: hotelv1alpha1.AdmittedLabel(component), uid: uid, changed: make(chan struct{}, 1)}
	drained := hotelv1alpha1.DrainedAnnotation(component)
	selector := fields.OneTermEqualSelector("metadata.name", nodeName).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = selector
			return client.CoreV1().Nodes().List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = selector
			return client.CoreV1().Nodes().Watch(ctx, o)
		},
	}
	// A client that cannot stream lists (a fake, in tests) says so, and the reflector lists.
	informer := cache.NewSharedIndexInformer(cache.ToListWatcherWithWatchListSemantics(lw, client), &corev1.Node{}, 0, cache.Indexers{})
	g.store = informer.GetStore()
	notify := func() {
		select {
		case g.changed <- struct{}{}:
		default: // one pending notice is enough: Goal reads the latest Node
		}
	}
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { notify() },
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(*corev1.Node)
			n, ok2 := newObj.(*corev1.Node)
			// The label asks for another goal; the manager's drain lets a waiting apply go on.
			if !ok1 || !ok2 || o.Labels[g.label] != n.Labels[g.label] || o.Annotations[drained] != n.Annotations[drained] {
				notify()
			}
		},
		DeleteFunc: func(any) { notify() },
	}); err != nil {
		return nil, err
	}
	go informer.RunWithContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		return nil, fmt.Errorf("watch Node %s: %w", nodeName, ctx.Err())
	}
	return g, nil
}

// Goal returns what the Node's label asks: GoalApply for the object's UID, GoalRevert for its
// revert value, GoalWait for anything else (another object's, none, or no Node).
func (g *NodeGoals) Goal() Goal {
	items := g.store.List()
	if len(items) != 1 {
		return GoalWait
	}
	node, ok := items[0].(*corev1.Node)
	if !ok {
		return GoalWait
	}
	return GoalOf(node.Labels[g.label], g.uid)
}

// GoalOf is what a Node whose admission label is value asks of the agent of the object with uid.
// The simulated agents of the local cluster (test/localcluster) decide by it too.
func GoalOf(value, uid string) Goal {
	switch {
	case uid == "":
		return GoalWait
	case value == uid:
		return GoalApply
	case value == hotelv1alpha1.RevertValue(uid):
		return GoalRevert
	}
	return GoalWait
}

// Changed receives when the Node's admission label, or the manager's record of a drain, may have
// changed.
func (g *NodeGoals) Changed() <-chan struct{} { return g.changed }
