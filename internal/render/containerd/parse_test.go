package containerd

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// renderedRegistries is a valid configuration with registries, CA files and runtimes, to break.
func renderedRegistries(t *testing.T) map[string][]byte {
	spec := everyField(3)
	spec.Registries = registries()
	files, err := Render(&spec, testCABundles)
	if err != nil {
		t.Fatal(err)
	}
	return asBytes(files)
}

func TestParseFilesRejects(t *testing.T) {
	hOne, hTwo := caHash(caOne), caHash(caTwo)
	dockerCA := "docker.io." + hOne + ".ca.crt"
	replace := func(key, old, new string) func(map[string][]byte) {
		return func(f map[string][]byte) {
			if !strings.Contains(string(f[key]), old) {
				panic("no " + old + " in " + key)
			}
			f[key] = []byte(strings.Replace(string(f[key]), old, new, 1))
		}
	}
	tests := []struct {
		name    string
		edit    func(map[string][]byte)
		wantErr string
	}{
		{name: "unknown key", edit: func(f map[string][]byte) { f["config.toml"] = []byte("version = 3\n") },
			wantErr: `"config.toml" is not a file innkeeper renders`},
		{name: "key with a path", edit: func(f map[string][]byte) { f["../docker.io.hosts.toml"] = f["docker.io.hosts.toml"] },
			wantErr: "is not a file innkeeper renders"},
		{name: "CA key with a short hash", edit: func(f map[string][]byte) { f["docker.io.abc.ca.crt"] = []byte(caOne) },
			wantErr: "is not a file innkeeper renders"},
		{name: "missing drop-in", edit: func(f map[string][]byte) { delete(f, DropInFile) }, wantErr: "the configuration has no 50-innkeeper.toml"},
		{name: "version 1", edit: func(f map[string][]byte) { f[DropInFile] = []byte("version = 1\n") }, wantErr: "version is 1"},
		{name: "no version", edit: func(f map[string][]byte) { f[DropInFile] = []byte("[plugins]\n") }, wantErr: "version is 0"},
		{name: "drop-in not TOML", edit: func(f map[string][]byte) { f[DropInFile] = []byte("version = 3\n[[") }, wantErr: "not TOML"},
		{name: "unknown field in the drop-in", edit: replace(DropInFile, "snapshotter = 'overlayfs'", "snapshotter = 'overlayfs'\nenable_selinux = true"),
			wantErr: "50-innkeeper.toml: strict mode: fields in the document are missing in the target struct"},
		{name: "enable_cdi in a version 3 drop-in, which containerd 2.4 ignores", edit: replace(DropInFile, "[plugins.'io.containerd.cri.v1.runtime']\n",
			"[plugins.'io.containerd.cri.v1.runtime']\nenable_cdi = true\n"),
			wantErr: "strict mode"},
		{name: "a version 2 key in a version 3 drop-in", edit: replace(DropInFile, "snapshotter = 'overlayfs'", "sandbox_image = 'pause'"),
			wantErr: "strict mode"},
		{name: "unknown runtime option", edit: replace(DropInFile, "SystemdCgroup = true", "SystemdCgroup = true\nRoot = '/run/runc'"),
			wantErr: "strict mode"},
		{name: "key in another case", edit: replace(DropInFile, "SystemdCgroup = true", "systemdcgroup = true"),
			wantErr: "50-innkeeper.toml is not as innkeeper renders it"},
		{name: "a comment added", edit: replace(DropInFile, "version = 3\n", "version = 3\n# hello\n"),
			wantErr: "50-innkeeper.toml is not as innkeeper renders it"},
		{name: "invalid value in the drop-in", edit: replace(DropInFile, "max_concurrent_downloads = 6", "max_concurrent_downloads = 100"),
			wantErr: "spec.containerd.maxConcurrentDownloads: Invalid value: 100"},
		{name: "config_path changed", edit: replace(DropInFile, "'/etc/containerd/certs.d'", "'/etc/containerd/certs.d:/etc/docker/certs.d'"),
			wantErr: `registry.config_path is "/etc/containerd/certs.d:/etc/docker/certs.d", want "/etc/containerd/certs.d"`},
		{name: "hosts.toml without the marker", edit: replace("docker.io.hosts.toml", HostsMarker+"\n", ""),
			wantErr: "docker.io.hosts.toml: does not start with innkeeper's marker"},
		{name: "hosts.toml with the marker on the second line", edit: replace("docker.io.hosts.toml", HostsMarker, "\n"+HostsMarker),
			wantErr: "docker.io.hosts.toml: does not start with innkeeper's marker"},
		{name: "unknown field in hosts.toml", edit: replace("docker.io.hosts.toml", "skip_verify = true", "skip_verify = true\nclient = '/etc/client.pem'"),
			wantErr: "docker.io.hosts.toml: strict mode"},
		{name: "top-level host setting in hosts.toml", edit: replace("docker.io.hosts.toml", "server = ", "capabilities = ['pull']\nserver = "),
			wantErr: "docker.io.hosts.toml: strict mode"},
		{name: "mirror as a dotted key", edit: func(f map[string][]byte) {
			f["_default.hosts.toml"] = []byte(HostsMarker + "\nhost.'https://pull-through.example.com'.skip_verify = true\n")
		}, wantErr: "_default.hosts.toml: defines 1 hosts in 0"},
		{name: "ca pointing outside the set", edit: replace("docker.io.hosts.toml", "/etc/containerd/certs.d/docker.io/innkeeper-ca-"+hOne+".crt", "/etc/ssl/certs/ca.pem"),
			wantErr: `ca "/etc/ssl/certs/ca.pem" is not a CA file of this configuration for docker.io`},
		{name: "ca pointing at another host's CA", edit: replace("docker.io.hosts.toml", "/etc/containerd/certs.d/docker.io/innkeeper-ca-"+hOne,
			"/etc/containerd/certs.d/registry.example.com_5000_/innkeeper-ca-"+hTwo), wantErr: "is not a CA file of this configuration for docker.io"},
		{name: "CA hash mismatch", edit: func(f map[string][]byte) { f[dockerCA] = []byte(caTwo) },
			wantErr: dockerCA + ": the content's hash is " + hTwo + ", not the " + hOne + " its name says"},
		{name: "CA file not PEM", edit: func(f map[string][]byte) { f[dockerCA] = []byte("junk") }, wantErr: dockerCA + ": holds no PEM CERTIFICATE block"},
		{name: "CA file nobody uses", edit: func(f map[string][]byte) { f["quay.io."+hOne+".ca.crt"] = []byte(caOne) },
			wantErr: "/etc/containerd/certs.d/quay.io/innkeeper-ca-" + hOne + ".crt is not the ca of any hosts.toml"},
		{name: "hosts.toml without the drop-in's config_path", edit: func(f map[string][]byte) {
			spec := everyField(3)
			spec.Registries = nil
			files, _ := Render(&spec, nil)
			f[DropInFile] = []byte(files[DropInFile])
		}, wantErr: `registry.config_path is "", want`},
		{name: "injected table", edit: replace("docker.io.hosts.toml", "dial_timeout = '5s'", "dial_timeout = '5s'\n[host.'https://evil.example.com']"),
			wantErr: "docker.io.hosts.toml is not as innkeeper renders it"},
		{name: "bad dial timeout", edit: replace("docker.io.hosts.toml", "dial_timeout = '5s'", "dial_timeout = 'soon'"),
			wantErr: "dial_timeout: time: invalid duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			files := renderedRegistries(t)
			_, err := ParseFiles(files)
			g.Expect(err).NotTo(HaveOccurred(), "the unbroken files must parse")
			tt.edit(files)
			_, err = ParseFiles(files)
			g.Expect(err).To(MatchError(ContainSubstring(tt.wantErr)))
		})
	}
}

func TestHostPath(t *testing.T) {
	h := caHash(caOne)
	tests := []struct {
		key, path string
		restart   bool
	}{
		{DropInFile, "/etc/containerd/conf.d/50-innkeeper.toml", true},
		{"docker.io.hosts.toml", "/etc/containerd/certs.d/docker.io/hosts.toml", false},
		{"registry.example.com_5000_.hosts.toml", "/etc/containerd/certs.d/registry.example.com_5000_/hosts.toml", false},
		{"_default.hosts.toml", "/etc/containerd/certs.d/_default/hosts.toml", false},
		{"docker.io." + h + ".ca.crt", "/etc/containerd/certs.d/docker.io/innkeeper-ca-" + h + ".crt", false},
		{"50-innkeeper.hosts.toml", "/etc/containerd/certs.d/50-innkeeper/hosts.toml", false},
	}
	for _, tt := range tests {
		g := NewWithT(t)
		p, restart, err := HostPath(tt.key)
		g.Expect(err).NotTo(HaveOccurred(), tt.key)
		g.Expect(p).To(Equal(tt.path))
		g.Expect(restart).To(Equal(tt.restart))
	}
	for _, key := range []string{"", "hosts.toml", ".hosts.toml", "docker.io", "docker.io.toml", "a_b.hosts.toml", "docker.io.ABCDEF0123.ca.crt",
		"docker.io.0123456789a.ca.crt", ".0123456789.ca.crt", "config.toml", "..hosts.toml", "a:5000.hosts.toml"} {
		_, _, err := HostPath(key)
		NewWithT(t).Expect(err).To(HaveOccurred(), key)
	}
}

func TestManaged(t *testing.T) {
	mine := []byte(HostsMarker + "\nserver = 'https://r.example.com'\n")
	tests := []struct {
		path string
		data []byte
		want bool
	}{
		{"/etc/containerd/certs.d/docker.io/hosts.toml", mine, true},
		{"/etc/containerd/certs.d/docker.io/hosts.toml", []byte(HostsMarker), true},
		{"/etc/containerd/certs.d/docker.io/hosts.toml", []byte("server = 'https://r.example.com'\n"), false},
		{"/etc/containerd/certs.d/docker.io/hosts.toml", []byte("# " + HostsMarker + "\n"), false},
		{"/etc/containerd/certs.d/docker.io/innkeeper-ca-0123456789.crt", []byte(caOne), true},
		{"/etc/containerd/certs.d/docker.io/ca.crt", []byte(caOne), false},
		{"/etc/containerd/certs.d/docker.io/sub/hosts.toml", mine, false},
		{"/etc/containerd/certs.d/hosts.toml", mine, false},
		{"/etc/containerd/conf.d/50-innkeeper.toml", mine, false},
		{"/etc/containerd/certs.d/../hosts.toml", mine, false},
		{"/etc/docker/certs.d/docker.io/innkeeper-ca-0123456789.crt", []byte(caOne), false},
	}
	for _, tt := range tests {
		NewWithT(t).Expect(Managed(tt.path, tt.data)).To(Equal(tt.want), tt.path)
	}
}

// ParseFiles hands back what a configuration of only a drop-in holds.
func TestParseFilesDropInOnly(t *testing.T) {
	g := NewWithT(t)
	spec := hotelv1alpha1.ContainerdSpec{ConfigVersion: 2}
	files, err := Render(&spec, nil)
	g.Expect(err).NotTo(HaveOccurred())
	got, err := ParseFiles(asBytes(files))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(Equal(&Files{ConfigVersion: 2, Entries: []File{
		{Key: DropInFile, Path: "/etc/containerd/conf.d/50-innkeeper.toml", Data: []byte("version = 2\n"), Restart: true}}}))
}
