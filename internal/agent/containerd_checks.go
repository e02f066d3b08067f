package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pelletier/go-toml/v2"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/render/containerd"
)

// runtimeVersion asks the CRI which runtime this is, and its version and major version.
func (c *Containerd) runtimeVersion(ctx context.Context) (string, int, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := c.CRI.Version(ctx, &runtimeapi.VersionRequest{})
	if err != nil {
		return "", 0, fmt.Errorf("ask containerd its version over the CRI: %w", err)
	}
	if v.RuntimeName != "containerd" {
		return "", 0, &DegradedError{Reason: hotelv1alpha1.ReasonUnsupportedRuntime, Message: fmt.Sprintf(
			"the CRI runtime on this Node is %s %s, not containerd", v.RuntimeName, v.RuntimeVersion)}
	}
	major, err := majorVersion(v.RuntimeVersion)
	if err != nil {
		return "", 0, &DegradedError{Reason: hotelv1alpha1.ReasonConfigVersionMismatch, Message: err.Error()}
	}
	return v.RuntimeVersion, major, nil
}

// rootVersion is config.toml's configuration version; without a version line, 1.
func rootVersion(main map[string]any) int64 {
	if v, ok := main["version"].(int64); ok {
		return v
	}
	return 1
}

// checkVersion refuses a drop-in whose configuration version is not config.toml's: containerd 2
// either refuses to start with a drop-in newer than config.toml or ignores config.toml's older
// sections (containerd#12891), and containerd 1.x reads only version 2 drop-ins, next to a
// version 2 config.toml.
func (c *Containerd) checkVersion(runtimeVersion string, major int, root, dropIn int64) error {
	want := root
	if major < 2 && root != 2 {
		return &DegradedError{Reason: hotelv1alpha1.ReasonConfigVersionMismatch, Message: fmt.Sprintf(
			"%s is configuration version %d; containerd %s imports drop-ins only into a version 2 configuration: "+
				"migrate it (containerd config migrate) and restart containerd", c.ConfigPath, root, runtimeVersion)}
	}
	if major >= 2 && root < 2 {
		return &DegradedError{Reason: hotelv1alpha1.ReasonConfigVersionMismatch, Message: fmt.Sprintf(
			"%s is configuration version %d, which containerd %s does not read", c.ConfigPath, root, runtimeVersion)}
	}
	if dropIn != want {
		return &DegradedError{Reason: hotelv1alpha1.ReasonConfigVersionMismatch, Message: fmt.Sprintf(
			"%s on this Node is configuration version %d (containerd %s), but the RoomService renders version %d: "+
				"set spec.containerd.configVersion to %d, or give these Nodes their own RoomService",
			c.ConfigPath, root, runtimeVersion, dropIn, want)}
	}
	return nil
}

// majorVersion returns the major version of a containerd version such as "v1.7.22" or "2.1.4".
func majorVersion(version string) (int, error) {
	major, _, _ := strings.Cut(strings.TrimPrefix(version, "v"), ".")
	n, err := strconv.Atoi(major)
	if err != nil {
		return 0, fmt.Errorf("cannot read containerd's version %q", version)
	}
	return n, nil
}

// imports requires the main configuration to import the drop-in (innkeeper never rewrites it), and
// returns the other files it imports, as host paths in the order containerd reads them, and those
// of them read after the drop-in. containerd loads imports breadth first: config.toml's, each
// pattern's matches sorted, then the files those import (relative to the importing file), a file
// once; a later file's settings win.
func (c *Containerd) imports(hostRoot string, main map[string]any) (others, later []string, err error) {
	var order []string
	seen := map[string]bool{}
	add := func(importer string, doc map[string]any) {
		patterns, _ := doc["imports"].([]any)
		for _, i := range patterns {
			pattern, ok := i.(string)
			if !ok {
				continue
			}
			if !filepath.IsAbs(pattern) {
				pattern = filepath.Join(filepath.Dir(importer), pattern)
			}
			globbed, err := filepath.Glob(filepath.Join(hostRoot, pattern))
			if err != nil {
				continue // containerd refuses a bad pattern itself
			}
			matches := make([]string, 0, len(globbed)+1)
			for _, m := range globbed {
				matches = append(matches, strings.TrimPrefix(m, hostRoot))
			}
			// Where the drop-in is, or will be once written.
			if ok, _ := filepath.Match(pattern, dropInPath); ok && !slices.Contains(matches, dropInPath) {
				matches = append(matches, dropInPath)
				slices.Sort(matches)
			}
			for _, p := range matches {
				if !seen[p] {
					seen[p] = true
					order = append(order, p)
				}
			}
		}
	}
	add(c.ConfigPath, main)
	found := false
	for i := 0; i < len(order); i++ {
		if order[i] == dropInPath {
			found = true
			continue
		}
		others = append(others, order[i])
		if found {
			later = append(later, order[i])
		}
		doc, err := readImport(hostRoot, order[i])
		if err != nil {
			return nil, nil, err
		}
		add(order[i], doc)
	}
	if !found {
		return nil, nil, &DegradedError{Reason: hotelv1alpha1.ReasonImportMissing, Message: fmt.Sprintf(
			"%s does not import %s, so containerd would not read it; innkeeper does not rewrite containerd's main "+
				"configuration. Add imports = [%q] to it (containerd reads it at its next restart)",
			c.ConfigPath, dropInPath, containerd.DropInDir+"/*.toml")}
	}
	return others, later, nil
}

// checkLaterDropIns refuses, on containerd 2, a file imported after the drop-in that sets one of
// the drop-in's settings to another value: containerd 2 merges imports key by key, a later file
// winning, so it would undo innkeeper's setting while the Node reported it applied. Files read
// before the drop-in, and settings innkeeper does not make, are fine.
func checkLaterDropIns(hostRoot string, later []string, files []File) error {
	if len(later) == 0 {
		return nil
	}
	var own map[string]setting
	if i := dropInIndex(files); i >= 0 {
		doc := map[string]any{}
		if err := toml.Unmarshal(files[i].Data, &doc); err != nil {
			return fmt.Errorf("read the drop-in: %w", err)
		}
		own = settings(doc)
	}
	for _, path := range later {
		doc, err := readImport(hostRoot, path)
		if err != nil {
			return err
		}
		theirs := settings(doc)
		for _, key := range slices.Sorted(maps.Keys(theirs)) {
			if mine, ok := own[key]; ok && !reflect.DeepEqual(mine.value, theirs[key].value) {
				return &DegradedError{Reason: hotelv1alpha1.ReasonDropInConflict, Message: fmt.Sprintf(
					"%s, which containerd reads after innkeeper's drop-in, sets %s to %s; innkeeper sets %s, and "+
						"the later file wins. Remove the setting from %s, or make the RoomService agree with it",
					path, mine.name, tomlValue(theirs[key].value), tomlValue(mine.value), path)}
			}
		}
	}
	return nil
}

// setting is one value a containerd configuration file sets, under its dotted name.
type setting struct {
	name  string
	value any
}

// settings flattens a configuration file's plugin settings, by path, to the values containerd 2
// reads them as: a version 2 file's CRI settings move where containerd 2's migration puts them
// (images settings to io.containerd.cri.v1.images, the rest to io.containerd.cri.v1.runtime).
func settings(doc map[string]any) map[string]setting {
	out := map[string]setting{}
	var walk func(path []string, t map[string]any)
	walk = func(path []string, t map[string]any) {
		for k, v := range t {
			p := append(slices.Clip(path), k)
			if sub, ok := v.(map[string]any); ok {
				walk(p, sub)
				continue
			}
			if rootVersion(doc) == 2 {
				p = migrateV2(p)
			}
			out[strings.Join(p, "\x00")] = setting{name: dotted(p), value: v}
		}
	}
	walk([]string{pluginsTable}, table(doc, pluginsTable))
	return out
}

// migrateV2 returns where containerd 2 reads a version 2 file's setting.
func migrateV2(p []string) []string {
	if len(p) < 3 || p[1] != v2CRIPlugin {
		return p
	}
	const images, runtime = "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime"
	rest := p[2:]
	switch {
	case rest[0] == "sandbox_image":
		return []string{pluginsTable, images, "pinned_images", "sandbox"}
	case rest[0] == "registry" || rest[0] == "max_concurrent_downloads" || rest[0] == "image_decryption":
		return append([]string{pluginsTable, images}, rest...)
	case len(rest) == 2 && rest[0] == "containerd" &&
		(rest[1] == "snapshotter" || rest[1] == "disable_snapshot_annotations" || rest[1] == "discard_unpacked_layers"):
		return []string{pluginsTable, images, rest[1]}
	}
	return append([]string{pluginsTable, runtime}, rest...)
}

// dotted names a setting as containerd's documentation does: plugins."io.containerd.cri.v1.runtime".containerd.default_runtime_name.
func dotted(p []string) string {
	parts := make([]string, len(p))
	for i, k := range p {
		if strings.ContainsAny(k, ". \"'") {
			k = strconv.Quote(k)
		}
		parts[i] = k
	}
	return strings.Join(parts, ".")
}

// tomlValue shows a setting's value as TOML writes it.
func tomlValue(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}

// readImport reads a file that config.toml imports; an empty document if it is not TOML (containerd
// refuses it itself).
func readImport(hostRoot, path string) (map[string]any, error) {
	data, err := os.ReadFile(filepath.Join(hostRoot, path))
	if errors.Is(err, syscall.EISDIR) {
		return nil, nil // containerd refuses it itself
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	doc := map[string]any{}
	if toml.Unmarshal(data, &doc) != nil {
		return nil, nil
	}
	return doc, nil
}

// checkOtherDropIns refuses, on containerd 1.x, another imported file with a CRI section: each
// import replaces the whole section, so one sorting before innkeeper's would be lost, and one
// after would undo innkeeper's settings.
func checkOtherDropIns(hostRoot string, imported []string) error {
	for _, path := range imported {
		doc, err := readImport(hostRoot, path)
		if err != nil {
			return err
		}
		if _, ok := table(doc, pluginsTable)[v2CRIPlugin]; ok {
			return &DegradedError{Reason: hotelv1alpha1.ReasonDropInConflict, Message: fmt.Sprintf(
				"%s also sets [plugins.%q]: containerd 1.x replaces that whole section with each imported file's, "+
					"so one of the two would be lost. Move its settings into the RoomService (runtimes, registries, ...) "+
					"or into config.toml, and remove it", path, v2CRIPlugin)}
		}
	}
	return nil
}

// containerd2ConfigPath is containerd 2's registry.config_path when config.toml sets none.
const containerd2ConfigPath = containerd.CertsDir + ":" + containerd.DockerCertsDir

// checkRegistry refuses to set registry.config_path over a main configuration that sets registry
// mirrors, or TLS settings of registry.configs (containerd refuses to start with those and
// config_path), or a config_path (its own, or containerd 2's default) with another directory that
// holds anything: containerd would no longer read it. Empty tables and an empty config_path, as
// `containerd config default` writes them, are fine.
func (c *Containerd) checkRegistry(hostRoot string, main map[string]any, major int, version int64, files []File) error {
	if !slices.ContainsFunc(files, func(f File) bool { return filepath.Base(f.Path) == containerd.HostsFile }) {
		return nil
	}
	plugin := v2CRIPlugin
	if version == 3 {
		plugin = "io.containerd.cri.v1.images"
	}
	registry := table(table(table(main, pluginsTable), plugin), "registry")
	conflict := func(what string) error {
		return &DegradedError{Reason: hotelv1alpha1.ReasonRegistryConfigConflict, Message: fmt.Sprintf(
			"%s sets plugins.%q.registry.%s, which containerd refuses together with the registry.config_path "+
				"that the RoomService's registries need: move those settings into the RoomService's registries",
			c.ConfigPath, plugin, what)}
	}
	if len(table(registry, "mirrors")) > 0 {
		return conflict("mirrors")
	}
	for host, cfg := range table(registry, "configs") {
		if hostCfg, ok := cfg.(map[string]any); ok && len(table(hostCfg, "tls")) > 0 {
			return conflict(fmt.Sprintf("configs.%q.tls", host))
		}
	}
	current, _ := registry["config_path"].(string)
	source := fmt.Sprintf("%s's plugins.%q.registry.config_path", c.ConfigPath, plugin)
	if current == "" && major >= 2 {
		current, source = containerd2ConfigPath, "containerd 2's default registry.config_path"
	}
	for _, dir := range filepath.SplitList(current) {
		if dir == "" || filepath.Clean(dir) == containerd.RegistryConfigPath {
			continue
		}
		if !slices.ContainsFunc(containerd.AgentHostDirs, func(d string) bool { return within(dir, d) }) {
			return &DegradedError{Reason: hotelv1alpha1.ReasonRegistryConfigConflict, Message: fmt.Sprintf(
				"%s reads %s, which the RoomService's registries would replace with %s alone, and which "+
					"innkeeper's agent cannot see to tell whether that hides anything: set config_path to %s "+
					"(moving what %s holds there) or remove it",
				source, dir, containerd.RegistryConfigPath, containerd.RegistryConfigPath, dir)}
		}
		entries, err := os.ReadDir(filepath.Join(hostRoot, dir))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", dir, err)
		}
		if len(entries) > 0 {
			return &DegradedError{Reason: hotelv1alpha1.ReasonRegistryConfigConflict, Message: fmt.Sprintf(
				"%s reads %s, which holds %s; the RoomService's registries set it to %s alone (containerd 2.1 "+
					"and later read only one directory there), so containerd would no longer read it: move what "+
					"it holds into the RoomService's registries, or empty it",
				source, dir, entries[0].Name(), containerd.RegistryConfigPath)}
		}
	}
	return nil
}

// within tells whether path is dir or under it.
func within(path, dir string) bool {
	path = filepath.Clean(path)
	return path == dir || strings.HasPrefix(path, dir+"/")
}

// checkHostsFiles refuses to write a registry's files where an admin's would then be ignored: over
// a hosts.toml innkeeper did not write, into a directory whose Docker-style certificates containerd
// reads only while it holds no hosts.toml, or beside a host:port directory that containerd would
// no longer read once innkeeper's host_port_ directory exists.
func checkHostsFiles(hostRoot string, files []File) error {
	for _, f := range files {
		if !underCertsDir(f.Path) || filepath.Base(f.Path) != containerd.HostsFile {
			continue
		}
		data, exists, err := readFile(filepath.Join(hostRoot, f.Path))
		if err != nil {
			return err
		}
		if exists && !containerd.Managed(f.Path, data) {
			return hostsConflict(f.Path + " was not written by innkeeper, which does not overwrite it")
		}
		dir := filepath.Dir(f.Path)
		if !exists {
			entries, err := os.ReadDir(filepath.Join(hostRoot, dir))
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			for _, e := range entries {
				if ext := filepath.Ext(e.Name()); (ext == ".crt" || ext == ".cert" || ext == ".key") &&
					!strings.HasPrefix(e.Name(), "innkeeper-ca-") {
					return hostsConflict(fmt.Sprintf("%s holds %s, which containerd would no longer read once innkeeper "+
						"writes a hosts.toml there", dir, e.Name()))
				}
			}
		}
		if base := filepath.Base(dir); strings.HasSuffix(base, "_") {
			// host_port_ is read before host:port.
			if i := strings.LastIndex(strings.TrimSuffix(base, "_"), "_"); i > 0 {
				plain := filepath.Join(filepath.Dir(dir), base[:i]+":"+strings.TrimSuffix(base[i+1:], "_"))
				if exists, err := fileExists(filepath.Join(hostRoot, plain)); err != nil {
					return err
				} else if exists {
					return hostsConflict(fmt.Sprintf("%s exists, and containerd would read innkeeper's %s instead", plain, dir))
				}
			}
		}
	}
	return nil
}

func hostsConflict(what string) error {
	return &DegradedError{Reason: hotelv1alpha1.ReasonHostsFileConflict, Message: what +
		": remove it, or move its settings into the RoomService's registries"}
}

// dropInVersion reads the configuration version of the drop-in among files.
func dropInVersion(files []File) (int64, error) {
	i := dropInIndex(files)
	if i < 0 {
		return 0, errors.New("the configuration has no drop-in")
	}
	var doc struct {
		Version int64 `toml:"version"`
	}
	if err := toml.Unmarshal(files[i].Data, &doc); err != nil {
		return 0, fmt.Errorf("read the drop-in's version: %w", err)
	}
	return doc.Version, nil
}
