package controllers_test

import (
	"encoding/json"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/manager"
)

// installManifest creates every object of a YAML file of config/, as kubectl apply would.
func installManifest(path string) {
	for _, obj := range readManifests(path) {
		Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, obj))).To(Succeed(), "create %s %s", obj.GetKind(), obj.GetName())
	}
}

// agentClient returns a client that authenticates as a node agent's ServiceAccount (that of the
// component's agent, as the manager renders it), with a token bound to a pod on node, as the
// agent's projected token is.
func agentClient(serviceAccount, node string) client.Client {
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + testNamespace + ":" + serviceAccount,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + testNamespace, "system:authenticated"},
		Extra:    map[string][]string{"authentication.kubernetes.io/node-name": {node}},
	}
	cl, err := client.New(c, client.Options{Scheme: manager.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	return cl
}

// annotationsPatch is a merge patch that sets (or, with a nil value, removes) a Node's annotations.
func annotationsPatch(annotations map[string]*string) string {
	GinkgoHelper()
	data, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": annotations}})
	Expect(err).NotTo(HaveOccurred())
	return string(data)
}

// agentAnnotations returns every annotation the agent of component writes, each set to value.
func agentAnnotations(component string, value *string) map[string]*string {
	out := map[string]*string{}
	for _, suffix := range hotelv1alpha1.AgentAnnotations {
		out[hotelv1alpha1.AgentAnnotation(component, suffix)] = value
	}
	return out
}

func mergePatch(cl client.Client, node, patch string) error {
	obj := &corev1.Node{}
	obj.Name = node
	return cl.Patch(ctx, obj, client.RawPatch(types.MergePatchType, []byte(patch)))
}

var _ = Describe("The node agents' RBAC and admission policy", Ordered, func() {
	BeforeAll(func() {
		installManifest(filepath.Join("..", "config", "rbac", "agent.yaml"))
	})

	It("lets an agent annotate its own Node, and nothing more", func() {
		_, nodes := createPool(2)
		own, other := nodes[0].Name, nodes[1].Name
		agent := agentClient(manager.DefaultKubeletAgentServiceAccount, own)

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
		Expect(err).To(MatchError(ContainSubstring("the innkeeper kubelet agent may change only its own annotations, " +
			"hotel.innkeeper.dev/kubelet-{config,target,state,reason,message}")))

		By("RBAC: reading Nodes (it watches its own), and no other verb or resource")
		Expect(agent.List(ctx, &corev1.NodeList{})).To(Succeed())
		Expect(apierrors.IsForbidden(agent.Delete(ctx, &corev1.Node{ObjectMeta: nodes[0].ObjectMeta}))).To(BeTrue())
		Expect(apierrors.IsForbidden(agent.List(ctx, &corev1.PodList{}, client.InNamespace(testNamespace)))).To(BeTrue())
	})

	It("keeps each component's agent to its own component's annotations, on its own Node", func() {
		_, nodes := createPool(2)
		own, other := nodes[0].Name, nodes[1].Name
		kubeletAgent := agentClient(manager.DefaultKubeletAgentServiceAccount, own)
		containerdAgent := agentClient(manager.DefaultContainerdAgentServiceAccount, own)
		applied := ptr.To(hotelv1alpha1.AgentStateApplied)

		By("each agent records every annotation of its own component on its own Node")
		// The policy takes a moment to reach the API server's admission chain: until then a write of
		// the other component's annotations would pass.
		Eventually(func() error {
			return mergePatch(kubeletAgent, own, annotationsPatch(agentAnnotations("containerd", applied)))
		}).WithTimeout(timeout).Should(MatchError(ContainSubstring("the innkeeper kubelet agent may change only its own annotations")))
		Expect(mergePatch(kubeletAgent, own, annotationsPatch(agentAnnotations("kubelet", applied)))).To(Succeed())
		Expect(mergePatch(containerdAgent, own, annotationsPatch(agentAnnotations("containerd", applied)))).To(Succeed())

		By("neither may write, change or remove the other's")
		for _, tc := range []struct {
			agent     client.Client
			component string // the agent's
			other     string
		}{
			{kubeletAgent, "kubelet", "containerd"},
			{containerdAgent, "containerd", "kubelet"},
		} {
			refused := MatchError(ContainSubstring("the innkeeper " + tc.component + " agent may change only its own annotations"))
			state := hotelv1alpha1.AgentAnnotation(tc.other, hotelv1alpha1.AgentAnnotationState)
			Expect(mergePatch(tc.agent, own, annotationsPatch(map[string]*string{state: ptr.To(hotelv1alpha1.AgentStateDegraded)}))).
				To(refused, "%s agent changes %s", tc.component, state)
			Expect(mergePatch(tc.agent, own, annotationsPatch(map[string]*string{state: nil}))).
				To(refused, "%s agent removes %s", tc.component, state)
			target := hotelv1alpha1.AgentAnnotation(tc.other, hotelv1alpha1.AgentAnnotationTarget)
			Expect(mergePatch(tc.agent, own, annotationsPatch(map[string]*string{target: ptr.To("new")}))).To(refused)
			// Its own component's prefix is not enough: only the annotations its agent writes.
			Expect(mergePatch(tc.agent, own, annotationsPatch(map[string]*string{"hotel.innkeeper.dev/" + tc.component + "-extra": ptr.To("x")}))).
				To(refused)
			// Nor its own annotations on another Node.
			Expect(mergePatch(tc.agent, other, annotationsPatch(agentAnnotations(tc.component, applied)))).
				To(MatchError(ContainSubstring("may change only the Node its pod runs on")))
		}
		n := &corev1.Node{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: own}, n)).To(Succeed())
		for _, component := range []string{"kubelet", "containerd"} {
			Expect(n.Annotations).To(HaveKeyWithValue(hotelv1alpha1.AgentAnnotation(component, hotelv1alpha1.AgentAnnotationState),
				hotelv1alpha1.AgentStateApplied), "refused writes leave the Node as it was")
		}

		By("RBAC: the containerd agent's binding grants no more than the kubelet agent's")
		Expect(containerdAgent.List(ctx, &corev1.NodeList{})).To(Succeed(), "it reads Nodes, to watch its own")
		Expect(apierrors.IsForbidden(containerdAgent.Delete(ctx, &corev1.Node{ObjectMeta: nodes[0].ObjectMeta}))).To(BeTrue())
		Expect(apierrors.IsForbidden(containerdAgent.List(ctx, &corev1.PodList{}, client.InNamespace(testNamespace)))).To(BeTrue())

		By("each agent removes its own annotations")
		Expect(mergePatch(kubeletAgent, own, annotationsPatch(agentAnnotations("kubelet", nil)))).To(Succeed())
		Expect(mergePatch(containerdAgent, own, annotationsPatch(agentAnnotations("containerd", nil)))).To(Succeed())
	})
})
