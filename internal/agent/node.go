package agent

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

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
