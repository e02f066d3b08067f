package controllers

import (
	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/pool"
	"github.com/innkeeper-dev/innkeeper/internal/render/kubelet"
)

// patch: the manager adds and removes its finalizer (revert on delete, Orphan).
// +kubebuilder:rbac:groups=hotel.innkeeper.dev,resources=floormanagers,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=hotel.innkeeper.dev,resources=floormanagers/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=hotel.innkeeper.dev,resources=floormanagers/finalizers,verbs=update

// A kubelet change that needs it drains the Node first (spec.rollout.drain): the drain library
// lists the Node's pods, reads each, and evicts them (evictions honour PodDisruptionBudgets); it
// reads the DaemonSet of a daemon pod (granted above) to leave it.
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list
// +kubebuilder:rbac:groups="",resources=pods/eviction,verbs=create

// floorManager is the FloorManager kind: kubelet drop-ins rolled out by the node agent.
func floorManager(opts Options) pool.Kind {
	return pool.Kind{
		Component: kubelet.Component{AgentImage: opts.AgentImage, AgentServiceAccount: opts.KubeletAgentServiceAccount,
			AgentResources: opts.AgentResources},
		NewObject: func() pool.Object { return &hotelv1alpha1.FloorManager{} },
	}
}
