//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/pool"
	"github.com/innkeeper-dev/innkeeper/test/localcluster"
)

// chartDir is the chart that the suite installed.
var chartDir = filepath.Join(repoRoot, "charts", "innkeeper")

// chartPool is the pool of the Nodes that this file's specs roll out to.
const chartPool = "chart"

// agentClientOf returns a client with the token a kubelet would mount into an agent's pod: of its
// ServiceAccount, bound to the pod, so that it names the pod's Node.
func agentClientOf(pod *corev1.Pod) kubernetes.Interface {
	GinkgoHelper()
	token, err := clientset.CoreV1().ServiceAccounts(localcluster.Namespace).CreateToken(ctx, pod.Spec.ServiceAccountName,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
			ExpirationSeconds: ptr.To[int64](600),
		}}, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	cfg := rest.AnonymousClientConfig(cluster.Config)
	cfg.BearerToken = token.Status.Token
	agent, err := kubernetes.NewForConfig(cfg)
	Expect(err).NotTo(HaveOccurred())
	return agent
}

// managerDeployment returns the chart's manager Deployment.
func managerDeployment() *appsv1.Deployment {
	GinkgoHelper()
	d, err := clientset.AppsV1().Deployments(localcluster.Namespace).Get(ctx, "innkeeper-manager", metav1.GetOptions{})
	Expect(err).NotTo(HaveOccurred())
	return d
}

var _ = Describe("the Helm chart", Ordered, func() {
	It("runs the manager as the chart's ServiceAccount, with the chart's RBAC and no more", func() {
		Expect(innkeeper.Config.BearerToken).NotTo(BeEmpty())
		Expect(innkeeper.Config.CertFile).To(BeEmpty())
		Expect(innkeeper.Config.CertData).To(BeEmpty())
		mgr, err := kubernetes.NewForConfig(innkeeper.Config)
		Expect(err).NotTo(HaveOccurred())
		review, err := mgr.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(review.Status.UserInfo.Username).To(Equal("system:serviceaccount:" + localcluster.Namespace + ":innkeeper-manager"))

		_, err = mgr.CoreV1().Nodes().List(ctx, metav1.ListOptions{Limit: 1})
		Expect(err).NotTo(HaveOccurred())
		_, err = mgr.CoreV1().Secrets(localcluster.Namespace).List(ctx, metav1.ListOptions{})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "the manager may read Secrets: %v", err)
		_, err = mgr.CoreV1().ConfigMaps(metav1.NamespaceDefault).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "not-innkeepers"}}, metav1.CreateOptions{})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "the manager may write ConfigMaps outside its namespace: %v", err)
	})

	It("rolls out every sample applied with kubectl to Ready", func() {
		samples := filepath.Join(repoRoot, "config", "samples")
		mustKubectl("", "apply", "-k", samples)
		DeferCleanup(func() { _, _ = kubectl("", "delete", "-k", samples, "--ignore-not-found", "--wait=true") })
		objects := strings.Fields(mustKubectl("", "get", "innkeeper", "-o", "name"))
		Expect(len(objects)).To(BeNumerically(">=", 3))
		mustKubectl("", append([]string{"wait", "--for=condition=Ready", "--timeout=90s"}, objects...)...)
	})

	It("gives the manager a pod template that Pod Security restricted admits", func() {
		restricted := "chart-psa-restricted"
		mustKubectl("", "create", "namespace", restricted)
		DeferCleanup(func() { _, _ = kubectl("", "delete", "namespace", restricted, "--wait=false") })
		mustKubectl("", "label", "namespace", restricted, "pod-security.kubernetes.io/enforce=restricted")
		pod := func(mutate func(*corev1.PodSpec)) *corev1.Pod {
			spec := managerDeployment().Spec.Template.Spec.DeepCopy()
			spec.ServiceAccountName = "default" // the chart's is in the release's namespace
			mutate(spec)
			return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "manager", Namespace: restricted}, Spec: *spec}
		}
		create := func(p *corev1.Pod) error {
			_, err := clientset.CoreV1().Pods(restricted).Create(ctx, p, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			return err
		}
		// The namespace's default ServiceAccount appears a moment after the namespace.
		Eventually(func() error { return create(pod(func(*corev1.PodSpec) {})) }).WithTimeout(timeout).Should(Succeed())
		// The check can fail: the same pod with privilege escalation allowed is refused.
		err := create(pod(func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext.AllowPrivilegeEscalation = ptr.To(true)
		}))
		Expect(err).To(MatchError(ContainSubstring(`violates PodSecurity "restricted`)))
	})

	It("lets a node agent annotate only its own Node, and there only its own component's annotations", func() {
		mustKubectl(floorManagerYAML("chart-agent", chartPool, "100%", 100), "apply", "-f", "-")
		mustKubectl(fmt.Sprintf(`apiVersion: hotel.innkeeper.dev/v1alpha1
kind: RoomService
metadata:
  name: chart-agent
spec:
  nodeSelector: {matchLabels: {%s: %s}}
  rollout: {maxUnavailable: 100%%}
  containerd: {configVersion: 3, maxConcurrentDownloads: 4}
`, localcluster.PoolLabel, chartPool), "apply", "-f", "-")
		DeferCleanup(func() {
			_, _ = kubectl("", "delete", "floormanager,roomservice", "chart-agent", "--ignore-not-found", "--wait=true")
		})
		nodes := nodesOfPool(chartPool)
		Expect(nodes).To(HaveLen(2))
		kubeletPod := scheduledPods("chart-agent", "kubelet", 2)[0]
		own, other := kubeletPod.Spec.NodeName, nodes[0]
		if other == own {
			other = nodes[1]
		}
		var containerdPod corev1.Pod
		for _, p := range scheduledPods("chart-agent", "containerd", 2) {
			if p.Spec.NodeName == own {
				containerdPod = p
			}
		}
		Expect(containerdPod.Name).NotTo(BeEmpty(), "no containerd agent pod on %s", own)
		// Each component's agent runs as its own ServiceAccount.
		Expect(kubeletPod.Spec.ServiceAccountName).To(Equal("innkeeper-kubelet-agent"))
		Expect(containerdPod.Spec.ServiceAccountName).To(Equal("innkeeper-containerd-agent"))
		kubeletAgent, containerdAgent := agentClientOf(&kubeletPod), agentClientOf(&containerdPod)

		// patch sets (or, with a nil value, removes) a label or annotation of a Node as an agent.
		patch := func(agent kubernetes.Interface, node, field, key string, value *string) error {
			body, err := json.Marshal(map[string]any{"metadata": map[string]any{field: map[string]*string{key: value}}})
			Expect(err).NotTo(HaveOccurred())
			_, err = agent.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, body, metav1.PatchOptions{})
			return err
		}
		yes := ptr.To("yes")
		// Each agent's message: what the real agent writes, and what no status reads for a Node that applied its configuration.
		kubeletMessage := hotelv1alpha1.AgentAnnotation("kubelet", hotelv1alpha1.AgentAnnotationMessage)
		containerdMessage := hotelv1alpha1.AgentAnnotation("containerd", hotelv1alpha1.AgentAnnotationMessage)
		Expect(patch(kubeletAgent, own, "annotations", kubeletMessage, yes)).To(Succeed())
		Expect(patch(kubeletAgent, own, "annotations", kubeletMessage, nil)).To(Succeed())
		Expect(patch(containerdAgent, own, "annotations", containerdMessage, yes)).To(Succeed())
		Expect(patch(containerdAgent, own, "annotations", containerdMessage, nil)).To(Succeed())
		Expect(patch(kubeletAgent, other, "annotations", kubeletMessage, yes)).To(MatchError(ContainSubstring("may change only the Node its pod runs on")))
		Expect(patch(kubeletAgent, own, "annotations", "example.com/other", yes)).To(MatchError(ContainSubstring("only its own annotations")))
		Expect(patch(kubeletAgent, own, "labels", kubeletMessage, yes)).To(MatchError(ContainSubstring("may not change a Node's labels")))
		// Neither agent may touch the other's annotations on their shared Node.
		Expect(patch(kubeletAgent, own, "annotations", containerdMessage, yes)).
			To(MatchError(ContainSubstring("the innkeeper kubelet agent may change only its own annotations")))
		Expect(patch(containerdAgent, own, "annotations", kubeletMessage, yes)).
			To(MatchError(ContainSubstring("the innkeeper containerd agent may change only its own annotations")))
		_, err := kubeletAgent.CoreV1().Pods(localcluster.Namespace).List(ctx, metav1.ListOptions{})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "the agent may list pods: %v", err)
	})

	It("applies a helm upgrade's values to the Deployment and, at its next start, to the manager", func() {
		image := "registry.k8s.io/kube-proxy:v1.37.0-e2e"
		// Narrower than the default (every taint): still every taint of the effects that keep a pod
		// off a Node, so that the pool's untainted Nodes run it. The chart passes the list with
		// Helm's toJson, which sorts keys: the flag's value is this very string.
		tolerationsJSON := `[{"effect":"NoSchedule","operator":"Exists"},{"effect":"NoExecute","operator":"Exists"}]`
		tolerations := []corev1.Toleration{
			{Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
			{Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
		}
		mustHelm("upgrade", localcluster.Release, chartDir, "--namespace", localcluster.Namespace, "--reset-then-reuse-values",
			"--wait", "--timeout=2m", "--set", "manager.podLabels.team=hotel",
			"--set", "manager.resources.limits.memory=256Mi", "--set", "kubeProxy.image="+image,
			"--set", "agent.priorityClassName=system-cluster-critical", "--set-json", "agent.tolerations="+tolerationsJSON,
			"--set", "imagePullSecrets[0].name=regcred", "--set", "kubeProxy.resources.requests.cpu=250m")
		DeferCleanup(func() {
			mustHelm("rollback", localcluster.Release, "--namespace", localcluster.Namespace, "--wait", "--timeout=2m")
			Expect(innkeeper.StartManager(ctx)).To(Succeed())
			Expect(innkeeper.Args).NotTo(ContainElement(HavePrefix("--kube-proxy-image=")))
			Expect(innkeeper.Args).To(ContainElements("--agent-priority-class=system-node-critical",
				`--agent-tolerations=[{"operator":"Exists"}]`, "--image-pull-secrets="))
		})

		d := managerDeployment()
		Expect(d.Spec.Replicas).To(HaveValue(BeEquivalentTo(0)), "--reset-then-reuse-values keeps the local cluster's replicas")
		Expect(d.Spec.Template.Labels).To(HaveKeyWithValue("team", "hotel"))
		Expect(d.Spec.Selector.MatchLabels).NotTo(HaveKey("team"), "the selector of a Deployment cannot change")
		Expect(d.Spec.Template.Spec.Containers[0].Resources.Limits.Memory().String()).To(Equal("256Mi"))
		Expect(d.Spec.Template.Spec.Containers[0].Args).To(ContainElement("--kube-proxy-image=" + image))

		// A new manager pod would start with the new arguments: so does the local manager.
		Expect(innkeeper.StartManager(ctx)).To(Succeed())
		Expect(innkeeper.Args).To(ContainElement("--kube-proxy-image=" + image))
		Expect(innkeeper.Args).To(ContainElements("--agent-priority-class=system-cluster-critical",
			"--agent-tolerations="+tolerationsJSON))
		mustKubectl(fmt.Sprintf(`apiVersion: hotel.innkeeper.dev/v1alpha1
kind: Concierge
metadata:
  name: chart-upgrade
spec:
  nodeSelector: {matchLabels: {%s: %s}}
  rollout: {maxUnavailable: 2}
  kubeProxy: {mode: iptables}
`, localcluster.PoolLabel, chartPool), "apply", "-f", "-")
		DeferCleanup(func() {
			_, _ = kubectl("", "delete", "concierge", "chart-upgrade", "--ignore-not-found", "--wait=true")
		})
		Eventually(func(g Gomega) {
			ds, err := clientset.AppsV1().DaemonSets(localcluster.Namespace).Get(ctx, "chart-upgrade-kube-proxy", metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			pod := ds.Spec.Template.Spec
			g.Expect(pod.Containers[0].Image).To(Equal(image))
			g.Expect(pod.PriorityClassName).To(Equal("system-cluster-critical"))
			g.Expect(pod.Tolerations).To(Equal(tolerations))
			// Every pod innkeeper renders pulls with the chart's secrets, with the chart's resources.
			g.Expect(pod.ImagePullSecrets).To(Equal([]corev1.LocalObjectReference{{Name: "regcred"}}))
			g.Expect(pod.Containers[0].Resources.Requests.Cpu().String()).To(Equal("250m"))
			g.Expect(pod.Containers[0].Resources.Requests.Memory().String()).To(Equal("64Mi"))
		}).WithTimeout(timeout).Should(Succeed())
		mustKubectl("", "wait", "--for=condition=Ready", "concierge/chart-upgrade", "--timeout=90s")
	})

	It("tells in its notes when the namespace does not allow privileged pods", func() {
		// A dry run on the server renders the notes with the cluster's namespaces; another name
		// for every object, so that nothing of the installed release is in the way.
		notes := func(namespace string, extra ...string) string {
			return mustHelm(append([]string{"install", "notes-check", chartDir, "--namespace", namespace, "--dry-run=server",
				"--set", "fullnameOverride=notes-check"}, extra...)...)
		}
		const warning = "kubectl label namespace chart-notes pod-security.kubernetes.io/enforce=privileged"
		Expect(notes("chart-notes", "--create-namespace")).To(ContainSubstring(warning), "helm install --create-namespace")
		mustKubectl("", "create", "namespace", "chart-notes")
		DeferCleanup(func() { _, _ = kubectl("", "delete", "namespace", "chart-notes", "--wait=false") })
		Expect(notes("chart-notes")).To(ContainSubstring(warning), "a namespace without the label")
		mustKubectl("", "label", "namespace", "chart-notes", "pod-security.kubernetes.io/enforce=privileged")
		Expect(notes("chart-notes")).NotTo(ContainSubstring("WARNING"), "a labelled namespace")
	})

	It("lets the manager update DaemonSets outside its namespace only where concierge.takeOver names, and takes a pool over there", func() {
		// canUpdate asks the API server whether the manager's ServiceAccount may update DaemonSets in
		// namespace, or in every namespace for "": "yes" or "no".
		canUpdate := func(namespace string) string {
			args := []string{"auth", "can-i", "update", "daemonsets",
				"--as=system:serviceaccount:" + localcluster.Namespace + ":" + innkeeper.ServiceAccount}
			if namespace == "" {
				args = append(args, "--all-namespaces")
			} else {
				args = append(args, "--namespace", namespace)
			}
			out, _ := kubectl("", args...) // "no" exits 1
			return strings.TrimSpace(out)
		}
		setTakeOver := func(enabled bool) {
			mustHelm("upgrade", localcluster.Release, chartDir, "--namespace", localcluster.Namespace, "--reset-then-reuse-values",
				"--wait", "--timeout=2m", "--set", fmt.Sprintf("concierge.takeOver.enabled=%t", enabled))
			// The API server's authorizer learns of the new Role from a watch, a moment later: the
			// manager must not start before, nor a check below run.
			want := map[bool]string{true: "yes", false: "no"}[enabled]
			Eventually(func() string { return canUpdate("kube-system") }).WithTimeout(timeout).Should(Equal(want))
			// A new manager pod would start with the new arguments: so does the local manager.
			Expect(innkeeper.StartManager(ctx)).To(Succeed())
		}
		// stalledMessage returns the Concierge's Stalled message while it is Stalled for another kube-proxy.
		stalledMessage := func(g Gomega, name string) string {
			cg := &hotelv1alpha1.Concierge{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: name}, cg)).To(Succeed())
			c := meta.FindStatusCondition(cg.Status.Conditions, hotelv1alpha1.ConditionStalled)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(Equal(hotelv1alpha1.ReasonForeignKubeProxy))
			return c.Message
		}
		// foreignKubeProxy creates a kube-proxy DaemonSet that innkeeper does not manage, in namespace,
		// on the chart pool's Nodes only: the other specs' Concierges keep their pools.
		foreignKubeProxy := func(namespace string) *appsv1.DaemonSet {
			labels := map[string]string{"k8s-app": "chart-kube-proxy"}
			ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "kube-proxy"},
				Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels},
					Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
						Containers:   []corev1.Container{{Name: "kube-proxy", Image: "registry.k8s.io/kube-proxy:v1.36.4"}},
						NodeSelector: map[string]string{localcluster.PoolLabel: chartPool},
						Tolerations:  []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
					}}}}
			_, err := clientset.AppsV1().DaemonSets(namespace).Create(ctx, ds, metav1.CreateOptions{})
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(func() {
				_ = clientset.AppsV1().DaemonSets(namespace).Delete(ctx, ds.Name, metav1.DeleteOptions{})
			})
			return ds
		}
		takenOverBy := func(ds *appsv1.DaemonSet) string {
			live, err := clientset.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
			Expect(err).NotTo(HaveOccurred())
			return live.Annotations[pool.AnnotationTakenOverBy]
		}

		By("as installed, take-over off: DaemonSets may be updated in the release's namespace only")
		Expect(innkeeper.Args).NotTo(ContainElement(HavePrefix("--take-over-namespaces")))
		Expect(canUpdate(localcluster.Namespace)).To(Equal("yes"))
		Expect(canUpdate("kube-system")).To(Equal("no"))
		Expect(canUpdate(metav1.NamespaceDefault)).To(Equal("no"))
		Expect(canUpdate("")).To(Equal("no"))
		// Cleaned up last: take-over off again, as the other specs expect.
		DeferCleanup(func() {
			setTakeOver(false)
			Expect(innkeeper.Args).NotTo(ContainElement(HavePrefix("--take-over-namespaces")))
		})
		kubeadm := foreignKubeProxy("kube-system")
		mustKubectl(fmt.Sprintf(`apiVersion: hotel.innkeeper.dev/v1alpha1
kind: Concierge
metadata:
  name: chart-take-over
spec:
  nodeSelector: {matchLabels: {%s: %s}}
  rollout: {maxUnavailable: 2}
  takeOver: true
  kubeProxy: {mode: iptables}
`, localcluster.PoolLabel, chartPool), "apply", "-f", "-")
		// Cleaned up first, while the manager may still give kube-system's DaemonSet its Nodes back.
		DeferCleanup(func() {
			_, _ = kubectl("", "delete", "concierge", "chart-take-over", "--ignore-not-found", "--wait=true", "--timeout=90s")
		})
		Eventually(func(g Gomega) string { return stalledMessage(g, "chart-take-over") }).WithTimeout(timeout).Should(And(
			ContainSubstring("from DaemonSet kube-system/kube-proxy"), ContainSubstring("take-over is not enabled"),
			ContainSubstring("concierge.takeOver.enabled=true")))
		Expect(takenOverBy(kubeadm)).To(BeEmpty())

		By("take-over on: kube-system is granted, and the pool taken over")
		setTakeOver(true)
		Expect(innkeeper.Args).To(ContainElement("--take-over-namespaces=kube-system"))
		Expect(canUpdate("kube-system")).To(Equal("yes"))
		Expect(canUpdate(localcluster.Namespace)).To(Equal("yes"))
		Expect(canUpdate(metav1.NamespaceDefault)).To(Equal("no"))
		Expect(canUpdate("")).To(Equal("no"))
		mustKubectl("", "wait", "--for=condition=Ready", "concierge/chart-take-over", "--timeout=90s")
		Expect(takenOverBy(kubeadm)).To(Equal("chart-take-over"))

		By("a kube-proxy in a namespace not named for take-over: refused, and left alone")
		mustKubectl("", "create", "namespace", "chart-networking")
		DeferCleanup(func() { _, _ = kubectl("", "delete", "namespace", "chart-networking", "--wait=false") })
		other := foreignKubeProxy("chart-networking")
		Eventually(func(g Gomega) string { return stalledMessage(g, "chart-take-over") }).WithTimeout(timeout).Should(And(
			ContainSubstring("from DaemonSet chart-networking/kube-proxy"),
			ContainSubstring("only in kube-system (--take-over-namespaces)"),
			ContainSubstring("Add chart-networking to the chart's concierge.takeOver.namespaces")))
		Expect(takenOverBy(other)).To(BeEmpty())
		Expect(clientset.AppsV1().DaemonSets("chart-networking").Delete(ctx, other.Name, metav1.DeleteOptions{})).To(Succeed())
		mustKubectl("", "wait", "--for=condition=Ready", "concierge/chart-take-over", "--timeout=90s")

		By("deleting the Concierge gives kube-system's kube-proxy its Nodes back")
		mustKubectl("", "delete", "concierge", "chart-take-over", "--wait=true", "--timeout=90s")
		Expect(takenOverBy(kubeadm)).To(BeEmpty())
	})

	It("leaves no permission error in the manager's log", func() {
		log, err := innkeeper.ManagerLog()
		Expect(err).NotTo(HaveOccurred())
		Expect(log).NotTo(ContainSubstring("forbidden"))
	})
})

// verifyHelmUninstall uninstalls the chart, as the last step of the suite, and checks that the
// release's objects are gone and, as Helm's crds/ convention has it, the CRDs and the objects of
// innkeeper's kinds are not.
func verifyHelmUninstall() {
	By("helm uninstall leaves the CRDs and the custom resources")
	mustKubectl(floorManagerYAML("chart-kept", chartPool, "1", 100), "apply", "-f", "-")
	mustKubectl("", "wait", "--for=condition=Ready", "floormanager/chart-kept", "--timeout=90s")
	innkeeper.StopManager()
	mustHelm("uninstall", localcluster.Release, "--namespace", localcluster.Namespace, "--wait", "--timeout=2m")

	notFound := func(kind, name string, namespaced bool) {
		args := []string{"get", kind, name}
		if namespaced {
			args = append(args, "--namespace", localcluster.Namespace)
		}
		out, err := kubectl("", args...)
		Expect(err).To(HaveOccurred(), "%s %s outlived helm uninstall: %s", kind, name, out)
		Expect(out).To(ContainSubstring("NotFound"))
	}
	notFound("deployment", "innkeeper-manager", true)
	for _, sa := range []string{"innkeeper-manager", "innkeeper-kubelet-agent", "innkeeper-containerd-agent", "innkeeper-kube-proxy"} {
		notFound("serviceaccount", sa, true)
	}
	notFound("clusterrole", "innkeeper-manager", false)
	notFound("clusterrole", "innkeeper-agent", false)
	notFound("clusterrolebinding", "innkeeper-kubelet-agent", false)
	notFound("clusterrolebinding", "innkeeper-containerd-agent", false)
	notFound("validatingadmissionpolicy", "innkeeper-agent-node-scope", false)

	crds, err := filepath.Glob(filepath.Join(chartDir, "crds", "*.yaml"))
	Expect(err).NotTo(HaveOccurred())
	Expect(crds).NotTo(BeEmpty())
	for _, path := range crds {
		data, err := os.ReadFile(path)
		Expect(err).NotTo(HaveOccurred())
		crd := &metav1.PartialObjectMetadata{}
		Expect(yaml.Unmarshal(data, crd)).To(Succeed())
		mustKubectl("", "get", "crd", crd.Name)
	}
	Expect(mustKubectl("", "get", "floormanager", "chart-kept", "-o", "name")).To(ContainSubstring("chart-kept"))
}
