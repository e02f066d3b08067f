// Package manager builds innkeeper's controller manager: its scheme, cache, metrics and health
// endpoints and controllers. main and the envtest suite both use it, so the tests run the manager
// that ships.
package manager

import (
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/discovery"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/controllers"
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
	// HealthProbeBindAddress serves /healthz and /readyz; "0" disables them.
	HealthProbeBindAddress string
	// LeaderElection makes replicas elect one active manager.
	LeaderElection bool
	// AgentImage is the node agent's image, by default the manager's own.
	AgentImage string
	// AgentServiceAccount is the ServiceAccount of the node agent's pods.
	AgentServiceAccount string
	// KubeProxyImage is the kube-proxy image of Concierges that name none; by default
	// registry.k8s.io/kube-proxy at the API server's version.
	KubeProxyImage string
	// KubeProxyServiceAccount is the ServiceAccount of kube-proxy's pods.
	KubeProxyServiceAccount string
}

// DefaultKubeProxyServiceAccount is kube-proxy's ServiceAccount that the installation creates.
const DefaultKubeProxyServiceAccount = "innkeeper-kube-proxy"

// DefaultAgentServiceAccount is the node agent's ServiceAccount that the installation creates.
const DefaultAgentServiceAccount = "innkeeper-agent"

// Scheme returns a scheme with the built-in Kubernetes kinds and innkeeper's kinds.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(hotelv1alpha1.AddToScheme(s))
	return s
}

// New builds a manager with innkeeper's controllers registered; start it with Start.
func New(cfg *rest.Config, opts Options) (ctrl.Manager, error) {
	if opts.Namespace == "" {
		return nil, errors.New("the workload namespace must be set")
	}
	if opts.AgentImage == "" {
		return nil, errors.New("the node agent's image must be set")
	}
	if opts.AgentServiceAccount == "" {
		opts.AgentServiceAccount = DefaultAgentServiceAccount
	}
	if opts.KubeProxyServiceAccount == "" {
		opts.KubeProxyServiceAccount = DefaultKubeProxyServiceAccount
	}
	if opts.KubeProxyImage == "" {
		image, err := serverKubeProxyImage(cfg)
		if err != nil {
			return nil, err
		}
		opts.KubeProxyImage = image
	}
	metrics := metricsserver.Options{
		BindAddress:   opts.MetricsBindAddress,
		SecureServing: opts.MetricsSecure,
	}
	if opts.MetricsSecure {
		metrics.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  Scheme(),
		Cache:                   pool.CacheOptions(opts.Namespace),
		Metrics:                 metrics,
		HealthProbeBindAddress:  opts.HealthProbeBindAddress,
		LeaderElection:          opts.LeaderElection,
		LeaderElectionID:        LeaderElectionID,
		LeaderElectionNamespace: opts.Namespace,
		// A new leader starts only after the old one has stopped: two managers never apply at once.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return nil, fmt.Errorf("create manager: %w", err)
	}
	ctrlOpts := controllers.Options{
		Namespace:               opts.Namespace,
		AgentImage:              opts.AgentImage,
		AgentServiceAccount:     opts.AgentServiceAccount,
		KubeProxyImage:          opts.KubeProxyImage,
		KubeProxyServiceAccount: opts.KubeProxyServiceAccount,
	}
	if err := controllers.SetupFloorManager(mgr, ctrlOpts); err != nil {
		return nil, err
	}
	if err := controllers.SetupConcierge(mgr, ctrlOpts); err != nil {
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

// serverKubeProxyImage returns the upstream kube-proxy image of the API server's version.
func serverKubeProxyImage(cfg *rest.Config) (string, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return "", fmt.Errorf("create a discovery client: %w", err)
	}
	v, err := dc.ServerVersion()
	if err != nil {
		return "", fmt.Errorf("read the API server's version for the default kube-proxy image: %w", err)
	}
	// A distribution's suffix (v1.37.2+k3s1) names no upstream image.
	version, _, _ := strings.Cut(v.GitVersion, "+")
	return "registry.k8s.io/kube-proxy:" + version, nil
}
