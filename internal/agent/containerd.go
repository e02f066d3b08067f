package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
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
		case filepath.Base(f.Path) == containerd.HostsFile:
			return 1
		default:
			return 0
		}
	}
	slices.SortStableFunc(files, func(a, b File) int { return rank(a) - rank(b) })
	return files, nil
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

// Revert returns innkeeper's registry files (see Stale), then the drop-in, which containerd reads
// only when it starts. The network must be ready after the restart if it is now.
func (c *Containerd) Revert(ctx context.Context, hostRoot string) ([]File, error) {
	status, err := c.status(ctx)
	if err != nil {
		return nil, err
	}
	c.requireNetwork = status[runtimeapi.NetworkReady]
	files, err := c.Stale(hostRoot, nil)
	if err != nil {
		return nil, err
	}
	return append(files, File{Path: dropInPath, Restart: true}), nil
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
