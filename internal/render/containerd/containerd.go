// Package containerd renders a RoomService's containerd settings into the files the node agent
// writes on each Node: a configuration drop-in, imported by the Node's config.toml, and one
// hosts.toml per registry host, with the CA bundles their mirrors trust. It also checks them, in
// the manager before they are rendered (Validate) and in the node agent before they touch a host
// (ParseFiles).
//
// containerd 1.7 (config version 2) merges an imported file over config.toml one plugin section at
// a time: the drop-in's [plugins."io.containerd.grpc.v1.cri"] replaces the whole CRI section of
// config.toml, not only the keys it sets (containerd#5837; containerd 2.0 merges key by key,
// containerd#9982). The node agent must account for that on version 2.
package containerd

import (
	"errors"
	"maps"
	"slices"

	"k8s.io/apimachinery/pkg/util/validation/field"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/render"
)

// Name is the component's name in object names, labels and node annotations, and its agent's
// --component.
const Name = render.ContainerdComponent

// DropInFile is the drop-in's name in DropInDir, and its ConfigMap key. containerd imports the
// files of an imports glob in lexical order, so 50- leaves room for the distribution's own
// drop-ins before and after it.
const DropInFile = "50-innkeeper.toml"

// DropInDir is the directory of drop-ins that the Node's config.toml imports
// (imports = ["/etc/containerd/conf.d/*.toml"]; containerd's own default configuration has it since
// containerd#12323).
const DropInDir = "/etc/containerd/conf.d"

// CertsDir is where containerd looks for a registry host's hosts.toml, in a directory per host
// (see HostDir); the drop-in points registry.config_path at it when the spec has registries.
const CertsDir = "/etc/containerd/certs.d"

// DockerCertsDir is the other directory of containerd 2's default registry.config_path
// ("/etc/containerd/certs.d:/etc/docker/certs.d"), which the drop-in's config_path replaces.
const DockerCertsDir = "/etc/docker/certs.d"

// AgentHostDirs are the host directories that the node agent's pod mounts (under its host root):
// the only ones whose files it can see.
var AgentHostDirs = []string{"/etc/containerd", DockerCertsDir}

// HostsMarker is the first line of every hosts.toml innkeeper writes. The node agent tells its own
// hosts.toml from an admin's by it (see Managed): it replaces and removes only its own.
const HostsMarker = "# Written by innkeeper (hotel.innkeeper.dev RoomService); changes here are overwritten."

// Render returns the files of a RoomService's containerd configuration, by ConfigMap key: the
// drop-in (DropInFile), each registry's hosts.toml (<HostDir>.hosts.toml) and each CA bundle its
// mirrors trust (<HostDir>.<hash>.ca.crt); HostPath maps a key to its path on the Node. caBundles
// holds the PEM of every ConfigMap key the mirrors refer to (with Key defaulted to ca.crt).
//
// It fails with a field.ErrorList (as a utilerrors.Aggregate of *field.Error, paths under
// spec.containerd) when the spec breaks a rule of the API, or a CA bundle is missing or is not
// PEM certificates: the engine then reports the RoomService as Stalled/InvalidSpec.
func Render(spec *hotelv1alpha1.ContainerdSpec, caBundles map[hotelv1alpha1.ConfigMapKeyReference]string) (map[string]string, error) {
	if spec == nil {
		return nil, errors.New("no containerd spec")
	}
	path := field.NewPath("spec", "containerd")
	if errs := Validate(spec, path); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	files := map[string]string{}
	var errs field.ErrorList
	for i := range spec.Registries {
		regFiles, regErrs := renderRegistry(&spec.Registries[i], caBundles, path.Child("registries").Index(i))
		errs = append(errs, regErrs...)
		maps.Copy(files, regFiles)
	}
	if len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	dropIn, err := renderDropIn(spec)
	if err != nil {
		return nil, field.ErrorList{field.InternalError(path, err)}.ToAggregate()
	}
	files[DropInFile] = string(dropIn)
	if size := filesSize(files); size > MaxConfigSize {
		return nil, field.ErrorList{field.TooLong(path.Child("registries"), size, MaxConfigSize)}.ToAggregate()
	}
	return files, nil
}

// MaxConfigSize bounds the rendered files, all together, below what one ConfigMap holds (1 MiB,
// its metadata included). CA bundles are copied into every registry directory that trusts them.
const MaxConfigSize = 900 * 1024

// filesSize is the size of a ConfigMap's data: its keys and values.
func filesSize(files map[string]string) int {
	n := 0
	for k, v := range files {
		n += len(k) + len(v)
	}
	return n
}

// sortedKeys returns a map's keys in order, for deterministic iteration.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
