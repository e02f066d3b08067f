//go:build realnode

package realnode_test

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

var _ = Describe("Concierge on real nodes", func() {
	It("runs a real kube-proxy on each node, healthy, that programs the node's network and never the machine's", func() {
		cg := &hotelv1alpha1.Concierge{ObjectMeta: metav1.ObjectMeta{Name: "proxy"}}
		cg.Spec.NodeSelector = hotelv1alpha1.NodeSelectorOf(pool)
		cg.Spec.KubeProxy = hotelv1alpha1.KubeProxySpec{
			Mode:        ptr.To("nftables"),
			ClusterCIDR: ptr.To("10.244.0.0/16"),
			// The conntrack table's size is the machine's, not the node's: leave it as it is.
			Conntrack: &hotelv1alpha1.Conntrack{MaxPerCore: ptr.To[int32](0)},
		}
		create(cg)
		waitReady(cg)

		client := &http.Client{Timeout: 2 * time.Second}
		for _, n := range cluster.Nodes {
			Eventually(func() (int, error) {
				resp, err := client.Get(fmt.Sprintf("http://%s:10256/healthz", n.Addr))
				if err != nil {
					return 0, err
				}
				_ = resp.Body.Close()
				return resp.StatusCode, nil
			}).WithTimeout(time.Minute).Should(Equal(http.StatusOK), "kube-proxy healthz on %s", n.Name)
			// The kubernetes Service, programmed in the node's own network namespace.
			Eventually(func() string {
				out, _ := n.Exec(ctx, "nft", "list", "table", "ip", "kube-proxy")
				return string(out)
			}).WithTimeout(time.Minute).Should(ContainSubstring("10.96.0.1"), "kube-proxy's rules on %s", n.Name)
		}
		machine, err := cluster.MachineNFTables(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.Contains(machine, "kube-proxy")).To(BeFalse(), "kube-proxy changed the machine's network:\n%s", machine)
	})
})
