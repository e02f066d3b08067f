package localcluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/innkeeper-dev/innkeeper/internal/manager"
	"github.com/innkeeper-dev/innkeeper/internal/render/containerd"
	"github.com/innkeeper-dev/innkeeper/internal/render/kubelet"
)

// Namespace is where innkeeper runs its workloads on the local cluster.
const Namespace = manager.DefaultNamespace

// Innkeeper is innkeeper running against a local cluster: its CRDs and the node agents' RBAC
// installed, the manager running in this process (out of cluster, as `make run` does), and the node
// agents simulated on the kwok Nodes.
type Innkeeper struct {
	cancel context.CancelFunc
	done   chan error
}

// InstallInnkeeper installs innkeeper from the repository at root and starts the manager.
func (c *Cluster) InstallInnkeeper(ctx context.Context, root string) (*Innkeeper, error) {
	if _, err := envtest.InstallCRDs(c.Config, envtest.CRDInstallOptions{
		Paths: []string{filepath.Join(root, "config", "crd", "bases")}, ErrorIfPathMissing: true,
	}); err != nil {
		return nil, fmt.Errorf("install CRDs: %w", err)
	}
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return nil, err
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}},
		metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create namespace %s: %w", Namespace, err)
	}
	for _, manifest := range []string{"agent.yaml", "kube_proxy.yaml"} {
		if out, err := c.KubectlOutput(ctx, "apply", "--server-side", "-f", filepath.Join(root, "config", "rbac", manifest)); err != nil {
			return nil, fmt.Errorf("install config/rbac/%s: %w: %s", manifest, err, out)
		}
	}

	mgr, err := manager.New(c.Config, manager.Options{
		Namespace:              Namespace,
		MetricsBindAddress:     "0",
		HealthProbeBindAddress: "0",
		AgentImage:             "ghcr.io/innkeeper-dev/innkeeper:local",
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	ik := &Innkeeper{cancel: cancel, done: make(chan error, 3)}
	go func() { ik.done <- mgr.Start(ctx) }()
	go func() { ik.done <- SimulateAgents(ctx, cs, Namespace, kubelet.Name) }()
	go func() { ik.done <- SimulateAgents(ctx, cs, Namespace, containerd.Name) }()
	// Fail here, with the manager's own error, rather than in every test that waits for it.
	synced := make(chan bool, 1)
	go func() { synced <- mgr.GetCache().WaitForCacheSync(ctx) }()
	select {
	case ok := <-synced:
		if !ok {
			ik.Stop()
			return nil, fmt.Errorf("the manager's cache did not sync")
		}
	case err := <-ik.done:
		ik.Stop()
		return nil, fmt.Errorf("the manager stopped at start: %w", err)
	case <-time.After(time.Minute):
		ik.Stop()
		return nil, fmt.Errorf("the manager's cache did not sync within a minute")
	}
	return ik, nil
}

// Stop stops the manager and the simulated agents.
func (ik *Innkeeper) Stop() {
	ik.cancel()
	for range cap(ik.done) {
		select {
		case <-ik.done:
		case <-time.After(30 * time.Second):
			return
		}
	}
}

// KubectlOutput runs kubectl against the cluster and returns its combined output.
func (c *Cluster) KubectlOutput(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, c.Kubectl, append([]string{"--kubeconfig=" + c.Kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.Kubeconfig)
	return cmd.CombinedOutput()
}
