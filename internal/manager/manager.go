// Package manager builds innkeeper's controller manager: its scheme, cache, metrics and health
// endpoints and controllers. main and the envtest suite both use it, so the tests run the manager
// that ships.
package manager

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"

	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/controllers"
	"github.com/innkeeper-dev/innkeeper/internal/outage"
	"github.com/innkeeper-dev/innkeeper/internal/pool"
)

// LeaderElectionID names the Lease that replicas of the manager compete for.
const LeaderElectionID = "innkeeper.hotel.innkeeper.dev"

// DefaultNamespace is where the manager puts the workloads it renders when none is given.
const DefaultNamespace = "innkeeper-system"

// Options configure the manager. The zero value is not valid: Namespace is required.
type Options struct {
	// Namespace holds the ConfigMaps and DaemonSets that innkeeper renders, and the leader-election Lease.
	Namespace string
	// MetricsBindAddress serves Prometheus metrics; "0" disables them.
	MetricsBindAddress string
	// MetricsSecure serves metrics over HTTPS and only to callers that the API server authenticates
	// and authorizes for GET /metrics.
	MetricsSecure bool
	// MetricsCertDir holds the metrics server's certificate and key (MetricsCertName and
	// MetricsKeyName, tls.crt and tls.key when empty), reloaded when they change; empty: a
	// self-signed certificate generated at start.
	MetricsCertDir, MetricsCertName, MetricsKeyName string
	// EnableHTTP2 lets the metrics server speak HTTP/2. Off by default: HTTP/2's stream reset and
	// rapid-reset attacks (CVE-2023-44487, CVE-2023-39325) cost a server far more than HTTP/1.1 does,
	// and Prometheus needs nothing more.
	EnableHTTP2 bool
	// HealthProbeBindAddress serves /healthz and /readyz; "0" disables them.
	HealthProbeBindAddress string
	// LeaderElection makes replicas elect one active manager.
	LeaderElection bool
	// LeaderElectionIdentity names this replica in the leader-election Lease; it must be unique
	// among the replicas that run at once. A pod's name is: a replica restarted in its pod then
	// takes the Lease its previous process held at once. Empty: a new identity for every process,
	// which waits out a Lease its previous process held.
	LeaderElectionIdentity string
	// LeaderElectionTiming times the leader election; nil means DefaultLeaderElectionTiming.
	LeaderElectionTiming *LeaderElectionTiming
	// AgentImage is the node agent's image, by default the manager's own.
	AgentImage string
	// KubeletAgentServiceAccount and ContainerdAgentServiceAccount are the ServiceAccounts of the
	// node agents' pods, one per component, so that the agents' admission policy keeps each to its
	// own component's Node annotations.
	KubeletAgentServiceAccount, ContainerdAgentServiceAccount string
	// AgentResources are the node agent's container resources; nil means
	// render.DefaultAgentResources.
	AgentResources *corev1.ResourceRequirements
	// KubeProxyResources are kube-proxy's container resources; nil means kubeproxy.DefaultResources.
	KubeProxyResources *corev1.ResourceRequirements
	// KubeProxyImage is the kube-proxy image of Concierges that name none; by default
	// registry.k8s.io/kube-proxy at the API server's version.
	KubeProxyImage string
	// KubeProxyServiceAccount is the ServiceAccount of kube-proxy's pods.
	KubeProxyServiceAccount string
	// KubeProxyAPIServer is the URL through which kube-proxy reaches the API server, such as
	// https://10.0.0.10:6443: not the kubernetes Service, whose routes kube-proxy itself programs.
	// By default the server of kubeadm's kube-public/cluster-info.
	KubeProxyAPIServer string
	// NodePods are the priority class and tolerations of the pods of every DaemonSet innkeeper
	// renders (node agents and kube-proxy). Nil means pool.DefaultNodePods: system-node-critical,
	// and a toleration of every taint.
	NodePods *pool.NodePods
	// TakeOverNamespaces are the namespaces in which a Concierge with spec.takeOver may update
	// another kube-proxy's DaemonSet to keep it off its pool, such as kube-system: those where the
	// installation grants the manager update on DaemonSets (the chart's concierge.takeOver). Empty:
	// take-over is not enabled.
	TakeOverNamespaces []string
}

// DefaultKubeProxyServiceAccount is kube-proxy's ServiceAccount that the installation creates.
const DefaultKubeProxyServiceAccount = "innkeeper-kube-proxy"

// The node agents' ServiceAccounts that the installation creates, one per component. Their
// suffixes, -kubelet-agent and -containerd-agent, tell the agents' admission policy
// (config/rbac/agent.yaml) which component's annotations each may write.
const (
	DefaultKubeletAgentServiceAccount    = "innkeeper-kubelet-agent"
	DefaultContainerdAgentServiceAccount = "innkeeper-containerd-agent"
)

// skipNameValidation lets the tests of this package build a manager in more than one test of one
// process: controller-runtime refuses a controller name it has seen in the process before, so that
// two controllers never report under one name in its metrics.
var skipNameValidation = false

// Scheme returns a scheme with the built-in Kubernetes kinds and innkeeper's kinds.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(hotelv1alpha1.AddToScheme(s))
	return s
}

// New builds a manager with innkeeper's controllers registered; start it with Start. ctx bounds
// what New asks the API server (its version, kube-public/cluster-info), as it does the manager's run.
func New(ctx context.Context, cfg *rest.Config, opts Options) (ctrl.Manager, error) {
	if opts.Namespace == "" {
		return nil, errors.New("the workload namespace must be set")
	}
	if opts.AgentImage == "" {
		return nil, errors.New("the node agent's image must be set")
	}
	if opts.KubeletAgentServiceAccount == "" {
		opts.KubeletAgentServiceAccount = DefaultKubeletAgentServiceAccount
	}
	if opts.ContainerdAgentServiceAccount == "" {
		opts.ContainerdAgentServiceAccount = DefaultContainerdAgentServiceAccount
	}
	if opts.KubeProxyServiceAccount == "" {
		opts.KubeProxyServiceAccount = DefaultKubeProxyServiceAccount
	}
	nodePods := pool.DefaultNodePods()
	if opts.NodePods != nil {
		nodePods = *opts.NodePods
	}
	if err := nodePods.Validate(); err != nil {
		return nil, fmt.Errorf("the node pods' scheduling settings are invalid: %w", err)
	}
	if err := pool.ValidateNamespaceNames(opts.TakeOverNamespaces, field.NewPath("takeOverNamespaces")).ToAggregate(); err != nil {
		return nil, fmt.Errorf("the take-over namespaces are invalid: %w", err)
	}
	metrics := metricsServerOptions(opts)
	if opts.MetricsSecure && metrics.CertDir != "" {
		// controller-runtime falls back to a self-signed certificate when the files are missing:
		// a certificate the user gave must not be lost to a wrong path without a word.
		for _, f := range []string{metrics.CertName, metrics.KeyName} {
			if _, err := os.Stat(filepath.Join(metrics.CertDir, f)); err != nil {
				return nil, fmt.Errorf("the metrics certificate: %w", err)
			}
		}
	}
	// Before the manager reaches for the cluster, so that a bad timing fails at once.
	var mo ctrl.Options
	leaseEvents, err := leaderElection(&mo, cfg, opts)
	if err != nil {
		return nil, err
	}
	// After an API server outage, the informers and the controllers catch up as soon as it is back,
	// not when their backoffs end (see package outage).
	outages, err := outage.NewReadyzTracker(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create the API server outage tracker: %w", err)
	}
	if err := kubeProxyDefaults(ctx, cfg, outages, &opts); err != nil {
		return nil, err
	}
	mo.Scheme = Scheme()
	mo.Cache = pool.CacheOptions(opts.Namespace)
	mo.Cache.NewInformer = outages.NewInformer
	mo.Metrics = metrics
	mo.HealthProbeBindAddress = opts.HealthProbeBindAddress
	mo.Controller.SkipNameValidation = ptr.To(skipNameValidation)
	mgr, err := ctrl.NewManager(cfg, mo)
	if err != nil {
		return nil, fmt.Errorf("create manager: %w", err)
	}
	leaseEvents.use(mgr.GetEventRecorder("innkeeper"))
	ctrlOpts := controllers.Options{
		Options: pool.Options{
			Namespace: opts.Namespace,
			NodePods:  nodePods,
			// One Node store, and so one set of label indexes, for the reconcilers of every kind.
			Nodes:              pool.NewNodeStore(mgr.GetCache()),
			TakeOverNamespaces: opts.TakeOverNamespaces,
			Outages:            outages,
		},
		AgentImage:                    opts.AgentImage,
		KubeletAgentServiceAccount:    opts.KubeletAgentServiceAccount,
		ContainerdAgentServiceAccount: opts.ContainerdAgentServiceAccount,
		AgentResources:                opts.AgentResources,
		KubeProxyResources:            opts.KubeProxyResources,
		KubeProxyImage:                opts.KubeProxyImage,
		KubeProxyServiceAccount:       opts.KubeProxyServiceAccount,
		KubeProxyAPIServer:            opts.KubeProxyAPIServer,
	}
	if err := controllers.Setup(mgr, ctrlOpts); err != nil {
		return nil, err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, fmt.Errorf("add healthz check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, fmt.Errorf("add readyz check: %w", err)
	}
	return mgr, nil
}

// metricsServerOptions returns the metrics server's options: its address, HTTPS with the API
// server's authentication and authorization when secure, and HTTP/1.1 only unless HTTP/2 is enabled.
func metricsServerOptions(opts Options) metricsserver.Options {
	metrics := metricsserver.Options{
		BindAddress:   opts.MetricsBindAddress,
		SecureServing: opts.MetricsSecure,
	}
	if opts.MetricsCertDir != "" {
		metrics.CertDir, metrics.CertName, metrics.KeyName = opts.MetricsCertDir, opts.MetricsCertName, opts.MetricsKeyName
		if metrics.CertName == "" {
			metrics.CertName = "tls.crt"
		}
		if metrics.KeyName == "" {
			metrics.KeyName = "tls.key"
		}
	}
	if opts.MetricsSecure {
		metrics.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	if !opts.EnableHTTP2 {
		metrics.TLSOpts = append(metrics.TLSOpts, disableHTTP2)
	}
	return metrics
}

// disableHTTP2 makes a TLS server offer HTTP/1.1 only (see Options.EnableHTTP2).
func disableHTTP2(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }

// kubeProxyDefaults fills in the kube-proxy image and API server that opts leave empty, from the
// API server: its version, and kube-public/cluster-info. It waits for an API server that is
// unreachable or unwell (see whileUnreachable).
func kubeProxyDefaults(ctx context.Context, cfg *rest.Config, outages *outage.Tracker, opts *Options) error {
	if opts.KubeProxyImage == "" {
		err := whileUnreachable(ctx, outages, authSettle, func() error {
			image, err := serverKubeProxyImage(ctx, cfg)
			opts.KubeProxyImage = image
			return err
		})
		if err != nil {
			return err
		}
	}
	if opts.KubeProxyAPIServer == "" {
		err := whileUnreachable(ctx, outages, authSettle, func() error {
			server, err := clusterInfoServer(ctx, cfg)
			opts.KubeProxyAPIServer = server
			return err
		})
		if err != nil {
			ctrl.Log.WithName("setup").Info("No API server address for kube-proxy: it will use the kubernetes Service; "+
				"set --kube-proxy-api-server", "reason", err.Error())
		}
	}
	return nil
}

// authSettle is how long a manager that waited for the API server takes a denial for the API server
// settling after its outage (see whileUnreachable).
const authSettle = 30 * time.Second

// whileUnreachable calls ask until it succeeds, fails for another reason than an API server that
// is unreachable or unwell (see outage.Unwell), or ctx ends; between tries it waits for the API
// server to be ready (see outage.Tracker.Wait). A manager started during an outage, as a leader
// that lost its Lease and exited is started again by the kubelet at once, so waits for the API
// server instead of exiting into the kubelet's crash-loop backoff (10 s, 20 s, 40 s, ...), which
// would keep it down long after the API server is back; and it never takes a fallback, such as the
// kubernetes Service for kube-proxy's API server, for want of an answer: every Concierge would roll
// kube-proxy out again with it.
//
// Back from an outage, an API server may answer /readyz and still deny requests for a moment (401,
// 403), its authorizer not holding every binding yet: after an outage, ask is tried again on those
// too, until settle has passed since the first; a denial with no outage before it is returned at
// once, as the misconfiguration it is.
func whileUnreachable(ctx context.Context, outages *outage.Tracker, settle time.Duration, ask func() error) error {
	sawOutage := false
	var deniedSince time.Time
	for {
		err := ask()
		if ctx.Err() != nil {
			return err
		}
		denied := apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err)
		switch {
		case outage.Unwell(err):
			sawOutage = true
			ctrl.Log.WithName("setup").Info("The API server is unreachable; waiting for it", "reason", err.Error())
		case denied && sawOutage && (deniedSince.IsZero() || time.Since(deniedSince) < settle):
			if deniedSince.IsZero() {
				deniedSince = time.Now()
			}
			ctrl.Log.WithName("setup").Info("The API server, back from an outage, denied the request; asking again while it settles",
				"reason", err.Error(), "for", settle)
		default:
			return err
		}
		// Never faster than the probe: an API server that answers /readyz and fails ask is asked
		// again at that pace.
		select {
		case <-ctx.Done():
			return err
		case <-time.After(outage.ProbeInterval):
		}
		if outages.Wait(ctx) != nil {
			return err
		}
	}
}

// serverKubeProxyImage returns the upstream kube-proxy image of the API server's version.
func serverKubeProxyImage(ctx context.Context, cfg *rest.Config) (string, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return "", fmt.Errorf("create a discovery client: %w", err)
	}
	v, err := dc.ServerVersionWithContext(ctx)
	if err != nil {
		return "", fmt.Errorf("read the API server's version for the default kube-proxy image: %w", err)
	}
	// Distributions add suffixes (v1.37.2+k3s1, v1.30.4-eks-a737599) that name no upstream image.
	version := releaseVersion.FindString(v.GitVersion)
	if version == "" {
		return "", fmt.Errorf("the API server's version %q is not vX.Y.Z: set --kube-proxy-image", v.GitVersion)
	}
	return "registry.k8s.io/kube-proxy:" + version, nil
}

var releaseVersion = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+`)

// clusterInfoServer returns the API server URL that kubeadm publishes in kube-public/cluster-info:
// the control plane's own endpoint, which kube-proxy can reach before any Service route exists.
func clusterInfoServer(ctx context.Context, cfg *rest.Config) (string, error) {
	// A typed client: one request, no discovery first.
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cm, err := cs.CoreV1().ConfigMaps(metav1.NamespacePublic).Get(ctx, "cluster-info", metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("read kube-public/cluster-info: %w", err)
	}
	return ServerOfKubeconfig([]byte(cm.Data["kubeconfig"]))
}

// ServerOfKubeconfig returns the server of the only (or current) cluster of a kubeconfig.
func ServerOfKubeconfig(data []byte) (string, error) {
	kc, err := clientcmd.Load(data)
	if err != nil {
		return "", fmt.Errorf("parse kubeconfig: %w", err)
	}
	if ctx, ok := kc.Contexts[kc.CurrentContext]; ok {
		if cluster, ok := kc.Clusters[ctx.Cluster]; ok && cluster.Server != "" {
			return cluster.Server, nil
		}
	}
	if len(kc.Clusters) == 1 {
		for _, cluster := range kc.Clusters {
			if cluster.Server != "" {
				return cluster.Server, nil
			}
		}
	}
	return "", fmt.Errorf("the kubeconfig names no single server")
}

// NewAgentMetricsServer returns a node agent's metrics server on bindAddress, secured as the
// manager's: HTTPS with a self-signed certificate, only to callers the API server (reached with
// cfg) authorizes for GET /metrics, HTTP/1.1 only. It serves controller-runtime's registry, where
// the agent's metrics are.
func NewAgentMetricsServer(bindAddress string, cfg *rest.Config) (metricsserver.Server, error) {
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("an HTTP client for the API server: %w", err)
	}
	return metricsserver.NewServer(metricsServerOptions(Options{MetricsBindAddress: bindAddress, MetricsSecure: true}), cfg, httpClient)
}
