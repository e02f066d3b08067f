package controllers_test

import (
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/innkeeper-dev/innkeeper/internal/manager"
)

// installManifest creates every object of a YAML file of config/, as kubectl apply would.
func installManifest(path string) {
	for _, obj := range readManifests(path) {
		Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, obj))).To(Succeed(), "create %s %s", obj.GetKind(), obj.GetName())
	}
}

// agentClient returns a client that authenticates as the node agent's ServiceAccount, with a token
// bound to a pod on node, as the agent's projected token is.
func agentClient(node string) client.Client {
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + testNamespace + ":innkeeper-agent",
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + testNamespace, "system:authenticated"},
		Extra:    map[string][]string{"authentication.kubernetes.io/node-name": {node}},
	}
	cl, err := client.New(c, client.Options{Scheme: manager.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	return cl
}

func mergePatch(cl client.Client, node, patch string) error {
	obj := &corev1.Node{}
	obj.Name = node
	return cl.Patch(ctx, obj, client.RawPatch(types.MergePatchType, []byte(patch)))
}

var _ = Describe("The node agent's RBAC and admission policy", Ordered, func() {
	BeforeAll(func() {
		installManifest(filepath.Join("..", "config", "rbac", "agent.yaml"))
	})

	It("lets an agent annotate its own Node, and nothing more", func() {
		_, nodes := createPool(2)
		own, other := nodes[0].Name, nodes[1].Name
		agent := agentClient(own)

		// The policy takes a moment to reach the API server's admission chain.
		Eventually(func() error {
			return mergePatch(agent, other, `{"metadata":{"annotations":{"hotel.innkeeper.dev/kubelet-state":"Applied"}}}`)
		}).WithTimeout(timeout).Should(MatchError(ContainSubstring("may change only the Node its pod runs on")))

		Expect(mergePatch(agent, own, `{"metadata":{"annotations":{"hotel.innkeeper.dev/kubelet-state":"Applied"}}}`)).To(Succeed())
		Expect(mergePatch(agent, own, `{"metadata":{"annotations":{"hotel.innkeeper.dev/kubelet-reason":null}}}`)).To(Succeed())

		for _, patch := range []string{
			`{"metadata":{"labels":{"node-role.kubernetes.io/control-plane":""}}}`,
			`{"spec":{"unschedulable":true}}`,
			`{"metadata":{"finalizers":["example.com/hold"]}}`,
			`{"metadata":{"ownerReferences":[{"apiVersion":"v1","kind":"Namespace","name":"gone","uid":"00000000-0000-0000-0000-000000000000"}]}}`,
		} {
			Expect(mergePatch(agent, own, patch)).To(MatchError(ContainSubstring("may not change a Node's labels, finalizers")), patch)
		}
		err := mergePatch(agent, own, `{"metadata":{"annotations":{"node.alpha.kubernetes.io/ttl":"0"}}}`)
		Expect(err).To(MatchError(ContainSubstring("may change only hotel.innkeeper.dev/ annotations")))

		By("RBAC: no other verb or resource")
		Expect(apierrors.IsForbidden(agent.List(ctx, &corev1.NodeList{}))).To(BeTrue())
		Expect(apierrors.IsForbidden(agent.Delete(ctx, &corev1.Node{ObjectMeta: nodes[0].ObjectMeta}))).To(BeTrue())
		Expect(apierrors.IsForbidden(agent.List(ctx, &corev1.PodList{}, client.InNamespace(testNamespace)))).To(BeTrue())
	})
})
