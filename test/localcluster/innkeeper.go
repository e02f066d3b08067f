package localcluster

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/innkeeper-dev/innkeeper/internal/manager"
	"github.com/innkeeper-dev/innkeeper/internal/render/containerd"
	"github.com/innkeeper-dev/innkeeper/internal/render/kubelet"
)

// Namespace is where the chart installs innkeeper on the local cluster.
const Namespace = manager.DefaultNamespace

// Release is the Helm release of innkeeper on the local cluster.
const Release = "innkeeper"

// Innkeeper is innkeeper installed on a local cluster with its Helm chart (charts/innkeeper), as
// docs/install.md installs it. kwok Nodes run no containers, so the chart's Deployment has no replicas; the
// manager runs instead as a process of this machine, built from the repository, with the arguments
// and environment of the Deployment's pod template and the token of the chart's ServiceAccount, so
// that what it may do is what the chart grants. The node agents are simulated on the kwok Nodes.
type Innkeeper struct {
	// Config is the manager's client configuration: a token of the chart's ServiceAccount, and no
	// client certificate.
	Config *rest.Config
	// Args are the manager's command line, as the chart's Deployment gives it.
	Args []string
	// ServiceAccount is the manager's ServiceAccount, as the chart's Deployment names it.
	ServiceAccount string

	cluster *Cluster
	binary  string
	mu      sync.Mutex
	// replicas are the names of the replicas ever started, to stop.
	replicas     map[string]bool
	cancelAgents context.CancelFunc
	agentsDone   chan error
}

// InstallChart installs innkeeper on the cluster as docs/install.md says: the namespace, labelled for
// the privileged node agents, then `helm install` of the chart of the repository at root, with the
// Deployment's replicas at 0 and values (key=value, as helm's --set takes them). It then builds and
// starts the manager (StartManager) and the simulated node agents.
func (c *Cluster) InstallChart(ctx context.Context, root string, values ...string) (ik *Innkeeper, err error) {
	if c.Helm == "" {
		return nil, errors.New("helm is missing from the cluster's binary directory: build it with hack/controlplane.sh helm")
	}
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return nil, err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace,
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": "privileged"}}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create namespace %s: %w", Namespace, err)
	}
	args := []string{"install", Release, filepath.Join(root, "charts", "innkeeper"), "--namespace", Namespace,
		"--wait", "--timeout=2m", "--set", "manager.replicas=0"}
	for _, v := range values {
		args = append(args, "--set", v)
	}
	c.logf("helm %s", strings.Join(args, " "))
	if out, err := c.HelmOutput(ctx, args...); err != nil {
		return nil, fmt.Errorf("helm install: %w: %s", err, out)
	}

	ik = &Innkeeper{cluster: c, binary: filepath.Join(c.dir, "innkeeper")}
	defer func() {
		if err != nil {
			ik.Stop()
		}
	}()
	c.logf("building the innkeeper binary")
	build := exec.CommandContext(ctx, "go", "build", "-o", ik.binary, ".")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build: %w: %s", err, out)
	}
	if c.fakeNodes {
		simulate, agents := SimulateAgents, kubernetes.Interface(cs)
		if c.watchAgents {
			// One client plays every Node's agent, each of which has a client of its own: it is
			// not throttled (client-go's default, 5 requests a second, would pace a large pool).
			agentsConfig := rest.CopyConfig(c.Config)
			agentsConfig.QPS = -1
			if agents, err = kubernetes.NewForConfig(agentsConfig); err != nil {
				return nil, err
			}
			simulate = WatchAgents
		}
		agentsCtx, cancel := context.WithCancel(context.Background())
		ik.cancelAgents, ik.agentsDone = cancel, make(chan error, 2)
		// The agents stand in for kubelet-side pods: they keep the admin's credentials.
		go func() { ik.agentsDone <- simulate(agentsCtx, agents, Namespace, kubelet.Name) }()
		go func() { ik.agentsDone <- simulate(agentsCtx, agents, Namespace, containerd.Name) }()
	}
	if err := ik.StartManager(ctx); err != nil {
		return nil, err
	}
	return ik, nil
}

// StartManager starts the manager as the chart's Deployment would run a new pod of it (see
// StartReplica), as the pod ManagerPod. A manager already running as that pod is stopped first.
func (ik *Innkeeper) StartManager(ctx context.Context) error {
	return ik.StartReplica(ctx, ManagerPod)
}

// StartReplica starts a replica of the manager as the chart's Deployment would run a new pod of it,
// named pod: it reads the Deployment (so a `helm upgrade` takes effect at the next start, as at a
// rollout), requests a token for its ServiceAccount (TokenRequest) and runs the manager binary with
// the pod template's arguments and environment ($POD_NAME is pod, and so the replica's
// leader-election identity), listening on loopback ports, until /readyz answers and some replica
// holds the leader-election Lease. A replica already running as pod is stopped first. Replicas
// under different names elect their leader as the Deployment's pods do.
func (ik *Innkeeper) StartReplica(ctx context.Context, pod string) error {
	c := ik.cluster
	ik.StopReplica(pod)
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	deploys, err := cs.AppsV1().Deployments(Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: "app.kubernetes.io/component=manager,app.kubernetes.io/instance=" + Release})
	if err != nil {
		return fmt.Errorf("the chart's manager Deployment: %w", err)
	}
	if len(deploys.Items) != 1 {
		return fmt.Errorf("want one manager Deployment of release %s in %s, found %d", Release, Namespace, len(deploys.Items))
	}
	deploy := &deploys.Items[0]
	container, env, err := managerContainer(deploy, pod)
	if err != nil {
		return err
	}
	ik.ServiceAccount = deploy.Spec.Template.Spec.ServiceAccountName
	token, err := cs.CoreV1().ServiceAccounts(Namespace).CreateToken(ctx, ik.ServiceAccount, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](4 * 3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("request a token for ServiceAccount %s/%s: %w", Namespace, ik.ServiceAccount, err)
	}
	ik.Config = rest.AnonymousClientConfig(c.Config)
	ik.Config.BearerToken = token.Status.Token
	kubeconfig := filepath.Join(c.dir, pod+".kubeconfig")
	if err := writeKubeconfig(kubeconfig, c.Config.Host, c.Config.CAFile, &clientcmdapi.AuthInfo{Token: token.Status.Token}); err != nil {
		return err
	}

	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	// The pod's arguments, then what differs out of cluster: the kubeconfig, and loopback ports
	// instead of every interface (a later flag wins).
	ik.Args = container.Args
	args := append(append([]string(nil), container.Args...),
		"--kubeconfig="+kubeconfig,
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", ports[0]),
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", ports[1]))
	c.logf("starting the manager %s as ServiceAccount %s/%s: innkeeper %s", pod, Namespace, ik.ServiceAccount, strings.Join(container.Args, " "))
	if err := c.startEnv(pod, ik.binary, env, args...); err != nil {
		return err
	}
	ik.mu.Lock()
	if ik.replicas == nil {
		ik.replicas = map[string]bool{}
	}
	ik.replicas[pod] = true
	ik.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := c.waitHTTP(ctx, pod, fmt.Sprintf("http://127.0.0.1:%d/readyz", ports[1]), nil); err != nil {
		return err
	}
	return c.waitLeader(ctx, cs, pod)
}

// waitLeader waits until the manager holds the leader-election Lease, if it elects one: until then
// it reconciles nothing.
func (c *Cluster) waitLeader(ctx context.Context, cs kubernetes.Interface, pod string) error {
	for {
		lease, err := cs.CoordinationV1().Leases(Namespace).Get(ctx, manager.LeaderElectionID, metav1.GetOptions{})
		if err == nil && lease.Spec.HolderIdentity != nil && *lease.Spec.HolderIdentity != "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the manager did not acquire the Lease %s/%s: %s", Namespace, manager.LeaderElectionID,
				c.processLogTail(pod))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// ManagerPod is the pod name the manager StartManager runs gets from the downward API: one name for
// every start, as a manager restarted in its pod keeps its pod's name (and so its leader-election
// identity).
const ManagerPod = "innkeeper-manager-local"

// managerContainer returns the manager's container of the chart's Deployment and its environment
// as the kubelet would set it for a pod named pod: values, and the pod's namespace and name from
// the downward API.
func managerContainer(deploy *appsv1.Deployment, pod string) (*corev1.Container, []string, error) {
	for i := range deploy.Spec.Template.Spec.Containers {
		ctr := &deploy.Spec.Template.Spec.Containers[i]
		if ctr.Name != "manager" {
			continue
		}
		var env []string
		for _, e := range ctr.Env {
			switch {
			case e.ValueFrom == nil:
				env = append(env, e.Name+"="+e.Value)
			case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
				env = append(env, e.Name+"="+deploy.Namespace)
			case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
				env = append(env, e.Name+"="+pod)
			default:
				return nil, nil, fmt.Errorf("the manager's environment variable %s comes from a source the local cluster does not provide", e.Name)
			}
		}
		if len(ctr.Args) == 0 || ctr.Args[0] != "manager" {
			return nil, nil, fmt.Errorf("the manager's container runs %q, not innkeeper manager", ctr.Args)
		}
		return ctr, env, nil
	}
	return nil, nil, fmt.Errorf("the Deployment %s/%s has no container named manager", deploy.Namespace, deploy.Name)
}

// StopManager stops the manager StartManager started, if it runs; it gives up its Lease as it stops.
func (ik *Innkeeper) StopManager() {
	ik.StopReplica(ManagerPod)
}

// StopReplica stops a replica of the manager (SIGTERM, as the kubelet stops a pod), if it runs; it
// gives up its Lease, if it holds it, as it stops.
func (ik *Innkeeper) StopReplica(pod string) {
	ik.cluster.stopProcess(pod)
}

// KillReplica kills a replica of the manager at once (SIGKILL: a crash, an OOM kill, its Node lost),
// if it runs, and returns once it is gone. A Lease it holds stays held until it expires.
func (ik *Innkeeper) KillReplica(pod string) {
	ik.cluster.killProcess(pod)
}

// RestartReplica starts a replica that exited again at once, with the arguments, environment and
// token of its last start, as the kubelet restarts a pod's container: it asks the API server
// nothing, so that it works while the API server is down, and it does not wait for the replica to
// be ready.
func (ik *Innkeeper) RestartReplica(pod string) error {
	return ik.cluster.restartProcess(pod)
}

// ReplicaRunning reports whether a replica of the manager runs: started, and neither stopped,
// killed nor exited.
func (ik *Innkeeper) ReplicaRunning(pod string) bool {
	return ik.cluster.process(pod) != nil && !ik.cluster.exited(pod)
}

// ReplicaExited reports whether a replica of the manager has exited by itself, as a leader does
// when it cannot renew its Lease: the kubelet would start its container again.
func (ik *Innkeeper) ReplicaExited(pod string) bool {
	return ik.cluster.exited(pod)
}

// ManagerLog returns the log of the manager StartManager started, of every start.
func (ik *Innkeeper) ManagerLog() (string, error) {
	p := ik.cluster.process(ManagerPod)
	if p == nil {
		return "", errors.New("the manager is not running")
	}
	b, err := os.ReadFile(p.logPath)
	return string(b), err
}

// ManagerLogTail returns the last lines of the log of the manager StartManager started.
func (ik *Innkeeper) ManagerLogTail() string {
	return ik.ReplicaLogTail(ManagerPod)
}

// ReplicaLogTail returns the last lines of a replica's log.
func (ik *Innkeeper) ReplicaLogTail(pod string) string {
	return ik.cluster.processLogTail(pod)
}

// processLogTail returns the last lines of the log of a process the cluster runs.
func (c *Cluster) processLogTail(name string) string {
	if p := c.process(name); p != nil {
		return c.logTail(p)
	}
	return name + " is not running"
}

// Stop stops every replica of the manager and the simulated agents.
func (ik *Innkeeper) Stop() {
	ik.mu.Lock()
	replicas := slices.Sorted(maps.Keys(ik.replicas))
	ik.mu.Unlock()
	for _, pod := range replicas {
		ik.StopReplica(pod)
	}
	if ik.cancelAgents != nil {
		ik.cancelAgents()
		timeout := time.After(30 * time.Second)
	wait:
		for range cap(ik.agentsDone) {
			select {
			case err := <-ik.agentsDone:
				if err != nil {
					ik.cluster.logf("a simulated agent stopped with an error: %v", err)
				}
			case <-timeout:
				break wait
			}
		}
		ik.cancelAgents = nil
	}
}

// KubectlOutput runs kubectl against the cluster and returns its combined output.
func (c *Cluster) KubectlOutput(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, c.Kubectl, append([]string{"--kubeconfig=" + c.Kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.Kubeconfig)
	return cmd.CombinedOutput()
}

// HelmOutput runs helm against the cluster, with its caches and configuration in the cluster's
// directory, and returns its combined output.
func (c *Cluster) HelmOutput(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, c.Helm, append([]string{"--kubeconfig=" + c.Kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), c.HelmEnv()...)
	return cmd.CombinedOutput()
}

// HelmEnv is the environment in which helm talks to the cluster and keeps its files in the
// cluster's directory, not in the user's.
func (c *Cluster) HelmEnv() []string {
	return []string{"KUBECONFIG=" + c.Kubeconfig,
		"HELM_CACHE_HOME=" + filepath.Join(c.dir, "helm", "cache"),
		"HELM_CONFIG_HOME=" + filepath.Join(c.dir, "helm", "config"),
		"HELM_DATA_HOME=" + filepath.Join(c.dir, "helm", "data")}
}
