package controllers_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/innkeeper-dev/innkeeper/internal/manager"
)

// The suite runs innkeeper's manager against a real kube-apiserver and etcd, built from Go modules
// by hack/controlplane.sh (`make test` points KUBEBUILDER_ASSETS at them).
var (
	testEnv   *envtest.Environment
	cfg       *rest.Config
	k8sClient client.Client
	ctx       context.Context
	cancel    context.CancelFunc
)

// testNamespace is the manager's workload namespace in the suite.
const testNamespace = "innkeeper-system"

// testControlPlane is the API server address the suite publishes in kube-public/cluster-info.
const testControlPlane = "https://203.0.113.10:6443"

// testAgentImage is the node agent image the suite's manager renders into DaemonSets.
const testAgentImage = "example.test/innkeeper:test"

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Controllers Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	Expect(os.Getenv("KUBEBUILDER_ASSETS")).NotTo(BeEmpty(),
		"KUBEBUILDER_ASSETS is not set: run `make test`, or export KUBEBUILDER_ASSETS=$(make -s envtest-assets)")

	ctx, cancel = context.WithCancel(context.Background())
	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		DownloadBinaryAssets:  false,
	}
	var err error
	cfg, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred())

	k8sClient, err = client.New(cfg, client.Options{Scheme: manager.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNamespace}})).To(Succeed())
	// kubeadm publishes the control plane's address here; kube-proxy gets it from the manager.
	Expect(k8sClient.Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespacePublic, Name: "cluster-info"},
		Data: map[string]string{"kubeconfig": "apiVersion: v1\nkind: Config\nclusters:\n- name: \"\"\n  cluster:\n    server: " +
			testControlPlane + "\n"},
	})).To(Succeed())

	mgr, err := manager.New(ctx, cfg, manager.Options{
		Namespace:              testNamespace,
		MetricsBindAddress:     "0",
		HealthProbeBindAddress: "0",
		AgentImage:             testAgentImage,
		// Concierges take pools over from kube-proxies in kube-system, and nowhere else.
		TakeOverNamespaces: []string{"kube-system"},
	})
	Expect(err).NotTo(HaveOccurred())
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
	Eventually(func() bool { return mgr.GetCache().WaitForCacheSync(ctx) }).
		WithTimeout(30 * time.Second).Should(BeTrue())
	go simulateRevertingAgents(ctx, k8sClient)
})

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
	}
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// readManifests decodes every object of a multi-document YAML file.
func readManifests(path string) []*unstructured.Unstructured {
	GinkgoHelper()
	data, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		obj := &unstructured.Unstructured{}
		if err := decoder.Decode(&obj.Object); err != nil {
			Expect(err).To(MatchError(io.EOF), "decode %s", path)
			return objs
		}
		if len(obj.Object) > 0 {
			objs = append(objs, obj)
		}
	}
}
