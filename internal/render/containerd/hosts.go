package containerd

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
	"k8s.io/apimachinery/pkg/util/validation/field"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// defaultCAKey is the ConfigMap key of a caBundle that names none, as the API defaults it.
const defaultCAKey = "ca.crt"

// caHashLen is how many hex characters of a CA bundle's sha256 name its file: enough to tell the
// bundles of one registry host apart, short enough for a readable file name.
const caHashLen = 10

// HostsFile is the name of a registry host's file in its directory of CertsDir.
const HostsFile = "hosts.toml"

// Suffixes of the ConfigMap keys other than the drop-in.
const (
	hostsSuffix = "." + HostsFile
	caSuffix    = ".ca.crt"
)

// hostsFile is a hosts.toml as innkeeper renders it: the registry's own server and, in order, the
// mirrors tried before it. containerd also reads top-level host settings and client certificates;
// innkeeper writes neither, and ParseFiles refuses them.
type hostsFile struct {
	Server string               `toml:"server,omitempty"`
	Host   map[string]hostTable `toml:"host,omitempty"`
}

// hostTable is one [host."<url>"] table (containerd's hostFileConfig,
// core/remotes/docker/config/hosts.go). containerd also accepts a list for ca and a string for a
// header's value; innkeeper always writes one path and a list. Keys are in alphabetical order, the
// header table last.
type hostTable struct {
	CA           string              `toml:"ca,omitempty"`
	Capabilities []string            `toml:"capabilities,omitempty"`
	DialTimeout  string              `toml:"dial_timeout,omitempty"`
	OverridePath *bool               `toml:"override_path,omitempty"`
	SkipVerify   *bool               `toml:"skip_verify,omitempty"`
	Header       map[string][]string `toml:"header,omitempty"`
}

// HostDir returns the directory of a registry host under CertsDir, as containerd looks it up
// (hostDirectory in core/remotes/docker/config): the port's colon, which some filesystems and
// tools cannot take, becomes underscores, registry.example.com:5000 → registry.example.com_5000_.
// containerd tries this name before host:port itself.
func HostDir(host string) string {
	if i := strings.LastIndex(host, ":"); i > 0 {
		return host[:i] + "_" + host[i+1:] + "_"
	}
	return host
}

// hostOfDir inverts HostDir for the hosts the API allows (which hold no underscore other than in
// _default), or returns false.
func hostOfDir(dir string) (string, bool) {
	host := dir
	if name, rest, ok := strings.Cut(dir, "_"); ok && name != "" {
		port, ok := strings.CutSuffix(rest, "_")
		if !ok {
			return "", false
		}
		host = name + ":" + port
	}
	if !registryHostRe.MatchString(host) || HostDir(host) != dir {
		return "", false
	}
	return host, true
}

// caFileName is the CA bundle's file name on the Node, in its host's directory. The innkeeper-ca-
// prefix tells it from an admin's own files there (see Managed).
func caFileName(hash string) string { return "innkeeper-ca-" + hash + ".crt" }

// caHash names a CA bundle by its content, so that identical bundles of one host share a file and
// a changed bundle gets a new one.
func caHash(pemData string) string {
	sum := sha256.Sum256([]byte(pemData))
	return hex.EncodeToString(sum[:])[:caHashLen]
}

// checkCABundle returns why pemData is not a CA bundle containerd can load, or nil: containerd
// skips what it cannot parse (x509.CertPool.AppendCertsFromPEM) and fails only when nothing is
// left, so a bundle half broken would be found only by the pull that needs the missing
// certificate. Text between the blocks (the comments of a ca-certificates bundle) is allowed.
func checkCABundle(pemData string) error {
	rest := []byte(pemData)
	certs := 0
	for {
		block, next := pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return fmt.Errorf("holds a %s PEM block; only CERTIFICATE blocks belong in a CA bundle", block.Type)
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return fmt.Errorf("certificate %d: %w", certs+1, err)
		}
		certs++
		rest = next
	}
	if certs == 0 {
		return errors.New("holds no PEM CERTIFICATE block")
	}
	if bytes.Contains(rest, []byte("-----BEGIN")) {
		return errors.New("holds a PEM block that does not decode")
	}
	return nil
}

// caBundleKey returns ref with its key defaulted as the API defaults it.
func caBundleKey(ref hotelv1alpha1.ConfigMapKeyReference) hotelv1alpha1.ConfigMapKeyReference {
	if ref.Key == "" {
		ref.Key = defaultCAKey
	}
	return ref
}

// renderRegistry returns the files of one registry host: its hosts.toml and its CA bundles, by
// ConfigMap key. caBundles holds the PEM of each ConfigMap key the mirrors refer to.
func renderRegistry(reg *hotelv1alpha1.RegistryHost, caBundles map[hotelv1alpha1.ConfigMapKeyReference]string,
	p *field.Path) (map[string]string, field.ErrorList) {
	dir := HostDir(reg.Host)
	files := map[string]string{}
	var errs field.ErrorList
	tables := make([]hostTable, len(reg.Mirrors))
	for i := range reg.Mirrors {
		m := &reg.Mirrors[i]
		tables[i] = mirrorTable(m)
		if m.CABundle == nil {
			continue
		}
		cp := p.Child("mirrors").Index(i).Child("caBundle")
		ref := caBundleKey(*m.CABundle)
		pemData, ok := caBundles[ref]
		if !ok {
			errs = append(errs, field.Invalid(cp, ref.Name+"/"+ref.Key, fmt.Sprintf(
				"ConfigMap %q has no key %q (or does not exist in innkeeper's namespace)", ref.Name, ref.Key)))
			continue
		}
		if err := checkCABundle(pemData); err != nil {
			errs = append(errs, field.Invalid(cp, ref.Name+"/"+ref.Key, fmt.Sprintf(
				"ConfigMap %q key %q is not a PEM CA bundle: %v", ref.Name, ref.Key, err)))
			continue
		}
		h := caHash(pemData)
		files[dir+"."+h+caSuffix] = pemData
		tables[i].CA = path.Join(CertsDir, dir, caFileName(h))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	data, err := encodeHosts(ptrValue(reg.Server), reg.Mirrors, tables)
	if err != nil {
		return nil, field.ErrorList{field.InternalError(p, err)}
	}
	files[dir+hostsSuffix] = string(data)
	return files, nil
}

// mirrorTable is a mirror's [host."<url>"] table, without its CA (which needs the bundle).
func mirrorTable(m *hotelv1alpha1.RegistryMirror) hostTable {
	t := hostTable{SkipVerify: m.SkipVerify, OverridePath: m.OverridePath}
	for _, c := range m.Capabilities {
		t.Capabilities = append(t.Capabilities, string(c))
	}
	if m.DialTimeout != nil {
		t.DialTimeout = m.DialTimeout.Duration.String()
	}
	if len(m.Headers) > 0 {
		t.Header = map[string][]string{}
		for _, h := range m.Headers {
			t.Header[h.Name] = h.Values
		}
	}
	return t
}

// encodeHosts writes a hosts.toml. containerd tries the mirrors in the order their tables appear
// in the file (getSortedHosts), which a TOML map cannot hold: each mirror is encoded on its own and
// the documents are joined, without the [host] header that go-toml writes above each one (a table
// may be defined only once in TOML; [host."<url>"] defines [host] implicitly). The result is
// decoded back and compared with what was meant, so that no string can have changed the document's
// structure.
func encodeHosts(server string, mirrors []hotelv1alpha1.RegistryMirror, tables []hostTable) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(HostsMarker + "\n")
	top, err := toml.Marshal(hostsFile{Server: server})
	if err != nil {
		return nil, err
	}
	b.Write(top)
	for i, m := range mirrors {
		doc, err := toml.Marshal(hostsFile{Host: map[string]hostTable{m.URL: tables[i]}})
		if err != nil {
			return nil, err
		}
		body, ok := bytes.CutPrefix(doc, []byte("[host]\n"))
		if !ok {
			return nil, fmt.Errorf("go-toml wrote an unexpected table header for mirror %q: %q", m.URL, doc)
		}
		if b.Len() > len(HostsMarker)+1 {
			b.WriteString("\n")
		}
		b.Write(body)
	}
	if err := proveHosts(b.Bytes(), server, mirrors, tables); err != nil {
		return nil, fmt.Errorf("rendered hosts.toml does not read back as rendered: %w", err)
	}
	return b.Bytes(), nil
}

// proveHosts decodes a rendered hosts.toml strictly and checks that it holds exactly server and
// the mirror tables, in order.
func proveHosts(data []byte, server string, mirrors []hotelv1alpha1.RegistryMirror, tables []hostTable) error {
	got, order, err := decodeHosts(data)
	if err != nil {
		return err
	}
	if got.Server != server || len(order) != len(mirrors) || len(got.Host) != len(mirrors) {
		return fmt.Errorf("server %q and %d mirrors, want %q and %d", got.Server, len(order), server, len(mirrors))
	}
	for i, m := range mirrors {
		if order[i] != m.URL {
			return fmt.Errorf("mirror %d is %q, want %q", i, order[i], m.URL)
		}
		again, err := toml.Marshal(got.Host[m.URL])
		if err != nil {
			return err
		}
		want, err := toml.Marshal(tables[i])
		if err != nil {
			return err
		}
		if !bytes.Equal(again, want) {
			return fmt.Errorf("mirror %q reads back as %q, want %q", m.URL, again, want)
		}
	}
	return nil
}

// decodeHosts decodes a hosts.toml strictly (no key innkeeper does not write) and returns its
// mirrors' URLs in the order containerd tries them: the order of their [host."<url>"] tables.
func decodeHosts(data []byte) (*hostsFile, []string, error) {
	hf := &hostsFile{}
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(hf); err != nil {
		return nil, nil, err
	}
	order, err := mirrorOrder(data)
	if err != nil {
		return nil, nil, err
	}
	return hf, order, nil
}

// mirrorOrder returns the URLs of the [host."<url>"] tables of a hosts.toml in the order they
// appear, the way containerd orders them (getSortedHosts in core/remotes/docker/config/hosts.go).
func mirrorOrder(data []byte) ([]string, error) {
	p := unstable.Parser{}
	p.Reset(data)
	var order []string
	seen := map[string]bool{}
	for p.NextExpression() {
		e := p.Expression()
		if e.Kind != unstable.Table {
			continue
		}
		var parts []string
		for it := e.Key(); it.Next(); {
			parts = append(parts, string(it.Node().Data))
		}
		if len(parts) >= 2 && parts[0] == "host" && !seen[parts[1]] {
			seen[parts[1]] = true
			order = append(order, parts[1])
		}
	}
	return order, p.Error()
}

func ptrValue[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// CABundles returns the ConfigMap keys whose PEM Render needs in its caBundles, with Key defaulted
// as the API defaults it, sorted and each once: the component's ConfigMap references.
func CABundles(spec *hotelv1alpha1.ContainerdSpec) []hotelv1alpha1.ConfigMapKeyReference {
	var refs []hotelv1alpha1.ConfigMapKeyReference
	for _, r := range spec.Registries {
		for _, m := range r.Mirrors {
			if m.CABundle != nil && !slices.Contains(refs, caBundleKey(*m.CABundle)) {
				refs = append(refs, caBundleKey(*m.CABundle))
			}
		}
	}
	slices.SortFunc(refs, func(a, b hotelv1alpha1.ConfigMapKeyReference) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Key, b.Key))
	})
	return refs
}
