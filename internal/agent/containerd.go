package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/innkeeper-dev/innkeeper/internal/render/containerd"
)

// Reasons for the Degraded state of containerd's agent.
const (
	// ReasonImportMissing: the main config.toml does not import the drop-in directory.
	ReasonImportMissing = "ImportMissing"
	// ReasonConfigVersionMismatch: the drop-in's configuration version is not the installed
	// containerd's.
	ReasonConfigVersionMismatch = "ConfigVersionMismatch"
	// ReasonRegistryConfigConflict: the main config.toml configures registries in a way that the
	// drop-in's registry.config_path would break.
	ReasonRegistryConfigConflict = "RegistryConfigConflict"
	// ReasonHostsFileConflict: a registry's hosts.toml exists and was not written by innkeeper.
	ReasonHostsFileConflict = "HostsFileConflict"
	// ReasonUnsupportedRuntime: the CRI socket is not containerd's.
	ReasonUnsupportedRuntime = "UnsupportedRuntime"
)

// Containerd is containerd as the agent manages it: a drop-in in /etc/containerd/conf.d, which the
// main config.toml must import and which containerd reads only when it starts, and registry hosts
// files under /etc/containerd/certs.d, which it reads at each pull; health from the CRI.
type Containerd struct {
	// ConfigPath is containerd's main configuration file on the host, /etc/containerd/config.toml.
	ConfigPath string
	// CRI is containerd's CRI runtime service, on its socket.
	CRI runtimeapi.RuntimeServiceClient
}

var _ Target = &Containerd{}

// Name returns "containerd".
func (c *Containerd) Name() string { return containerd.Name }

// Unit returns containerd.service.
func (c *Containerd) Unit() string { return "containerd.service" }

// Files checks the configuration as the manager rendered it and returns its files: registry CA
// bundles first, then the hosts files that name them, then the drop-in. A version 2 drop-in
// (containerd 1.7) is merged over config.toml's CRI section first (see mergeCRISection).
func (c *Containerd) Files(hostRoot string, config map[string][]byte) ([]File, error) {
	parsed, err := containerd.ParseFiles(config)
	if err != nil {
		return nil, err
	}
	files := make([]File, 0, len(parsed.Entries))
	for _, e := range parsed.Entries {
		f := File{Path: e.Path, Data: e.Data, Restart: e.Restart, OwnDir: underCertsDir(e.Path)}
		if f.Restart && parsed.ConfigVersion == 2 {
			if f.Data, err = c.mergeCRISection(hostRoot, e.Data); err != nil {
				return nil, err
			}
		}
		files = append(files, f)
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

// mergeCRISection returns a version 2 drop-in merged over the CRI section of the Node's
// config.toml. containerd 1.7 merges an imported file one plugin section at a time: the drop-in's
// [plugins."io.containerd.grpc.v1.cri"] would replace the Node's whole CRI section (its CNI
// directories, runtimes, registry settings...), not only the keys innkeeper sets (containerd#5837).
// Carrying the Node's section keeps every key innkeeper does not set; innkeeper's win. Without a
// readable config.toml there is nothing to merge: CheckSupport refuses such a Node anyway.
func (c *Containerd) mergeCRISection(hostRoot string, dropIn []byte) ([]byte, error) {
	data, err := os.ReadFile(filepath.Join(hostRoot, c.ConfigPath))
	if err != nil {
		return dropIn, nil
	}
	main := map[string]any{}
	if toml.Unmarshal(data, &main) != nil {
		return dropIn, nil
	}
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
// (a registry host, or a CA bundle, removed from the RoomService).
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
		for _, e := range entries {
			path := filepath.Join(containerd.CertsDir, d.Name(), e.Name())
			if !e.Type().IsRegular() || keep[path] {
				continue
			}
			data, err := os.ReadFile(filepath.Join(hostRoot, path))
			if err != nil {
				return nil, err
			}
			if containerd.Managed(path, data) {
				stale = append(stale, File{Path: path, OwnDir: true})
			}
		}
	}
	return stale, nil
}

// CheckSupport refuses a configuration this containerd would not read, or that would break it:
// one of another configuration version, a main config.toml that does not import the drop-in, a
// main config.toml whose registry settings conflict with the drop-in's, or a hosts file innkeeper
// did not write in the way.
func (c *Containerd) CheckSupport(ctx context.Context, hostRoot string, files []File) error {
	version, err := dropInVersion(files)
	if err != nil {
		return &DegradedError{Reason: ReasonInvalidConfig, Message: err.Error()}
	}
	if err := c.checkVersion(ctx, version); err != nil {
		return err
	}
	mainPath := filepath.Join(hostRoot, c.ConfigPath)
	data, err := os.ReadFile(mainPath)
	if errors.Is(err, fs.ErrNotExist) {
		return &DegradedError{Reason: ReasonImportMissing, Message: fmt.Sprintf(
			"%s does not exist, so containerd would not read %s; innkeeper does not write containerd's main "+
				"configuration. Create it with imports = [%q] and restart containerd",
			c.ConfigPath, filepath.Join(containerd.DropInDir, containerd.DropInFile), containerd.DropInDir+"/*.toml")}
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", mainPath, err)
	}
	main := map[string]any{}
	if err := toml.Unmarshal(data, &main); err != nil {
		return &DegradedError{Reason: ReasonImportMissing, Message: fmt.Sprintf(
			"%s is not valid TOML, so innkeeper cannot tell whether it imports %s: %v", c.ConfigPath, containerd.DropInDir, err)}
	}
	if err := c.checkImports(main); err != nil {
		return err
	}
	if err := c.checkRegistry(main, version, files); err != nil {
		return err
	}
	return checkHostsFiles(hostRoot, files)
}

// checkVersion refuses a configuration version the installed containerd does not use: version 2
// for containerd 1.x, version 3 for containerd 2.x.
func (c *Containerd) checkVersion(ctx context.Context, version int64) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := c.CRI.Version(ctx, &runtimeapi.VersionRequest{})
	if err != nil {
		return fmt.Errorf("ask containerd its version over the CRI: %w", err)
	}
	if v.RuntimeName != "containerd" {
		return &DegradedError{Reason: ReasonUnsupportedRuntime, Message: fmt.Sprintf(
			"the CRI runtime on this Node is %s %s, not containerd", v.RuntimeName, v.RuntimeVersion)}
	}
	major, err := majorVersion(v.RuntimeVersion)
	if err != nil {
		return &DegradedError{Reason: ReasonConfigVersionMismatch, Message: err.Error()}
	}
	want := int64(3)
	if major < 2 {
		want = 2
	}
	if version != want {
		return &DegradedError{Reason: ReasonConfigVersionMismatch, Message: fmt.Sprintf(
			"containerd %s on this Node reads configuration version %d, but the RoomService renders version %d: "+
				"set spec.containerd.configVersion to %d, or give Nodes with another containerd their own RoomService",
			v.RuntimeVersion, want, version, want)}
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

// checkImports requires the main configuration to import the drop-in: innkeeper never rewrites it.
func (c *Containerd) checkImports(main map[string]any) error {
	dropIn := filepath.Join(containerd.DropInDir, containerd.DropInFile)
	imports, _ := main["imports"].([]any)
	for _, i := range imports {
		pattern, ok := i.(string)
		if !ok {
			continue
		}
		// containerd resolves a relative import against the main file's directory.
		if !filepath.IsAbs(pattern) {
			pattern = filepath.Join(filepath.Dir(c.ConfigPath), pattern)
		}
		if ok, _ := filepath.Match(pattern, dropIn); ok {
			return nil
		}
	}
	return &DegradedError{Reason: ReasonImportMissing, Message: fmt.Sprintf(
		"%s does not import %s, so containerd would not read it; innkeeper does not rewrite containerd's main "+
			"configuration. Add imports = [%q] to it (containerd reads it at its next restart)",
		c.ConfigPath, dropIn, containerd.DropInDir+"/*.toml")}
}

// checkRegistry refuses to set registry.config_path over a main configuration that uses the
// deprecated registry.mirrors or registry.configs (containerd refuses to start with both), or that
// sets another config_path (whose hosts files the drop-in would hide).
func (c *Containerd) checkRegistry(main map[string]any, version int64, files []File) error {
	if !slices.ContainsFunc(files, func(f File) bool { return filepath.Base(f.Path) == "hosts.toml" }) {
		return nil
	}
	plugin := "io.containerd.grpc.v1.cri"
	if version == 3 {
		plugin = "io.containerd.cri.v1.images"
	}
	registry := table(table(table(main, "plugins"), plugin), "registry")
	for _, deprecated := range []string{"mirrors", "configs"} {
		if _, ok := registry[deprecated]; ok {
			return &DegradedError{Reason: ReasonRegistryConfigConflict, Message: fmt.Sprintf(
				"%s sets plugins.%q.registry.%s, which containerd refuses together with the registry.config_path "+
					"that the RoomService's registries need: move those settings into the RoomService's registries",
				c.ConfigPath, plugin, deprecated)}
		}
	}
	want := containerd.RegistryConfigPath(int32(version))
	if got, ok := registry["config_path"].(string); ok && got != want {
		return &DegradedError{Reason: ReasonRegistryConfigConflict, Message: fmt.Sprintf(
			"%s sets plugins.%q.registry.config_path to %q; the RoomService's registries need %q, which would "+
				"hide the hosts files under the other directories: remove config_path from %s",
			c.ConfigPath, plugin, got, want, c.ConfigPath)}
	}
	return nil
}

// table returns a TOML table's sub-table, or nil.
func table(t map[string]any, key string) map[string]any {
	sub, _ := t[key].(map[string]any)
	return sub
}

// checkHostsFiles refuses to overwrite a registry's hosts.toml that innkeeper did not write.
func checkHostsFiles(hostRoot string, files []File) error {
	for _, f := range files {
		if !underCertsDir(f.Path) {
			continue
		}
		data, exists, err := readFile(filepath.Join(hostRoot, f.Path))
		if err != nil {
			return err
		}
		if exists && !containerd.Managed(f.Path, data) {
			return &DegradedError{Reason: ReasonHostsFileConflict, Message: fmt.Sprintf(
				"%s was not written by innkeeper, which does not overwrite it: remove it, or move its settings "+
					"into the RoomService's registries", f.Path)}
		}
	}
	return nil
}

// dropInVersion reads the configuration version of the drop-in among files.
func dropInVersion(files []File) (int64, error) {
	for _, f := range files {
		if !f.Restart {
			continue
		}
		var doc struct {
			Version int64 `toml:"version"`
		}
		if err := toml.Unmarshal(f.Data, &doc); err != nil {
			return 0, fmt.Errorf("read the drop-in's version: %w", err)
		}
		return doc.Version, nil
	}
	return 0, errors.New("the configuration has no drop-in")
}

// Healthy returns nil when containerd answers on its CRI socket and reports its runtime and
// network ready. The restart job systemd reports done ends only once containerd is up (it notifies
// systemd), so any answer after since comes from the restarted containerd.
func (c *Containerd) Healthy(ctx context.Context, _ time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := c.CRI.Status(ctx, &runtimeapi.StatusRequest{})
	if err != nil {
		return fmt.Errorf("containerd's CRI status: %w", err)
	}
	var notReady []string
	for _, want := range []string{runtimeapi.RuntimeReady, runtimeapi.NetworkReady} {
		ok := false
		for _, cond := range resp.GetStatus().GetConditions() {
			if cond.Type == want && cond.Status {
				ok = true
			}
		}
		if !ok {
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
