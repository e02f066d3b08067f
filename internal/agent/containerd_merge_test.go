package agent

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	"github.com/pelletier/go-toml/v2"
	"k8s.io/utils/ptr"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/render/containerd"
)

func TestContainerd2WithAVersion2ConfigTakesVersion2AsRendered(t *testing.T) {
	g := NewWithT(t)
	h := newContainerdHost(t)
	// A version 2 config.toml with a CRI section, which containerd 1.x would lose to the drop-in's.
	h.writeHostFile("/etc/containerd/config.toml", "version = 2\nimports = [\"/etc/containerd/conf.d/*.toml\"]\n"+
		"[plugins.\"io.containerd.grpc.v1.cri\".cni]\nbin_dir = \"/opt/cni/bin\"\n")
	h.cri.set("containerd", "2.1.4", true)
	spec := hotelv1alpha1.ContainerdSpec{ConfigVersion: 2, SandboxImage: ptr.To("registry.k8s.io/pause:3.10")}
	rendered, err := containerd.Render(&spec, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(h.agentFor(spec, "one", nil).Apply(context.Background())).To(Succeed())
	g.Expect(string(h.file(dropInPath))).To(Equal(rendered[containerd.DropInFile]), "containerd 2 merges key by key")
}

// containerd 1.7 replaces config.toml's whole CRI section with the drop-in's: the agent carries the
// Node's section into the drop-in, so that nothing of it is lost.
func TestContainerdV2DropInKeepsTheNodesCRISettings(t *testing.T) {
	g := NewWithT(t)
	h := newContainerdHost(t)
	h.writeHostFile("/etc/containerd/config.toml", `version = 2
imports = ["/etc/containerd/conf.d/*.toml"]

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.8"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/opt/cni/bin"
    conf_dir = "/etc/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      SystemdCgroup = true

[plugins."io.containerd.internal.v1.opt"]
  path = "/opt/containerd"
`)
	spec := hotelv1alpha1.ContainerdSpec{ConfigVersion: 2, SandboxImage: ptr.To("registry.k8s.io/pause:3.10"),
		MaxConcurrentDownloads: ptr.To[int32](6), Registries: []hotelv1alpha1.RegistryHost{mirrored("docker.io", "https://a.example.com")}}
	g.Expect(h.agentFor(spec, "one", nil).Apply(context.Background())).To(Succeed())

	var dropIn struct {
		Version int64
		Plugins map[string]struct {
			SandboxImage           string `toml:"sandbox_image"`
			MaxConcurrentDownloads int64  `toml:"max_concurrent_downloads"`
			CNI                    struct {
				BinDir  string `toml:"bin_dir"`
				ConfDir string `toml:"conf_dir"`
			} `toml:"cni"`
			Containerd struct {
				Runtimes map[string]struct {
					RuntimeType string         `toml:"runtime_type"`
					Options     map[string]any `toml:"options"`
				} `toml:"runtimes"`
			} `toml:"containerd"`
			Registry struct {
				ConfigPath string `toml:"config_path"`
			} `toml:"registry"`
		} `toml:"plugins"`
	}
	data := h.file(dropInPath)
	g.Expect(toml.Unmarshal(data, &dropIn)).To(Succeed(), "%s", data)
	cri := dropIn.Plugins["io.containerd.grpc.v1.cri"]
	g.Expect(dropIn.Version).To(Equal(int64(2)))
	g.Expect(cri.SandboxImage).To(Equal("registry.k8s.io/pause:3.10"), "innkeeper's settings win")
	g.Expect(cri.MaxConcurrentDownloads).To(Equal(int64(6)))
	g.Expect(cri.Registry.ConfigPath).To(Equal("/etc/containerd/certs.d"))
	g.Expect(cri.CNI.BinDir).To(Equal("/opt/cni/bin"), "the Node's CNI settings were lost")
	g.Expect(cri.CNI.ConfDir).To(Equal("/etc/cni/net.d"))
	g.Expect(cri.Containerd.Runtimes["runc"].RuntimeType).To(Equal("io.containerd.runc.v2"))
	g.Expect(cri.Containerd.Runtimes["runc"].Options).To(HaveKeyWithValue("SystemdCgroup", true))
	g.Expect(dropIn.Plugins).NotTo(HaveKey("io.containerd.internal.v1.opt"), "only the CRI section is carried")
	g.Expect(string(data)).To(HavePrefix("# Written by innkeeper."))

	// The same configuration on the same Node: the same merged bytes, nothing written or restarted.
	restarts := h.restarts.Load()
	g.Expect(h.agentFor(spec, "one", nil).Apply(context.Background())).To(Succeed())
	g.Expect(h.restarts.Load()).To(Equal(restarts))
	g.Expect(h.file(dropInPath)).To(Equal(data))
}

func TestContainerdV3DropInIsWrittenAsRendered(t *testing.T) {
	g := NewWithT(t)
	h := newContainerdHost(t)
	h.writeHostFile("/etc/containerd/config.toml", "version = 3\nimports = [\"/etc/containerd/conf.d/*.toml\"]\n"+
		"[plugins.\"io.containerd.cri.v1.images\"]\nsnapshotter = \"native\"\n")
	h.cri.set("containerd", "v2.1.4", true)
	spec := hotelv1alpha1.ContainerdSpec{ConfigVersion: 3, SandboxImage: ptr.To("registry.k8s.io/pause:3.10")}
	rendered, err := containerd.Render(&spec, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(h.agentFor(spec, "one", nil).Apply(context.Background())).To(Succeed())
	g.Expect(string(h.file(dropInPath))).To(Equal(rendered[containerd.DropInFile]), "containerd 2 merges key by key")
}
