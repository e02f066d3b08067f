// Package controllers wires each innkeeper kind to the shared rollout engine (internal/pool). Each
// kind is a few lines: its component and its RBAC; the engine does the rest.
package controllers

import (
	"fmt"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/innkeeper-dev/innkeeper/internal/pool"
)

// Options are what every controller needs to know about the installation.
type Options struct {
	// Options are the engine's: the workload namespace, the rollout pods' scheduling settings
	// (the zero NodePods gives them neither priority class nor tolerations; pool.DefaultNodePods is
	// what innkeeper has always rendered), and the manager's Node store.
	pool.Options
	// AgentImage is the node agent's image.
	AgentImage string
	// KubeletAgentServiceAccount is the ServiceAccount of the kubelet agent's pods (FloorManager).
	KubeletAgentServiceAccount string
	// ContainerdAgentServiceAccount is the ServiceAccount of the containerd agent's pods
	// (RoomService). Each component's agent has its own, so that the agents' admission policy keeps
	// each to its own component's Node annotations.
	ContainerdAgentServiceAccount string
	// AgentResources are the node agent's container resources; nil for the default.
	AgentResources *corev1.ResourceRequirements
	// KubeProxyResources are kube-proxy's container resources; nil for the default.
	KubeProxyResources *corev1.ResourceRequirements
	// KubeProxyImage is the image of a Concierge's kube-proxy that names none.
	KubeProxyImage string
	// KubeProxyServiceAccount is the ServiceAccount of kube-proxy's pods, bound to system:node-proxier.
	KubeProxyServiceAccount string
	// KubeProxyAPIServer is the API server URL kube-proxy uses instead of the kubernetes Service.
	KubeProxyAPIServer string
}

// RBAC for the engine, shared by every kind: Nodes to select and report on (and to admit to a
// rollout, with a label: see pool.AdmittedLabel), Events (which land in the
// default namespace for a cluster-scoped object), and the workloads it renders, only in its own
// namespace (a Role; installers rewrite innkeeper-system to their namespace).
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",namespace=innkeeper-system,resources=configmaps,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=apps,namespace=innkeeper-system,resources=daemonsets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",namespace=innkeeper-system,resources=pods,verbs=list

// Setup registers the controller of every innkeeper kind with mgr.
func Setup(mgr ctrl.Manager, opts Options) error {
	var reconcilers []*pool.Reconciler
	for _, kind := range []pool.Kind{floorManager(opts), concierge(opts), roomService(opts)} {
		r, err := pool.NewReconciler(mgr, kind, opts.Options)
		if err == nil {
			err = r.SetupWithManager(mgr)
		}
		if err != nil {
			return fmt.Errorf("set up the %s controller: %w", reflect.TypeOf(kind.NewObject()).Elem().Name(), err)
		}
		reconcilers = append(reconcilers, r)
	}
	if err := pool.NewRegistration(mgr, reconcilers).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up the registration taint's controller: %w", err)
	}
	return nil
}
