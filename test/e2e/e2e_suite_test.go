//go:build e2e

// Package e2e runs innkeeper end to end on a local cluster (test/localcluster): a real API server,
// controller-manager (so the real DaemonSet controller and garbage collector) and scheduler, with
// kwok playing the kubelets. innkeeper is installed with its Helm chart, and the manager runs with
// the token of the chart's ServiceAccount, so that every spec exercises the chart's RBAC. Run it
// with make test-e2e.
package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/innkeeper-dev/innkeeper/internal/manager"
	"github.com/innkeeper-dev/innkeeper/test/localcluster"
)

var (
	ctx       context.Context
	cancel    context.CancelFunc
	cluster   *localcluster.Cluster
	innkeeper *localcluster.Innkeeper
	k8sClient client.Client
	clientset kubernetes.Interface
	repoRoot  = filepath.Join("..", "..")
)

// e2ePools are the fake Nodes: the samples' pools, and one pool per spec that changes its Nodes.
func e2ePools() []localcluster.Pool {
	return append(localcluster.DefaultPools(),
		localcluster.Pool{Name: "rolling", Nodes: 3},
		localcluster.Pool{Name: "paced", Nodes: 20},
		localcluster.Pool{Name: "gated", Nodes: 3},
		localcluster.Pool{Name: "windowed", Nodes: 2},
		localcluster.Pool{Name: "canary", Nodes: 6},
		localcluster.Pool{Name: "paused", Nodes: 6},
		localcluster.Pool{Name: "moving", Nodes: 2},
		localcluster.Pool{Name: "pressure", Nodes: 2},
		localcluster.Pool{Name: "chart", Nodes: 2},
		localcluster.Pool{Name: "generation", Nodes: 2},
	)
}

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "innkeeper end-to-end suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	binDir := os.Getenv("LOCALCLUSTER_BIN")
	Expect(binDir).NotTo(BeEmpty(), "LOCALCLUSTER_BIN is not set: run make test-e2e")
	ctx, cancel = context.WithCancel(context.Background())
	var err error
	cluster, err = localcluster.Start(ctx, localcluster.Options{BinDir: binDir, Pools: e2ePools(), Log: GinkgoWriter})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(cluster.Stop)
	innkeeper, err = cluster.InstallChart(ctx, repoRoot)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(innkeeper.Stop)
	k8sClient, err = client.New(cluster.Config, client.Options{Scheme: manager.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	clientset, err = kubernetes.NewForConfig(cluster.Config)
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	// helm uninstall takes innkeeper away: it must come after every other spec.
	if innkeeper != nil {
		verifyHelmUninstall()
	}
	if cancel != nil {
		cancel()
	}
})

// kubectl runs kubectl against the cluster, with stdin if given, and returns its output.
func kubectl(stdin string, args ...string) (string, error) {
	c, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(c, cluster.Kubectl, append([]string{"--kubeconfig=" + cluster.Kubeconfig}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// helm runs helm against the cluster and returns its output.
func helm(args ...string) (string, error) {
	c, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	out, err := cluster.HelmOutput(c, args...)
	return string(out), err
}

// mustHelm runs helm and fails the spec if it fails.
func mustHelm(args ...string) string {
	GinkgoHelper()
	out, err := helm(args...)
	Expect(err).NotTo(HaveOccurred(), "helm %s: %s", strings.Join(args, " "), out)
	return out
}

// mustKubectl runs kubectl and fails the spec if it fails.
func mustKubectl(stdin string, args ...string) string {
	GinkgoHelper()
	out, err := kubectl(stdin, args...)
	Expect(err).NotTo(HaveOccurred(), "kubectl %s: %s", strings.Join(args, " "), out)
	return out
}
