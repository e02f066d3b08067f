//go:build faults

package faults

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/innkeeper-dev/innkeeper/internal/pool"
	"github.com/innkeeper-dev/innkeeper/internal/render/kubelet"
	"github.com/innkeeper-dev/innkeeper/test/localcluster"
)

// restoreTimeout bounds how long an out-of-band change may stand: not a goal, a bound.
const restoreTimeout = 30 * time.Second

var _ = Describe("Out-of-band changes", func() {
	It("puts back what someone else deletes or changes of its DaemonSet, ConfigMaps and Node labels", func() {
		const name = "drift"
		mustKubectl(floorManagerYAML(name, name, 110), "apply", "-f", "-")
		DeferCleanup(func() { _, _ = kubectl("", "delete", "floormanager", name, "--wait=true", "--timeout=60s") })
		waitReady(name, timeout)
		fm := getFM(name)
		dsName := name + "-" + kubelet.Name
		ns := localcluster.Namespace

		times := &measurements{title: "Out-of-band changes put back", columns: []string{"restored after"}}
		defer times.report()
		// measure runs change, then waits until restored says it is undone, and records how long that took.
		measure := func(what string, change func(), restored func(g Gomega)) {
			GinkgoHelper()
			By(what)
			start := time.Now()
			change()
			Eventually(restored).WithTimeout(restoreTimeout).WithPolling(50*time.Millisecond).Should(Succeed(), what)
			times.addLabelled(what, time.Since(start))
			waitReady(name, timeout)
		}

		ds := daemonSet(name)
		Expect(ds).NotTo(BeNil())
		measure("the DaemonSet deleted", func() {
			Expect(clientset.AppsV1().DaemonSets(ns).Delete(ctx, dsName, metav1.DeleteOptions{
				PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)})).To(Succeed())
		}, func(g Gomega) {
			now := daemonSet(name)
			g.Expect(now).NotTo(BeNil())
			g.Expect(now.UID).NotTo(Equal(ds.UID))
			g.Expect(now.DeletionTimestamp).To(BeNil())
		})

		cmName := dsName + "-" + fm.Status.ConfigHash
		cm, err := clientset.CoreV1().ConfigMaps(ns).Get(ctx, cmName, metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		measure("the DaemonSet's ConfigMap deleted", func() {
			Expect(clientset.CoreV1().ConfigMaps(ns).Delete(ctx, cmName, metav1.DeleteOptions{})).To(Succeed())
		}, func(g Gomega) {
			now, err := clientset.CoreV1().ConfigMaps(ns).Get(ctx, cmName, metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(now.UID).NotTo(Equal(cm.UID))
			g.Expect(now.Data).To(Equal(cm.Data))
		})

		measure("hostIPC and a container added to the DaemonSet's pod template", func() {
			patch := jsonPatch(map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
				"hostIPC":    true,
				"containers": []map[string]any{{"name": "intruder", "image": "registry.example/intruder:1"}},
			}}}})
			_, err := clientset.AppsV1().DaemonSets(ns).Patch(ctx, dsName, types.StrategicMergePatchType, patch,
				metav1.PatchOptions{FieldManager: "intruder"})
			Expect(err).NotTo(HaveOccurred())
		}, func(g Gomega) {
			now := daemonSet(name)
			g.Expect(now).NotTo(BeNil())
			g.Expect(now.Spec.Template.Spec.HostIPC).To(BeFalse())
			g.Expect(containerNames(now)).NotTo(ContainElement("intruder"))
		})

		node := poolNodes(name)[0].Name
		admitted := pool.AdmittedLabel(kubelet.Name)
		measure("the Node label "+admitted+" removed", func() {
			_, err := clientset.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType,
				jsonPatch(map[string]any{"metadata": map[string]any{"labels": map[string]any{admitted: nil}}}), metav1.PatchOptions{})
			Expect(err).NotTo(HaveOccurred())
		}, func(g Gomega) {
			n, err := clientset.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(n.Labels).To(HaveKeyWithValue(admitted, string(fm.UID)))
		})

		expectNothingLostOrDuplicated(name, name, 1)
		Expect(getFM(name).Status.ConfigHash).To(Equal(fm.Status.ConfigHash), "the configuration changed")
		// Nothing of the intruder's is left running.
		pods, err := clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: pool.LabelPool + "=" + name})
		Expect(err).NotTo(HaveOccurred())
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil {
				Expect(p.Spec.HostIPC).To(BeFalse(), "pod %s", p.Name)
				Expect(podContainerNames(&p)).NotTo(ContainElement("intruder"), "pod %s", p.Name)
			}
		}
	})
})

func containerNames(ds *appsv1.DaemonSet) []string {
	return podContainerNames(&corev1.Pod{Spec: ds.Spec.Template.Spec})
}

func podContainerNames(p *corev1.Pod) []string {
	var names []string
	for _, c := range p.Spec.Containers {
		names = append(names, c.Name)
	}
	return names
}
