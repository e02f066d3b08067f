package containerd

import (
	"bytes"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// File is one file of a rendered configuration, as the node agent writes it.
type File struct {
	// Key is the file's ConfigMap key.
	Key string
	// Path is where the file goes on the Node, such as /etc/containerd/certs.d/docker.io/hosts.toml.
	Path string
	// Data is the file's content.
	Data []byte
	// Restart says that containerd reads the file only when it starts: true for the drop-in alone,
	// as containerd reads hosts.toml and the CA files at each pull.
	Restart bool
}

// Files is a rendered configuration, checked.
type Files struct {
	// ConfigVersion is the drop-in's configuration version, which the installed containerd must use.
	ConfigVersion int32
	// Entries are the files, sorted by Path.
	Entries []File
}

// caRefName names the ConfigMap of the CA bundles ParseFiles hands back to Render: the files carry
// no reference to the ConfigMaps they came from, only their content.
const caRefName = "innkeeper-parsed"

// ParseFiles is the node agent's check of a configuration before it touches a host: every file
// must be one innkeeper renders, and all of them together exactly what Render returns for the spec
// they hold. Each file is decoded strictly (a key innkeeper does not write is an error), the spec
// and CA bundles they hold are validated and rendered again, and the result must match byte for
// byte, so that a file edited on its way, or written for another innkeeper, fails here and not in
// containerd.
func ParseFiles(files map[string][]byte) (*Files, error) {
	dropIn, ok := files[DropInFile]
	if !ok {
		return nil, fmt.Errorf("the configuration has no %s", DropInFile)
	}
	spec, configPath, err := decodeDropIn(dropIn)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", DropInFile, err)
	}
	out := &Files{ConfigVersion: spec.ConfigVersion}
	caHashes := map[string]string{} // the path of each CA file on the Node → its hash
	caBundles := map[hotelv1alpha1.ConfigMapKeyReference]string{}
	var hostsKeys []string
	for _, key := range sortedKeys(files) {
		p, restart, err := HostPath(key)
		if err != nil {
			return nil, err
		}
		out.Entries = append(out.Entries, File{Key: key, Path: p, Data: files[key], Restart: restart})
		switch {
		case strings.HasSuffix(key, hostsSuffix):
			hostsKeys = append(hostsKeys, key)
		case strings.HasSuffix(key, caSuffix):
			h, err := checkCAFile(key, files[key])
			if err != nil {
				return nil, err
			}
			caHashes[p] = h
			caBundles[hotelv1alpha1.ConfigMapKeyReference{Name: caRefName, Key: h}] = string(files[key])
		}
	}
	used := map[string]bool{}
	for _, key := range hostsKeys {
		reg, err := parseHostsFile(key, files[key], caHashes, used)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		spec.Registries = append(spec.Registries, *reg)
	}
	for p := range caHashes {
		if !used[p] {
			return nil, fmt.Errorf("%s is not the ca of any hosts.toml", p)
		}
	}
	if len(hostsKeys) > 0 && configPath != RegistryConfigPath {
		return nil, fmt.Errorf("%s: registry.config_path is %q, want %q with registries", DropInFile, configPath, RegistryConfigPath)
	}
	if err := sameAsRendered(spec, caBundles, files); err != nil {
		return nil, err
	}
	slices.SortFunc(out.Entries, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// sameAsRendered renders spec and checks that it gives exactly files.
func sameAsRendered(spec *hotelv1alpha1.ContainerdSpec, caBundles map[hotelv1alpha1.ConfigMapKeyReference]string, files map[string][]byte) error {
	rendered, err := Render(spec, caBundles)
	if err != nil {
		return fmt.Errorf("the files do not hold a valid containerd configuration: %w", err)
	}
	for _, key := range sortedKeys(files) {
		if want, ok := rendered[key]; !ok || want != string(files[key]) {
			return fmt.Errorf("%s is not as innkeeper renders it", key)
		}
	}
	if len(rendered) != len(files) {
		return fmt.Errorf("the configuration has %d files, innkeeper renders %d for the spec they hold", len(files), len(rendered))
	}
	return nil
}

// checkCAFile checks a CA bundle file: PEM certificates whose hash is the one its key names.
func checkCAFile(key string, data []byte) (string, error) {
	rest := strings.TrimSuffix(key, caSuffix)
	h := rest[strings.LastIndex(rest, ".")+1:]
	if err := checkCABundle(string(data)); err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	if got := caHash(string(data)); got != h {
		return "", fmt.Errorf("%s: the content's hash is %s, not the %s its name says", key, got, h)
	}
	return h, nil
}

// parseHostsFile decodes one hosts.toml back into the registry it was rendered from. caHashes are
// the CA files of the configuration by path; the ones its mirrors use are marked in used.
func parseHostsFile(key string, data []byte, caHashes map[string]string, used map[string]bool) (*hotelv1alpha1.RegistryHost, error) {
	dir := strings.TrimSuffix(key, hostsSuffix)
	host, _ := hostOfDir(dir)
	if !hasMarker(data) {
		return nil, fmt.Errorf("does not start with innkeeper's marker %q", HostsMarker)
	}
	hf, order, err := decodeHosts(data)
	if err != nil {
		return nil, err
	}
	if len(order) != len(hf.Host) {
		return nil, fmt.Errorf("defines %d hosts in %d [host.\"<url>\"] tables", len(hf.Host), len(order))
	}
	reg := &hotelv1alpha1.RegistryHost{Host: host}
	if hf.Server != "" {
		reg.Server = &hf.Server
	}
	for _, u := range order {
		m, err := specMirror(u, hf.Host[u])
		if err != nil {
			return nil, fmt.Errorf("host %q: %w", u, err)
		}
		if ca := hf.Host[u].CA; ca != "" {
			h, ok := caHashes[ca]
			if !ok || path.Dir(ca) != path.Join(CertsDir, dir) {
				return nil, fmt.Errorf("host %q: ca %q is not a CA file of this configuration for %s", u, ca, host)
			}
			used[ca] = true
			m.CABundle = &hotelv1alpha1.ConfigMapKeyReference{Name: caRefName, Key: h}
		}
		reg.Mirrors = append(reg.Mirrors, *m)
	}
	return reg, nil
}

// specMirror turns a [host."<url>"] table back into a mirror, without its CA.
func specMirror(u string, t hostTable) (*hotelv1alpha1.RegistryMirror, error) {
	m := &hotelv1alpha1.RegistryMirror{URL: u, SkipVerify: t.SkipVerify, OverridePath: t.OverridePath}
	for _, c := range t.Capabilities {
		m.Capabilities = append(m.Capabilities, hotelv1alpha1.RegistryCapability(c))
	}
	if t.DialTimeout != "" {
		d, err := time.ParseDuration(t.DialTimeout)
		if err != nil {
			return nil, fmt.Errorf("dial_timeout: %w", err)
		}
		m.DialTimeout = &metav1.Duration{Duration: d}
	}
	for _, name := range sortedKeys(t.Header) {
		m.Headers = append(m.Headers, hotelv1alpha1.HTTPHeader{Name: name, Values: t.Header[name]})
	}
	return m, nil
}

// HostPath returns where the file of a ConfigMap key goes on the Node, and whether containerd must
// restart to read it (the drop-in only), or an error for a key innkeeper does not render.
func HostPath(key string) (hostPath string, restart bool, err error) {
	if key == DropInFile {
		return DropInDir + "/" + DropInFile, true, nil
	}
	if dir, ok := strings.CutSuffix(key, hostsSuffix); ok {
		if _, ok := hostOfDir(dir); ok {
			return CertsDir + "/" + dir + "/" + HostsFile, false, nil
		}
	}
	if rest, ok := strings.CutSuffix(key, caSuffix); ok {
		if i := strings.LastIndex(rest, "."); i > 0 && isHash(rest[i+1:]) {
			if _, ok := hostOfDir(rest[:i]); ok {
				return CertsDir + "/" + rest[:i] + "/" + caFileName(rest[i+1:]), false, nil
			}
		}
	}
	return "", false, fmt.Errorf("%q is not a file innkeeper renders for containerd", key)
}

func isHash(s string) bool {
	return len(s) == caHashLen && !strings.ContainsFunc(s, func(r rune) bool {
		return (r < '0' || r > '9') && (r < 'a' || r > 'f')
	})
}

// Managed reports whether a file under CertsDir was written by innkeeper: a host directory's
// hosts.toml that starts with HostsMarker, or a CA file named innkeeper-ca-*.crt. The node agent
// removes the ones the current configuration no longer has, and leaves every other file alone.
func Managed(p string, data []byte) bool {
	rel, ok := strings.CutPrefix(path.Clean(p), CertsDir+"/")
	if !ok {
		return false
	}
	dir, name, ok := strings.Cut(rel, "/")
	if !ok || dir == "" || strings.Contains(name, "/") {
		return false
	}
	switch {
	case name == HostsFile:
		return hasMarker(data)
	case strings.HasPrefix(name, "innkeeper-ca-") && strings.HasSuffix(name, ".crt"):
		return true
	}
	return false
}

// hasMarker reports whether data's first line is HostsMarker.
func hasMarker(data []byte) bool {
	line, _, _ := bytes.Cut(data, []byte("\n"))
	return string(bytes.TrimSuffix(line, []byte("\r"))) == HostsMarker
}
