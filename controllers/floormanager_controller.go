// Package controllers wires each innkeeper kind to the shared rollout engine (internal/pool). Each
// kind is a few lines: its component and its RBAC; the engine does the rest.
package controllers

import (
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/pool"
	"github.com/innkeeper-dev/innkeeper/internal/render/kubelet"
)

// Options are what every controller needs to know about the installation.
type Options struct {
	// Namespace holds the ConfigMaps and DaemonSets the controllers render.
	Namespace string
	// AgentImage is the node agent's image.
	AgentImage string
	// AgentServiceAccount is the ServiceAccount of the node agent's pods.
	AgentServiceAccount string
	// KubeProxyImage is the image of a Concierge's kube-proxy that names none.
	KubeProxyImage string
	// KubeProxyServiceAccount is the ServiceAccount of kube-proxy's pods, bound to system:node-proxier.
	KubeProxyServiceAccount string
	// KubeProxyAPIServer is the API server URL kube-proxy uses instead of the kubernetes Service.
	KubeProxyAPIServer string
	// NodePods are the priority class and tolerations of every DaemonSet's pods: the node agents'
	// and kube-proxy's. The zero value gives them neither; pool.DefaultNodePods is what innkeeper
	// has always rendered.
	NodePods pool.NodePods
}

// RBAC for the engine, shared by every kind: Nodes to select and report on, Events (which land in the
// default namespace for a cluster-scoped object), and the workloads it renders, only in its own
// namespace (a Role; installers rewrite innkeeper-system to their namespace).
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",namespace=innkeeper-system,resources=configmaps,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=apps,namespace=innkeeper-system,resources=daemonsets,verbs=get;list;watch;create;update;patch;delete

// +kubebuilder:rbac:groups=hotel.innkeeper.dev,resources=floormanagers,verbs=get;list;watch
// +kubebuilder:rbac:groups=hotel.innkeeper.dev,resources=floormanagers/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=hotel.innkeeper.dev,resources=floormanagers/finalizers,verbs=update

// SetupFloorManager registers the FloorManager controller: kubelet drop-ins rolled out by the node agent.
func SetupFloorManager(mgr ctrl.Manager, opts Options) error {
	r, err := pool.NewReconciler(mgr, pool.Kind{
		Component: kubelet.Component{AgentImage: opts.AgentImage, AgentServiceAccount: opts.AgentServiceAccount},
		NewObject: func() pool.Object { return &hotelv1alpha1.FloorManager{} },
		NewList:   func() client.ObjectList { return &hotelv1alpha1.FloorManagerList{} },
	}, opts.Namespace, opts.NodePods)
	if err != nil {
		return fmt.Errorf("set up the FloorManager controller: %w", err)
	}
	return r.SetupWithManager(mgr)
}
