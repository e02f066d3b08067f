package pool

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestConfigMapsToPrune(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cm := func(hash, generation string, age time.Duration) corev1.ConfigMap {
		return corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
			Name: "fm-kubelet-" + hash, CreationTimestamp: metav1.NewTime(t0.Add(-age)),
			Annotations: map[string]string{AnnotationHash: hash, AnnotationGeneration: generation},
		}}
	}
	five := []corev1.ConfigMap{cm("h1", "1", 5*time.Hour), cm("h2", "2", 4*time.Hour), cm("h3", "3", 3*time.Hour),
		cm("h4", "4", 2*time.Hour), cm("h5", "5", time.Hour)}
	tests := []struct {
		name  string
		cms   []corev1.ConfigMap
		inUse []string
		want  []string
	}{
		{name: "three or fewer: nothing to prune", cms: five[:3], inUse: []string{"h3"}},
		{name: "keep the three newest", cms: five, inUse: []string{"h5"}, want: []string{"fm-kubelet-h2", "fm-kubelet-h1"}},
		{name: "an old configuration in use is kept", cms: five, inUse: []string{"h1", "h5"},
			want: []string{"fm-kubelet-h3", "fm-kubelet-h2"}},
		{name: "generation, not creation time, orders", cms: []corev1.ConfigMap{cm("a", "9", 5*time.Hour),
			cm("b", "1", time.Hour), cm("c", "2", time.Hour), cm("d", "3", time.Hour)}, want: []string{"fm-kubelet-b"}},
		{name: "nothing in use", cms: five, want: []string{"fm-kubelet-h2", "fm-kubelet-h1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			NewWithT(t).Expect(configMapsToPrune(tt.cms, tt.inUse)).To(Equal(tt.want))
		})
	}
}
