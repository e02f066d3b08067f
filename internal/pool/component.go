// Package pool is innkeeper's rollout engine, shared by every kind. For one object (a pool of Nodes
// and the configuration of one node component) it renders an immutable, content-addressed ConfigMap
// and the DaemonSet that rolls it out, applies both with server-side apply, and aggregates the
// pool's Nodes and the rollout's progress into the object's status.
//
// The engine knows nothing of kubelets or kube-proxies: a Component renders the configuration and
// builds the pod that applies it. A reconcile (reconciler.go) is four steps: observe (observe.go)
// reads the object's pool, DaemonSet and peers (and, for a Concierge that asks, first takes its
// pool from other kube-proxies); decide (decide.go), a pure function, says what to do with the
// workloads; act (apply.go, prune.go) does it; report (status.go, a pure aggregation, and
// report.go) writes the status. Rendering (render.go) and conflicts (selection.go) are pure too.
// Deletion is finalize.go; the watches and their predicates, watches.go; what only an Exclusive
// component needs, foreign.go.
package pool

import (
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// Object is an innkeeper object that the engine reconciles.
type Object interface {
	client.Object
	hotelv1alpha1.PoolObject
}

// Component is one node component (kubelet, kube-proxy, containerd): how its configuration is
// rendered and which pod rolls it out. Its methods must be pure.
type Component interface {
	// Name is the component's short name, such as "kubelet". It names and labels the objects the
	// engine renders, and the node agent's annotations.
	Name() string

	// Render returns the files of the configuration ConfigMap, by file name, from the object and
	// the inputs it references. An error means that the spec cannot be rendered (one that wraps a
	// field.ErrorList names the fields): the engine reports Stalled/InvalidSpec and leaves what is
	// rolled out alone.
	Render(obj Object, in Inputs) (map[string]string, error)

	// NodeAgent reports whether the component's pods run innkeeper's node agent, which records on
	// each Node the configuration it applied (hotel.innkeeper.dev/<component>-config). The engine
	// then counts updated Nodes from those records; otherwise from the DaemonSet's status.
	NodeAgent() bool

	// PodSpec returns the pod that applies the configuration on each Node: containers and their
	// volumes, mounting the configuration from the volume named ConfigVolume. The engine adds the
	// configuration volume, node affinity, tolerations and priority class.
	PodSpec(obj Object, config Config) *corev1ac.PodSpecApplyConfiguration
}

// Inputs are what a configuration reads besides its object: the data of the ConfigMaps a
// Referencing component references, by name. Other components get none.
type Inputs struct {
	ConfigMaps map[string]map[string]string
}

// Referencing is implemented by a Component whose configuration includes the content of ConfigMaps
// in the engine's namespace, such as a registry's CA bundle. The engine hands their data to
// Render, stalls the object with reason ReferenceNotFound while one is missing, and renders again
// when one changes, so that a new CA bundle rolls out like any other change.
type Referencing interface {
	// References returns the names of the ConfigMaps that obj's configuration reads.
	References(obj Object) []string
}

// Config identifies one rendered configuration.
type Config struct {
	// Hash is the content hash of the configuration, as reported in status.configHash.
	Hash string
	// ConfigMapName names the immutable ConfigMap that holds it.
	ConfigMapName string
}

// ConfigVolume is the name of the pod volume that holds the configuration ConfigMap.
const ConfigVolume = "config"

// Orphaning is implemented by a Component whose objects may ask to leave their workloads running
// when they are deleted (kube-proxy's; a node agent's objects say it in their NodeFiles, see
// Reconciler.orphans). The engine then holds the object with a finalizer until it has removed
// its owner references from the DaemonSet and ConfigMaps, which the garbage collector would
// otherwise delete with it.
type Orphaning interface {
	// Orphan reports whether deleting obj must leave its DaemonSet running.
	Orphan(obj Object) bool
}

// Finalizer holds an object that must clean up before it goes: orphan its workloads, or give back
// the Nodes it took from a foreign DaemonSet.
const Finalizer = "hotel.innkeeper.dev/cleanup"
