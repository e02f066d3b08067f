package controllers

import (
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/pool"
	"github.com/innkeeper-dev/innkeeper/internal/render/containerd"
)

// +kubebuilder:rbac:groups=hotel.innkeeper.dev,resources=roomservices,verbs=get;list;watch
// +kubebuilder:rbac:groups=hotel.innkeeper.dev,resources=roomservices/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=hotel.innkeeper.dev,resources=roomservices/finalizers,verbs=update

// SetupRoomService registers the RoomService controller: containerd drop-ins and registry hosts
// files rolled out by the node agent.
func SetupRoomService(mgr ctrl.Manager, opts Options) error {
	r, err := pool.NewReconciler(mgr, pool.Kind{
		Component: containerd.Component{AgentImage: opts.AgentImage, AgentServiceAccount: opts.AgentServiceAccount},
		NewObject: func() pool.Object { return &hotelv1alpha1.RoomService{} },
		NewList:   func() client.ObjectList { return &hotelv1alpha1.RoomServiceList{} },
	}, opts.Namespace, opts.NodePods)
	if err != nil {
		return fmt.Errorf("set up the RoomService controller: %w", err)
	}
	return r.SetupWithManager(mgr)
}
