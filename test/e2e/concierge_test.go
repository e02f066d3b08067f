//go:build e2e

package e2e

import (
	"fmt"
	"path/filepath"
	"sort"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/pool"
	"github.com/innkeeper-dev/innkeeper/test/localcluster"
)

// kubeProxyNodes returns the Nodes on which a Concierge has a Ready kube-proxy pod, sorted.
func kubeProxyNodes(name string) []string {
	GinkgoHelper()
	return componentNodes(name, "kube-proxy")
}

// componentNodes returns the Nodes on which an object's component has a Ready pod, sorted.
func componentNodes(name, component string) []string {
	GinkgoHelper()
	pods, err := clientset.CoreV1().Pods(localcluster.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: fmt.Sprintf("%s=%s,%s=%s", pool.LabelPool, name, pool.LabelComponent, component)})
	Expect(err).NotTo(HaveOccurred())
	var nodes []string
	for _, p := range pods.Items {
		for _, c := range p.Status.Conditions {
			if p.DeletionTimestamp == nil && c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				nodes = append(nodes, p.Spec.NodeName)
			}
		}
	}
	sort.Strings(nodes)
	return nodes
}

var _ = Describe("Concierge on a local cluster", func() {
	It("runs the sample's kube-proxy on exactly its pool's Nodes and goes Ready", func() {
		mustKubectl("", "apply", "-f", filepath.Join(repoRoot, "config", "samples", "hotel_v1alpha1_concierge.yaml"))
		DeferCleanup(func() { _, _ = kubectl("", "delete", "concierge", "general", "--ignore-not-found", "--wait=true") })
		want := nodesOfPool("general")
		Eventually(func() []string { return kubeProxyNodes("general") }).WithTimeout(timeout).Should(Equal(want))
		mustKubectl("", "wait", "--for=condition=Ready", "concierge/general", "--timeout=90s")

		cg := &hotelv1alpha1.Concierge{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "general"}, cg)).To(Succeed())
		Expect(cg.Status.Nodes).To(Equal(hotelv1alpha1.NodeCounts{Selected: 4, Updated: 4, Ready: 4}))
		out := mustKubectl("", "get", "cg", "general", "-o", "jsonpath={.spec.kubeProxy.mode}")
		Expect(out).To(Equal("ipvs"))
	})
})
