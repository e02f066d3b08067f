//go:build faults

package faults

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/manager"
	"github.com/innkeeper-dev/innkeeper/internal/pool"
	"github.com/innkeeper-dev/innkeeper/internal/render/kubelet"
	"github.com/innkeeper-dev/innkeeper/test/localcluster"
)

// timeout bounds every wait for something that takes no fault to happen.
const timeout = 90 * time.Second

// floorManagerYAML is a FloorManager over a pool with maxUnavailable 1, as a user would write it.
func floorManagerYAML(name, poolName string, maxPods int) string {
	return fmt.Sprintf(`apiVersion: hotel.innkeeper.dev/v1alpha1
kind: FloorManager
metadata:
  name: %s
spec:
  nodeSelector:
    matchLabels:
      %s: %s
  rollout:
    maxUnavailable: 1
  kubelet:
    maxPods: %d
`, name, localcluster.PoolLabel, poolName, maxPods)
}

func getFM(name string) *hotelv1alpha1.FloorManager {
	GinkgoHelper()
	fm := &hotelv1alpha1.FloorManager{}
	Expect(k8sClient.Get(ctx, client.ObjectKey{Name: name}, fm)).To(Succeed())
	return fm
}

// setMaxPods changes a FloorManager's configuration, retrying for a while: right after the API
// server is back, a first request may still fail. It returns the new generation.
func setMaxPods(name string, maxPods int) int64 {
	GinkgoHelper()
	patch := fmt.Appendf(nil, `{"spec":{"kubelet":{"maxPods":%d}}}`, maxPods)
	var generation int64
	Eventually(func() error {
		fm := &hotelv1alpha1.FloorManager{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if err := k8sClient.Patch(ctx, fm, client.RawPatch(types.MergePatchType, patch)); err != nil {
			return err
		}
		generation = fm.Generation
		return nil
	}).WithTimeout(30 * time.Second).WithPolling(100 * time.Millisecond).Should(Succeed())
	return generation
}

// waitReady waits until a FloorManager is Ready for its current generation.
func waitReady(name string, within time.Duration) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		fm := getFM(name)
		g.Expect(fm.Status.ObservedGeneration).To(Equal(fm.Generation))
		c := meta.FindStatusCondition(fm.Status.Conditions, hotelv1alpha1.ConditionReady)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.ObservedGeneration).To(Equal(fm.Generation))
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue), c.Message)
	}).WithTimeout(within).WithPolling(100 * time.Millisecond).Should(Succeed())
}

// poolNodes returns the Nodes of a pool, by name.
func poolNodes(poolName string) []corev1.Node {
	GinkgoHelper()
	nodes, err := clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: localcluster.PoolLabel + "=" + poolName})
	Expect(err).NotTo(HaveOccurred())
	sort.Slice(nodes.Items, func(i, j int) bool { return nodes.Items[i].Name < nodes.Items[j].Name })
	return nodes.Items
}

// configKey is the Node annotation in which a kubelet agent records the configuration it applied.
var configKey = hotelv1alpha1.AgentAnnotation(kubelet.Name, hotelv1alpha1.AgentAnnotationConfig)

// updatedNodes counts the Nodes that record configuration hash, and those of them that are Ready.
func updatedNodes(nodes []corev1.Node, hash string) (updated, ready int32) {
	for _, n := range nodes {
		if hash == "" || n.Annotations[configKey] != hash {
			continue
		}
		updated++
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				ready++
			}
		}
	}
	return updated, ready
}

// daemonSet returns a FloorManager's DaemonSet, nil if there is none.
func daemonSet(name string) *appsv1.DaemonSet {
	GinkgoHelper()
	ds, err := clientset.AppsV1().DaemonSets(localcluster.Namespace).Get(ctx, name+"-"+kubelet.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	Expect(err).NotTo(HaveOccurred())
	return ds
}

// statusDisagreement returns how a FloorManager's status disagrees with the cluster as it is now,
// "" if it agrees: the status must be of the current generation, report the configuration the
// DaemonSet rolls out, count the pool's Nodes as their agents' annotations say, and be Ready
// exactly when every Node runs that configuration and is Ready. Errors count as disagreement: the
// API server may still be coming back.
func statusDisagreement(name, poolName string) string {
	fm := &hotelv1alpha1.FloorManager{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Name: name}, fm); err != nil {
		return err.Error()
	}
	nodes, err := clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: localcluster.PoolLabel + "=" + poolName})
	if err != nil {
		return err.Error()
	}
	ds, err := clientset.AppsV1().DaemonSets(localcluster.Namespace).Get(ctx, name+"-"+kubelet.Name, metav1.GetOptions{})
	if err != nil {
		return err.Error()
	}
	st := fm.Status
	if st.ObservedGeneration != fm.Generation {
		return fmt.Sprintf("observedGeneration %d, generation %d", st.ObservedGeneration, fm.Generation)
	}
	ready := meta.FindStatusCondition(st.Conditions, hotelv1alpha1.ConditionReady)
	if ready == nil || ready.ObservedGeneration != fm.Generation {
		return fmt.Sprintf("Ready is not of generation %d: %+v", fm.Generation, ready)
	}
	if hash := ds.Spec.Template.Annotations[pool.AnnotationHash]; st.ConfigHash != hash {
		return fmt.Sprintf("configHash %s, the DaemonSet rolls out %s", st.ConfigHash, hash)
	}
	updated, nodesReady := updatedNodes(nodes.Items, st.ConfigHash)
	want := hotelv1alpha1.NodeCounts{Selected: int32(len(nodes.Items)), Updated: updated, Ready: nodesReady}
	got := hotelv1alpha1.NodeCounts{Selected: st.Nodes.Selected, Updated: st.Nodes.Updated, Ready: st.Nodes.Ready}
	if got != want {
		return fmt.Sprintf("nodes %+v, the Nodes say %+v", got, want)
	}
	wantReady := want.Selected > 0 && want.Updated == want.Selected && want.Ready == want.Selected
	if (ready.Status == metav1.ConditionTrue) != wantReady {
		return fmt.Sprintf("Ready=%s (%s), the Nodes say %+v", ready.Status, ready.Message, want)
	}
	return ""
}

// expectNothingLostOrDuplicated checks what a Ready FloorManager owns: exactly one DaemonSet, the
// configs newest of its ConfigMaps (innkeeper keeps three) with the DaemonSet's among them, one
// agent pod on each Node of the pool, of the current configuration, every Node admitted to the
// rollout and recording that configuration, and a status that says the same.
func expectNothingLostOrDuplicated(name, poolName string, configs int) {
	GinkgoHelper()
	selector := fmt.Sprintf("%s=%s,%s=%s", pool.LabelPool, name, pool.LabelComponent, kubelet.Name)
	// The last replaced pod may still be going: give the cluster a moment to settle, no more.
	Eventually(func(g Gomega) {
		fm := getFM(name)
		dss, err := clientset.AppsV1().DaemonSets(localcluster.Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(dss.Items).To(HaveLen(1), "DaemonSets of %s", name)
		ds := dss.Items[0]
		hash := ds.Spec.Template.Annotations[pool.AnnotationHash]
		g.Expect(fm.Status.ConfigHash).To(Equal(hash))

		cms, err := clientset.CoreV1().ConfigMaps(localcluster.Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
		g.Expect(err).NotTo(HaveOccurred())
		hashes := map[string]bool{}
		for _, cm := range cms.Items {
			g.Expect(hashes).NotTo(HaveKey(cm.Annotations[pool.AnnotationHash]), "two ConfigMaps of one configuration")
			hashes[cm.Annotations[pool.AnnotationHash]] = true
		}
		g.Expect(cms.Items).To(HaveLen(min(configs, 3)), "ConfigMaps of %s", name)
		g.Expect(hashes).To(HaveKey(hash), "the DaemonSet's ConfigMap is gone")

		nodes := poolNodes(poolName)
		n := int32(len(nodes))
		g.Expect(fm.Status.Nodes).To(Equal(hotelv1alpha1.NodeCounts{Selected: n, Updated: n, Ready: n}))
		for _, node := range nodes {
			g.Expect(node.Annotations).To(HaveKeyWithValue(configKey, hash), "Node %s", node.Name)
			g.Expect(node.Labels).To(HaveKeyWithValue(pool.AdmittedLabel(kubelet.Name), string(fm.UID)), "Node %s", node.Name)
		}

		pods, err := clientset.CoreV1().Pods(localcluster.Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
		g.Expect(err).NotTo(HaveOccurred())
		perNode := map[string]int{}
		for _, p := range pods.Items {
			g.Expect(p.Annotations).To(HaveKeyWithValue(pool.AnnotationHash, hash), "pod %s", p.Name)
			perNode[p.Spec.NodeName]++
		}
		g.Expect(perNode).To(HaveLen(len(nodes)), "agent pods by Node")
		for node, count := range perNode {
			g.Expect(count).To(Equal(1), "agent pods on Node %s", node)
		}
	}).WithTimeout(20 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())
}

// leaseHolder returns who holds the manager's leader-election Lease, "" if no one does or it
// cannot be read.
func leaseHolder() string {
	lease, err := clientset.CoordinationV1().Leases(localcluster.Namespace).Get(ctx, manager.LeaderElectionID, metav1.GetOptions{})
	if err != nil || lease.Spec.HolderIdentity == nil {
		return ""
	}
	return *lease.Spec.HolderIdentity
}

// restartReplicas starts again, as the kubelet would, every replica that does not run: one that
// exited by itself (a leader that lost its Lease exits), or that the test killed.
func restartReplicas() {
	GinkgoHelper()
	for _, pod := range replicas {
		if !innkeeper.ReplicaRunning(pod) {
			Expect(innkeeper.StartReplica(ctx, pod)).To(Succeed())
		}
	}
}

// measurements are the times a spec measured, one row per run, reported as a table.
type measurements struct {
	title   string
	columns []string
	labels  []string
	rows    [][]time.Duration
}

// add adds a row, labelled with its run's number.
func (m *measurements) add(row ...time.Duration) {
	m.addLabelled(fmt.Sprintf("run %d", len(m.rows)+1), row...)
}

// addLabelled adds a row with a label.
func (m *measurements) addLabelled(label string, row ...time.Duration) {
	m.labels = append(m.labels, label)
	m.rows = append(m.rows, row)
}

// report adds the table to the spec's report, and to its output.
func (m *measurements) report() {
	width := 6
	for _, l := range m.labels {
		width = max(width, len(l))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", m.title)
	fmt.Fprintf(&b, "  %-*s", width, "")
	for _, c := range m.columns {
		fmt.Fprintf(&b, "  %26s", c)
	}
	b.WriteString("\n")
	for i, row := range m.rows {
		fmt.Fprintf(&b, "  %-*s", width, m.labels[i])
		for _, d := range row {
			fmt.Fprintf(&b, "  %26s", d.Round(10*time.Millisecond))
		}
		b.WriteString("\n")
	}
	AddReportEntry(m.title, b.String())
}

// column returns one column of the measurements.
func (m *measurements) column(i int) []time.Duration {
	var col []time.Duration
	for _, row := range m.rows {
		col = append(col, row[i])
	}
	return col
}

// jsonPatch marshals a patch.
func jsonPatch(v any) []byte {
	b, err := json.Marshal(v)
	Expect(err).NotTo(HaveOccurred())
	return b
}
