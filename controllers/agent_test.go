package controllers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/agent"
	"github.com/innkeeper-dev/innkeeper/internal/render/kubelet"
)

// kubeletSimulator stands in for a Node's kubelet: a healthz endpoint the test turns on and off, and
// a restart that posts a fresh Ready heartbeat to the Node, as a real kubelet does when it starts.
type kubeletSimulator struct {
	node    string
	healthy atomic.Bool
	healthz *httptest.Server
}

func newKubeletSimulator(node string) *kubeletSimulator {
	k := &kubeletSimulator{node: node}
	k.healthy.Store(true)
	k.healthz = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !k.healthy.Load() {
			http.Error(w, "kubelet is not running", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	DeferCleanup(k.healthz.Close)
	return k
}

func (k *kubeletSimulator) RestartUnit(ctx context.Context, _ string) error {
	node := &corev1.Node{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Name: k.node}, node); err != nil {
		return err
	}
	base := node.DeepCopy()
	for i := range node.Status.Conditions {
		if node.Status.Conditions[i].Type == corev1.NodeReady {
			node.Status.Conditions[i].LastHeartbeatTime = metav1.NewTime(time.Now().Add(time.Second))
		}
	}
	// A patch, not an update: the manager may label the Node (admitting it to a rollout) meanwhile.
	return k8sClient.Status().Patch(ctx, node, client.MergeFrom(base))
}

// agentFor builds the node agent that the FloorManager's DaemonSet would run on node, from the
// ConfigMap the pod would mount, with the host at a temporary directory.
func agentFor(name string, node *corev1.Node, kubeletSim *kubeletSimulator, hostRoot string) *agent.Agent {
	ds := daemonSetOf(name)
	hash := templateHash(ds)
	cm := &corev1.ConfigMap{}
	Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: testNamespace, Name: name + "-kubelet-" + hash}, cm)).To(Succeed())
	clientset, err := kubernetes.NewForConfig(cfg)
	Expect(err).NotTo(HaveOccurred())
	reporter := &agent.NodeReporter{Client: clientset, NodeName: node.Name, Component: kubelet.Name}
	return &agent.Agent{
		Target: &agent.Kubelet{
			DropInDir:  "/etc/kubernetes/kubelet.conf.d",
			HealthzURL: kubeletSim.healthz.URL,
			Client:     kubeletSim.healthz.Client(),
			Args: func() ([]string, error) {
				return []string{"/usr/bin/kubelet", "--config-dir=/etc/kubernetes/kubelet.conf.d"}, nil
			},
			Node: reporter.Node,
		},
		Restarter:      kubeletSim,
		Reporter:       reporter,
		HostRoot:       hostRoot,
		Config:         map[string][]byte{kubelet.DropInFile: []byte(cm.Data[kubelet.DropInFile])},
		Hash:           hash,
		HealthTimeout:  2 * time.Second,
		HealthInterval: 50 * time.Millisecond,
		Log:            GinkgoLogr,
	}
}

var _ = Describe("Node agent with the FloorManager controller", func() {
	It("counts a Node as updated once its agent applied the configuration, and as degraded when it rolled back", func() {
		poolName, nodes := createPool(1)
		name := uniqueName("fm")
		createFloorManager(newFloorManager(name, poolName, hotelv1alpha1.KubeletSpec{MaxPods: ptr.To[int32](90)}))
		sim := newKubeletSimulator(nodes[0].Name)
		host := GinkgoT().TempDir()

		a := agentFor(name, nodes[0], sim, host)
		Expect(a.Apply(ctx)).To(Succeed())
		node := &corev1.Node{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(nodes[0]), node)).To(Succeed())
		Expect(node.Annotations).To(HaveKeyWithValue("hotel.innkeeper.dev/kubelet-config", a.Hash))
		Expect(node.Annotations).To(HaveKeyWithValue("hotel.innkeeper.dev/kubelet-state", "Applied"))
		expectCondition(name, hotelv1alpha1.ConditionReady, metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutComplete)
		Expect(getFloorManager(name).Status.Nodes).To(Equal(hotelv1alpha1.NodeCounts{Selected: 1, Updated: 1, Ready: 1}))

		By("a configuration the kubelet does not come back from")
		updateFloorManager(name, func(fm *hotelv1alpha1.FloorManager) { fm.Spec.Kubelet.MaxPods = ptr.To[int32](70) })
		Eventually(func() string { return templateHash(daemonSetOf(name)) }).WithTimeout(timeout).ShouldNot(Equal(a.Hash))
		failing := agentFor(name, nodes[0], sim, host)
		sim.healthy.Store(false)
		err := failing.Apply(ctx)
		Expect(err).To(MatchError(ContainSubstring("HealthCheckFailed")))

		expectCondition(name, hotelv1alpha1.ConditionDegraded, metav1.ConditionTrue, hotelv1alpha1.ReasonNodesDegraded)
		expectCondition(name, hotelv1alpha1.ConditionStalled, metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutBlocked)
		fm := getFloorManager(name)
		Expect(fm.Status.Nodes).To(Equal(hotelv1alpha1.NodeCounts{Selected: 1, Updated: 0, Ready: 0, Unavailable: 1, Degraded: 1}))
		Expect(fm.Status.DegradedNodes).To(HaveLen(1))
		Expect(fm.Status.DegradedNodes[0].Name).To(Equal(nodes[0].Name))
		Expect(fm.Status.DegradedNodes[0].Reason).To(Equal("HealthCheckFailed"))
		Expect(fm.Status.DegradedNodes[0].Message).To(ContainSubstring("kubelet is not running"))
	})
})
