package containerd

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// The test CA bundles: fixed self-signed certificates, so that golden files keep their hashes.
var (
	caOne = mustRead("testdata/ca-one.pem")
	caTwo = mustRead("testdata/ca-two.pem")
)

func mustRead(name string) string {
	data, err := os.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return string(data)
}

func duration(s string) *metav1.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return &metav1.Duration{Duration: d}
}

func caRef(name, key string) *hotelv1alpha1.ConfigMapKeyReference {
	return &hotelv1alpha1.ConfigMapKeyReference{Name: name, Key: key}
}

// testCABundles holds the ConfigMap keys the test specs refer to.
var testCABundles = map[hotelv1alpha1.ConfigMapKeyReference]string{
	{Name: "mirror-ca", Key: "ca.crt"}:    caOne,
	{Name: "mirror-ca", Key: "other.pem"}: caTwo,
	{Name: "same-ca", Key: "ca.crt"}:      caOne,
}

// everyField sets every setting of a ContainerdSpec but the registries.
func everyField(version int32) hotelv1alpha1.ContainerdSpec {
	return hotelv1alpha1.ContainerdSpec{
		ConfigVersion:          version,
		SandboxImage:           ptr.To("registry.k8s.io/pause:3.10"),
		DefaultRuntimeName:     ptr.To("runc"),
		SystemdCgroup:          ptr.To(true),
		MaxConcurrentDownloads: ptr.To[int32](6),
		Snapshotter:            ptr.To("overlayfs"),
		EnableCDI:              ptr.To(true),
		Runtimes: []hotelv1alpha1.ContainerdRuntime{
			{Name: "runc", RuntimeType: "io.containerd.runc.v2"},
			{Name: "nvidia", RuntimeType: "io.containerd.runc.v2", BinaryName: ptr.To("/usr/bin/nvidia-container-runtime"), SystemdCgroup: ptr.To(false)},
			{Name: "kata", RuntimeType: "io.containerd.kata.v2", ConfigPath: ptr.To("/etc/kata-containers/configuration.toml"),
				PodAnnotations: []string{"io.katacontainers.*"}},
			{Name: "gvisor", RuntimeType: "io.containerd.runsc.v1"},
		},
		Registries: []hotelv1alpha1.RegistryHost{{
			Host: "docker.io", Server: ptr.To("https://registry-1.docker.io"),
			Mirrors: []hotelv1alpha1.RegistryMirror{{URL: "https://mirror.example.com", Capabilities: []hotelv1alpha1.RegistryCapability{"pull", "resolve"}}},
		}},
	}
}

// registries has the registry cases of the golden files.
func registries() []hotelv1alpha1.RegistryHost {
	return []hotelv1alpha1.RegistryHost{
		{Host: "docker.io", Server: ptr.To("https://registry-1.docker.io"), Mirrors: []hotelv1alpha1.RegistryMirror{
			{
				URL:          "https://mirror.example.com/v2/dockerhub",
				Capabilities: []hotelv1alpha1.RegistryCapability{"pull", "resolve"},
				CABundle:     caRef("mirror-ca", ""),
				Headers: []hotelv1alpha1.HTTPHeader{
					{Name: "X-Mirror-Token", Values: []string{"s3cr3t"}},
					{Name: "Accept", Values: []string{"application/vnd.oci.image.index.v1+json", "*/*"}},
				},
				OverridePath: ptr.To(true),
				DialTimeout:  duration("5s"),
			},
			{URL: "http://10.0.0.5:5000", Capabilities: []hotelv1alpha1.RegistryCapability{"pull"}, SkipVerify: ptr.To(true), DialTimeout: duration("1m30s")},
		}},
		{Host: "registry.example.com:5000", Server: ptr.To("https://registry.example.com:5000"), Mirrors: []hotelv1alpha1.RegistryMirror{
			{URL: "https://cache.example.com", CABundle: caRef("mirror-ca", "other.pem")},
		}},
		{Host: "_default", Mirrors: []hotelv1alpha1.RegistryMirror{{URL: "https://pull-through.example.com"}}},
	}
}

type renderCase struct {
	name string
	spec hotelv1alpha1.ContainerdSpec
}

func renderCases() []renderCase {
	return []renderCase{
		{name: "v2-every-field", spec: everyField(2)},
		{name: "v3-every-field", spec: everyField(3)},
		{name: "v2-minimal", spec: hotelv1alpha1.ContainerdSpec{ConfigVersion: 2}},
		{name: "v3-minimal", spec: hotelv1alpha1.ContainerdSpec{ConfigVersion: 3}},
		{name: "registries", spec: hotelv1alpha1.ContainerdSpec{ConfigVersion: 3, Registries: registries()}},
		{name: "systemd-cgroup-without-runc", spec: hotelv1alpha1.ContainerdSpec{ConfigVersion: 2, SystemdCgroup: ptr.To(true),
			Runtimes: []hotelv1alpha1.ContainerdRuntime{{Name: "kata", RuntimeType: "io.containerd.kata.v2"}}}},
	}
}

func TestRenderGolden(t *testing.T) {
	for _, tt := range renderCases() {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			got, err := Render(&tt.spec, testCABundles)
			g.Expect(err).NotTo(HaveOccurred())

			dir := filepath.Join("testdata", tt.name)
			if *update {
				g.Expect(os.RemoveAll(dir)).To(Succeed())
				g.Expect(os.MkdirAll(dir, 0o755)).To(Succeed())
				for key, data := range got {
					g.Expect(os.WriteFile(filepath.Join(dir, key), []byte(data), 0o644)).To(Succeed())
				}
			}
			want := map[string]string{}
			entries, err := os.ReadDir(dir)
			g.Expect(err).NotTo(HaveOccurred(), "run go test -update to create %s", dir)
			for _, e := range entries {
				want[e.Name()] = mustRead(filepath.Join(dir, e.Name()))
			}
			g.Expect(got).To(Equal(want))

			again, err := Render(&tt.spec, testCABundles)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(again).To(Equal(got), "rendering is not deterministic")
		})
	}
}

// Every rendered file reads back, strictly, into innkeeper's types, and the node agent's check
// accepts the whole set with the right paths.
func TestRenderedFilesParse(t *testing.T) {
	for _, tt := range renderCases() {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			got, err := Render(&tt.spec, testCABundles)
			g.Expect(err).NotTo(HaveOccurred())
			for key, data := range got {
				switch {
				case key == DropInFile:
					g.Expect(data).To(HavePrefix(fmt.Sprintf("version = %d\n", tt.spec.ConfigVersion)))
					_, _, err := decodeDropIn([]byte(data))
					g.Expect(err).NotTo(HaveOccurred(), key)
				case strings.HasSuffix(key, hostsSuffix):
					g.Expect(data).To(HavePrefix(HostsMarker + "\n"))
					_, _, err := decodeHosts([]byte(data))
					g.Expect(err).NotTo(HaveOccurred(), key)
				default:
					g.Expect(key).To(HaveSuffix(caSuffix))
					g.Expect(checkCABundle(data)).To(Succeed())
				}
			}
			parsed, err := ParseFiles(asBytes(got))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(parsed.ConfigVersion).To(Equal(tt.spec.ConfigVersion))
			g.Expect(parsed.Entries).To(HaveLen(len(got)))
			for i, f := range parsed.Entries {
				if i > 0 {
					g.Expect(f.Path > parsed.Entries[i-1].Path).To(BeTrue(), "entries are not sorted by path")
				}
				g.Expect(string(f.Data)).To(Equal(got[f.Key]))
				g.Expect(f.Restart).To(Equal(f.Key == DropInFile), f.Key)
			}
		})
	}
}

func asBytes(files map[string]string) map[string][]byte {
	out := map[string][]byte{}
	for k, v := range files {
		out[k] = []byte(v)
	}
	return out
}

func TestRenderedPaths(t *testing.T) {
	g := NewWithT(t)
	spec := hotelv1alpha1.ContainerdSpec{ConfigVersion: 3, Registries: registries()}
	got, err := Render(&spec, testCABundles)
	g.Expect(err).NotTo(HaveOccurred())
	parsed, err := ParseFiles(asBytes(got))
	g.Expect(err).NotTo(HaveOccurred())
	var paths []string
	for _, f := range parsed.Entries {
		paths = append(paths, f.Path)
	}
	hOne, hTwo := caHash(caOne), caHash(caTwo)
	g.Expect(paths).To(Equal([]string{
		"/etc/containerd/certs.d/_default/hosts.toml",
		"/etc/containerd/certs.d/docker.io/hosts.toml",
		"/etc/containerd/certs.d/docker.io/innkeeper-ca-" + hOne + ".crt",
		"/etc/containerd/certs.d/registry.example.com_5000_/hosts.toml",
		"/etc/containerd/certs.d/registry.example.com_5000_/innkeeper-ca-" + hTwo + ".crt",
		"/etc/containerd/conf.d/50-innkeeper.toml",
	}))
	g.Expect(got["docker.io.hosts.toml"]).To(ContainSubstring("ca = '/etc/containerd/certs.d/docker.io/innkeeper-ca-" + hOne + ".crt'\n"))
}

// The pieces of the drop-in land where containerd reads them, for each version.
func TestDropInLayout(t *testing.T) {
	tests := []struct {
		version int32
		want    []string
	}{
		{2, []string{
			"[plugins.'io.containerd.grpc.v1.cri']\nenable_cdi = true\nmax_concurrent_downloads = 6\nsandbox_image = 'registry.k8s.io/pause:3.10'\n",
			"[plugins.'io.containerd.grpc.v1.cri'.containerd]\ndefault_runtime_name = 'runc'\nsnapshotter = 'overlayfs'\n",
			"[plugins.'io.containerd.grpc.v1.cri'.containerd.runtimes.nvidia.options]\nBinaryName = '/usr/bin/nvidia-container-runtime'\nSystemdCgroup = false\n",
			"[plugins.'io.containerd.grpc.v1.cri'.containerd.runtimes.runc.options]\nSystemdCgroup = true\n",
			"[plugins.'io.containerd.grpc.v1.cri'.containerd.runtimes.kata]\npod_annotations = ['io.katacontainers.*']\nruntime_type = 'io.containerd.kata.v2'\n",
			"[plugins.'io.containerd.grpc.v1.cri'.containerd.runtimes.kata.options]\nConfigPath = '/etc/kata-containers/configuration.toml'\n",
			"[plugins.'io.containerd.grpc.v1.cri'.registry]\nconfig_path = '/etc/containerd/certs.d'\n",
		}},
		{3, []string{
			"[plugins.'io.containerd.cri.v1.images']\nmax_concurrent_downloads = 6\nsnapshotter = 'overlayfs'\n",
			"[plugins.'io.containerd.cri.v1.images'.pinned_images]\nsandbox = 'registry.k8s.io/pause:3.10'\n",
			"[plugins.'io.containerd.cri.v1.images'.registry]\nconfig_path = '/etc/containerd/certs.d'\n",
			"[plugins.'io.containerd.cri.v1.runtime'.containerd]\ndefault_runtime_name = 'runc'\n",
			"[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]\nSystemdCgroup = true\n",
			"[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.gvisor]\nruntime_type = 'io.containerd.runsc.v1'\n",
		}},
	}
	for _, tt := range tests {
		g := NewWithT(t)
		spec := everyField(tt.version)
		got, err := Render(&spec, nil)
		g.Expect(err).NotTo(HaveOccurred())
		for _, w := range tt.want {
			g.Expect(got[DropInFile]).To(ContainSubstring(w))
		}
		g.Expect(got[DropInFile]).NotTo(ContainSubstring("gvisor.options"), "a runtime without options has no options table")
	}
}

func TestMinimalDropInHoldsOnlyTheVersion(t *testing.T) {
	for _, v := range []int32{2, 3} {
		g := NewWithT(t)
		got, err := Render(&hotelv1alpha1.ContainerdSpec{ConfigVersion: v}, nil)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(got).To(Equal(map[string]string{DropInFile: fmt.Sprintf("version = %d\n", v)}))
	}
}

func TestSystemdCgroup(t *testing.T) {
	runc := func(name string, own *bool) hotelv1alpha1.ContainerdRuntime {
		return hotelv1alpha1.ContainerdRuntime{Name: name, RuntimeType: runcType, SystemdCgroup: own}
	}
	tests := []struct {
		name     string
		runtimes []hotelv1alpha1.ContainerdRuntime
		want     map[string]*bool
	}{
		{name: "no runtimes: the default runc", want: map[string]*bool{"runc": ptr.To(true)}},
		// The Node's own runc too: pods of a "runc" RuntimeClass, or of none while the default is
		// runc, must use the kubelet's cgroup driver.
		{name: "every runc runtime without its own, and the default runc",
			runtimes: []hotelv1alpha1.ContainerdRuntime{runc("crun", nil), runc("nvidia", ptr.To(false))},
			want:     map[string]*bool{"crun": ptr.To(true), "nvidia": ptr.To(false), "runc": ptr.To(true)}},
		{name: "a declared runc keeps its own",
			runtimes: []hotelv1alpha1.ContainerdRuntime{runc("runc", ptr.To(false)), runc("nvidia", nil)},
			want:     map[string]*bool{"runc": ptr.To(false), "nvidia": ptr.To(true)}},
		{name: "not on other runtimes, runc added",
			runtimes: []hotelv1alpha1.ContainerdRuntime{{Name: "kata", RuntimeType: "io.containerd.kata.v2"}},
			want:     map[string]*bool{"kata": nil, "runc": ptr.To(true)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			spec := hotelv1alpha1.ContainerdSpec{ConfigVersion: 2, SystemdCgroup: ptr.To(true), Runtimes: tt.runtimes}
			tables := runtimeTables(&spec)
			got := map[string]*bool{}
			for name, table := range tables {
				got[name] = nil
				if table.Options != nil {
					got[name] = table.Options.SystemdCgroup
				}
			}
			g.Expect(got).To(Equal(tt.want))
			files, err := Render(&spec, nil)
			g.Expect(err).NotTo(HaveOccurred())
			_, err = ParseFiles(map[string][]byte{DropInFile: []byte(files[DropInFile])})
			g.Expect(err).NotTo(HaveOccurred(), "the node agent refuses what the manager renders")
		})
	}
}

// The engine finds the field errors of an invalid spec the way internal/pool does.
func TestRenderErrorsAreFieldErrors(t *testing.T) {
	g := NewWithT(t)
	spec := hotelv1alpha1.ContainerdSpec{ConfigVersion: 4, Snapshotter: ptr.To("Overlay FS")}
	_, err := Render(&spec, nil)
	g.Expect(err).To(HaveOccurred())
	var agg utilerrors.Aggregate
	g.Expect(errors.As(err, &agg)).To(BeTrue())
	g.Expect(agg.Errors()).To(HaveLen(2))
	for _, e := range agg.Errors() {
		var fe *field.Error
		g.Expect(errors.As(e, &fe)).To(BeTrue(), "%v is not a field error", e)
	}

	spec = hotelv1alpha1.ContainerdSpec{ConfigVersion: 3, Registries: []hotelv1alpha1.RegistryHost{
		{Host: "docker.io", Mirrors: []hotelv1alpha1.RegistryMirror{{URL: "https://m.example.com", CABundle: caRef("missing", "")}}}}}
	_, err = Render(&spec, nil)
	g.Expect(errors.As(err, &agg)).To(BeTrue())
	var fe *field.Error
	g.Expect(errors.As(agg.Errors()[0], &fe)).To(BeTrue())
	g.Expect(fe.Field).To(Equal("spec.containerd.registries[0].mirrors[0].caBundle"))
}
