package containerd

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/validation/field"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// runcType is the runtime type whose options innkeeper knows: runc's own shim.
const runcType = "io.containerd.runc.v2"

// defaultRuncName is the runtime that systemdCgroup lands on besides the spec's runc runtimes: the
// one containerd's default configuration has and uses by default.
const defaultRuncName = "runc"

// The API's patterns (api/v1alpha1/roomservice_types.go), compiled once.
var (
	dnsLabel        = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	runtimeTypeRe   = regexp.MustCompile(`^io\.containerd\.[a-z0-9]([-a-z0-9.]*[a-z0-9])?\.v[0-9]+$`)
	noSpace         = regexp.MustCompile(`^[^\s]+$`)
	absolutePath    = regexp.MustCompile(`^/[^\s]*$`)
	registryHostRe  = regexp.MustCompile(`^(_default|[a-zA-Z0-9]([-a-zA-Z0-9.]*[a-zA-Z0-9])?(:[0-9]{1,5})?)$`)
	headerNameRe    = regexp.MustCompile(`^[!#$%&'*+.^_|~0-9A-Za-z-]+$`)
	configMapNameRe = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)
	configMapKeyRe  = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)
)

// capabilities are the hosts.toml capabilities containerd knows.
var capabilities = []string{"pull", "resolve", "push"}

// Validate checks a RoomService's containerd settings by every schema and CEL rule of the API. The
// API server enforces them at admission; they are checked again because the manager must never
// render what the API server would refuse (a spec written before a rule tightened, a test, the
// fuzzer), and because the node agent checks what it receives with them (through ParseFiles).
// Where containerd is stricter than the API (a URL scheme in upper case, user info in a URL, a
// control character in a string) the check follows containerd.
func Validate(spec *hotelv1alpha1.ContainerdSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if spec.ConfigVersion != 2 && spec.ConfigVersion != 3 {
		errs = append(errs, field.NotSupported(path.Child("configVersion"), spec.ConfigVersion, []string{"2", "3"}))
	}
	errs = append(errs, checkString(path.Child("sandboxImage"), spec.SandboxImage, 1, 512, noSpace)...)
	errs = append(errs, checkString(path.Child("defaultRuntimeName"), spec.DefaultRuntimeName, 1, 63, nil)...)
	errs = append(errs, checkString(path.Child("snapshotter"), spec.Snapshotter, 1, 63, dnsLabel)...)
	if n := spec.MaxConcurrentDownloads; n != nil && (*n < 1 || *n > 64) {
		errs = append(errs, field.Invalid(path.Child("maxConcurrentDownloads"), *n, "must be from 1 to 64"))
	}
	errs = append(errs, validateRuntimes(spec, path)...)
	errs = append(errs, validateRegistries(spec.Registries, path.Child("registries"))...)
	if spec.ConfigVersion == 2 && len(spec.Runtimes) > 0 && spec.DefaultRuntimeName == nil && spec.SystemdCgroup == nil &&
		!slices.ContainsFunc(spec.Runtimes, func(r hotelv1alpha1.ContainerdRuntime) bool { return r.Name == defaultRuncName }) {
		// containerd 1.7 decodes an imported CRI section over its defaults, and the runtimes map
		// replaces its own: without a CRI section in config.toml, default_runtime_name "runc"
		// names nothing and the CRI plugin does not load.
		errs = append(errs, field.Required(path.Child("runtimes").Key(defaultRuncName), fmt.Sprintf(
			"with configVersion 2, runtimes need a runtime named %s, a defaultRuntimeName or systemdCgroup (which adds %s): "+
				"where config.toml has no CRI section, containerd 1.7 takes the drop-in's runtimes in place of its own, "+
				"and its default runtime %s would be gone",
			defaultRuncName, defaultRuncName, defaultRuncName)))
	}
	if spec.ConfigVersion == 3 && spec.EnableCDI != nil && !*spec.EnableCDI {
		errs = append(errs, field.Invalid(path.Child("enableCDI"), false,
			"enableCDI: false needs configVersion 2: containerd 2.x always enables CDI and ignores it"))
	}
	if spec.ConfigVersion == 2 {
		for i, r := range spec.Registries {
			for j, m := range r.Mirrors {
				if m.DialTimeout != nil {
					errs = append(errs, field.Forbidden(path.Child("registries").Index(i).Child("mirrors").Index(j).Child("dialTimeout"),
						"dialTimeout needs containerd 2.1 or later (configVersion 3): containerd 1.7 ignores it"))
				}
			}
		}
	}
	return errs
}

// maxHostLength bounds a registry host so that the ConfigMap keys of its files (the host's
// directory name, one character longer with a port, and ".<hash>.ca.crt") stay within 253.
const maxHostLength = 230

// validateRuntimes checks runtimes and the spec-level settings that refer to them.
func validateRuntimes(spec *hotelv1alpha1.ContainerdSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(spec.Runtimes) > 16 {
		errs = append(errs, field.TooMany(path.Child("runtimes"), len(spec.Runtimes), 16))
	}
	names := map[string]bool{}
	for i := range spec.Runtimes {
		r := &spec.Runtimes[i]
		p := path.Child("runtimes").Index(i)
		if names[r.Name] {
			errs = append(errs, field.Duplicate(p.Child("name"), r.Name))
		}
		names[r.Name] = true
		errs = append(errs, validateRuntime(r, p)...)
	}
	if d := spec.DefaultRuntimeName; d != nil && !names[*d] {
		errs = append(errs, field.Invalid(path.Child("defaultRuntimeName"), *d, "defaultRuntimeName must name one of runtimes"))
	}
	if spec.SystemdCgroup != nil {
		if i := slices.IndexFunc(spec.Runtimes, func(r hotelv1alpha1.ContainerdRuntime) bool { return r.Name == defaultRuncName }); i >= 0 &&
			spec.Runtimes[i].RuntimeType != runcType {
			errs = append(errs, field.Invalid(path.Child("runtimes").Index(i).Child("runtimeType"), spec.Runtimes[i].RuntimeType, fmt.Sprintf(
				"systemdCgroup also sets SystemdCgroup on the runtime named %s, which must then be of type %s", defaultRuncName, runcType)))
		}
	}
	return errs
}

func validateRuntime(r *hotelv1alpha1.ContainerdRuntime, p *field.Path) field.ErrorList {
	errs := checkString(p.Child("name"), &r.Name, 1, 63, dnsLabel)
	errs = append(errs, checkString(p.Child("runtimeType"), &r.RuntimeType, 0, 128, runtimeTypeRe)...)
	errs = append(errs, checkString(p.Child("binaryName"), r.BinaryName, 1, 256, noSpace)...)
	errs = append(errs, checkString(p.Child("configPath"), r.ConfigPath, 0, 256, absolutePath)...)
	if r.RuntimeType != runcType {
		const msg = "systemdCgroup and binaryName are options of runc (io.containerd.runc.v2) only"
		if r.SystemdCgroup != nil {
			errs = append(errs, field.Forbidden(p.Child("systemdCgroup"), msg))
		}
		if r.BinaryName != nil {
			errs = append(errs, field.Forbidden(p.Child("binaryName"), msg))
		}
	}
	if len(r.PodAnnotations) > 16 {
		errs = append(errs, field.TooMany(p.Child("podAnnotations"), len(r.PodAnnotations), 16))
	}
	seen := map[string]bool{}
	for j, a := range r.PodAnnotations {
		if seen[a] {
			errs = append(errs, field.Duplicate(p.Child("podAnnotations").Index(j), a))
		}
		seen[a] = true
		errs = append(errs, checkString(p.Child("podAnnotations").Index(j), &a, 1, 253, noSpace)...)
	}
	return errs
}

func validateRegistries(regs []hotelv1alpha1.RegistryHost, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(regs) > 32 {
		errs = append(errs, field.TooMany(path, len(regs), 32))
	}
	hosts := map[string]bool{}
	for i := range regs {
		r := &regs[i]
		p := path.Index(i)
		if hosts[r.Host] {
			errs = append(errs, field.Duplicate(p.Child("host"), r.Host))
		}
		hosts[r.Host] = true
		errs = append(errs, validateRegistry(r, p)...)
	}
	return errs
}

func validateRegistry(r *hotelv1alpha1.RegistryHost, p *field.Path) field.ErrorList {
	errs := checkString(p.Child("host"), &r.Host, 1, maxHostLength, registryHostRe)
	if _, port, ok := strings.Cut(r.Host, ":"); ok {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			errs = append(errs, field.Invalid(p.Child("host"), r.Host, "port must be from 1 to 65535"))
		}
	}
	if r.Server == nil && len(r.Mirrors) == 0 {
		errs = append(errs, field.Required(p, "a registry needs a server or at least one mirror"))
	}
	if r.Server != nil {
		if r.Host == "_default" {
			errs = append(errs, field.Forbidden(p.Child("server"), "_default applies to every registry, so it cannot name one server"))
		}
		errs = append(errs, checkURL(p.Child("server"), *r.Server)...)
	}
	if len(r.Mirrors) > 16 {
		errs = append(errs, field.TooMany(p.Child("mirrors"), len(r.Mirrors), 16))
	}
	urls := map[string]bool{}
	for j := range r.Mirrors {
		m := &r.Mirrors[j]
		mp := p.Child("mirrors").Index(j)
		if urls[m.URL] {
			errs = append(errs, field.Duplicate(mp.Child("url"), m.URL))
		}
		urls[m.URL] = true
		errs = append(errs, validateMirror(m, mp)...)
	}
	return errs
}

func validateMirror(m *hotelv1alpha1.RegistryMirror, p *field.Path) field.ErrorList {
	errs := checkURL(p.Child("url"), m.URL)
	if m.Capabilities != nil && len(m.Capabilities) == 0 {
		errs = append(errs, field.Required(p.Child("capabilities"), "must hold at least one capability, or be left out"))
	}
	seen := map[hotelv1alpha1.RegistryCapability]bool{}
	for k, c := range m.Capabilities {
		switch {
		case !slices.Contains(capabilities, string(c)):
			errs = append(errs, field.NotSupported(p.Child("capabilities").Index(k), c, capabilities))
		case seen[c]:
			errs = append(errs, field.Duplicate(p.Child("capabilities").Index(k), c))
		}
		seen[c] = true
	}
	if ref := m.CABundle; ref != nil {
		rp := p.Child("caBundle")
		errs = append(errs, checkString(rp.Child("name"), &ref.Name, 1, 253, configMapNameRe)...)
		if ref.Key != "" {
			errs = append(errs, checkString(rp.Child("key"), &ref.Key, 1, 253, configMapKeyRe)...)
		}
	}
	if d := m.DialTimeout; d != nil && d.Duration <= 0 {
		errs = append(errs, field.Invalid(p.Child("dialTimeout"), d.Duration.String(), "dialTimeout must be above 0"))
	}
	errs = append(errs, validateHeaders(m.Headers, p.Child("headers"))...)
	return errs
}

func validateHeaders(headers []hotelv1alpha1.HTTPHeader, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(headers) > 16 {
		errs = append(errs, field.TooMany(path, len(headers), 16))
	}
	names := map[string]bool{}
	for i, h := range headers {
		p := path.Index(i)
		if names[h.Name] {
			errs = append(errs, field.Duplicate(p.Child("name"), h.Name))
		}
		names[h.Name] = true
		errs = append(errs, checkString(p.Child("name"), &h.Name, 1, 128, headerNameRe)...)
		switch {
		case len(h.Values) == 0:
			errs = append(errs, field.Required(p.Child("values"), "a header needs at least one value"))
		case len(h.Values) > 8:
			errs = append(errs, field.TooMany(p.Child("values"), len(h.Values), 8))
		}
		for j, v := range h.Values {
			errs = append(errs, checkHeaderValue(p.Child("values").Index(j), v)...)
		}
	}
	return errs
}

// checkHeaderValue follows HTTP (RFC 9110 field values): a tab is allowed, no other control
// character, and so neither CR nor LF, which would let a value start another header.
func checkHeaderValue(p *field.Path, v string) field.ErrorList {
	var errs field.ErrorList
	if n := utf8.RuneCountInString(v); n > 1024 {
		errs = append(errs, field.TooLong(p, "", 1024))
	}
	if !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return r != '\t' && unicode.IsControl(r) }) {
		errs = append(errs, field.Invalid(p, v, "must be valid UTF-8 without control characters (CR, LF, ...)"))
	}
	return errs
}

// checkURL checks a registry URL as the API does (an http or https URL with a host) and as
// containerd reads it: containerd prefixes https:// to a server that does not start with "http",
// so the scheme must be in lower case; it drops a fragment, which is refused rather than written;
// credentials do not belong in a cluster-scoped object and a file on every Node, so user info is
// refused.
func checkURL(p *field.Path, raw string) field.ErrorList {
	if errs := checkString(p, &raw, 1, 512, nil); len(errs) > 0 {
		return errs
	}
	u, err := url.Parse(raw)
	switch {
	case strings.Contains(raw, "#"):
		// containerd parses the URL and drops the fragment: the host it uses is not the one written.
		return field.ErrorList{field.Invalid(p, raw, "must not hold a fragment (#...): containerd drops it, so the host would not be the URL written")}
	case err != nil:
		return field.ErrorList{field.Invalid(p, raw, fmt.Sprintf("must be a URL: %v", err))}
	case !strings.HasPrefix(raw, "http://") && !strings.HasPrefix(raw, "https://"):
		return field.ErrorList{field.Invalid(p, raw, "must be an http or https URL with a host (scheme in lower case)")}
	case u.Host == "" || u.Hostname() == "":
		return field.ErrorList{field.Invalid(p, raw, "must be an http or https URL with a host")}
	case u.User != nil:
		return field.ErrorList{field.Invalid(p, raw, "must not hold user info: innkeeper writes no registry credentials")}
	}
	return nil
}

// checkString checks an optional string (nil passes) by the API's length bounds, in characters as
// the API server counts them, and pattern (nil for none). Every string innkeeper writes into TOML
// passes here: valid UTF-8 and no control characters, so none can end a TOML string or line.
func checkString(p *field.Path, v *string, minLen, maxLen int, pattern *regexp.Regexp) field.ErrorList {
	if v == nil {
		return nil
	}
	s := *v
	switch n := utf8.RuneCountInString(s); {
	case n < minLen:
		return field.ErrorList{field.Invalid(p, s, fmt.Sprintf("must be at least %d characters long", minLen))}
	case n > maxLen:
		return field.ErrorList{field.TooLong(p, "", maxLen)}
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
		return field.ErrorList{field.Invalid(p, s, "must be valid UTF-8 without control characters")}
	}
	if pattern != nil && !pattern.MatchString(s) {
		return field.ErrorList{field.Invalid(p, s, fmt.Sprintf("must match %s", pattern))}
	}
	return nil
}
