// Package v1alpha1 holds the hotel.innkeeper.dev/v1alpha1 API: FloorManager (kubelet), and the pool
// spec and status that every innkeeper kind shares.
//
// +kubebuilder:object:generate=true
// +groupName=hotel.innkeeper.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every innkeeper kind.
	GroupVersion = schema.GroupVersion{Group: "hotel.innkeeper.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
