package localcluster

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/pool"
)

// SimulateAgents plays innkeeper's node agents on kwok Nodes, where pods run no containers: each
// time an agent pod of component is Ready on a Node, it records on the Node what the real agent
// records once it has applied the pod's configuration and found the component healthy, or, on a
// Node marked for revert, what it records once it reverted the Node. It returns when ctx ends.
func SimulateAgents(ctx context.Context, cs kubernetes.Interface, namespace, component string) error {
	selector := fmt.Sprintf("%s=%s,%s=%s", pool.LabelManagedBy, pool.ManagedByValue, pool.LabelComponent, component)
	ticker := time.NewTicker(250 * time.Millisecond)
	defer ticker.Stop()
	for {
		pods, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
		var nodes *corev1.NodeList
		if err == nil {
			nodes, err = cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		}
		if err == nil {
			byName := map[string]*corev1.Node{}
			for i := range nodes.Items {
				byName[nodes.Items[i].Name] = &nodes.Items[i]
			}
			for i := range pods.Items {
				if node := byName[pods.Items[i].Spec.NodeName]; node != nil {
					recordApplied(ctx, cs, &pods.Items[i], node, component)
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// recordApplied annotates a Ready agent pod's Node with the pod's configuration, if it is not yet.
func recordApplied(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, node *corev1.Node, component string) {
	hash := pod.Annotations[pool.AnnotationHash]
	if hash == "" || pod.DeletionTimestamp != nil || !podReady(pod) {
		return
	}
	key := func(suffix string) string { return hotelv1alpha1.AgentAnnotation(component, suffix) }
	if strings.HasPrefix(node.Labels[hotelv1alpha1.AdmittedLabel(component)], hotelv1alpha1.RevertValue("")) {
		// Marked for revert: the agent takes the configuration off and says so.
		if node.Annotations[key(hotelv1alpha1.AgentAnnotationState)] == hotelv1alpha1.AgentStateReverted {
			return
		}
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{
			key(hotelv1alpha1.AgentAnnotationConfig):  nil,
			key(hotelv1alpha1.AgentAnnotationTarget):  hotelv1alpha1.AgentTargetRevert,
			key(hotelv1alpha1.AgentAnnotationState):   hotelv1alpha1.AgentStateReverted,
			key(hotelv1alpha1.AgentAnnotationReason):  nil,
			key(hotelv1alpha1.AgentAnnotationMessage): "innkeeper's configuration is off the Node (simulated on a kwok Node).",
		}}})
		_, _ = cs.CoreV1().Nodes().Patch(ctx, node.Name, types.MergePatchType, patch, metav1.PatchOptions{})
		return
	}
	if node.Annotations[key(hotelv1alpha1.AgentAnnotationConfig)] == hash &&
		node.Annotations[key(hotelv1alpha1.AgentAnnotationState)] == hotelv1alpha1.AgentStateApplied {
		return
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{
		key(hotelv1alpha1.AgentAnnotationConfig):  hash,
		key(hotelv1alpha1.AgentAnnotationTarget):  hash,
		key(hotelv1alpha1.AgentAnnotationState):   hotelv1alpha1.AgentStateApplied,
		key(hotelv1alpha1.AgentAnnotationReason):  nil,
		key(hotelv1alpha1.AgentAnnotationMessage): "Configuration " + hash + " is applied (simulated on a kwok Node).",
	}}})
	_, _ = cs.CoreV1().Nodes().Patch(ctx, node.Name, types.MergePatchType, patch, metav1.PatchOptions{})
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
