package pool

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

func TestValidateTolerations(t *testing.T) {
	tests := []struct {
		name        string
		tolerations []corev1.Toleration
		wantErrs    []string // substrings, one per error, in order
	}{
		{name: "none"},
		{name: "every taint", tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}}},
		{name: "every taint of an effect", tolerations: []corev1.Toleration{
			{Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
			{Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectPreferNoSchedule},
		}},
		{name: "a key with Equal, and an empty operator that means Equal", tolerations: []corev1.Toleration{
			{Key: "example.com/gpu", Operator: corev1.TolerationOpEqual, Value: "true", Effect: corev1.TaintEffectNoSchedule},
			{Key: "dedicated", Value: "infra"},
		}},
		{name: "tolerationSeconds with NoExecute", tolerations: []corev1.Toleration{
			{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute,
				TolerationSeconds: ptr.To[int64](300)},
		}},
		{name: "an unknown operator", tolerations: []corev1.Toleration{{Key: "a", Operator: "Maybe"}},
			wantErrs: []string{`tolerations[0].operator: Unsupported value: "Maybe": supported values: "Equal", "Exists"`}},
		{name: "the feature-gated Gt operator", tolerations: []corev1.Toleration{{Key: "a", Operator: "Gt", Value: "3"}},
			wantErrs: []string{`tolerations[0].operator: Unsupported value: "Gt"`}},
		{name: "an empty key needs Exists", tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpEqual, Value: "x"}},
			wantErrs: []string{"tolerations[0].operator: Invalid value: \"Equal\": operator must be Exists when key is empty"}},
		{name: "Exists takes no value", tolerations: []corev1.Toleration{{Key: "a", Operator: corev1.TolerationOpExists, Value: "x"}},
			wantErrs: []string{"tolerations[0].value: Invalid value: \"x\": value must be empty when operator is Exists"}},
		{name: "an unknown effect", tolerations: []corev1.Toleration{
			{Operator: corev1.TolerationOpExists}, {Operator: corev1.TolerationOpExists, Effect: "NoScheduleNoAdmit"}},
			wantErrs: []string{`tolerations[1].effect: Unsupported value: "NoScheduleNoAdmit"`}},
		{name: "tolerationSeconds without NoExecute", tolerations: []corev1.Toleration{
			{Key: "a", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule, TolerationSeconds: ptr.To[int64](1)}},
			wantErrs: []string{"tolerations[0].effect: Invalid value: \"NoSchedule\": effect must be NoExecute when tolerationSeconds is set"}},
		{name: "a key that is no label name", tolerations: []corev1.Toleration{{Key: "a b", Operator: corev1.TolerationOpExists}},
			wantErrs: []string{"tolerations[0].key: Invalid value: \"a b\""}},
		{name: "a value that is no label value", tolerations: []corev1.Toleration{{Key: "a", Value: strings.Repeat("v", 64)}},
			wantErrs: []string{"tolerations[0].value: Invalid value: \"vvvv", "must be no more than 63"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			errs := ValidateTolerations(tt.tolerations, field.NewPath("tolerations"))
			if len(tt.wantErrs) == 0 {
				g.Expect(errs).To(BeEmpty())
				return
			}
			g.Expect(errs).NotTo(BeEmpty())
			for _, want := range tt.wantErrs {
				g.Expect(errs.ToAggregate().Error()).To(ContainSubstring(want))
			}
		})
	}
}

func TestNodePodsValidate(t *testing.T) {
	tests := []struct {
		name     string
		nodePods NodePods
		wantErr  string
	}{
		{name: "the defaults", nodePods: DefaultNodePods()},
		{name: "no priority class, no tolerations", nodePods: NodePods{}},
		{name: "another priority class", nodePods: NodePods{PriorityClassName: "system-cluster-critical"}},
		{name: "a priority class that is no DNS subdomain", nodePods: NodePods{PriorityClassName: "Node_Critical"},
			wantErr: `priorityClassName: Invalid value: "Node_Critical": a lowercase RFC 1123 subdomain`},
		{name: "a bad toleration", nodePods: NodePods{PriorityClassName: PriorityClass,
			Tolerations: []corev1.Toleration{{Operator: "Maybe"}}},
			wantErr: `tolerations[0].operator: Unsupported value: "Maybe"`},
		{name: "pull secrets", nodePods: NodePods{ImagePullSecrets: []string{"ghcr", "mirror.example.com"}}},
		{name: "a pull secret that is no Secret's name", nodePods: NodePods{ImagePullSecrets: []string{"ghcr", "My_Registry"}},
			wantErr: `imagePullSecrets[1]: Invalid value: "My_Registry"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			err := tt.nodePods.Validate()
			if tt.wantErr == "" {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			g.Expect(err).To(MatchError(ContainSubstring(tt.wantErr)))
		})
	}
}

// The defaults are what innkeeper rendered before they were settings.
func TestDefaultNodePods(t *testing.T) {
	g := NewWithT(t)
	g.Expect(DefaultNodePods()).To(Equal(NodePods{
		PriorityClassName: "system-node-critical",
		Tolerations:       []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
	}))
	// Each call returns its own list: a caller that changes it changes no other's defaults.
	a := DefaultNodePods()
	a.Tolerations[0].Key = "changed"
	g.Expect(DefaultNodePods().Tolerations[0].Key).To(BeEmpty())
}
