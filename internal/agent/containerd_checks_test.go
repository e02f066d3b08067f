package agent

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/utils/ptr"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/render/containerd"
)

func TestContainerdRefusesWhatWouldNotWork(t *testing.T) {
	v2 := hotelv1alpha1.ContainerdSpec{ConfigVersion: 2, SandboxImage: ptr.To("registry.k8s.io/pause:3.10"),
		Registries: []hotelv1alpha1.RegistryHost{mirrored("docker.io", "https://a.example.com"),
			mirrored("registry.example.com:5000", "https://b.example.com")}}
	tests := []struct {
		name    string
		setUp   func(h *containerdHost)
		reason  string
		message string
	}{
		{name: "no main config", setUp: func(h *containerdHost) {
			g := NewWithT(h.t)
			g.Expect(os.Remove(filepath.Join(h.root, "/etc/containerd/config.toml"))).To(Succeed())
		}, reason: hotelv1alpha1.ReasonImportMissing, message: "/etc/containerd/config.toml does not exist"},
		{name: "a main config without imports", setUp: func(h *containerdHost) {
			h.writeHostFile("/etc/containerd/config.toml", "version = 2\n")
		}, reason: hotelv1alpha1.ReasonImportMissing, message: `Add imports = ["/etc/containerd/conf.d/*.toml"]`},
		{name: "a main config importing another directory", setUp: func(h *containerdHost) {
			h.writeHostFile("/etc/containerd/config.toml", "version = 2\nimports = [\"/etc/containerd/extra/*.toml\"]\n")
		}, reason: hotelv1alpha1.ReasonImportMissing, message: "does not import /etc/containerd/conf.d/50-innkeeper.toml"},
		{name: "containerd 2 with a version 3 config.toml given version 2", setUp: func(h *containerdHost) {
			h.cri.set("containerd", "v2.1.4", true)
			h.writeHostFile("/etc/containerd/config.toml", "version = 3\nimports = [\"/etc/containerd/conf.d/*.toml\"]\n")
		}, reason: hotelv1alpha1.ReasonConfigVersionMismatch, message: "is configuration version 3 (containerd v2.1.4), but the RoomService renders version 2"},
		{name: "containerd 1.7 with a version 1 config.toml", setUp: func(h *containerdHost) {
			h.writeHostFile("/etc/containerd/config.toml", "imports = [\"/etc/containerd/conf.d/*.toml\"]\n")
		}, reason: hotelv1alpha1.ReasonConfigVersionMismatch, message: "imports drop-ins only into a version 2 configuration"},
		{name: "another drop-in with a CRI section on containerd 1.7", setUp: func(h *containerdHost) {
			h.writeHostFile("/etc/containerd/conf.d/99-nvidia.toml", "version = 2\n"+
				"[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.nvidia]\nruntime_type = \"io.containerd.runc.v2\"\n")
		}, reason: hotelv1alpha1.ReasonDropInConflict, message: "/etc/containerd/conf.d/99-nvidia.toml also sets"},
		{name: "TLS settings of a registry in the main config", setUp: func(h *containerdHost) {
			h.writeHostFile("/etc/containerd/config.toml", "version = 2\nimports = [\"/etc/containerd/conf.d/*.toml\"]\n"+
				"[plugins.\"io.containerd.grpc.v1.cri\".registry.configs.\"r.example.com\".tls]\ninsecure_skip_verify = true\n")
		}, reason: hotelv1alpha1.ReasonRegistryConfigConflict, message: `configs."r.example.com".tls`},
		{name: "an admin's host:port directory, which innkeeper's host_port_ would hide", setUp: func(h *containerdHost) {
			h.writeHostFile(containerd.CertsDir+"/registry.example.com:5000/hosts.toml", "server = \"https://registry.example.com:5000\"\n")
		}, reason: hotelv1alpha1.ReasonHostsFileConflict, message: "registry.example.com:5000 exists"},
		{name: "an admin's certificates in the registry's directory", setUp: func(h *containerdHost) {
			h.writeHostFile(containerd.CertsDir+"/docker.io/ca.crt", "-----BEGIN CERTIFICATE-----\n")
		}, reason: hotelv1alpha1.ReasonHostsFileConflict, message: "holds ca.crt"},
		{name: "another runtime", setUp: func(h *containerdHost) {
			h.cri.set("cri-o", "1.34.0", true)
		}, reason: hotelv1alpha1.ReasonUnsupportedRuntime, message: "cri-o"},
		{name: "deprecated registry mirrors in the main config", setUp: func(h *containerdHost) {
			h.writeHostFile("/etc/containerd/config.toml", "version = 2\nimports = [\"/etc/containerd/conf.d/*.toml\"]\n"+
				"[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"docker.io\"]\nendpoint = [\"https://x.example.com\"]\n")
		}, reason: hotelv1alpha1.ReasonRegistryConfigConflict, message: "registry.mirrors"},
		{name: "another registry config_path in the main config", setUp: func(h *containerdHost) {
			h.writeHostFile("/etc/containerd/config.toml", "version = 2\nimports = [\"/etc/containerd/conf.d/*.toml\"]\n"+
				"[plugins.\"io.containerd.grpc.v1.cri\".registry]\nconfig_path = \"/etc/docker/certs.d\"\n")
			h.writeHostFile("/etc/docker/certs.d/quay.io/hosts.toml", "server = \"https://quay.io\"\n")
		}, reason: hotelv1alpha1.ReasonRegistryConfigConflict, message: `reads /etc/docker/certs.d, which holds quay.io`},
		{name: "a hosts.toml innkeeper did not write", setUp: func(h *containerdHost) {
			h.writeHostFile(containerd.CertsDir+"/docker.io/hosts.toml", "server = \"https://registry-1.docker.io\"\n")
		}, reason: hotelv1alpha1.ReasonHostsFileConflict, message: "/etc/containerd/certs.d/docker.io/hosts.toml was not written by innkeeper"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			h := newContainerdHost(t)
			tt.setUp(h)
			foreign := h.file(containerd.CertsDir + "/docker.io/hosts.toml")
			err := h.agentFor(v2, "new", nil).Apply(context.Background())
			g.Expect(err).To(MatchError(ContainSubstring(tt.reason)))
			g.Expect(err).To(MatchError(ContainSubstring(tt.message)))
			g.Expect(h.report().Reason).To(Equal(tt.reason))
			g.Expect(h.file(dropInPath)).To(BeNil(), "the drop-in was written anyway")
			g.Expect(h.file(containerd.CertsDir + "/docker.io/hosts.toml")).To(Equal(foreign))
			g.Expect(h.restarts.Load()).To(BeZero())
		})
	}
}

func TestContainerdRegistryMirrorsForOtherHostsAndDefaultTablesAreFine(t *testing.T) {
	g := NewWithT(t)
	h := newContainerdHost(t)
	// As `containerd config default` writes it on 1.7: empty registry tables, an empty config_path,
	// and credentials (auth) for a registry, which containerd allows with config_path.
	h.writeHostFile("/etc/containerd/config.toml", `version = 2
imports = ["/etc/containerd/conf.d/*.toml"]
[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = ""
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors]
  [plugins."io.containerd.grpc.v1.cri".registry.configs]
    [plugins."io.containerd.grpc.v1.cri".registry.configs."r.example.com".auth]
      username = "pull"
`)
	spec := hotelv1alpha1.ContainerdSpec{ConfigVersion: 2, Registries: []hotelv1alpha1.RegistryHost{mirrored("docker.io", "https://a.example.com")}}
	g.Expect(h.agentFor(spec, "one", nil).Apply(context.Background())).To(Succeed())
}

func TestContainerdRelativeImports(t *testing.T) {
	g := NewWithT(t)
	h := newContainerdHost(t)
	h.writeHostFile("/etc/containerd/config.toml", "version = 3\nimports = [\"conf.d/*.toml\"]\n")
	h.cri.set("containerd", "2.1.4", true)
	spec := hotelv1alpha1.ContainerdSpec{ConfigVersion: 3, EnableCDI: ptr.To(true)}
	g.Expect(h.agentFor(spec, "one", nil).Apply(context.Background())).To(Succeed())
	g.Expect(h.report().State).To(Equal(StateApplied))
}

// ImportMissing is a refusal before anything is written: once the admin adds the imports line, a
// new agent pod applies the configuration.
func TestContainerdImportAddedLaterIsApplied(t *testing.T) {
	g := NewWithT(t)
	h := newContainerdHost(t)
	h.writeHostFile("/etc/containerd/config.toml", "version = 2\n")
	spec := hotelv1alpha1.ContainerdSpec{ConfigVersion: 2, SandboxImage: ptr.To("registry.k8s.io/pause:3.10")}
	g.Expect(h.agentFor(spec, "one", nil).Apply(context.Background())).To(MatchError(ContainSubstring(hotelv1alpha1.ReasonImportMissing)))

	h.writeHostFile("/etc/containerd/config.toml", "version = 2\nimports = [\"/etc/containerd/conf.d/*.toml\"]\n")
	g.Expect(h.agentFor(spec, "one", nil).Apply(context.Background())).To(Succeed())
	g.Expect(h.report()).To(HaveField("State", StateApplied))
	g.Expect(h.restarts.Load()).To(Equal(int32(1)))
}

// The drop-in points containerd at /etc/containerd/certs.d alone: containerd 2.1 and later, pulling
// through the transfer service, takes a config_path list such as containerd 2's default
// "/etc/containerd/certs.d:/etc/docker/certs.d" for one directory and reads no hosts.toml
// (containerd#12415). A config.toml that sets another directory is fine while nothing is in it.
func TestContainerdRegistryConfigPath(t *testing.T) {
	v3 := hotelv1alpha1.ContainerdSpec{ConfigVersion: 3,
		Registries: []hotelv1alpha1.RegistryHost{mirrored("docker.io", "https://a.example.com")}}
	const head = "version = 3\nimports = [\"/etc/containerd/conf.d/*.toml\"]\n"
	const registry = "[plugins.\"io.containerd.cri.v1.images\".registry]\n"
	tests := []struct {
		name    string
		main    string
		other   string // a file under /etc/docker/certs.d
		message string // of the RegistryConfigConflict; "" if applied
	}{
		{name: "no config_path, no /etc/docker/certs.d", main: head},
		{name: "config_path as containerd's docs advise", main: head + registry + "config_path = \"/etc/containerd/certs.d\"\n",
			other: "/etc/docker/certs.d/quay.io/ca.crt"},
		{name: "containerd 2's default list, nothing in /etc/docker/certs.d", main: head + registry +
			"config_path = \"/etc/containerd/certs.d:/etc/docker/certs.d\"\n"},
		{name: "containerd 2's default, with Docker certificates in /etc/docker/certs.d", main: head,
			other: "/etc/docker/certs.d/quay.io/ca.crt", message: "reads /etc/docker/certs.d, which holds quay.io"},
		{name: "another directory with hosts", main: head + registry + "config_path = \"/etc/containerd/registries\"\n",
			message: "reads /etc/containerd/registries, which holds docker.io"},
		{name: "a directory the agent's pod does not mount", main: head + registry + "config_path = \"/etc/registries\"\n",
			message: "reads /etc/registries, which the RoomService's registries would replace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			h := newContainerdHost(t)
			h.cri.set("containerd", "v2.1.4", true)
			h.writeHostFile("/etc/containerd/config.toml", tt.main)
			h.writeHostFile("/etc/containerd/registries/docker.io/hosts.toml", "server = \"https://registry-1.docker.io\"\n")
			if tt.other != "" {
				h.writeHostFile(tt.other, "-----BEGIN CERTIFICATE-----\n")
			}
			err := h.agentFor(v3, "one", nil).Apply(context.Background())
			if tt.message != "" {
				g.Expect(err).To(MatchError(ContainSubstring(hotelv1alpha1.ReasonRegistryConfigConflict)))
				g.Expect(err).To(MatchError(ContainSubstring(tt.message)))
				g.Expect(h.file(dropInPath)).To(BeNil())
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(h.file(dropInPath))).To(ContainSubstring("config_path = '/etc/containerd/certs.d'\n"))
		})
	}
}

// containerd 2 merges imported files key by key, a later file's value winning: a drop-in read
// after innkeeper's that sets one of innkeeper's settings otherwise would undo it unseen.
func TestContainerd2LaterDropInsThatUndoInnkeepersSettings(t *testing.T) {
	spec := hotelv1alpha1.ContainerdSpec{ConfigVersion: 3, DefaultRuntimeName: ptr.To("nvidia"), EnableCDI: ptr.To(true),
		Runtimes: []hotelv1alpha1.ContainerdRuntime{{Name: "nvidia", RuntimeType: "io.containerd.runc.v2",
			BinaryName: ptr.To("/usr/bin/nvidia-container-runtime")}}}
	const runtime = "[plugins.\"io.containerd.cri.v1.runtime\".containerd]\n"
	tests := []struct {
		name    string
		files   map[string]string // under /etc/containerd/conf.d
		message string            // of the DropInConflict; "" if applied
	}{
		{name: "a later drop-in with another default runtime",
			files:   map[string]string{"99-nvidia.toml": "version = 3\n" + runtime + "default_runtime_name = \"runc\"\n"},
			message: `/etc/containerd/conf.d/99-nvidia.toml, which containerd reads after innkeeper's drop-in, sets plugins."io.containerd.cri.v1.runtime".containerd.default_runtime_name to "runc"`},
		{name: "a later conflicting drop-in after one that is not TOML",
			files:   map[string]string{"60-broken.toml": "[[", "99-nvidia.toml": "version = 3\n" + runtime + "default_runtime_name = \"runc\"\n"},
			message: "99-nvidia.toml, which containerd reads after innkeeper's drop-in"},
		{name: "a later version 2 drop-in, which containerd 2 migrates, with another binary",
			files: map[string]string{"99-nvidia.toml": "version = 2\n" +
				"[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.nvidia.options]\nBinaryName = \"/usr/local/bin/nvidia\"\n"},
			message: `sets plugins."io.containerd.cri.v1.runtime".containerd.runtimes.nvidia.options.BinaryName to "/usr/local/bin/nvidia"`},
		{name: "a later drop-in that agrees, and adds what innkeeper does not set",
			files: map[string]string{"99-nvidia.toml": "version = 3\n" + runtime + "default_runtime_name = \"nvidia\"\n" +
				"[plugins.\"io.containerd.cri.v1.runtime\".containerd.runtimes.nvidia.options]\nSystemdCgroup = true\n" +
				"[plugins.\"io.containerd.cri.v1.runtime\".containerd.runtimes.kata]\nruntime_type = \"io.containerd.kata.v2\"\n"}},
		{name: "an earlier drop-in, which innkeeper's overrides",
			files: map[string]string{"10-base.toml": "version = 3\n" + runtime + "default_runtime_name = \"runc\"\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			h := newContainerdHost(t)
			h.cri.set("containerd", "v2.1.4", true)
			h.writeHostFile("/etc/containerd/config.toml", "version = 3\nimports = [\"/etc/containerd/conf.d/*.toml\"]\n")
			for name, content := range tt.files {
				h.writeHostFile(containerd.DropInDir+"/"+name, content)
			}
			err := h.agentFor(spec, "one", nil).Apply(context.Background())
			if tt.message != "" {
				g.Expect(err).To(MatchError(ContainSubstring(hotelv1alpha1.ReasonDropInConflict)))
				g.Expect(err).To(MatchError(ContainSubstring(tt.message)))
				g.Expect(h.file(dropInPath)).To(BeNil())
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(h.report()).To(HaveField("State", StateApplied))
		})
	}
}

// containerd 2 reading a version 2 config.toml has containerd 2's default config_path, with
// /etc/docker/certs.d, which the drop-in's config_path would stop containerd reading.
func TestContainerd2WithAVersion2ConfigReadsDockerCertsByDefault(t *testing.T) {
	g := NewWithT(t)
	h := newContainerdHost(t)
	h.cri.set("containerd", "v2.1.4", true)
	h.writeHostFile("/etc/docker/certs.d/quay.io/hosts.toml", "server = \"https://quay.io\"\n")
	spec := hotelv1alpha1.ContainerdSpec{ConfigVersion: 2,
		Registries: []hotelv1alpha1.RegistryHost{mirrored("docker.io", "https://a.example.com")}}
	err := h.agentFor(spec, "one", nil).Apply(context.Background())
	g.Expect(err).To(MatchError(ContainSubstring(hotelv1alpha1.ReasonRegistryConfigConflict)))
	g.Expect(err).To(MatchError(ContainSubstring("containerd 2's default registry.config_path reads /etc/docker/certs.d")))
}

// containerd loads imports breadth first: a file that an earlier drop-in imports is read after
// innkeeper's drop-in, and wins over it.
func TestContainerd2NestedImportReadAfterTheDropIn(t *testing.T) {
	g := NewWithT(t)
	h := newContainerdHost(t)
	h.cri.set("containerd", "v2.1.4", true)
	h.writeHostFile("/etc/containerd/config.toml", "version = 3\nimports = [\"/etc/containerd/conf.d/*.toml\"]\n")
	h.writeHostFile(containerd.DropInDir+"/10-base.toml", "version = 3\nimports = [\"/etc/containerd/vendor.toml\"]\n")
	h.writeHostFile("/etc/containerd/vendor.toml", "version = 3\n"+
		"[plugins.\"io.containerd.cri.v1.runtime\".containerd]\ndefault_runtime_name = \"runc\"\n")
	spec := hotelv1alpha1.ContainerdSpec{ConfigVersion: 3, DefaultRuntimeName: ptr.To("nvidia"),
		Runtimes: []hotelv1alpha1.ContainerdRuntime{{Name: "nvidia", RuntimeType: "io.containerd.runc.v2"}}}
	err := h.agentFor(spec, "one", nil).Apply(context.Background())
	g.Expect(err).To(MatchError(ContainSubstring(hotelv1alpha1.ReasonDropInConflict)))
	g.Expect(err).To(MatchError(ContainSubstring("/etc/containerd/vendor.toml, which containerd reads after")))
}
