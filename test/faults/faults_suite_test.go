//go:build faults

// Package faults breaks a local cluster (test/localcluster) under innkeeper while it rolls out, and
// measures how it recovers: two manager replicas with leader election, the leader killed with
// SIGKILL mid-rollout; the API server stopped for 20 s mid-rollout; and what someone else changes
// or deletes of innkeeper's DaemonSet, ConfigMaps and Node labels. Every spec asserts that nothing
// is lost or duplicated and reports the times it measured (AddReportEntry), each against its goal.
// Run it with make test-faults; FAULTS_LOG_DIR=<dir> keeps the logs of the cluster's processes and
// the manager's replicas there.
//
// It is a suite of its own, not specs of test/e2e: it kills the manager and stops the API server,
// which the end-to-end specs must never see, it needs two manager replicas where they run one, and
// its timings, measured on a cluster that does nothing else, are its point.
package faults

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

// replicas are the manager's two replicas, as the chart's Deployment runs them by default: one
// leads, the other stands by.
var replicas = []string{localcluster.ManagerPod, localcluster.ManagerPod + "-b"}

// faultPools are the fake Nodes: one pool per spec, each big enough that a rollout with
// maxUnavailable 1 is still under way when the fault strikes.
func faultPools() []localcluster.Pool {
	return []localcluster.Pool{
		{Name: "failover", Nodes: 5},
		{Name: "outage", Nodes: 5},
		{Name: "outage-spare", Nodes: 1},
		{Name: "drift", Nodes: 2},
	}
}

func TestFaults(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "innkeeper fault suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	binDir := os.Getenv("LOCALCLUSTER_BIN")
	Expect(binDir).NotTo(BeEmpty(), "LOCALCLUSTER_BIN is not set: run make test-faults")
	ctx, cancel = context.WithCancel(context.Background())
	DeferCleanup(func() { cancel() })
	var err error
	cluster, err = localcluster.Start(ctx, localcluster.Options{BinDir: binDir, Pools: faultPools(), Log: GinkgoWriter})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(cluster.Stop)
	if dir := os.Getenv("FAULTS_LOG_DIR"); dir != "" {
		// Cleanups run last first: the logs are saved before the cluster stops.
		DeferCleanup(func() { Expect(cluster.SaveLogs(dir)).To(Succeed()) })
	}
	// The chart's defaults: leader election with its default timing. InstallChart starts the first
	// replica, which leads; the second stands by.
	innkeeper, err = cluster.InstallChart(ctx, repoRoot)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(innkeeper.Stop)
	Expect(innkeeper.StartReplica(ctx, replicas[1])).To(Succeed())
	k8sClient, err = client.New(cluster.Config, client.Options{Scheme: manager.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	clientset, err = kubernetes.NewForConfig(cluster.Config)
	Expect(err).NotTo(HaveOccurred())
})

// Whatever a spec broke and did not mend, failing, is mended for the next: the API server runs,
// and so does every replica.
var _ = AfterEach(func() {
	if cluster.APIServerStopped() {
		Expect(cluster.StartAPIServer(ctx)).To(Succeed())
	}
	for _, pod := range replicas {
		if !innkeeper.ReplicaRunning(pod) {
			Expect(innkeeper.StartReplica(ctx, pod)).To(Succeed())
		}
	}
})

// On failure, the last lines of each replica's log.
var _ = ReportAfterEach(func(report SpecReport) {
	if report.Failed() && innkeeper != nil {
		for _, pod := range replicas {
			AddReportEntry("log of "+pod, innkeeper.ReplicaLogTail(pod))
		}
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

// mustKubectl runs kubectl and fails the spec if it fails.
func mustKubectl(stdin string, args ...string) string {
	GinkgoHelper()
	out, err := kubectl(stdin, args...)
	Expect(err).NotTo(HaveOccurred(), "kubectl %s: %s", strings.Join(args, " "), out)
	return out
}
