package pool

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
)

func TestConfigsInUse(t *testing.T) {
	onNodes := []*corev1.Node{node("a", nil, appliedAnnotations("n1")), node("b", nil, appliedAnnotations("n2")), node("c", nil, nil)}
	rolling := daemonSet("old", 3, 3)
	o := observed{component: "kubelet", nodes: onNodes, daemonSet: rolling, applied: Config{Hash: "old"}, desired: Config{Hash: "new"}}
	tests := []struct {
		name string
		a    acted
		want []string
	}{
		{name: "applied: the old one stays while Nodes still mount it, the new one is rolled out",
			a: acted{daemonSet: rolling, appliedHash: "new", daemonSetChanged: true}, want: []string{"n1", "n2", "old", "new", "new"}},
		{name: "held (paused): the held one, and the newest for when the rollout resumes",
			a: acted{daemonSet: rolling, appliedHash: "old"}, want: []string{"n1", "n2", "old", "old", "new"}},
		{name: "the DaemonSet removed: no template mounts the old one, Nodes still report theirs",
			a: acted{}, want: []string{"n1", "n2", "", "", "new"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			NewWithT(t).Expect(configsInUse(o, tt.a)).To(Equal(tt.want))
		})
	}
}
