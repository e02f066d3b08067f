package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/pelletier/go-toml/v2"
	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/ptr"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/render/containerd"
)

// fakeCRI is containerd's CRI runtime service as the agent sees it, on a unix socket.
type fakeCRI struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	mu      sync.Mutex
	name    string
	version string
	healthy bool
	// networkDown: the CNI is not ready (NetworkReady false), as on a Node that has none yet.
	networkDown bool
}

func (f *fakeCRI) Version(context.Context, *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &runtimeapi.VersionResponse{Version: "0.1.0", RuntimeName: f.name, RuntimeVersion: f.version, RuntimeApiVersion: "v1"}, nil
}

func (f *fakeCRI) Status(context.Context, *runtimeapi.StatusRequest) (*runtimeapi.StatusResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &runtimeapi.StatusResponse{Status: &runtimeapi.RuntimeStatus{Conditions: []*runtimeapi.RuntimeCondition{
		{Type: runtimeapi.RuntimeReady, Status: f.healthy, Reason: "ContainerdNotReady"},
		{Type: runtimeapi.NetworkReady, Status: !f.networkDown, Reason: "NetworkPluginNotReady"},
	}}}, nil
}

func (f *fakeCRI) setNetworkDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.networkDown = down
}

func (f *fakeCRI) set(name, version string, healthy bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.name, f.version, f.healthy = name, version, healthy
}

// containerdHost is a Node with containerd for the agent: the fake host's root, systemd and Node,
// and a fake CRI server on a unix socket.
type containerdHost struct {
	*fakeHost
	cri *fakeCRI
	// healthyWith, if set, is the only drop-in containerd comes back healthy from a restart with.
	healthyWith []byte
}

func newContainerdHost(t *testing.T) *containerdHost {
	h := &containerdHost{fakeHost: newFakeHost(t), cri: &fakeCRI{name: "containerd", version: "v1.7.22", healthy: true}}
	h.unit = "containerd.service"
	h.onRestart = func(context.Context) error {
		if h.healthyWith != nil {
			h.cri.set("containerd", "v1.7.22", string(h.file(containerd.DropInDir+"/"+containerd.DropInFile)) == string(h.healthyWith))
		}
		return nil
	}
	h.writeHostFile("/etc/containerd/config.toml", "version = 2\nimports = [\"/etc/containerd/conf.d/*.toml\"]\n")
	return h
}

func (h *containerdHost) writeHostFile(path, content string) {
	h.t.Helper()
	p := filepath.Join(h.root, path)
	NewWithT(h.t).Expect(os.MkdirAll(filepath.Dir(p), 0o755)).To(Succeed())
	NewWithT(h.t).Expect(os.WriteFile(p, []byte(content), 0o644)).To(Succeed())
}

// file returns a host file's content, nil if it does not exist.
func (h *containerdHost) file(path string) []byte {
	data, err := os.ReadFile(filepath.Join(h.root, path))
	if err != nil {
		return nil
	}
	return data
}

// tree lists the host's files under /etc/containerd that containerd reads: not the main config,
// nor the agent's backups.
func (h *containerdHost) tree() map[string]string {
	files := map[string]string{}
	base := filepath.Join(h.root, "/etc/containerd")
	_ = filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() != "config.toml" && !strings.Contains(d.Name(), ".innkeeper-") {
			rel, _ := filepath.Rel(h.root, p)
			data, _ := os.ReadFile(p)
			files["/"+rel] = string(data)
		}
		return nil
	})
	return files
}

// dirs lists the registry host directories under /etc/containerd/certs.d.
func (h *containerdHost) dirs() []string {
	entries, _ := os.ReadDir(filepath.Join(h.root, containerd.CertsDir))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func (h *containerdHost) serveCRI() string {
	dir, err := os.MkdirTemp("", "cri") // a unix socket's path must be short
	NewWithT(h.t).Expect(err).NotTo(HaveOccurred())
	h.t.Cleanup(func() { _ = os.RemoveAll(dir) })
	socket := filepath.Join(dir, "containerd.sock")
	l, err := net.Listen("unix", socket)
	NewWithT(h.t).Expect(err).NotTo(HaveOccurred())
	srv := grpc.NewServer()
	runtimeapi.RegisterRuntimeServiceServer(srv, h.cri)
	go func() { _ = srv.Serve(l) }()
	h.t.Cleanup(srv.Stop)
	return socket
}

// agentFor returns an agent for the RoomService spec on the host.
func (h *containerdHost) agentFor(spec hotelv1alpha1.ContainerdSpec, hash string, cas map[hotelv1alpha1.ConfigMapKeyReference]string) *Agent {
	h.t.Helper()
	files, err := containerd.Render(&spec, cas)
	NewWithT(h.t).Expect(err).NotTo(HaveOccurred())
	config := map[string][]byte{}
	for k, v := range files {
		config[k] = []byte(v)
	}
	cri, closeCRI, err := DialCRI(h.serveCRI())
	NewWithT(h.t).Expect(err).NotTo(HaveOccurred())
	h.t.Cleanup(func() { _ = closeCRI() })
	return &Agent{
		Target:         &Containerd{ConfigPath: "/etc/containerd/config.toml", CRI: cri},
		Restarter:      h,
		Reporter:       h,
		HostRoot:       h.root,
		Config:         config,
		Hash:           hash,
		HealthTimeout:  300 * time.Millisecond,
		HealthInterval: 10 * time.Millisecond,
		Log:            ktesting.NewLogger(h.t, ktesting.NewConfig()),
	}
}

func testCA(t *testing.T) string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mirror CA"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func mirrored(host string, urls ...string) hotelv1alpha1.RegistryHost {
	r := hotelv1alpha1.RegistryHost{Host: host}
	for _, u := range urls {
		r.Mirrors = append(r.Mirrors, hotelv1alpha1.RegistryMirror{URL: u,
			Capabilities: []hotelv1alpha1.RegistryCapability{"pull", "resolve"}})
	}
	return r
}

func TestContainerdFirstApplyWritesEveryFileAndRestartsOnce(t *testing.T) {
	g := NewWithT(t)
	h := newContainerdHost(t)
	ca := testCA(t)
	docker := mirrored("docker.io", "https://mirror.example.com")
	docker.Mirrors[0].CABundle = &hotelv1alpha1.ConfigMapKeyReference{Name: "mirror-ca", Key: "ca.crt"}
	spec := hotelv1alpha1.ContainerdSpec{ConfigVersion: 2, SandboxImage: ptr.To("registry.k8s.io/pause:3.10"),
		Registries: []hotelv1alpha1.RegistryHost{docker, mirrored("registry.example.com:5000", "https://cache.example.com")}}
	a := h.agentFor(spec, "one", map[hotelv1alpha1.ConfigMapKeyReference]string{{Name: "mirror-ca", Key: "ca.crt"}: ca})

	g.Expect(a.Apply(context.Background())).To(Succeed())
	g.Expect(string(h.file(dropInPath))).To(ContainSubstring("registry.k8s.io/pause:3.10"))
	g.Expect(string(h.file(containerd.CertsDir + "/docker.io/hosts.toml"))).To(ContainSubstring("https://mirror.example.com"))
	g.Expect(h.file(containerd.CertsDir + "/registry.example.com_5000_/hosts.toml")).NotTo(BeNil())
	cas, _ := filepath.Glob(filepath.Join(h.root, containerd.CertsDir, "docker.io", "innkeeper-ca-*.crt"))
	g.Expect(cas).To(HaveLen(1))
	caFile, _ := os.ReadFile(cas[0])
	g.Expect(string(caFile)).To(Equal(ca))
	g.Expect(h.restarts.Load()).To(Equal(int32(1)))
	g.Expect(h.report().State).To(Equal(StateApplied))
	g.Expect(a.Ready()).To(BeTrue())
}

func TestContainerdRegistryChangesNeedNoRestart(t *testing.T) {
	g := NewWithT(t)
	h := newContainerdHost(t)
	spec := hotelv1alpha1.ContainerdSpec{ConfigVersion: 2, SandboxImage: ptr.To("registry.k8s.io/pause:3.10"),
		Registries: []hotelv1alpha1.RegistryHost{mirrored("docker.io", "https://a.example.com"), mirrored("quay.io", "https://q.example.com")}}
	g.Expect(h.agentFor(spec, "one", nil).Apply(context.Background())).To(Succeed())
	g.Expect(h.restarts.Load()).To(Equal(int32(1)))
	dropIn := h.file(dropInPath)

	// Another mirror for docker.io, quay.io gone, ghcr.io new: containerd reads hosts.toml at each
	// pull, so the drop-in is the same and containerd keeps running.
	spec.Registries = []hotelv1alpha1.RegistryHost{mirrored("docker.io", "https://b.example.com"), mirrored("ghcr.io", "https://g.example.com")}
	a := h.agentFor(spec, "two", nil)
	g.Expect(a.Apply(context.Background())).To(Succeed())
	g.Expect(h.restarts.Load()).To(Equal(int32(1)), "a registry change restarted containerd")
	g.Expect(h.file(dropInPath)).To(Equal(dropIn))
	g.Expect(string(h.file(containerd.CertsDir + "/docker.io/hosts.toml"))).To(ContainSubstring("https://b.example.com"))
	g.Expect(h.dirs()).To(ConsistOf("docker.io", "ghcr.io"), "quay.io's directory, and nothing of it, stays")
	g.Expect(h.report()).To(HaveField("State", StateApplied))
	g.Expect(h.report()).To(HaveField("Config", "two"))
	g.Expect(a.Ready()).To(BeTrue())
}

func TestContainerdHealthFailureRestoresEveryFile(t *testing.T) {
	g := NewWithT(t)
	h := newContainerdHost(t)
	old := hotelv1alpha1.ContainerdSpec{ConfigVersion: 2, SandboxImage: ptr.To("registry.k8s.io/pause:3.9"),
		Registries: []hotelv1alpha1.RegistryHost{mirrored("docker.io", "https://a.example.com")}}
	g.Expect(h.agentFor(old, "old", nil).Apply(context.Background())).To(Succeed())
	before := h.tree()
	h.healthyWith = h.file(dropInPath)

	// containerd does not come back with the new drop-in.
	next := hotelv1alpha1.ContainerdSpec{ConfigVersion: 2, SandboxImage: ptr.To("registry.k8s.io/pause:3.10"),
		Registries: []hotelv1alpha1.RegistryHost{mirrored("docker.io", "https://b.example.com"), mirrored("quay.io", "https://q.example.com")}}
	a := h.agentFor(next, "new", nil)
	err := a.Apply(context.Background())
	g.Expect(err).To(MatchError(ContainSubstring(hotelv1alpha1.ReasonHealthCheckFailed)))
	g.Expect(h.restarts.Load()).To(Equal(int32(3)), "the first apply, the new drop-in, the restored one")
	after := h.tree()
	for path, content := range before {
		g.Expect(after).To(HaveKeyWithValue(path, content), "%s was not restored byte for byte", path)
	}
	for path := range after {
		g.Expect(before).To(HaveKey(path), "%s of the failed configuration stayed", path)
	}
	g.Expect(h.dirs()).To(ConsistOf("docker.io"))
	r := h.report()
	g.Expect(r.State).To(Equal(StateDegraded))
	g.Expect(r.Config).To(Equal("old"))
	g.Expect(r.Message).To(ContainSubstring("RuntimeReady not ready"))
	g.Expect(a.Ready()).To(BeFalse())
}

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

func TestContainerdRelativeImports(t *testing.T) {
	g := NewWithT(t)
	h := newContainerdHost(t)
	h.writeHostFile("/etc/containerd/config.toml", "version = 3\nimports = [\"conf.d/*.toml\"]\n")
	h.cri.set("containerd", "2.1.4", true)
	spec := hotelv1alpha1.ContainerdSpec{ConfigVersion: 3, EnableCDI: ptr.To(true)}
	g.Expect(h.agentFor(spec, "one", nil).Apply(context.Background())).To(Succeed())
	g.Expect(h.report().State).To(Equal(StateApplied))
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

// interruptAtRestart makes the next restart stop the agent, as a SIGTERM would, and returns the
// context to apply with.
func (h *containerdHost) interruptAtRestart() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	h.onRestart = func(ctx context.Context) error { cancel(); <-ctx.Done(); return ctx.Err() }
	return ctx
}

func TestContainerdInterruptedApplyResumesWithARestart(t *testing.T) {
	g := NewWithT(t)
	h := newContainerdHost(t)
	old := hotelv1alpha1.ContainerdSpec{ConfigVersion: 2, SandboxImage: ptr.To("registry.k8s.io/pause:3.9"),
		Registries: []hotelv1alpha1.RegistryHost{mirrored("docker.io", "https://a.example.com"), mirrored("quay.io", "https://q.example.com")}}
	g.Expect(h.agentFor(old, "old", nil).Apply(context.Background())).To(Succeed())

	// The new configuration changes the drop-in and drops quay.io. The agent is stopped after its
	// writes, before containerd restarted; then quay.io's file is back as an earlier run left it.
	next := hotelv1alpha1.ContainerdSpec{ConfigVersion: 2, SandboxImage: ptr.To("registry.k8s.io/pause:3.10"),
		Registries: []hotelv1alpha1.RegistryHost{mirrored("docker.io", "https://a.example.com")}}
	g.Expect(h.agentFor(next, "new", nil).Apply(h.interruptAtRestart())).To(MatchError(context.Canceled))
	h.onRestart = nil
	restarts := h.restarts.Load()
	h.writeHostFile(containerd.CertsDir+"/quay.io/hosts.toml", string(h.file(containerd.CertsDir+"/quay.io/hosts.toml.innkeeper-backup")))

	g.Expect(h.agentFor(next, "new", nil).Apply(context.Background())).To(Succeed())
	g.Expect(h.restarts.Load()).To(Equal(restarts+1), "containerd never restarted on the new drop-in")
	g.Expect(h.dirs()).To(ConsistOf("docker.io"))
}

func TestContainerdRollbackAfterAnInterruptedApplyRestoresRemovedFiles(t *testing.T) {
	g := NewWithT(t)
	h := newContainerdHost(t)
	old := hotelv1alpha1.ContainerdSpec{ConfigVersion: 2, SandboxImage: ptr.To("registry.k8s.io/pause:3.9"),
		Registries: []hotelv1alpha1.RegistryHost{mirrored("docker.io", "https://a.example.com"), mirrored("quay.io", "https://q.example.com")}}
	g.Expect(h.agentFor(old, "old", nil).Apply(context.Background())).To(Succeed())
	before := h.tree()
	h.healthyWith = h.file(dropInPath)

	// Interrupted after removing quay.io's file; the same configuration comes back and fails.
	next := hotelv1alpha1.ContainerdSpec{ConfigVersion: 2, SandboxImage: ptr.To("registry.k8s.io/pause:3.10"),
		Registries: []hotelv1alpha1.RegistryHost{mirrored("docker.io", "https://b.example.com")}}
	g.Expect(h.agentFor(next, "new", nil).Apply(h.interruptAtRestart())).To(MatchError(context.Canceled))
	h.onRestart = func(context.Context) error {
		h.cri.set("containerd", "v1.7.22", string(h.file(dropInPath)) == string(h.healthyWith))
		return nil
	}
	g.Expect(h.agentFor(next, "new", nil).Apply(context.Background())).To(MatchError(ContainSubstring(hotelv1alpha1.ReasonHealthCheckFailed)))
	g.Expect(h.tree()).To(Equal(before), "the rollback did not bring back every file")
}

func TestContainerdWriteFailureRollsBackWhatWasWritten(t *testing.T) {
	g := NewWithT(t)
	h := newContainerdHost(t)
	old := hotelv1alpha1.ContainerdSpec{ConfigVersion: 2, Registries: []hotelv1alpha1.RegistryHost{mirrored("docker.io", "https://a.example.com")}}
	g.Expect(h.agentFor(old, "old", nil).Apply(context.Background())).To(Succeed())
	before := h.tree()
	restarts := h.restarts.Load()

	// The hosts files are written, then writing the drop-in fails.
	t.Cleanup(func() { writeHostFile = putFile })
	writeHostFile = func(path string, data []byte) error {
		if filepath.Base(path) == containerd.DropInFile {
			return errors.New("no space left on device")
		}
		return putFile(path, data)
	}
	next := hotelv1alpha1.ContainerdSpec{ConfigVersion: 2, SandboxImage: ptr.To("registry.k8s.io/pause:3.10"),
		Registries: []hotelv1alpha1.RegistryHost{mirrored("docker.io", "https://b.example.com"), mirrored("quay.io", "https://q.example.com")}}
	err := h.agentFor(next, "new", nil).Apply(context.Background())
	g.Expect(err).To(MatchError(ContainSubstring(hotelv1alpha1.ReasonAgentApplyFailed)))
	g.Expect(err).To(MatchError(ContainSubstring("no space left on device")))
	g.Expect(h.tree()).To(Equal(before), "the hosts files written before the failure stayed")
	g.Expect(h.restarts.Load()).To(Equal(restarts), "containerd never read the new drop-in: no restart")
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

// A Node whose CNI is not ready yet (one joining the pool before its network add-on runs) reports
// NetworkReady false before and after the restart: that is no failure of the configuration.
func TestContainerdNetworkNotReadyBeforeTheRestartIsNoReasonToRollBack(t *testing.T) {
	g := NewWithT(t)
	h := newContainerdHost(t)
	h.cri.setNetworkDown(true)
	spec := hotelv1alpha1.ContainerdSpec{ConfigVersion: 2, SandboxImage: ptr.To("registry.k8s.io/pause:3.10")}
	g.Expect(h.agentFor(spec, "one", nil).Apply(context.Background())).To(Succeed())
	g.Expect(h.report()).To(HaveField("State", StateApplied))
	g.Expect(h.restarts.Load()).To(Equal(int32(1)))
}

// A network that was ready before the restart must be ready after it.
func TestContainerdNetworkLostInTheRestartRollsBack(t *testing.T) {
	g := NewWithT(t)
	h := newContainerdHost(t)
	old := hotelv1alpha1.ContainerdSpec{ConfigVersion: 2, SandboxImage: ptr.To("registry.k8s.io/pause:3.9")}
	g.Expect(h.agentFor(old, "old", nil).Apply(context.Background())).To(Succeed())
	healthy := h.file(dropInPath)
	h.onRestart = func(context.Context) error {
		h.cri.setNetworkDown(string(h.file(dropInPath)) != string(healthy))
		return nil
	}
	next := hotelv1alpha1.ContainerdSpec{ConfigVersion: 2, SandboxImage: ptr.To("registry.k8s.io/pause:3.10")}
	err := h.agentFor(next, "new", nil).Apply(context.Background())
	g.Expect(err).To(MatchError(ContainSubstring(hotelv1alpha1.ReasonHealthCheckFailed)))
	g.Expect(err).To(MatchError(ContainSubstring("NetworkReady not ready")))
	g.Expect(h.file(dropInPath)).To(Equal(healthy))
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

// An apply interrupted after containerd restarted on the new drop-in, which broke its network: the
// next pod cannot know that the network was ready before, so it requires it.
func TestContainerdResumedApplyStillNeedsTheNetwork(t *testing.T) {
	g := NewWithT(t)
	h := newContainerdHost(t)
	old := hotelv1alpha1.ContainerdSpec{ConfigVersion: 2, SandboxImage: ptr.To("registry.k8s.io/pause:3.9")}
	g.Expect(h.agentFor(old, "old", nil).Apply(context.Background())).To(Succeed())
	healthy := h.file(dropInPath)
	breaks := func(context.Context) error {
		h.cri.setNetworkDown(string(h.file(dropInPath)) != string(healthy))
		return nil
	}
	next := hotelv1alpha1.ContainerdSpec{ConfigVersion: 2, SandboxImage: ptr.To("registry.k8s.io/pause:3.10")}
	ctx, cancel := context.WithCancel(context.Background())
	h.onRestart = func(c context.Context) error { err := breaks(c); cancel(); return err } // the pod is killed
	_ = h.agentFor(next, "new", nil).Apply(ctx)
	g.Expect(h.report().State).To(Equal(StateApplying))

	h.onRestart = breaks
	err := h.agentFor(next, "new", nil).Apply(context.Background()) // the next pod resumes
	g.Expect(err).To(MatchError(ContainSubstring(hotelv1alpha1.ReasonHealthCheckFailed)))
	g.Expect(h.file(dropInPath)).To(Equal(healthy))
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
