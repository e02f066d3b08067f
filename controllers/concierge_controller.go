package controllers

import (
	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/pool"
	"github.com/innkeeper-dev/innkeeper/internal/render/kubeproxy"
)

// A Concierge's pool must not run another kube-proxy: the manager's cache watches the cluster's
// DaemonSets (others than innkeeper's slimmed to their placement and containers), and with
// spec.takeOver the engine reads another kube-proxy's DaemonSet whole. Reading is all it may do
// cluster-wide: it updates such a DaemonSet to keep it off the pool only in the namespaces named for
// take-over (--take-over-namespaces), where the installation grants update in a Role of its own
// (the chart's concierge.takeOver, config/take-over), not here.
// +kubebuilder:rbac:groups=apps,resources=daemonsets,verbs=get;list;watch
// kube-proxy's API server address, as kubeadm publishes it.
// +kubebuilder:rbac:groups="",namespace=kube-public,resources=configmaps,resourceNames=cluster-info,verbs=get

// +kubebuilder:rbac:groups=hotel.innkeeper.dev,resources=concierges,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=hotel.innkeeper.dev,resources=concierges/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=hotel.innkeeper.dev,resources=concierges/finalizers,verbs=update

// concierge is the Concierge kind: kube-proxy per pool, its DaemonSet kube-proxy itself.
func concierge(opts Options) pool.Kind {
	return pool.Kind{
		Component: kubeproxy.Component{DefaultImage: opts.KubeProxyImage, ServiceAccount: opts.KubeProxyServiceAccount,
			APIServer: opts.KubeProxyAPIServer, Resources: opts.KubeProxyResources},
		NewObject: func() pool.Object { return &hotelv1alpha1.Concierge{} },
	}
}
