// Package v1alpha1 holds the hotel.innkeeper.dev/v1alpha1 API: FloorManager (kubelet), Concierge
// (kube-proxy) and RoomService (containerd), and the pool spec and status that they share.
//
// +kubebuilder:object:generate=true
// +groupName=hotel.innkeeper.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every innkeeper kind.
	GroupVersion = schema.GroupVersion{Group: "hotel.innkeeper.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme; each kind's file
	// adds its own (see register).
	SchemeBuilder = runtime.NewSchemeBuilder(func(s *runtime.Scheme) error {
		metav1.AddToGroupVersion(s, GroupVersion)
		return nil
	})

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// register adds kinds of this package to SchemeBuilder.
func register(objects ...runtime.Object) {
	SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(GroupVersion, objects...)
		return nil
	})
}
