//go:build e2e

package e2e

import (
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

var _ = Describe("RoomService on a local cluster", func() {
	It("rolls the samples' containerd configuration out to exactly their pools' Nodes and goes Ready", func() {
		for _, sample := range []string{"hotel_v1alpha1_roomservice.yaml", "hotel_v1alpha1_roomservice_gpu.yaml"} {
			mustKubectl("", "apply", "-f", filepath.Join(repoRoot, "config", "samples", sample))
		}
		DeferCleanup(func() {
			_, _ = kubectl("", "delete", "roomservice", "general", "gpu", "--ignore-not-found", "--wait=true")
		})
		for _, name := range []string{"general", "gpu"} {
			Eventually(func() []string { return componentNodes(name, "containerd") }).WithTimeout(timeout).
				Should(Equal(nodesOfPool(name)))
			mustKubectl("", "wait", "--for=condition=Ready", "roomservice/"+name, "--timeout=90s")
		}

		rs := &hotelv1alpha1.RoomService{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "general"}, rs)).To(Succeed())
		Expect(rs.Status.Nodes).To(Equal(hotelv1alpha1.NodeCounts{Selected: 4, Updated: 4, Ready: 4}))
		Expect(mustKubectl("", "get", "rms", "gpu", "-o", "jsonpath={.spec.containerd.defaultRuntimeName}")).To(Equal("nvidia"))
		Expect(mustKubectl("", "get", "innkeeper", "-o", "name")).To(ContainSubstring("roomservice.hotel.innkeeper.dev/general"))

		By("kubectl's view: columns, and explain")
		Expect(mustKubectl("", "get", "rms", "general")).To(MatchRegexp(`NAME\s+READY\s+NODES\s+UPDATED\s+DEGRADED\s+AGE\s+general\s+True\s+4/4\s+4\s+0\s`))
		out := mustKubectl("", "explain", "floormanager.spec.kubelet.evictionHard")
		Expect(out).To(ContainSubstring("memory.available"))
		out = mustKubectl("", "explain", "roomservice.spec.containerd.registries.mirrors.capabilities")
		Expect(out).To(ContainSubstring("resolve"))
	})
})
