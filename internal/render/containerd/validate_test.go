package containerd

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/utils/ptr"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// mirrorSpec is a valid spec with one registry host and one mirror, for the cases to break.
func mirrorSpec(edit func(r *hotelv1alpha1.RegistryHost, m *hotelv1alpha1.RegistryMirror)) hotelv1alpha1.ContainerdSpec {
	r := hotelv1alpha1.RegistryHost{Host: "docker.io", Mirrors: []hotelv1alpha1.RegistryMirror{{URL: "https://mirror.example.com"}}}
	edit(&r, &r.Mirrors[0])
	return hotelv1alpha1.ContainerdSpec{ConfigVersion: 3, Registries: []hotelv1alpha1.RegistryHost{r}}
}

// runtimeSpec is a valid spec with one runtime, for the cases to break.
func runtimeSpec(edit func(s *hotelv1alpha1.ContainerdSpec, r *hotelv1alpha1.ContainerdRuntime)) hotelv1alpha1.ContainerdSpec {
	s := hotelv1alpha1.ContainerdSpec{ConfigVersion: 2, Runtimes: []hotelv1alpha1.ContainerdRuntime{{Name: "runc", RuntimeType: runcType}}}
	edit(&s, &s.Runtimes[0])
	return s
}

func header(name string, values ...string) hotelv1alpha1.HTTPHeader {
	return hotelv1alpha1.HTTPHeader{Name: name, Values: values}
}

// One case per rule of the API (and per rule where innkeeper follows containerd), each asserting
// the field path of the error.
func TestValidate(t *testing.T) {
	const reg, mirror = "spec.containerd.registries[0]", "spec.containerd.registries[0].mirrors[0]"
	type (
		S = hotelv1alpha1.ContainerdSpec
		R = hotelv1alpha1.ContainerdRuntime
		H = hotelv1alpha1.RegistryHost
		M = hotelv1alpha1.RegistryMirror
	)
	tests := []struct {
		name    string
		spec    S
		wantErr string // "" for a valid spec
	}{
		{name: "every field", spec: everyField(2)},
		{name: "config version 1", spec: S{ConfigVersion: 1}, wantErr: "spec.containerd.configVersion: Unsupported value: 1"},
		{name: "sandbox image with a space", spec: S{ConfigVersion: 2, SandboxImage: ptr.To("pause 3.10")}, wantErr: "spec.containerd.sandboxImage: Invalid value"},
		{name: "empty sandbox image", spec: S{ConfigVersion: 2, SandboxImage: ptr.To("")}, wantErr: "spec.containerd.sandboxImage: Invalid value"},
		{name: "sandbox image too long", spec: S{ConfigVersion: 2, SandboxImage: ptr.To(strings.Repeat("a", 513))}, wantErr: "spec.containerd.sandboxImage: Too long"},
		{name: "sandbox image with a control character", spec: S{ConfigVersion: 2, SandboxImage: ptr.To("pause\x00")},
			wantErr: "spec.containerd.sandboxImage: Invalid value"},
		{name: "sandbox image not UTF-8", spec: S{ConfigVersion: 2, SandboxImage: ptr.To("pause\xff")}, wantErr: "spec.containerd.sandboxImage: Invalid value"},
		{name: "no downloads", spec: S{ConfigVersion: 2, MaxConcurrentDownloads: ptr.To[int32](0)}, wantErr: "spec.containerd.maxConcurrentDownloads: Invalid value: 0"},
		{name: "65 downloads", spec: S{ConfigVersion: 2, MaxConcurrentDownloads: ptr.To[int32](65)}, wantErr: "spec.containerd.maxConcurrentDownloads: Invalid value: 65"},
		{name: "snapshotter in upper case", spec: S{ConfigVersion: 2, Snapshotter: ptr.To("OverlayFS")}, wantErr: "spec.containerd.snapshotter: Invalid value"},
		{name: "containerd 1.7 runtimes without runc or a default", spec: S{ConfigVersion: 2, Runtimes: []R{{Name: "kata", RuntimeType: "io.containerd.kata.v2"}}},
			wantErr: "spec.containerd.runtimes[runc]: Required value: with configVersion 2, runtimes need a runtime named runc, a defaultRuntimeName or systemdCgroup"},
		{name: "containerd 1.7 runtimes with a default", spec: S{ConfigVersion: 2, DefaultRuntimeName: ptr.To("kata"), Runtimes: []R{{Name: "kata", RuntimeType: "io.containerd.kata.v2"}}}},
		{name: "containerd 1.7 runtimes with runc", spec: S{ConfigVersion: 2, Runtimes: []R{{Name: "kata", RuntimeType: "io.containerd.kata.v2"}, {Name: "runc", RuntimeType: "io.containerd.runc.v2"}}}},
		{name: "containerd 2.x runtimes without runc", spec: S{ConfigVersion: 3, Runtimes: []R{{Name: "kata", RuntimeType: "io.containerd.kata.v2"}}}},
		{name: "CDI off on containerd 2.x, which ignores it", spec: S{ConfigVersion: 3, EnableCDI: ptr.To(false)},
			wantErr: "spec.containerd.enableCDI: Invalid value: false: enableCDI: false needs configVersion 2"},
		{name: "CDI off on containerd 1.7", spec: S{ConfigVersion: 2, EnableCDI: ptr.To(false)}},
		{name: "default runtime not declared", spec: S{ConfigVersion: 2, DefaultRuntimeName: ptr.To("crun")},
			wantErr: "spec.containerd.defaultRuntimeName: Invalid value: \"crun\": defaultRuntimeName must name one of runtimes"},
		{name: "default runtime too long", spec: S{ConfigVersion: 2, DefaultRuntimeName: ptr.To(strings.Repeat("a", 64))},
			wantErr: "spec.containerd.defaultRuntimeName: Too long"},
		{name: "runtime name not a DNS label", spec: runtimeSpec(func(_ *S, r *R) { r.Name = "Run_C" }),
			wantErr: "spec.containerd.runtimes[0].name: Invalid value"},
		{name: "runtime names not unique", spec: runtimeSpec(func(s *S, r *R) { s.Runtimes = append(s.Runtimes, *r) }),
			wantErr: "spec.containerd.runtimes[1].name: Duplicate value"},
		{name: "too many runtimes", spec: runtimeSpec(func(s *S, _ *R) {
			for i := range 16 {
				s.Runtimes = append(s.Runtimes, R{Name: "r" + string(rune('a'+i)), RuntimeType: runcType})
			}
		}), wantErr: "spec.containerd.runtimes: Too many"},
		{name: "runtime type not a shim", spec: runtimeSpec(func(_ *S, r *R) { r.RuntimeType = "runc" }),
			wantErr: "spec.containerd.runtimes[0].runtimeType: Invalid value"},
		{name: "runtime type without version", spec: runtimeSpec(func(_ *S, r *R) { r.RuntimeType = "io.containerd.runc" }),
			wantErr: "spec.containerd.runtimes[0].runtimeType: Invalid value"},
		{name: "systemdCgroup on kata", spec: runtimeSpec(func(_ *S, r *R) { r.RuntimeType, r.SystemdCgroup = "io.containerd.kata.v2", ptr.To(true) }),
			wantErr: "spec.containerd.runtimes[0].systemdCgroup: Forbidden: systemdCgroup and binaryName are options of runc"},
		{name: "binaryName on runsc", spec: runtimeSpec(func(_ *S, r *R) { r.RuntimeType, r.BinaryName = "io.containerd.runsc.v1", ptr.To("/bin/runsc") }),
			wantErr: "spec.containerd.runtimes[0].binaryName: Forbidden"},
		{name: "binaryName with a space", spec: runtimeSpec(func(_ *S, r *R) { r.BinaryName = ptr.To("/usr/bin/my runc") }),
			wantErr: "spec.containerd.runtimes[0].binaryName: Invalid value"},
		{name: "relative configPath", spec: runtimeSpec(func(_ *S, r *R) { r.RuntimeType, r.ConfigPath = "io.containerd.kata.v2", ptr.To("kata.toml") }),
			wantErr: "spec.containerd.runtimes[0].configPath: Invalid value"},
		{name: "pod annotations not unique", spec: runtimeSpec(func(_ *S, r *R) { r.PodAnnotations = []string{"a.b/*", "a.b/*"} }),
			wantErr: "spec.containerd.runtimes[0].podAnnotations[1]: Duplicate value"},
		{name: "empty pod annotation", spec: runtimeSpec(func(_ *S, r *R) { r.PodAnnotations = []string{""} }),
			wantErr: "spec.containerd.runtimes[0].podAnnotations[0]: Invalid value"},
		{name: "pod annotation with a newline", spec: runtimeSpec(func(_ *S, r *R) { r.PodAnnotations = []string{"a\nb"} }),
			wantErr: "spec.containerd.runtimes[0].podAnnotations[0]: Invalid value"},
		{name: "systemdCgroup with a runc runtime of another type", spec: runtimeSpec(func(s *S, r *R) {
			s.SystemdCgroup, r.RuntimeType = ptr.To(true), "io.containerd.runsc.v1"
		}), wantErr: "spec.containerd.runtimes[0].runtimeType: Invalid value: \"io.containerd.runsc.v1\": systemdCgroup also sets SystemdCgroup on the runtime named runc"},
		{name: "systemdCgroup with runc of another type and another runc runtime", spec: runtimeSpec(func(s *S, r *R) {
			s.SystemdCgroup, r.RuntimeType = ptr.To(true), "io.containerd.runsc.v1"
			s.Runtimes = append(s.Runtimes, R{Name: "crun", RuntimeType: runcType})
		}), wantErr: "systemdCgroup also sets SystemdCgroup on the runtime named runc"},
		{name: "systemdCgroup with another runc runtime", spec: runtimeSpec(func(s *S, r *R) {
			s.SystemdCgroup, r.Name = ptr.To(true), "nvidia"
		})},

		{name: "one mirror", spec: mirrorSpec(func(_ *H, _ *M) {})},
		{name: "host with a scheme", spec: mirrorSpec(func(r *H, _ *M) { r.Host = "https://docker.io" }), wantErr: reg + ".host: Invalid value"},
		{name: "host with an underscore", spec: mirrorSpec(func(r *H, _ *M) { r.Host = "my_registry" }), wantErr: reg + ".host: Invalid value"},
		{name: "host with port 0", spec: mirrorSpec(func(r *H, _ *M) { r.Host = "registry.example.com:0" }),
			wantErr: reg + ".host: Invalid value: \"registry.example.com:0\": port must be from 1 to 65535"},
		{name: "host with port 65536", spec: mirrorSpec(func(r *H, _ *M) { r.Host = "registry.example.com:65536" }),
			wantErr: reg + ".host: Invalid value: \"registry.example.com:65536\": port must be from 1 to 65535"},
		{name: "host with a six-digit port", spec: mirrorSpec(func(r *H, _ *M) { r.Host = "registry.example.com:123456" }), wantErr: reg + ".host: Invalid value"},
		{name: "neither server nor mirror", spec: mirrorSpec(func(r *H, _ *M) { r.Mirrors = nil }),
			wantErr: reg + ": Required value: a registry needs a server or at least one mirror"},
		{name: "_default with a server", spec: mirrorSpec(func(r *H, _ *M) { r.Host, r.Server = "_default", ptr.To("https://r.example.com") }),
			wantErr: reg + ".server: Forbidden: _default applies to every registry"},
		{name: "server without a scheme", spec: mirrorSpec(func(r *H, _ *M) { r.Server = ptr.To("registry-1.docker.io") }), wantErr: reg + ".server: Invalid value"},
		{name: "server over ftp", spec: mirrorSpec(func(r *H, _ *M) { r.Server = ptr.To("ftp://registry-1.docker.io") }), wantErr: reg + ".server: Invalid value"},
		{name: "server scheme in upper case", spec: mirrorSpec(func(r *H, _ *M) { r.Server = ptr.To("HTTPS://registry-1.docker.io") }),
			wantErr: reg + ".server: Invalid value"},
		{name: "server without a host", spec: mirrorSpec(func(r *H, _ *M) { r.Server = ptr.To("https:///v2") }), wantErr: reg + ".server: Invalid value"},
		{name: "server with user info", spec: mirrorSpec(func(r *H, _ *M) { r.Server = ptr.To("https://user:pw@registry-1.docker.io") }),
			wantErr: reg + ".server: Invalid value: \"https://user:pw@registry-1.docker.io\": must not hold user info"},
		{name: "server that does not parse", spec: mirrorSpec(func(r *H, _ *M) { r.Server = ptr.To("https://registry-1.docker.io:port") }),
			wantErr: reg + ".server: Invalid value"},
		{name: "mirror URL with a newline", spec: mirrorSpec(func(_ *H, m *M) { m.URL = "https://m.example.com/\n[host.x]" }), wantErr: mirror + ".url: Invalid value"},
		{name: "mirror URL with a fragment", spec: mirrorSpec(func(_ *H, m *M) { m.URL = "https://m.example.com/#v2" }),
			wantErr: mirror + `.url: Invalid value: "https://m.example.com/#v2": must not hold a fragment`},
		{name: "mirror URL relative", spec: mirrorSpec(func(_ *H, m *M) { m.URL = "/v2" }), wantErr: mirror + ".url: Invalid value"},
		{name: "mirror URL too long", spec: mirrorSpec(func(_ *H, m *M) { m.URL = "https://m.example.com/" + strings.Repeat("a", 512) }),
			wantErr: mirror + ".url: Too long"},
		{name: "mirror URLs not unique", spec: mirrorSpec(func(r *H, m *M) { r.Mirrors = append(r.Mirrors, *m) }),
			wantErr: reg + ".mirrors[1].url: Duplicate value"},
		{name: "too many mirrors", spec: mirrorSpec(func(r *H, _ *M) {
			for i := range 16 {
				r.Mirrors = append(r.Mirrors, M{URL: "https://m" + string(rune('a'+i)) + ".example.com"})
			}
		}), wantErr: reg + ".mirrors: Too many"},
		{name: "unknown capability", spec: mirrorSpec(func(_ *H, m *M) { m.Capabilities = []hotelv1alpha1.RegistryCapability{"pull", "delete"} }),
			wantErr: mirror + ".capabilities[1]: Unsupported value: \"delete\""},
		{name: "capabilities not unique", spec: mirrorSpec(func(_ *H, m *M) { m.Capabilities = []hotelv1alpha1.RegistryCapability{"pull", "pull"} }),
			wantErr: mirror + ".capabilities[1]: Duplicate value"},
		{name: "no capabilities", spec: mirrorSpec(func(_ *H, m *M) { m.Capabilities = []hotelv1alpha1.RegistryCapability{} }),
			wantErr: mirror + ".capabilities: Required value"},
		{name: "header name not a token", spec: mirrorSpec(func(_ *H, m *M) { m.Headers = []hotelv1alpha1.HTTPHeader{header("X Token", "a")} }),
			wantErr: mirror + ".headers[0].name: Invalid value"},
		{name: "header name with a TOML quote", spec: mirrorSpec(func(_ *H, m *M) { m.Headers = []hotelv1alpha1.HTTPHeader{header(`X"]`, "a")} }),
			wantErr: mirror + ".headers[0].name: Invalid value"},
		{name: "header names not unique", spec: mirrorSpec(func(_ *H, m *M) { m.Headers = []hotelv1alpha1.HTTPHeader{header("X", "a"), header("X", "b")} }),
			wantErr: mirror + ".headers[1].name: Duplicate value"},
		{name: "header without values", spec: mirrorSpec(func(_ *H, m *M) { m.Headers = []hotelv1alpha1.HTTPHeader{header("X")} }),
			wantErr: mirror + ".headers[0].values: Required value"},
		{name: "header with 9 values", spec: mirrorSpec(func(_ *H, m *M) {
			m.Headers = []hotelv1alpha1.HTTPHeader{header("X", "1", "2", "3", "4", "5", "6", "7", "8", "9")}
		}), wantErr: mirror + ".headers[0].values: Too many"},
		{name: "header value with CR LF", spec: mirrorSpec(func(_ *H, m *M) { m.Headers = []hotelv1alpha1.HTTPHeader{header("X", "a\r\nEvil: 1")} }),
			wantErr: mirror + ".headers[0].values[0]: Invalid value"},
		{name: "header value with a tab, as HTTP allows", spec: mirrorSpec(func(_ *H, m *M) { m.Headers = []hotelv1alpha1.HTTPHeader{header("X", "a\tb")} })},
		{name: "header value too long", spec: mirrorSpec(func(_ *H, m *M) { m.Headers = []hotelv1alpha1.HTTPHeader{header("X", strings.Repeat("v", 1025))} }),
			wantErr: mirror + ".headers[0].values[0]: Too long"},
		{name: "zero dial timeout", spec: mirrorSpec(func(_ *H, m *M) { m.DialTimeout = duration("0s") }),
			wantErr: mirror + ".dialTimeout: Invalid value: \"0s\": dialTimeout must be above 0"},
		{name: "negative dial timeout", spec: mirrorSpec(func(_ *H, m *M) { m.DialTimeout = duration("-5s") }), wantErr: mirror + ".dialTimeout: Invalid value"},
		{name: "CA ConfigMap name in upper case", spec: mirrorSpec(func(_ *H, m *M) { m.CABundle = caRef("Mirror-CA", "") }),
			wantErr: mirror + ".caBundle.name: Invalid value"},
		{name: "CA key with a slash", spec: mirrorSpec(func(_ *H, m *M) { m.CABundle = caRef("mirror-ca", "../ca.crt") }),
			wantErr: mirror + ".caBundle.key: Invalid value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			_, err := Render(&tt.spec, testCABundles)
			if tt.wantErr == "" {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			g.Expect(err).To(MatchError(ContainSubstring(tt.wantErr)))
		})
	}
}

func TestValidateRegistryHostsUnique(t *testing.T) {
	g := NewWithT(t)
	spec := mirrorSpec(func(_ *hotelv1alpha1.RegistryHost, _ *hotelv1alpha1.RegistryMirror) {})
	spec.Registries = append(spec.Registries, spec.Registries[0])
	_, err := Render(&spec, nil)
	g.Expect(err).To(MatchError(ContainSubstring("spec.containerd.registries[1].host: Duplicate value: \"docker.io\"")))
}

func TestValidateTooManyRegistries(t *testing.T) {
	g := NewWithT(t)
	spec := hotelv1alpha1.ContainerdSpec{ConfigVersion: 3}
	for i := range 33 {
		spec.Registries = append(spec.Registries, hotelv1alpha1.RegistryHost{
			Host: "r" + strings.Repeat("x", i) + ".example.com", Server: ptr.To("https://r.example.com")})
	}
	_, err := Render(&spec, nil)
	g.Expect(err).To(MatchError(ContainSubstring("spec.containerd.registries: Too many")))
}

func TestHostDir(t *testing.T) {
	for host, want := range map[string]string{
		"docker.io":                 "docker.io",
		"registry.example.com:5000": "registry.example.com_5000_",
		"_default":                  "_default",
		"10.0.0.5:443":              "10.0.0.5_443_",
		"localhost":                 "localhost",
	} {
		g := NewWithT(t)
		g.Expect(HostDir(host)).To(Equal(want))
		back, ok := hostOfDir(want)
		g.Expect(ok).To(BeTrue(), want)
		g.Expect(back).To(Equal(host))
	}
	for _, dir := range []string{"", "..", "a_b", "a_5000", "a_x_", "_5000_", "a/b", "a:5000"} {
		_, ok := hostOfDir(dir)
		NewWithT(t).Expect(ok).To(BeFalse(), dir)
	}
}

func TestRegistryEdgeCases(t *testing.T) {
	type M = hotelv1alpha1.RegistryMirror
	tests := []struct {
		name    string
		reg     hotelv1alpha1.RegistryHost
		cas     map[hotelv1alpha1.ConfigMapKeyReference]string
		want    map[string]string // expected substrings of the file at each key
		files   int
		wantErr string
	}{
		{name: "host with a port", reg: hotelv1alpha1.RegistryHost{Host: "r.example.com:5000", Server: ptr.To("http://r.example.com:5000")},
			want: map[string]string{"r.example.com_5000_.hosts.toml": "server = 'http://r.example.com:5000'\n"}, files: 1},
		{name: "highest port", reg: hotelv1alpha1.RegistryHost{Host: "r.example.com:65535", Server: ptr.To("https://r.example.com:65535")},
			want: map[string]string{"r.example.com_65535_.hosts.toml": "server = "}, files: 1},
		{name: "_default", reg: hotelv1alpha1.RegistryHost{Host: "_default", Mirrors: []M{{URL: "https://cache.example.com"}}},
			want: map[string]string{"_default.hosts.toml": HostsMarker + "\n[host.'https://cache.example.com']\n"}, files: 1},
		{name: "IPv4 host", reg: hotelv1alpha1.RegistryHost{Host: "192.168.12.34:5000", Mirrors: []M{{URL: "https://192.168.12.34:5000", SkipVerify: ptr.To(false)}}},
			want: map[string]string{"192.168.12.34_5000_.hosts.toml": "[host.'https://192.168.12.34:5000']\nskip_verify = false\n"}, files: 1},
		{name: "URL with a path and overridePath", reg: hotelv1alpha1.RegistryHost{Host: "ghcr.io",
			Mirrors: []M{{URL: "https://artifactory.example.com/artifactory/api/docker/ghcr/v2", OverridePath: ptr.To(true)}}},
			want: map[string]string{"ghcr.io.hosts.toml": "[host.'https://artifactory.example.com/artifactory/api/docker/ghcr/v2']\noverride_path = true\n"}, files: 1},
		{name: "URL with a quote", reg: hotelv1alpha1.RegistryHost{Host: "quay.io", Mirrors: []M{{URL: "https://m.example.com/it's"}}},
			want: map[string]string{"quay.io.hosts.toml": "[host.\"https://m.example.com/it's\"]\n"}, files: 1},
		{name: "identical CA for two mirrors: one file", reg: hotelv1alpha1.RegistryHost{Host: "docker.io", Mirrors: []M{
			{URL: "https://a.example.com", CABundle: caRef("mirror-ca", "ca.crt")},
			{URL: "https://b.example.com", CABundle: caRef("same-ca", "")},
		}}, want: map[string]string{"docker.io." + caHash(caOne) + ".ca.crt": caOne}, files: 2},
		{name: "two CAs for two mirrors", reg: hotelv1alpha1.RegistryHost{Host: "docker.io", Mirrors: []M{
			{URL: "https://a.example.com", CABundle: caRef("mirror-ca", "")},
			{URL: "https://b.example.com", CABundle: caRef("mirror-ca", "other.pem")},
		}}, files: 3},
		{name: "a bundle of two certificates, with comments", reg: hotelv1alpha1.RegistryHost{Host: "docker.io", Mirrors: []M{
			{URL: "https://a.example.com", CABundle: caRef("bundle", "")}}},
			cas:   map[hotelv1alpha1.ConfigMapKeyReference]string{{Name: "bundle", Key: "ca.crt"}: "# One\n" + caOne + "# Two\n" + caTwo},
			files: 2},
		{name: "CA missing", reg: hotelv1alpha1.RegistryHost{Host: "docker.io", Mirrors: []M{{URL: "https://a.example.com", CABundle: caRef("nope", "")}}},
			wantErr: `spec.containerd.registries[0].mirrors[0].caBundle: Invalid value: "nope/ca.crt": ConfigMap "nope" has no key "ca.crt"`},
		{name: "CA key missing", reg: hotelv1alpha1.RegistryHost{Host: "docker.io", Mirrors: []M{
			{URL: "https://a.example.com"}, {URL: "https://b.example.com", CABundle: caRef("mirror-ca", "tls.crt")}}},
			wantErr: `spec.containerd.registries[0].mirrors[1].caBundle: Invalid value: "mirror-ca/tls.crt": ConfigMap "mirror-ca" has no key "tls.crt"`},
		{name: "CA not PEM", reg: hotelv1alpha1.RegistryHost{Host: "docker.io", Mirrors: []M{{URL: "https://a.example.com", CABundle: caRef("bad", "")}}},
			cas:     map[hotelv1alpha1.ConfigMapKeyReference]string{{Name: "bad", Key: "ca.crt"}: "not a certificate"},
			wantErr: `spec.containerd.registries[0].mirrors[0].caBundle: Invalid value: "bad/ca.crt": ConfigMap "bad" key "ca.crt" is not a PEM CA bundle: holds no PEM CERTIFICATE block`},
		{name: "CA with a private key", reg: hotelv1alpha1.RegistryHost{Host: "docker.io", Mirrors: []M{{URL: "https://a.example.com", CABundle: caRef("bad", "")}}},
			cas:     map[hotelv1alpha1.ConfigMapKeyReference]string{{Name: "bad", Key: "ca.crt"}: caOne + "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
			wantErr: "caBundle: Invalid value: \"bad/ca.crt\": ConfigMap \"bad\" key \"ca.crt\" is not a PEM CA bundle: holds a PRIVATE KEY PEM block"},
		{name: "CA certificate that does not parse", reg: hotelv1alpha1.RegistryHost{Host: "docker.io", Mirrors: []M{{URL: "https://a.example.com", CABundle: caRef("bad", "")}}},
			cas:     map[hotelv1alpha1.ConfigMapKeyReference]string{{Name: "bad", Key: "ca.crt"}: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"},
			wantErr: "caBundle: Invalid value: \"bad/ca.crt\": ConfigMap \"bad\" key \"ca.crt\" is not a PEM CA bundle: certificate 1:"},
		{name: "CA with a truncated second block", reg: hotelv1alpha1.RegistryHost{Host: "docker.io", Mirrors: []M{{URL: "https://a.example.com", CABundle: caRef("bad", "")}}},
			cas:     map[hotelv1alpha1.ConfigMapKeyReference]string{{Name: "bad", Key: "ca.crt"}: caOne + caTwo[:100]},
			wantErr: "holds a PEM block that does not decode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			cas := tt.cas
			if cas == nil {
				cas = testCABundles
			}
			spec := hotelv1alpha1.ContainerdSpec{ConfigVersion: 2, Registries: []hotelv1alpha1.RegistryHost{tt.reg}}
			got, err := Render(&spec, cas)
			if tt.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tt.wantErr)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(HaveLen(tt.files+1), "files: %v", keysOf(got))
			for key, sub := range tt.want {
				g.Expect(got).To(HaveKey(key))
				g.Expect(got[key]).To(ContainSubstring(sub))
			}
			_, err = ParseFiles(asBytes(got))
			g.Expect(err).NotTo(HaveOccurred())
		})
	}
}

func keysOf(m map[string]string) []string { return sortedKeys(m) }

func TestCABundles(t *testing.T) {
	g := NewWithT(t)
	spec := hotelv1alpha1.ContainerdSpec{ConfigVersion: 3, Registries: registries()}
	spec.Registries[2].Mirrors[0].CABundle = caRef("mirror-ca", "ca.crt")
	g.Expect(CABundles(&spec)).To(Equal([]hotelv1alpha1.ConfigMapKeyReference{
		{Name: "mirror-ca", Key: "ca.crt"}, {Name: "mirror-ca", Key: "other.pem"}}))
}
