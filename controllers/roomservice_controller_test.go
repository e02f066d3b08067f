package controllers_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/manager"
)

// createRoomService creates a RoomService over a pool.
func createRoomService(name, poolName string, spec hotelv1alpha1.ContainerdSpec) *hotelv1alpha1.RoomService {
	rs := &hotelv1alpha1.RoomService{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: hotelv1alpha1.RoomServiceSpec{
			PoolSpec:   hotelv1alpha1.PoolSpec{NodeSelector: hotelv1alpha1.NodeSelectorOf(metav1.LabelSelector{MatchLabels: map[string]string{poolKey: poolName}})},
			Containerd: spec,
		},
	}
	Expect(k8sClient.Create(ctx, rs)).To(Succeed())
	DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, rs))).To(Succeed()) })
	return rs
}

// updateRoomService changes a RoomService's spec, retrying on conflicts with the manager's writes.
func updateRoomService(name string, change func(*hotelv1alpha1.RoomService)) {
	Eventually(func() error {
		rs := &hotelv1alpha1.RoomService{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Name: name}, rs); err != nil {
			return err
		}
		change(rs)
		return k8sClient.Update(ctx, rs)
	}).WithTimeout(timeout).Should(Succeed())
}

// containerdDaemonSet waits for a RoomService's DaemonSet and returns it.
func containerdDaemonSet(name string) *appsv1.DaemonSet {
	ds := &appsv1.DaemonSet{}
	Eventually(func() error {
		return k8sClient.Get(ctx, client.ObjectKey{Namespace: testNamespace, Name: name + "-containerd"}, ds)
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	return ds
}

// renderedFiles returns the files of the configuration a RoomService's DaemonSet rolls out.
func renderedFiles(name string) map[string]string {
	hash := templateHash(containerdDaemonSet(name))
	cm := &corev1.ConfigMap{}
	Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: testNamespace, Name: name + "-containerd-" + hash}, cm)).To(Succeed())
	return cm.Data
}

// createCABundle creates a ConfigMap holding a new CA certificate in innkeeper's namespace.
func createCABundle(name string) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: testNamespace, Name: name},
		Data: map[string]string{"ca.crt": newCACertificate()}}
	Expect(k8sClient.Create(ctx, cm)).To(Succeed())
	DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, cm))).To(Succeed()) })
	return cm
}

func newCACertificate() string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	Expect(err).NotTo(HaveOccurred())
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "mirror CA"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	Expect(err).NotTo(HaveOccurred())
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// mirrorWithCA is docker.io pulled through one mirror whose certificate chains to a CA bundle.
func mirrorWithCA(caConfigMap string) []hotelv1alpha1.RegistryHost {
	return []hotelv1alpha1.RegistryHost{{Host: "docker.io", Mirrors: []hotelv1alpha1.RegistryMirror{{
		URL: "https://mirror.example.com", CABundle: &hotelv1alpha1.ConfigMapKeyReference{Name: caConfigMap, Key: "ca.crt"},
	}}}}
}

var _ = Describe("RoomService controller", func() {
	It("renders the drop-in, hosts files and CA bundles into one ConfigMap, rolled out by the containerd agent", func() {
		poolName, nodes := createPool(2)
		ca := createCABundle(uniqueName("mirror-ca"))
		name := uniqueName("rms")
		rs := createRoomService(name, poolName, hotelv1alpha1.ContainerdSpec{ConfigVersion: 3,
			SandboxImage: ptr.To("registry.k8s.io/pause:3.10"), Registries: mirrorWithCA(ca.Name)})

		ds := containerdDaemonSet(name)
		agent := ds.Spec.Template.Spec.Containers[0]
		Expect(agent.Args).To(ContainElements("agent", "--component=containerd", "--config=/etc/innkeeper"))
		// The containerd agent's own ServiceAccount: the admission policy keeps it to containerd's annotations.
		Expect(ds.Spec.Template.Spec.ServiceAccountName).To(Equal(manager.DefaultContainerdAgentServiceAccount))
		files := renderedFiles(name)
		Expect(files).To(HaveKey("50-innkeeper.toml"))
		Expect(files["50-innkeeper.toml"]).To(ContainSubstring("registry.k8s.io/pause:3.10"))
		Expect(files).To(HaveKey("docker.io.hosts.toml"))
		Expect(files["docker.io.hosts.toml"]).To(ContainSubstring("https://mirror.example.com"))
		var caFiles []string
		for key, data := range files {
			if data == ca.Data["ca.crt"] {
				caFiles = append(caFiles, key)
			}
		}
		Expect(caFiles).To(HaveLen(1), "the CA bundle travels with the configuration")

		By("the agents' reports")
		hash := templateHash(ds)
		for _, n := range nodes {
			annotateNode(n.Name, map[string]string{
				hotelv1alpha1.AgentAnnotation("containerd", hotelv1alpha1.AgentAnnotationConfig): hash,
				hotelv1alpha1.AgentAnnotation("containerd", hotelv1alpha1.AgentAnnotationState):  hotelv1alpha1.AgentStateApplied,
			})
		}
		expectConditionOf(rs, hotelv1alpha1.ConditionReady, metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutComplete)

		By("a new CA bundle in the ConfigMap rolls out a new configuration")
		Eventually(func() error {
			live := &corev1.ConfigMap{}
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(ca), live); err != nil {
				return err
			}
			live.Data["ca.crt"] = newCACertificate()
			return k8sClient.Update(ctx, live)
		}).WithTimeout(timeout).Should(Succeed())
		Eventually(func() string { return templateHash(containerdDaemonSet(name)) }).WithTimeout(timeout).ShouldNot(Equal(hash))
		expectConditionOf(rs, hotelv1alpha1.ConditionReconciling, metav1.ConditionTrue, hotelv1alpha1.ReasonRolloutInProgress)
	})

	It("stalls while a referenced CA bundle is missing, and rolls out once it exists", func() {
		poolName, _ := createPool(1)
		caName := uniqueName("later-ca")
		name := uniqueName("rms")
		rs := createRoomService(name, poolName, hotelv1alpha1.ContainerdSpec{ConfigVersion: 2, Registries: mirrorWithCA(caName)})

		expectConditionOf(rs, hotelv1alpha1.ConditionStalled, metav1.ConditionTrue, hotelv1alpha1.ReasonReferenceNotFound)
		live := &hotelv1alpha1.RoomService{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(rs), live)).To(Succeed())
		Expect(conditionIn(live.Status.Conditions, hotelv1alpha1.ConditionStalled).Message).To(ContainSubstring(caName))
		err := k8sClient.Get(ctx, client.ObjectKey{Namespace: testNamespace, Name: name + "-containerd"}, &appsv1.DaemonSet{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "a DaemonSet was rolled out without its CA bundle: %v", err)

		createCABundle(caName)
		containerdDaemonSet(name)
		expectConditionOf(rs, hotelv1alpha1.ConditionStalled, metav1.ConditionFalse, hotelv1alpha1.ReasonAsExpected)
	})

	It("stalls on a CA bundle that holds no certificate, and leaves the rollout alone", func() {
		poolName, _ := createPool(1)
		name := uniqueName("rms")
		ca := createCABundle(uniqueName("bad-ca"))
		rs := createRoomService(name, poolName, hotelv1alpha1.ContainerdSpec{ConfigVersion: 2, Registries: mirrorWithCA(ca.Name)})
		hash := templateHash(containerdDaemonSet(name))

		Eventually(func() error {
			live := &corev1.ConfigMap{}
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(ca), live); err != nil {
				return err
			}
			live.Data["ca.crt"] = "not a certificate"
			return k8sClient.Update(ctx, live)
		}).WithTimeout(timeout).Should(Succeed())
		expectConditionOf(rs, hotelv1alpha1.ConditionStalled, metav1.ConditionTrue, hotelv1alpha1.ReasonInvalidSpec)
		Consistently(func() string { return templateHash(containerdDaemonSet(name)) }).
			WithTimeout(2 * time.Second).Should(Equal(hash))
	})

	It("holds a new configuration while paused, and stalls the newer of two overlapping RoomServices", func() {
		poolName, _ := createPool(2)
		name := uniqueName("rms")
		createRoomService(name, poolName, hotelv1alpha1.ContainerdSpec{ConfigVersion: 2, MaxConcurrentDownloads: ptr.To[int32](3)})
		first := templateHash(containerdDaemonSet(name))

		updateRoomService(name, func(rs *hotelv1alpha1.RoomService) {
			rs.Spec.Rollout.Paused = true
			rs.Spec.Containerd.MaxConcurrentDownloads = ptr.To[int32](6)
		})
		Eventually(func() appsv1.DaemonSetUpdateStrategyType { return containerdDaemonSet(name).Spec.UpdateStrategy.Type }).
			WithTimeout(timeout).Should(Equal(appsv1.OnDeleteDaemonSetStrategyType))
		Consistently(func() string { return templateHash(containerdDaemonSet(name)) }).WithTimeout(2 * time.Second).Should(Equal(first))
		updateRoomService(name, func(rs *hotelv1alpha1.RoomService) { rs.Spec.Rollout.Paused = false })
		Eventually(func() string { return templateHash(containerdDaemonSet(name)) }).WithTimeout(timeout).ShouldNot(Equal(first))

		By("a newer RoomService over the same Nodes")
		newer := uniqueName("rms-b")
		rs := createRoomService(newer, poolName, hotelv1alpha1.ContainerdSpec{ConfigVersion: 2})
		expectConditionOf(rs, hotelv1alpha1.ConditionStalled, metav1.ConditionTrue, hotelv1alpha1.ReasonPoolConflict)

		By("a FloorManager over the same Nodes: other kinds never conflict")
		fm := createFloorManager(newFloorManager(uniqueName("fm"), poolName, hotelv1alpha1.KubeletSpec{}))
		daemonSetOf(fm.Name)
		expectCondition(fm.Name, hotelv1alpha1.ConditionStalled, metav1.ConditionFalse, hotelv1alpha1.ReasonAsExpected)
	})
})

// conditionIn returns a condition of a list, or an empty one.
func conditionIn(conditions []metav1.Condition, t string) metav1.Condition {
	for _, c := range conditions {
		if c.Type == t {
			return c
		}
	}
	return metav1.Condition{}
}
