package controllers

import (
	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/pool"
	"github.com/innkeeper-dev/innkeeper/internal/render/containerd"
)

// patch: the manager adds and removes its finalizer (revert on delete, Orphan).
// +kubebuilder:rbac:groups=hotel.innkeeper.dev,resources=roomservices,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=hotel.innkeeper.dev,resources=roomservices/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=hotel.innkeeper.dev,resources=roomservices/finalizers,verbs=update

// roomService is the RoomService kind: containerd drop-ins and registry hosts files rolled out by the node agent.
func roomService(opts Options) pool.Kind {
	return pool.Kind{
		Component: containerd.Component{AgentImage: opts.AgentImage, AgentServiceAccount: opts.ContainerdAgentServiceAccount,
			AgentResources: opts.AgentResources},
		NewObject: func() pool.Object { return &hotelv1alpha1.RoomService{} },
	}
}
