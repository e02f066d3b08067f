package cmd

import (
	"flag"
	"fmt"
	"io"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/innkeeper-dev/innkeeper/internal/manager"
	"github.com/innkeeper-dev/innkeeper/internal/pool"
)

// Manager is `innkeeper manager`: it runs the controller manager until it is signalled to stop, and
// returns the exit code. version is this build's version (main's, stamped at build time): the
// default --agent-image is the manager's own image at that tag.
func Manager(args []string, stderr io.Writer, version string) int {
	fs, opts, kubeconfig := managerFlags(stderr, version)
	zapOpts := zap.Options{}
	if code, ok := parseFlags(fs, &zapOpts, args, stderr); !ok {
		return code
	}
	// The three durations are checked together, once all are parsed.
	if err := opts.LeaderElectionTiming.Validate(); err != nil {
		t := opts.LeaderElectionTiming
		fmt.Fprintf(stderr, "%s: invalid leader-election timing (--leader-elect-lease-duration=%s, --leader-elect-renew-deadline=%s, "+
			"--leader-elect-retry-period=%s): %v\n", fs.Name(), t.LeaseDuration, t.RenewDeadline, t.RetryPeriod, err)
		return 2
	}

	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")

	cfg, err := loadConfig(*kubeconfig)
	if err != nil {
		log.Error(err, "Unable to load a kubeconfig")
		return 1
	}
	// One context for the setup and the run: a signal stops New's requests to the API server as it
	// stops the manager (and a process sets up the signal handler once only).
	ctx := ctrl.SetupSignalHandler()
	mgr, err := manager.New(ctx, cfg, *opts)
	if err != nil {
		log.Error(err, "Unable to set up the manager")
		return 1
	}
	log.Info("Starting the manager", "namespace", opts.Namespace, "leaderElection", opts.LeaderElection,
		"leaderElectionIdentity", opts.LeaderElectionIdentity, "leaseDuration", opts.LeaderElectionTiming.LeaseDuration.String(),
		"renewDeadline", opts.LeaderElectionTiming.RenewDeadline.String(), "retryPeriod", opts.LeaderElectionTiming.RetryPeriod.String(),
		"agentPriorityClass", opts.NodePods.PriorityClassName, "agentTolerations", opts.NodePods.Tolerations,
		"takeOverNamespaces", opts.TakeOverNamespaces)
	if err := mgr.Start(ctx); err != nil {
		log.Error(err, "The manager stopped with an error")
		return 1
	}
	return 0
}

// managerFlags returns the manager's flags (without the logging flags, which parseFlags adds), the
// options they set and the kubeconfig path. The values of --agent-priority-class and
// --agent-tolerations are checked as they are parsed, so that a bad one stops the manager at once
// with exit code 2 and the flag's name, not later in a DaemonSet that the API server refuses.
func managerFlags(stderr io.Writer, version string) (*flag.FlagSet, *manager.Options, *string) {
	fs := flag.NewFlagSet("innkeeper manager", flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts := &manager.Options{}
	fs.StringVar(&opts.Namespace, "namespace", envOr("POD_NAMESPACE", manager.DefaultNamespace),
		"Namespace for the ConfigMaps and DaemonSets innkeeper renders, and for the leader-election Lease; $POD_NAMESPACE if set.")
	fs.StringVar(&opts.MetricsBindAddress, "metrics-bind-address", ":8443",
		`Address the Prometheus metrics endpoint binds to; "0" disables it.`)
	fs.BoolVar(&opts.EnableHTTP2, "enable-http2", false,
		"Let the metrics server speak HTTP/2; off, it offers HTTP/1.1 only (HTTP/2 rapid-reset, CVE-2023-44487).")
	fs.BoolVar(&opts.MetricsSecure, "metrics-secure", true,
		"Serve metrics over HTTPS, only to callers the API server authorizes for GET /metrics.")
	fs.StringVar(&opts.MetricsCertDir, "metrics-cert-path", "",
		"Directory of the metrics server's certificate and key, reloaded when they change (default: a self-signed certificate generated at start).")
	fs.StringVar(&opts.MetricsCertName, "metrics-cert-name", "tls.crt", "The metrics server's certificate file in --metrics-cert-path.")
	fs.StringVar(&opts.MetricsKeyName, "metrics-cert-key", "tls.key", "The metrics server's key file in --metrics-cert-path.")
	fs.StringVar(&opts.HealthProbeBindAddress, "health-probe-bind-address", ":8081",
		`Address the /healthz and /readyz endpoints bind to; "0" disables them.`)
	fs.BoolVar(&opts.LeaderElection, "leader-elect", false,
		"Elect one active manager among replicas; enable it when running more than one.")
	fs.StringVar(&opts.LeaderElectionIdentity, "leader-elect-identity", os.Getenv("POD_NAME"),
		"This replica's name in the leader-election Lease, unique among replicas; $POD_NAME if set, so that a manager "+
			"restarted in its pod takes its Lease back at once. Empty: a new name for every process, which waits out the Lease of the previous one.")
	timing := manager.DefaultLeaderElectionTiming()
	opts.LeaderElectionTiming = &timing
	fs.DurationVar(&timing.LeaseDuration, "leader-elect-lease-duration", timing.LeaseDuration,
		"How long after a standby last saw the Lease renewed it may take over (whole seconds): "+
			"how long a leader that dies without releasing it keeps the standbys waiting.")
	fs.DurationVar(&timing.RenewDeadline, "leader-elect-renew-deadline", timing.RenewDeadline,
		"How long the leader keeps trying to renew the Lease before it stops leading and exits; less than the lease duration minus the retry period.")
	fs.DurationVar(&timing.RetryPeriod, "leader-elect-retry-period", timing.RetryPeriod,
		"How often the leader renews the Lease and a standby tries to take it; less than the renew deadline / 1.2.")
	fs.StringVar(&opts.AgentImage, "agent-image", envOr("INNKEEPER_IMAGE", defaultImage(version)),
		"Image of the node agent that FloorManager and RoomService DaemonSets run; $INNKEEPER_IMAGE if set.")
	fs.StringVar(&opts.KubeletAgentServiceAccount, "kubelet-agent-service-account", manager.DefaultKubeletAgentServiceAccount,
		"ServiceAccount of the kubelet agent's pods (FloorManager), in the workload namespace; the agents' admission policy "+
			"keeps a ServiceAccount whose name ends in -kubelet-agent to the kubelet's Node annotations.")
	fs.StringVar(&opts.ContainerdAgentServiceAccount, "containerd-agent-service-account", manager.DefaultContainerdAgentServiceAccount,
		"ServiceAccount of the containerd agent's pods (RoomService), in the workload namespace; the agents' admission policy "+
			"keeps a ServiceAccount whose name ends in -containerd-agent to containerd's Node annotations.")
	fs.StringVar(&opts.KubeProxyImage, "kube-proxy-image", "",
		"kube-proxy image of Concierges that name none (default: registry.k8s.io/kube-proxy at the API server's version).")
	fs.StringVar(&opts.KubeProxyServiceAccount, "kube-proxy-service-account", manager.DefaultKubeProxyServiceAccount,
		"ServiceAccount of kube-proxy's pods, in the workload namespace, bound to system:node-proxier.")
	fs.StringVar(&opts.KubeProxyAPIServer, "kube-proxy-api-server", "",
		"URL at which kube-proxy reaches the API server, such as https://10.0.0.10:6443 "+
			"(default: the server in kube-public/cluster-info, as kubeadm publishes it).")
	nodePods := pool.DefaultNodePods()
	opts.NodePods = &nodePods
	fs.Var(priorityClassFlag{&nodePods.PriorityClassName}, "agent-priority-class",
		`Priority class of the pods of every DaemonSet innkeeper renders (node agents and kube-proxy); "" for none.`)
	fs.Var(tolerationsFlag{&nodePods.Tolerations}, "agent-tolerations",
		`Tolerations of the pods of every DaemonSet innkeeper renders (node agents and kube-proxy), as a JSON list of Kubernetes tolerations; [] for none.`)
	fs.Var(secretNamesFlag{&nodePods.ImagePullSecrets}, "image-pull-secrets",
		`Secrets, in the workload namespace and comma-separated, with which the pods of every DaemonSet innkeeper renders pull their images; "" for none.`)
	fs.Var(namespacesFlag{&opts.TakeOverNamespaces}, "take-over-namespaces",
		"Namespaces, comma-separated, in which a Concierge with spec.takeOver may update another kube-proxy's DaemonSet to keep it "+
			"off its pool, such as kube-system; the manager's ServiceAccount needs update on daemonsets there. Default: none, take-over is refused.")
	fs.Var(resourcesFlag{&opts.AgentResources}, "agent-resources",
		`Resources of the node agent's container, as JSON, such as {"requests":{"cpu":"10m","memory":"32Mi"},"limits":{"memory":"128Mi"}} (the default).`)
	fs.Var(resourcesFlag{&opts.KubeProxyResources}, "kube-proxy-resources",
		`Resources of kube-proxy's container, as JSON (default {"requests":{"cpu":"100m","memory":"64Mi"}}).`)
	kubeconfig := fs.String("kubeconfig", "",
		"Path to a kubeconfig; default: $KUBECONFIG, then the in-cluster config, then ~/.kube/config.")
	return fs, opts, kubeconfig
}

// defaultImage is the image of a build of this version: the agent runs from the manager's own image.
func defaultImage(version string) string {
	return "ghcr.io/innkeeper-dev/innkeeper:" + version
}
