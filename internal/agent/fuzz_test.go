package agent

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/render/containerd"
)

// Seeds: main configurations as distributions, `containerd config default` and users write them.
var containerdMainSeeds = []string{
	"",
	"version = 2\n",
	"version = 2\nimports = [\"/etc/containerd/conf.d/*.toml\"]\n",
	"version = 3\nimports = [\"conf.d/*.toml\", \"/etc/containerd/extra.toml\"]\n",
	"version = 2\nimports = [\"/etc/containerd/conf.d/*.toml\"]\n[plugins.\"io.containerd.grpc.v1.cri\"]\n" +
		"  sandbox_image = \"registry.k8s.io/pause:3.10\"\n" +
		"  [plugins.\"io.containerd.grpc.v1.cri\".containerd]\n    default_runtime_name = \"runc\"\n" +
		"    [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n      runtime_type = \"io.containerd.runc.v2\"\n" +
		"      [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\n        SystemdCgroup = true\n" +
		"  [plugins.\"io.containerd.grpc.v1.cri\".registry]\n    config_path = \"\"\n" +
		"    [plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"docker.io\"]\n      endpoint = [\"https://mirror.example.com\"]\n",
	"version = 2\nimports = [\"/etc/containerd/*.toml\"]\n[plugins.\"io.containerd.grpc.v1.cri\".cni]\nbin_dir = \"/opt/cni/bin\"\nconf_dir = 1979-05-27T07:32:00Z\n",
	"imports = [\"[\"]\n[plugins]\n\"io.containerd.grpc.v1.cri\" = 3\n",
}

// rendered returns the files of a RoomService spec as the agent gets them.
func renderedFiles(t testing.TB, spec hotelv1alpha1.ContainerdSpec) []File {
	out, err := containerd.Render(&spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	config := map[string][]byte{}
	for k, v := range out {
		config[k] = []byte(v)
	}
	files, err := (&Containerd{}).Files(config)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// FuzzMergeCRISection feeds the merge of innkeeper's drop-in over a Node's config.toml (containerd
// 1.x) with arbitrary config.toml files. The merged drop-in must be TOML, carry every setting of
// innkeeper's drop-in with its value, and keep every CRI setting of the Node that innkeeper does
// not set.
func FuzzMergeCRISection(f *testing.F) {
	for _, s := range containerdMainSeeds {
		f.Add([]byte(s))
	}
	dropIn := renderedFiles(f, hotelv1alpha1.ContainerdSpec{ConfigVersion: 2,
		SandboxImage: ptrTo("registry.k8s.io/pause:3.10"), SystemdCgroup: ptrTo(true),
		Registries: []hotelv1alpha1.RegistryHost{{Host: "docker.io", Mirrors: []hotelv1alpha1.RegistryMirror{{URL: "https://mirror.example.com"}}}}})
	data := dropIn[dropInIndex(dropIn)].Data
	own := map[string]any{}
	if err := toml.Unmarshal(data, &own); err != nil {
		f.Fatal(err)
	}
	ownSettings := settings(own)

	f.Fuzz(func(t *testing.T, mainTOML []byte) {
		main := map[string]any{}
		if toml.Unmarshal(mainTOML, &main) != nil {
			return // the agent reports config.toml as not TOML
		}
		merged, err := mergeCRISection(main, data)
		if err != nil {
			t.Fatalf("merging over a TOML config.toml failed: %v\n%s", err, mainTOML)
		}
		out := map[string]any{}
		if err := toml.Unmarshal(merged, &out); err != nil {
			t.Fatalf("the merged drop-in is not TOML: %v\n%s", err, merged)
		}
		got := settings(out)
		for k, s := range ownSettings {
			if !reflect.DeepEqual(got[k].value, s.value) {
				t.Fatalf("innkeeper's %s is %v in the merged drop-in, want %v\n%s", s.name, got[k].value, s.value, merged)
			}
		}
		// The Node's CRI settings that innkeeper does not set, nor a table or value in their way.
		base := map[string]any{pluginsTable: map[string]any{v2CRIPlugin: table(table(main, pluginsTable), v2CRIPlugin)}}
		if len(table(table(main, pluginsTable), v2CRIPlugin)) == 0 {
			return
		}
		base["version"] = int64(2) // read as the drop-in's version, which the merged file has
		for k, s := range settings(base) {
			if overlaps(k, ownSettings) {
				continue
			}
			if !reflect.DeepEqual(got[k].value, s.value) {
				t.Fatalf("the Node's %s is %v in the merged drop-in, want %v\n%s", s.name, got[k].value, s.value, merged)
			}
		}
	})
}

// overlaps reports whether a setting's path is one of own's, or a table on the way to one, or
// below one.
func overlaps(k string, own map[string]setting) bool {
	for o := range own {
		if k == o || strings.HasPrefix(o, k+"\x00") || strings.HasPrefix(k, o+"\x00") {
			return true
		}
	}
	return false
}

// FuzzContainerdHostChecks feeds the agent's checks of a Node's containerd configuration, before
// it writes anything, with arbitrary config.toml files, a file they may import, and an existing
// hosts.toml. Whatever the host holds, the checks end, without a panic, with the configuration
// accepted or a reason.
func FuzzContainerdHostChecks(f *testing.F) {
	for _, s := range containerdMainSeeds {
		f.Add([]byte(s), []byte(""), []byte(""), false)
		f.Add([]byte(s), []byte("version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\nconfig_path = \"/etc/docker/certs.d\"\n"),
			[]byte("server = \"https://registry-1.docker.io\"\n"), true)
	}
	files := renderedFiles(f, hotelv1alpha1.ContainerdSpec{ConfigVersion: 2,
		Registries: []hotelv1alpha1.RegistryHost{{Host: "docker.io", Mirrors: []hotelv1alpha1.RegistryMirror{{URL: "https://mirror.example.com"}}}}})
	hosts := ""
	for _, file := range files {
		if filepath.Base(file.Path) == containerd.HostsFile {
			hosts = file.Path
		}
	}
	if hosts == "" {
		f.Fatal("the configuration has no hosts.toml")
	}

	f.Fuzz(func(t *testing.T, mainTOML, imported, existingHosts []byte, v2 bool) {
		root := t.TempDir()
		write := func(p string, data []byte) {
			if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, p), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		write("/etc/containerd/config.toml", mainTOML)
		write("/etc/containerd/extra.toml", imported)
		write("/etc/containerd/conf.d/10-other.toml", imported)
		if len(existingHosts) > 0 {
			write(hosts, existingHosts)
		}
		main := map[string]any{}
		if toml.Unmarshal(mainTOML, &main) != nil {
			return
		}
		major := 2
		if v2 {
			major = 1
		}
		c := &Containerd{ConfigPath: "/etc/containerd/config.toml"}
		_ = rootVersion(main)
		others, later, err := c.imports(root, main)
		if err != nil {
			return
		}
		_ = checkLaterDropIns(root, later, files)
		_ = checkOtherDropIns(root, others)
		_ = c.checkRegistry(root, main, major, 2, files)
		err = checkHostsFiles(root, files)
		if len(existingHosts) > 0 && !containerd.Managed(hosts, existingHosts) && err == nil {
			t.Fatalf("a hosts.toml innkeeper did not write was accepted for overwriting:\n%s", existingHosts)
		}
	})
}

func ptrTo[T any](v T) *T { return &v }
