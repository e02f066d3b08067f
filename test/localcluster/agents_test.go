package localcluster

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/agent"
	"github.com/innkeeper-dev/innkeeper/internal/render"
)

// The simulated agents act on a Node only where the real agent would (agent.NodeGoals): a Node
// released by the manager a moment ago keeps its pod until the DaemonSet controller removes it, and
// that pod must not record the configuration applied again.
func TestAgentGoal(t *testing.T) {
	agentPod := func(uid string) *corev1.Pod {
		flags := render.DefaultAgentFlags()
		flags.Config, flags.ConfigHash, flags.ObjectUID = "/etc/innkeeper/kubelet.json", "7f9c", uid
		return &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "agent", Args: append([]string{"agent"}, flags.Args()...)}}}}
	}
	tests := []struct {
		name  string
		pod   *corev1.Pod
		label string
		want  agent.Goal
	}{
		{name: "admitted for the pod's object", pod: agentPod("uid-a"), label: "uid-a", want: agent.GoalApply},
		{name: "marked for the revert of the pod's object", pod: agentPod("uid-a"), label: hotelv1alpha1.RevertValue("uid-a"), want: agent.GoalRevert},
		{name: "released: no label", pod: agentPod("uid-a"), label: "", want: agent.GoalWait},
		{name: "admitted for another object", pod: agentPod("uid-a"), label: "uid-b", want: agent.GoalWait},
		{name: "marked for another object's revert", pod: agentPod("uid-a"), label: hotelv1alpha1.RevertValue("uid-b"), want: agent.GoalWait},
		{name: "a pod from before reverts, without the object's UID, applies", pod: agentPod(""), label: "", want: agent.GoalApply},
		{name: "no agent container", pod: &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "kube-proxy"}}}},
			label: "uid-a", want: agent.GoalWait},
		{name: "a logging flag, which the agent takes too", pod: func() *corev1.Pod {
			p := agentPod("uid-a")
			p.Spec.Containers[0].Args = append(p.Spec.Containers[0].Args, "--zap-log-level=debug")
			return p
		}(), label: "uid-a", want: agent.GoalApply},
		{name: "a stray argument, which the agent refuses", pod: func() *corev1.Pod {
			p := agentPod("uid-a")
			p.Spec.Containers[0].Args = append(p.Spec.Containers[0].Args, "extra")
			return p
		}(), label: "uid-a", want: agent.GoalWait},
		{name: "arguments the agent refuses", pod: &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "agent", Args: []string{"agent", "--no-such-flag"}}}}}, label: "uid-a", want: agent.GoalWait},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := agentGoal(tt.pod, tt.label); got != tt.want {
				t.Errorf("agentGoal(label %q) = %s, want %s", tt.label, got, tt.want)
			}
		})
	}
}
