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

// An apply interrupted after containerd restarted on the new drop-in, which broke its network: the
// next pod cannot know that the network was ready before, so it requires it.
func TestContainerdResumedApplyStillNeedsTheNetwork(t *testing.T) {
	g := NewWithT(t)
	h := newContainerdHost(t)
	old := hotelv1alpha1.ContainerdSpec{ConfigVersion: 2, SandboxImage: ptr.To("registry.k8s.io/pause:3.9")}
	g.Expect(h.agentFor(old, "old", nil).Apply(context.Background())).To(Succeed())
	healthy := h.file(dropInPath)
	breaks := func() { h.cri.setNetworkDown(string(h.file(dropInPath)) != string(healthy)) }
	next := hotelv1alpha1.ContainerdSpec{ConfigVersion: 2, SandboxImage: ptr.To("registry.k8s.io/pause:3.10")}
	ctx, cancel := context.WithCancel(context.Background())
	h.onRestart = func(context.Context) error { breaks(); cancel(); return nil } // the pod is killed
	_ = h.agentFor(next, "new", nil).Apply(ctx)
	g.Expect(h.report().State).To(Equal(StateApplying))

	h.onRestart = func(context.Context) error { breaks(); return nil }
	err := h.agentFor(next, "new", nil).Apply(context.Background()) // the next pod resumes
	g.Expect(err).To(MatchError(ContainSubstring(hotelv1alpha1.ReasonHealthCheckFailed)))
	g.Expect(h.file(dropInPath)).To(Equal(healthy))
}
