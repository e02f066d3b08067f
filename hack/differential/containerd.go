package differential

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"

	srvconfig "github.com/containerd/containerd/v2/cmd/containerd/server/config"
	dockerconfig "github.com/containerd/containerd/v2/core/remotes/docker/config"
	"github.com/containerd/containerd/v2/plugins"
	_ "github.com/containerd/containerd/v2/plugins/cri/images"  // the CRI image plugin: its config and migration
	_ "github.com/containerd/containerd/v2/plugins/cri/runtime" // the CRI runtime plugin: its config, migration and validation
	"github.com/containerd/containerd/v2/plugins/services/warning"
	"github.com/containerd/containerd/v2/version"
	"github.com/containerd/log"
	"github.com/containerd/plugin"
	"github.com/containerd/plugin/registry"
	"github.com/sirupsen/logrus"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/render/containerd"
)

// unknownKeyMessage is what containerd's Config.Decode logs for a key its plugin does not have: it
// ignores the key, so a drop-in that sets one changes nothing on the Node.
const unknownKeyMessage = "Ignoring unknown key in TOML for plugin"

// logCapture records the warnings containerd logs while it loads one configuration.
type logCapture struct {
	mu       sync.Mutex
	warnings []string
}

func (c *logCapture) Levels() []logrus.Level { return []logrus.Level{logrus.WarnLevel} }

func (c *logCapture) Fire(e *logrus.Entry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	msg := e.Message
	if k, ok := e.Data["key"]; ok {
		msg = fmt.Sprintf("%s: plugin %v, key %v", msg, e.Data["plugin"], k)
	}
	c.warnings = append(c.warnings, msg)
	return nil
}

// checkContainerd loads a RoomService's rendered files as containerd 2.x (the version
// hack/controlplane/containerd builds for the real nodes) loads them: a config.toml of the
// spec's version that imports the drop-in's directory goes through containerd's own loader
// (LoadConfigWithPlugins: TOML decoding, version migration with the CRI plugins' migrations,
// merging of imports, version check); the CRI image and runtime plugins decode their sections
// (an unknown key, which containerd ignores with a warning, is a failure here: the setting would
// not take effect); the CRI runtime plugin's init validates its configuration; and every
// registry's hosts.toml is read by containerd's registry host loader, which must find it and
// return its mirrors and server.
func checkContainerd(ctx context.Context, dir string, spec *hotelv1alpha1.ContainerdSpec, files map[string]string) error {
	root := filepath.Join(dir, "host")
	for key, data := range files {
		hostPath, _, err := containerd.HostPath(key)
		if err != nil {
			return err
		}
		p := filepath.Join(root, filepath.FromSlash(strings.TrimPrefix(hostPath, "/")))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		// A hosts.toml names its CA files by their path on the Node; here the Node's root is root.
		if strings.HasSuffix(key, ".hosts.toml") {
			for _, quote := range []string{`"`, `'`} {
				data = strings.ReplaceAll(data, quote+containerd.CertsDir+"/", quote+filepath.Join(root, containerd.CertsDir)+"/")
			}
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			return err
		}
	}
	mainConfig := filepath.Join(root, "etc", "containerd", "config.toml")
	main := fmt.Sprintf("version = %d\nroot = %q\nstate = %q\nimports = [%q]\n", spec.ConfigVersion,
		filepath.Join(dir, "root"), filepath.Join(dir, "state"), filepath.Join(root, "etc", "containerd", "conf.d", "*.toml"))
	if err := os.WriteFile(mainConfig, []byte(main), 0o644); err != nil {
		return err
	}

	capture := &logCapture{}
	logger := logrus.New()
	logger.SetOutput(io.Discard)
	logger.AddHook(capture)
	ctx = log.WithLogger(ctx, logrus.NewEntry(logger))

	graph := registry.Graph(func(*plugin.Registration) bool { return false })
	cfg := &srvconfig.Config{Version: version.ConfigVersion}
	all := func() iter.Seq[plugin.Registration] { return slices.Values(graph) }
	if err := srvconfig.LoadConfigWithPlugins(ctx, mainConfig, all, cfg); err != nil {
		return fmt.Errorf("load config: %w", err)
	}

	set := plugin.NewPluginSet()
	for i := range graph {
		reg := &graph[i]
		switch {
		case reg.Type == plugins.WarningPlugin:
			if err := set.Add(reg.Init(plugin.NewContext(ctx, set, nil))); err != nil {
				return err
			}
		case reg.Type == plugins.CRIServicePlugin && (reg.ID == "images" || reg.ID == "runtime"):
			pc, err := cfg.Decode(ctx, reg.URI(), deepCopy(reg.Config))
			if err != nil {
				return fmt.Errorf("decode %s: %w", reg.URI(), err)
			}
			if reg.ID != "runtime" {
				continue
			}
			// The runtime plugin's init validates its configuration (criconfig.ValidateRuntimeConfig)
			// before anything else; what follows only creates directories under dir.
			ic := plugin.NewContext(ctx, set, map[string]string{
				plugins.PropertyRootDir:  filepath.Join(dir, "root", reg.URI()),
				plugins.PropertyStateDir: filepath.Join(dir, "state", reg.URI()),
			})
			ic.Config = pc
			if _, err := reg.InitFn(ic); err != nil {
				return fmt.Errorf("init %s: %w", reg.URI(), err)
			}
		}
	}
	if p := set.Get(plugins.WarningPlugin, plugins.DeprecationsPlugin); p != nil {
		ws, err := p.Instance()
		if err != nil {
			return err
		}
		for _, w := range ws.(warning.Service).Warnings() {
			capture.warnings = append(capture.warnings, fmt.Sprintf("deprecated: %s: %s", w.ID, w.Message))
		}
	}
	var refused []string
	for _, w := range capture.warnings {
		if strings.HasPrefix(w, unknownKeyMessage) || strings.HasPrefix(w, "deprecated: ") {
			refused = append(refused, w)
		}
	}
	if len(refused) > 0 {
		return errors.New(strings.Join(refused, "; "))
	}
	return checkHosts(ctx, filepath.Join(root, strings.TrimPrefix(containerd.CertsDir, "/")), spec)
}

// defaultHostProbe is the registry asked for when the spec configures _default: one without a
// directory of its own.
const defaultHostProbe = "innkeeper-differential.example"

// checkHosts reads each registry's hosts.toml through containerd's registry host configuration,
// which must return the registry's mirrors, in order, and then its server.
func checkHosts(ctx context.Context, certsDir string, spec *hotelv1alpha1.ContainerdSpec) error {
	hosts := dockerconfig.ConfigureHosts(ctx, dockerconfig.HostOptions{HostDir: dockerconfig.HostDirFromRoot(certsDir)})
	for _, reg := range spec.Registries {
		name := reg.Host
		if name == "_default" {
			name = defaultHostProbe
		}
		got, err := hosts(name)
		if err != nil {
			return fmt.Errorf("registry %s: %w", reg.Host, err)
		}
		var want []string
		for _, m := range reg.Mirrors {
			u, err := url.Parse(m.URL)
			if err != nil {
				return fmt.Errorf("registry %s: mirror %q: %w", reg.Host, m.URL, err)
			}
			want = append(want, u.Host)
		}
		var gotHosts []string
		for _, h := range got {
			gotHosts = append(gotHosts, h.Host)
		}
		if len(gotHosts) != len(want)+1 || !slices.Equal(gotHosts[:len(want)], want) {
			return fmt.Errorf("registry %s: containerd resolves hosts %v, want the mirrors %v and then the server", reg.Host, gotHosts, want)
		}
	}
	return nil
}

// deepCopy returns a copy of v, a pointer to a plugin's default configuration, that shares no
// map, slice or pointer with it: containerd decodes a plugin's section into its registration's
// configuration, which must stay the default for the next object.
func deepCopy(v any) any {
	return copyValue(reflect.ValueOf(v)).Interface()
}

func copyValue(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		n := reflect.New(v.Type().Elem())
		n.Elem().Set(copyValue(v.Elem()))
		return n
	case reflect.Struct:
		n := reflect.New(v.Type()).Elem()
		n.Set(v)
		for i := range n.NumField() {
			if n.Field(i).CanSet() {
				n.Field(i).Set(copyValue(v.Field(i)))
			}
		}
		return n
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		n := reflect.MakeMapWithSize(v.Type(), v.Len())
		for it := v.MapRange(); it.Next(); {
			n.SetMapIndex(it.Key(), copyValue(it.Value()))
		}
		return n
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		n := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			n.Index(i).Set(copyValue(v.Index(i)))
		}
		return n
	case reflect.Interface:
		if v.IsNil() {
			return v
		}
		n := reflect.New(v.Type()).Elem()
		n.Set(copyValue(v.Elem()))
		return n
	default:
		return v
	}
}
