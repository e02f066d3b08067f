package containerd

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/pelletier/go-toml/v2"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// The drop-in's typed layouts, one per configuration version. Every field is optional (a pointer,
// map or slice with omitempty) so that the drop-in holds only what the spec sets, and containerd
// merges it over the Node's config.toml. They are also the strict decoder's schema (ParseFiles):
// a key innkeeper does not write is refused. go-toml writes struct fields in declaration order
// (alphabetical here, plain keys before tables as TOML requires) and map keys sorted, so the same
// spec always gives the same bytes.
//
// Every key was checked against containerd's docs/cri/config.md and internal/cri/config
// (release/1.7 for version 2, main for version 3), except as noted on runtimeOptions.

// dropInV2 is a version 2 drop-in, for containerd 1.7: all of the CRI under one plugin.
type dropInV2 struct {
	Version int32      `toml:"version"`
	Plugins *pluginsV2 `toml:"plugins,omitempty"`
}

type pluginsV2 struct {
	CRI *criV2 `toml:"io.containerd.grpc.v1.cri,omitempty"`
}

type criV2 struct {
	EnableCDI              *bool           `toml:"enable_cdi,omitempty"`
	MaxConcurrentDownloads *int32          `toml:"max_concurrent_downloads,omitempty"`
	SandboxImage           *string         `toml:"sandbox_image,omitempty"`
	Containerd             *containerdV2   `toml:"containerd,omitempty"`
	Registry               *registryConfig `toml:"registry,omitempty"`
}

type containerdV2 struct {
	DefaultRuntimeName *string                 `toml:"default_runtime_name,omitempty"`
	Snapshotter        *string                 `toml:"snapshotter,omitempty"`
	Runtimes           map[string]runtimeTable `toml:"runtimes,omitempty"`
}

// dropInV3 is a version 3 drop-in, for containerd 2.x, where the CRI is split into an images and
// a runtime plugin.
type dropInV3 struct {
	Version int32      `toml:"version"`
	Plugins *pluginsV3 `toml:"plugins,omitempty"`
}

type pluginsV3 struct {
	Images  *imagesV3  `toml:"io.containerd.cri.v1.images,omitempty"`
	Runtime *runtimeV3 `toml:"io.containerd.cri.v1.runtime,omitempty"`
}

type imagesV3 struct {
	MaxConcurrentDownloads *int32          `toml:"max_concurrent_downloads,omitempty"`
	Snapshotter            *string         `toml:"snapshotter,omitempty"`
	PinnedImages           *pinnedImages   `toml:"pinned_images,omitempty"`
	Registry               *registryConfig `toml:"registry,omitempty"`
}

// pinnedImages is containerd 2's map of images that image GC keeps; "sandbox" is the pause image.
type pinnedImages struct {
	Sandbox *string `toml:"sandbox,omitempty"`
}

// runtimeV3 has no enable_cdi: containerd 2.x always has CDI on; 2.2 deprecated the key and 2.4
// ignores it as unknown, so writing it would set nothing (admission refuses false here).
type runtimeV3 struct {
	Containerd *containerdV3 `toml:"containerd,omitempty"`
}

type containerdV3 struct {
	DefaultRuntimeName *string                 `toml:"default_runtime_name,omitempty"`
	Runtimes           map[string]runtimeTable `toml:"runtimes,omitempty"`
}

type registryConfig struct {
	ConfigPath string `toml:"config_path"`
}

// runtimeTable is one containerd.runtimes.<name> table; the same in versions 2 and 3.
type runtimeTable struct {
	PodAnnotations []string        `toml:"pod_annotations,omitempty"`
	RuntimeType    string          `toml:"runtime_type"`
	Options        *runtimeOptions `toml:"options,omitempty"`
}

// runtimeOptions are the options containerd hands the shim. For io.containerd.runc.v2 they are
// runc's (BinaryName, SystemdCgroup: api/types/runc/options). For any other runtime type the CRI
// passes them as runtimeoptions.Options, of which ConfigPath is the shim's configuration file; the
// runsc and kata shims read it. Not confirmed: whether a given runsc release also needs TypeUrl
// ("io.containerd.runsc.v1.options") next to ConfigPath, as gVisor's older guides write it;
// innkeeper does not write TypeUrl.
type runtimeOptions struct {
	BinaryName    *string `toml:"BinaryName,omitempty"`
	ConfigPath    *string `toml:"ConfigPath,omitempty"`
	SystemdCgroup *bool   `toml:"SystemdCgroup,omitempty"`
}

// RegistryConfigPath is the registry.config_path the drop-in sets when the spec has registries, in
// both versions: CertsDir alone. containerd 1.7 has no default. containerd 2's default is the list
// "/etc/containerd/certs.d:/etc/docker/certs.d", but from 2.1 the CRI pulls through the transfer
// service, which takes config_path for a single directory, so with that list it reads no hosts.toml
// at all (containerd#12415). The node agent checks that no other directory the Node's containerd
// read holds anything.
const RegistryConfigPath = CertsDir

// renderDropIn encodes the drop-in of a valid spec.
func renderDropIn(spec *hotelv1alpha1.ContainerdSpec) ([]byte, error) {
	runtimes := runtimeTables(spec)
	var registry *registryConfig
	if len(spec.Registries) > 0 {
		registry = &registryConfig{ConfigPath: RegistryConfigPath}
	}
	switch spec.ConfigVersion {
	case 2:
		cri := &criV2{
			EnableCDI: spec.EnableCDI, MaxConcurrentDownloads: spec.MaxConcurrentDownloads,
			SandboxImage: spec.SandboxImage, Registry: registry,
		}
		if spec.DefaultRuntimeName != nil || spec.Snapshotter != nil || runtimes != nil {
			cri.Containerd = &containerdV2{DefaultRuntimeName: spec.DefaultRuntimeName, Snapshotter: spec.Snapshotter, Runtimes: runtimes}
		}
		doc := dropInV2{Version: 2}
		if *cri != (criV2{}) {
			doc.Plugins = &pluginsV2{CRI: cri}
		}
		return toml.Marshal(doc)
	case 3:
		images := &imagesV3{MaxConcurrentDownloads: spec.MaxConcurrentDownloads, Snapshotter: spec.Snapshotter, Registry: registry}
		if spec.SandboxImage != nil {
			images.PinnedImages = &pinnedImages{Sandbox: spec.SandboxImage}
		}
		runtime := &runtimeV3{}
		if spec.DefaultRuntimeName != nil || runtimes != nil {
			runtime.Containerd = &containerdV3{DefaultRuntimeName: spec.DefaultRuntimeName, Runtimes: runtimes}
		}
		plugins := &pluginsV3{}
		if *images != (imagesV3{}) {
			plugins.Images = images
		}
		if *runtime != (runtimeV3{}) {
			plugins.Runtime = runtime
		}
		doc := dropInV3{Version: 3}
		if *plugins != (pluginsV3{}) {
			doc.Plugins = plugins
		}
		return toml.Marshal(doc)
	}
	return nil, fmt.Errorf("configVersion %d is not 2 or 3", spec.ConfigVersion)
}

// runtimeTables returns the runtimes of a valid spec by name, with spec.systemdCgroup applied: on
// every runc runtime that does not set its own, and on the runtime named runc, which containerd's
// default configuration has and uses by default (the drop-in merges into it), unless the spec
// declares its own runc.
func runtimeTables(spec *hotelv1alpha1.ContainerdSpec) map[string]runtimeTable {
	if len(spec.Runtimes) == 0 && spec.SystemdCgroup == nil {
		return nil
	}
	tables := map[string]runtimeTable{}
	for _, r := range spec.Runtimes {
		t := runtimeTable{RuntimeType: r.RuntimeType, PodAnnotations: r.PodAnnotations}
		opts := runtimeOptions{BinaryName: r.BinaryName, ConfigPath: r.ConfigPath, SystemdCgroup: r.SystemdCgroup}
		if r.RuntimeType == runcType && opts.SystemdCgroup == nil {
			opts.SystemdCgroup = spec.SystemdCgroup
		}
		if opts != (runtimeOptions{}) {
			t.Options = &opts
		}
		tables[r.Name] = t
	}
	if _, declared := tables[defaultRuncName]; spec.SystemdCgroup != nil && !declared {
		tables[defaultRuncName] = runtimeTable{RuntimeType: runcType, Options: &runtimeOptions{SystemdCgroup: spec.SystemdCgroup}}
	}
	return tables
}

// decodeDropIn decodes a drop-in strictly, in the layout of its version, into the spec it holds
// (every runtime's systemdCgroup on the runtime itself) and the registry config_path it sets.
func decodeDropIn(data []byte) (*hotelv1alpha1.ContainerdSpec, string, error) {
	var head struct {
		Version int32 `toml:"version"`
	}
	if err := toml.Unmarshal(data, &head); err != nil {
		return nil, "", fmt.Errorf("not TOML: %w", err)
	}
	switch head.Version {
	case 2:
		doc := dropInV2{}
		if err := decodeStrict(data, &doc); err != nil {
			return nil, "", err
		}
		return specOfV2(&doc)
	case 3:
		doc := dropInV3{}
		if err := decodeStrict(data, &doc); err != nil {
			return nil, "", err
		}
		return specOfV3(&doc)
	}
	return nil, "", fmt.Errorf("version is %d; innkeeper writes version 2 (containerd 1.7) or 3 (containerd 2.x)", head.Version)
}

func decodeStrict(data []byte, v any) error {
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func specOfV2(doc *dropInV2) (*hotelv1alpha1.ContainerdSpec, string, error) {
	spec := &hotelv1alpha1.ContainerdSpec{ConfigVersion: 2}
	if doc.Plugins == nil || doc.Plugins.CRI == nil {
		return spec, "", nil
	}
	cri := doc.Plugins.CRI
	spec.EnableCDI, spec.MaxConcurrentDownloads, spec.SandboxImage = cri.EnableCDI, cri.MaxConcurrentDownloads, cri.SandboxImage
	if c := cri.Containerd; c != nil {
		spec.DefaultRuntimeName, spec.Snapshotter = c.DefaultRuntimeName, c.Snapshotter
		spec.Runtimes = specRuntimes(c.Runtimes)
	}
	return spec, configPath(cri.Registry), nil
}

func specOfV3(doc *dropInV3) (*hotelv1alpha1.ContainerdSpec, string, error) {
	spec := &hotelv1alpha1.ContainerdSpec{ConfigVersion: 3}
	if doc.Plugins == nil {
		return spec, "", nil
	}
	var registry *registryConfig
	if im := doc.Plugins.Images; im != nil {
		spec.MaxConcurrentDownloads, spec.Snapshotter, registry = im.MaxConcurrentDownloads, im.Snapshotter, im.Registry
		if im.PinnedImages != nil {
			if im.PinnedImages.Sandbox == nil {
				return nil, "", errors.New("pinned_images without sandbox")
			}
			spec.SandboxImage = im.PinnedImages.Sandbox
		}
	}
	if rt := doc.Plugins.Runtime; rt != nil {
		if c := rt.Containerd; c != nil {
			spec.DefaultRuntimeName = c.DefaultRuntimeName
			spec.Runtimes = specRuntimes(c.Runtimes)
		}
	}
	return spec, configPath(registry), nil
}

func configPath(r *registryConfig) string {
	if r == nil {
		return ""
	}
	return r.ConfigPath
}

// specRuntimes turns runtime tables back into the API's runtimes, sorted by name.
func specRuntimes(tables map[string]runtimeTable) []hotelv1alpha1.ContainerdRuntime {
	if len(tables) == 0 {
		return nil // as an omitted field decodes
	}
	runtimes := make([]hotelv1alpha1.ContainerdRuntime, 0, len(tables))
	for _, name := range slices.Sorted(maps.Keys(tables)) {
		t := tables[name]
		r := hotelv1alpha1.ContainerdRuntime{Name: name, RuntimeType: t.RuntimeType, PodAnnotations: t.PodAnnotations}
		if o := t.Options; o != nil {
			r.BinaryName, r.ConfigPath, r.SystemdCgroup = o.BinaryName, o.ConfigPath, o.SystemdCgroup
		}
		runtimes = append(runtimes, r)
	}
	return runtimes
}
