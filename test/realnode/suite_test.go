//go:build realnode

// The real-node suite (make test-node): innkeeper, installed with its Helm chart, rolls out
// configuration to real nodes (test/realnode): its real agent pods write drop-ins that the real
// kubelet and containerd read, restart them over D-Bus, health-check and roll back; a real
// kube-proxy runs as a Concierge's. Nothing here is simulated but the machine the nodes run on.
package realnode_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/manager"
	"github.com/innkeeper-dev/innkeeper/internal/render/kubelet"
	"github.com/innkeeper-dev/innkeeper/test/localcluster"
	"github.com/innkeeper-dev/innkeeper/test/realnode"
)

// poolLabel puts both nodes into the pool every spec's object selects.
const (
	poolLabel = localcluster.PoolLabel
	poolName  = "real"
)

var (
	ctx       context.Context
	cancel    context.CancelFunc
	cluster   *realnode.Cluster
	innkeeper *localcluster.Innkeeper
	k8sClient client.Client
	clientset kubernetes.Interface
	repoRoot  = filepath.Join("..", "..")
	// pool is the pool's selector, as every spec's object selects it.
	pool = metav1.LabelSelector{MatchLabels: map[string]string{poolLabel: poolName}}
)

func TestMain(m *testing.M) { realnode.Main(m) }

func TestRealNodes(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "innkeeper on real nodes")
}

// env returns an environment variable that make test-node sets.
func env(name string) string {
	GinkgoHelper()
	v := os.Getenv(name)
	Expect(v).NotTo(BeEmpty(), "%s is not set: run make test-node", name)
	return v
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.Background())
	DeferCleanup(func() { cancel() })
	images := GinkgoT().TempDir()
	pause, err := realnode.PauseImage(ctx, repoRoot, images)
	Expect(err).NotTo(HaveOccurred())
	kubeProxy, err := realnode.KubeProxyImage(env("REALNODE_ROOTFS"), env("LOCALCLUSTER_BIN"), images)
	Expect(err).NotTo(HaveOccurred())

	start := time.Now()
	cluster, err = realnode.Start(ctx, realnode.Options{
		BinDir: env("LOCALCLUSTER_BIN"), Rootfs: env("REALNODE_ROOTFS"),
		Nodes: []realnode.NodeOptions{
			{Name: "node-1", Labels: map[string]string{poolLabel: poolName}},
			{Name: "node-2", Labels: map[string]string{poolLabel: poolName}},
		},
		Images: []string{pause, kubeProxy, env("INNKEEPER_IMAGE_ARCHIVE")},
		Log:    GinkgoWriter,
	})
	Expect(err).NotTo(HaveOccurred())
	// Cleanups run last in, first out: this one, registered first, runs after Stop.
	DeferCleanup(func() {
		Expect(cluster.Leftovers()).To(BeEmpty(), "stopping the cluster left these behind")
	})
	DeferCleanup(cluster.Stop)
	AddReportEntry("cluster started (control plane, 2 nodes booted, images imported, Nodes Ready)",
		time.Since(start).Round(100*time.Millisecond).String())

	innkeeper, err = cluster.InstallChart(ctx, repoRoot,
		"image.tag="+env("INNKEEPER_IMAGE_TAG"),
		"kubeProxy.image="+realnode.KubeProxyImageName,
		"kubeProxy.apiServer="+cluster.Server)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(innkeeper.Stop)
	k8sClient, err = client.New(cluster.Config, client.Options{Scheme: manager.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	clientset, err = kubernetes.NewForConfig(cluster.Config)
	Expect(err).NotTo(HaveOccurred())
})

// ReportAfterEach prints what a failed spec's nodes and manager said.
var _ = ReportAfterEach(func(report SpecReport) {
	if !report.Failed() || cluster == nil {
		return
	}
	for _, n := range cluster.Nodes {
		out, _ := n.Exec(context.Background(), "journalctl", "--no-pager", "-n", "60", "-u", "kubelet", "-u", "containerd")
		AddReportEntry("journal of "+n.Name, string(out))
	}
	if innkeeper != nil {
		AddReportEntry("manager log", innkeeper.ManagerLogTail())
	}
	out, _ := cluster.KubectlOutput(context.Background(), "get", "pods", "-A", "-o", "wide")
	AddReportEntry("pods", string(out))
})

// create creates obj and deletes it when the spec ends, waiting until it is gone (its DaemonSet
// with it), so that the next spec's object does not conflict with it.
func create(obj client.Object) {
	GinkgoHelper()
	Expect(k8sClient.Create(ctx, obj)).To(Succeed())
	DeferCleanup(func() {
		Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, obj))).To(Succeed())
		// A FloorManager or RoomService first reverts its Nodes, one at a time: a restart each.
		Eventually(func() bool {
			err := k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj)
			return err != nil
		}).WithTimeout(5 * time.Minute).Should(BeTrue())
		Eventually(func() int {
			pods, err := clientset.CoreV1().Pods(localcluster.Namespace).List(ctx, metav1.ListOptions{
				LabelSelector: "hotel.innkeeper.dev/pool=" + obj.GetName()})
			Expect(err).NotTo(HaveOccurred())
			return len(pods.Items)
		}).WithTimeout(2 * time.Minute).Should(BeZero())
	})
}

// clientKey is an object's key.
func clientKey(obj client.Object) client.ObjectKey { return client.ObjectKeyFromObject(obj) }

// condition returns an object's condition of type t, nil if it has none, reading the object anew.
func condition(obj client.Object, t string) *metav1.Condition {
	GinkgoHelper()
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
	return meta.FindStatusCondition(obj.(hotelv1alpha1.PoolObject).PoolStatus().Conditions, t)
}

// readyTimeout bounds the wait for an object to be Ready.
const readyTimeout = 5 * time.Minute

// waitReady waits until obj is Ready for its generation and returns how long that took, and whether
// it was Reconciling on the way.
func waitReady(obj client.Object) (time.Duration, bool) {
	GinkgoHelper()
	start, reconciling := time.Now(), false
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
		st := obj.(hotelv1alpha1.PoolObject).PoolStatus()
		if meta.IsStatusConditionTrue(st.Conditions, hotelv1alpha1.ConditionReconciling) {
			reconciling = true
		}
		g.Expect(st.ObservedGeneration).To(Equal(obj.GetGeneration()))
		ready := meta.FindStatusCondition(st.Conditions, hotelv1alpha1.ConditionReady)
		g.Expect(ready).NotTo(BeNil())
		g.Expect(ready.Status).To(Equal(metav1.ConditionTrue), "%s: %s", ready.Reason, ready.Message)
	}).WithTimeout(readyTimeout).WithPolling(100 * time.Millisecond).Should(Succeed())
	return time.Since(start), reconciling
}

// watchPods logs, until the spec ends, every change of the phase, readiness or deletion of
// innkeeper's pods: the rollout's history, for a failed spec.
func watchPods() {
	c, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		last := map[string]string{}
		for deadline := time.Now().Add(15 * time.Minute); time.Now().Before(deadline) && c.Err() == nil; {
			pods, err := clientset.CoreV1().Pods(localcluster.Namespace).List(c, metav1.ListOptions{})
			if err == nil {
				for _, p := range pods.Items {
					ready := "NotReady"
					for _, cond := range p.Status.Conditions {
						if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
							ready = "Ready"
						}
					}
					state := fmt.Sprintf("%s %s %s deleting=%t", p.Spec.NodeName, p.Status.Phase, ready, p.DeletionTimestamp != nil)
					if last[p.Name] != state {
						GinkgoWriter.Printf("%s pod %s: %s\n", time.Now().Format("15:04:05.000"), p.Name, state)
						last[p.Name] = state
					}
				}
			}
			select {
			case <-c.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	DeferCleanup(func() { stop(); <-done })
}

// waitRolledOut waits until obj's DaemonSet has every pod on the current template, and every pod
// has been Ready for 5 s. An object is Ready once its agents have recorded the configuration on
// their Nodes; their pods turn Ready up to a readiness-probe period (5 s) later, and a pod on a
// Node whose kubelet just restarted flips NotReady and back within a second or two. The DaemonSet
// controller replaces an old pod that is not available at once, whatever maxUnavailable says: an
// update in that window rolls out to more Nodes at once than it allows. Specs that measure pacing
// wait for this first. (Found on these nodes; for the safe-rollouts issue, whose pacing must not
// depend on it.)
func waitRolledOut(obj client.Object, component string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		ds, err := clientset.AppsV1().DaemonSets(localcluster.Namespace).Get(ctx, obj.GetName()+"-"+component, metav1.GetOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		s := ds.Status
		g.Expect(s.ObservedGeneration).To(Equal(ds.Generation))
		g.Expect(s.UpdatedNumberScheduled).To(Equal(s.DesiredNumberScheduled))
		g.Expect(s.NumberAvailable).To(Equal(s.DesiredNumberScheduled))
		pods, err := clientset.CoreV1().Pods(localcluster.Namespace).List(ctx, metav1.ListOptions{
			LabelSelector: "hotel.innkeeper.dev/pool=" + obj.GetName()})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(pods.Items).To(HaveLen(int(s.DesiredNumberScheduled)))
		for _, p := range pods.Items {
			steady := false
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue && time.Since(c.LastTransitionTime.Time) > 5*time.Second {
					steady = true
				}
			}
			g.Expect(steady).To(BeTrue(), "pod %s has not been Ready for 5 s", p.Name)
		}
	}).WithTimeout(2 * time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
}

// node returns a Node.
func node(name string) *corev1.Node {
	GinkgoHelper()
	n, err := clientset.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	Expect(err).NotTo(HaveOccurred())
	return n
}

// configz returns the kubelet configuration a node's kubelet runs, from its /configz (through
// the API server's proxy to the kubelet).
func configz(name string) map[string]any {
	GinkgoHelper()
	raw, err := clientset.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", name, "proxy", "configz").DoRaw(ctx)
	Expect(err).NotTo(HaveOccurred(), "configz of %s: %s", name, raw)
	var out struct {
		KubeletConfig map[string]any `json:"kubeletconfig"`
	}
	Expect(json.Unmarshal(raw, &out)).To(Succeed())
	return out.KubeletConfig
}

// kubeletAgent returns the kubelet agent's record on a Node: the configuration it applied and its
// state.
func kubeletAgent(n *corev1.Node) (config, state string) {
	a := n.Annotations
	return a[hotelv1alpha1.AgentAnnotation(kubelet.Name, hotelv1alpha1.AgentAnnotationConfig)],
		a[hotelv1alpha1.AgentAnnotation(kubelet.Name, hotelv1alpha1.AgentAnnotationState)]
}

// nodeNames are the cluster's nodes' names.
func nodeNames() []string {
	names := make([]string, len(cluster.Nodes))
	for i, n := range cluster.Nodes {
		names[i] = n.Name
	}
	return names
}

// mainPIDs returns the main PID of a unit on every node, by node name.
func mainPIDs(unit string) map[string]int {
	GinkgoHelper()
	pids := map[string]int{}
	for _, n := range cluster.Nodes {
		pid, err := n.MainPID(ctx, unit)
		Expect(err).NotTo(HaveOccurred())
		Expect(pid).NotTo(BeZero(), "%s does not run on %s", unit, n.Name)
		pids[n.Name] = pid
	}
	return pids
}

// fileOn returns a file of a node, "" if it does not exist.
func fileOn(n *realnode.Node, path string) string {
	GinkgoHelper()
	out, err := n.Exec(ctx, "sh", "-c", fmt.Sprintf("cat %q 2>/dev/null || true", path))
	Expect(err).NotTo(HaveOccurred())
	return string(out)
}
