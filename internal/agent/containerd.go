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
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/render/containerd"
)

// Containerd is containerd as the agent manages it: a drop-in in /etc/containerd/conf.d, which the
// main config.toml must import and which containerd reads only when it starts, and registry hosts
// files under /etc/containerd/certs.d, which it reads at each pull; health from the CRI.
type Containerd struct {
	// ConfigPath is containerd's main configuration file on the host, /etc/containerd/config.toml.
	ConfigPath string
	// CRI is containerd's CRI runtime service, on its socket.
	CRI runtimeapi.RuntimeServiceClient

	// requireNetwork: containerd reported its network (the CNI) ready before the agent changed
	// anything, so it must again after a restart. A Node's CNI may well come after the agent (a
	// Node joining the pool): that is no failure of the configuration.
	requireNetwork bool
}

var _ Target = &Containerd{}

// Name returns "containerd".
func (c *Containerd) Name() string { return containerd.Name }

// Unit returns containerd.service.
func (c *Containerd) Unit() string { return "containerd.service" }

// Files checks the configuration as the manager rendered it and returns its files: registry CA
// bundles first, then the hosts files that name them, then the drop-in.
func (c *Containerd) Files(config map[string][]byte) ([]File, error) {
	parsed, err := containerd.ParseFiles(config)
	if err != nil {
		return nil, err
	}
	files := make([]File, 0, len(parsed.Entries))
	for _, e := range parsed.Entries {
		files = append(files, File{Path: e.Path, Data: e.Data, Restart: e.Restart, OwnDir: underCertsDir(e.Path)})
	}
	rank := func(f File) int {
		switch {
		case f.Restart:
			return 2
		case filepath.Base(f.Path) == "hosts.toml":
			return 1
		default:
			return 0
		}
	}
	slices.SortStableFunc(files, func(a, b File) int { return rank(a) - rank(b) })
	return files, nil
}

// v2CRIPlugin is the CRI plugin's section in a version 2 configuration.
const v2CRIPlugin = "io.containerd.grpc.v1.cri"

// mergedHeader starts a version 2 drop-in merged over config.toml's CRI section.
const mergedHeader = "# Written by innkeeper. containerd 1.7 replaces a plugin's whole section of config.toml with an\n" +
	"# imported file's, so this holds config.toml's [plugins.\"" + v2CRIPlugin + "\"] with innkeeper's\n" +
	"# settings merged over it. Changes here are overwritten.\n"

// mergeCRISection returns a drop-in for containerd 1.x merged over the CRI section of the Node's
// config.toml. containerd 1.x merges an imported file one plugin section at a time: the drop-in's
// [plugins."io.containerd.grpc.v1.cri"] would replace the Node's whole CRI section (its CNI
// directories, runtimes, registry settings...), not only the keys innkeeper sets (containerd#5837).
// Carrying the Node's section keeps every key innkeeper does not set; innkeeper's win.
func mergeCRISection(main map[string]any, dropIn []byte) ([]byte, error) {
	base := table(table(main, "plugins"), v2CRIPlugin)
	if len(base) == 0 {
		return dropIn, nil
	}
	doc := map[string]any{}
	if err := toml.Unmarshal(dropIn, &doc); err != nil {
		return nil, fmt.Errorf("read the drop-in: %w", err)
	}
	plugins := table(doc, "plugins")
	if plugins == nil {
		plugins = map[string]any{}
		doc["plugins"] = plugins
	}
	plugins[v2CRIPlugin] = mergeTables(base, table(plugins, v2CRIPlugin))
	out, err := toml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("write the merged drop-in: %w", err)
	}
	return append([]byte(mergedHeader), out...), nil
}

// mergeTables returns base with over merged into it, table by table; over's values win.
func mergeTables(base, over map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		b, bok := out[k].(map[string]any)
		o, ook := v.(map[string]any)
		if bok && ook {
			out[k] = mergeTables(b, o)
		} else {
			out[k] = v
		}
	}
	return out
}

func underCertsDir(path string) bool {
	return strings.HasPrefix(path, containerd.CertsDir+"/")
}

// Stale returns innkeeper's registry files under /etc/containerd/certs.d that want no longer holds
// (a registry host, or a CA bundle, removed from the RoomService), and those that an interrupted
// run removed and still holds a backup of, so that a rollback puts them back.
func (c *Containerd) Stale(hostRoot string, want []File) ([]File, error) {
	keep := map[string]bool{}
	for _, f := range want {
		keep[f.Path] = true
	}
	dirs, err := os.ReadDir(filepath.Join(hostRoot, containerd.CertsDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var stale []File
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		entries, err := os.ReadDir(filepath.Join(hostRoot, containerd.CertsDir, d.Name()))
		if err != nil {
			return nil, err
		}
		found := map[string]bool{}
		for _, e := range entries {
			path := filepath.Join(containerd.CertsDir, d.Name(), e.Name())
			if !e.Type().IsRegular() || keep[path] {
				continue
			}
			if removed, ok := backedUp(path); ok {
				if exists, err := fileExists(filepath.Join(hostRoot, removed)); err != nil {
					return nil, err
				} else if !exists && !keep[removed] && !found[removed] {
					found[removed] = true
					stale = append(stale, File{Path: removed, OwnDir: true})
				}
				continue
			}
			data, err := os.ReadFile(filepath.Join(hostRoot, path))
			if err != nil {
				return nil, err
			}
			if containerd.Managed(path, data) && !found[path] {
				found[path] = true
				stale = append(stale, File{Path: path, OwnDir: true})
			}
		}
	}
	return stale, nil
}

// backedUp returns the file that path is the agent's backup (or absence marker) of.
func backedUp(path string) (string, bool) {
	for _, suffix := range []string{backupSuffix, absentSuffix} {
		if f, ok := strings.CutSuffix(path, suffix); ok {
			return f, true
		}
	}
	return "", false
}

// Prepare refuses a configuration this containerd would not read, or that would break it, and
// returns its files as this Node needs them: on containerd 1.x, the drop-in merged over
// config.toml's CRI section (see mergeCRISection). It refuses a configuration version other than
// config.toml's (or, on containerd 1.x, other than 2), a config.toml that does not import the
// drop-in, another drop-in that would replace the CRI section on containerd 1.x, registry settings
// in config.toml that conflict with the drop-in's, and a registry's files that innkeeper did not
// write in the way.
func (c *Containerd) Prepare(ctx context.Context, hostRoot string, files []File) ([]File, error) {
	version, err := dropInVersion(files)
	if err != nil {
		return nil, &DegradedError{Reason: hotelv1alpha1.ReasonInvalidConfig, Message: err.Error()}
	}
	runtimeVersion, major, err := c.runtimeVersion(ctx)
	if err != nil {
		return nil, err
	}
	status, err := c.status(ctx)
	if err != nil {
		return nil, err
	}
	networkReady := status[runtimeapi.NetworkReady]
	mainPath := filepath.Join(hostRoot, c.ConfigPath)
	data, err := os.ReadFile(mainPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &DegradedError{Reason: hotelv1alpha1.ReasonImportMissing, Message: fmt.Sprintf(
			"%s does not exist, so containerd would not read %s; innkeeper does not write containerd's main "+
				"configuration. Create it with imports = [%q] and restart containerd",
			c.ConfigPath, dropInPath, containerd.DropInDir+"/*.toml")}
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", mainPath, err)
	}
	main := map[string]any{}
	if err := toml.Unmarshal(data, &main); err != nil {
		return nil, &DegradedError{Reason: hotelv1alpha1.ReasonImportMissing, Message: fmt.Sprintf(
			"%s is not valid TOML, so innkeeper cannot tell whether it imports %s: %v", c.ConfigPath, containerd.DropInDir, err)}
	}
	if err := c.checkVersion(runtimeVersion, major, rootVersion(main), version); err != nil {
		return nil, err
	}
	imported, later, err := c.imports(hostRoot, main)
	if err != nil {
		return nil, err
	}
	if major >= 2 {
		if err := checkLaterDropIns(hostRoot, later, files); err != nil {
			return nil, err
		}
	} else {
		if err := checkOtherDropIns(hostRoot, imported); err != nil {
			return nil, err
		}
		if i := dropInIndex(files); i >= 0 {
			if files[i].Data, err = mergeCRISection(main, files[i].Data); err != nil {
				return nil, err
			}
		}
	}
	if err := c.checkRegistry(hostRoot, main, major, version, files); err != nil {
		return nil, err
	}
	// The network must be ready after a restart if it was before. Where the drop-in is already on
	// the host (an interrupted apply resumed, or nothing to change), containerd may run it already,
	// and whether the network was ready before it is unknown: then it must be ready.
	written, err := dropInWritten(hostRoot, files)
	if err != nil {
		return nil, err
	}
	c.requireNetwork = networkReady || written
	return files, checkHostsFiles(hostRoot, files)
}

// dropInIndex returns the index of the drop-in among a configuration's files (the one file that
// containerd reads only when it starts), or -1.
func dropInIndex(files []File) int {
	return slices.IndexFunc(files, func(f File) bool { return f.Restart })
}

// dropInWritten tells whether the host's drop-in already holds the one among files.
func dropInWritten(hostRoot string, files []File) (bool, error) {
	i := dropInIndex(files)
	if i < 0 {
		return false, nil
	}
	return hasContent(filepath.Join(hostRoot, files[i].Path), files[i].Data)
}

// dropInPath is the drop-in's path on the Node.
var dropInPath = filepath.Join(containerd.DropInDir, containerd.DropInFile)

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
	walk([]string{"plugins"}, table(doc, "plugins"))
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
		return []string{"plugins", images, "pinned_images", "sandbox"}
	case rest[0] == "registry" || rest[0] == "max_concurrent_downloads" || rest[0] == "image_decryption":
		return append([]string{"plugins", images}, rest...)
	case len(rest) == 2 && rest[0] == "containerd" &&
		(rest[1] == "snapshotter" || rest[1] == "disable_snapshot_annotations" || rest[1] == "discard_unpacked_layers"):
		return []string{"plugins", images, rest[1]}
	}
	return append([]string{"plugins", runtime}, rest...)
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
		if _, ok := table(doc, "plugins")[v2CRIPlugin]; ok {
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
	if !slices.ContainsFunc(files, func(f File) bool { return filepath.Base(f.Path) == "hosts.toml" }) {
		return nil
	}
	plugin := v2CRIPlugin
	if version == 3 {
		plugin = "io.containerd.cri.v1.images"
	}
	registry := table(table(table(main, "plugins"), plugin), "registry")
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

// table returns a TOML table's sub-table, or nil.
func table(t map[string]any, key string) map[string]any {
	sub, _ := t[key].(map[string]any)
	return sub
}

// checkHostsFiles refuses to write a registry's files where an admin's would then be ignored: over
// a hosts.toml innkeeper did not write, into a directory whose Docker-style certificates containerd
// reads only while it holds no hosts.toml, or beside a host:port directory that containerd would
// no longer read once innkeeper's host_port_ directory exists.
func checkHostsFiles(hostRoot string, files []File) error {
	for _, f := range files {
		if !underCertsDir(f.Path) || filepath.Base(f.Path) != "hosts.toml" {
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

// status returns the conditions containerd reports over the CRI, true or false by type.
func (c *Containerd) status(ctx context.Context) (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := c.CRI.Status(ctx, &runtimeapi.StatusRequest{})
	if err != nil {
		return nil, fmt.Errorf("containerd's CRI status: %w", err)
	}
	conditions := map[string]bool{}
	for _, cond := range resp.GetStatus().GetConditions() {
		conditions[cond.Type] = cond.Status
	}
	return conditions, nil
}

// Healthy returns nil when containerd answers on its CRI socket and reports its runtime ready, and
// its network too if it was ready before the agent changed anything (see Prepare). The restart job
// systemd reports done ends only once containerd is up (it notifies systemd), so any answer after
// since comes from the restarted containerd.
func (c *Containerd) Healthy(ctx context.Context, _ time.Time) error {
	status, err := c.status(ctx)
	if err != nil {
		return err
	}
	var notReady []string
	for _, want := range []string{runtimeapi.RuntimeReady, runtimeapi.NetworkReady} {
		if !status[want] && (want == runtimeapi.RuntimeReady || c.requireNetwork) {
			notReady = append(notReady, want)
		}
	}
	if len(notReady) > 0 {
		return fmt.Errorf("containerd reports %s not ready", strings.Join(notReady, " and "))
	}
	return nil
}

// DialCRI connects to a CRI runtime service on a unix socket, such as
// /run/containerd/containerd.sock. The connection is made lazily and re-made after a restart.
func DialCRI(socket string) (runtimeapi.RuntimeServiceClient, func() error, error) {
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, fmt.Errorf("connect to the CRI at %s: %w", socket, err)
	}
	return runtimeapi.NewRuntimeServiceClient(conn), conn.Close, nil
}
