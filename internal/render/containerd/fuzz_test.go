package containerd

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// Bits of FuzzRenderRegistries' flags.
const (
	fuzzServer = 1 << iota
	fuzzSkipVerify
	fuzzSkipVerifyTrue
	fuzzOverridePath
	fuzzCA
	fuzzCAFromServer // the CA bundle is the fuzzed server string instead of a good certificate
	fuzzSecondMirrorCA
	fuzzDefaultHost
	fuzzVersion3
)

// FuzzRenderRegistries feeds the registry renderer arbitrary hosts, URLs, headers, capabilities
// and timeouts. It must never panic; a refusal must be field errors (the engine's InvalidSpec);
// and what it renders must be what the node agent accepts, the same bytes again, and hosts.toml
// files that hold exactly the mirrors and headers given, in order: no fuzzed string may add a TOML
// key or table. The seed corpus is testdata/fuzz/FuzzRenderRegistries.
func FuzzRenderRegistries(f *testing.F) {
	f.Fuzz(func(t *testing.T, host, server, url1, url2, headerName, headerValues, caps string, dialTimeout int64, flags uint16) {
		spec, cas := fuzzSpec(host, server, url1, url2, headerName, headerValues, caps, dialTimeout, flags)
		files, err := Render(spec, cas)
		if err != nil {
			requireFieldErrors(t, err)
			return
		}
		if _, err := ParseFiles(asBytes(files)); err != nil {
			t.Fatalf("the node agent refuses what Render wrote: %v\n%q", err, files)
		}
		again, err := Render(spec, cas)
		if err != nil || !maps.Equal(again, files) {
			t.Fatalf("rendering again gives %q, %v; want %q", again, err, files)
		}
		for _, reg := range spec.Registries {
			requireHostsFile(t, files[HostDir(reg.Host)+hostsSuffix], &reg)
		}
	})
}

// fuzzSpec builds a spec with one registry host of one or two mirrors (and, by flag, a _default
// host) from the fuzzed values.
func fuzzSpec(host, server, url1, url2, headerName, headerValues, caps string, dialTimeout int64,
	flags uint16) (*hotelv1alpha1.ContainerdSpec, map[hotelv1alpha1.ConfigMapKeyReference]string) {
	cas := map[hotelv1alpha1.ConfigMapKeyReference]string{{Name: "ca", Key: "ca.crt"}: caOne, {Name: "fuzzed", Key: "ca.crt"}: server}
	m1 := hotelv1alpha1.RegistryMirror{URL: url1}
	if caps != "" {
		for c := range strings.SplitSeq(caps, ",") {
			m1.Capabilities = append(m1.Capabilities, hotelv1alpha1.RegistryCapability(c))
		}
	}
	if headerName != "" {
		m1.Headers = []hotelv1alpha1.HTTPHeader{{Name: headerName, Values: strings.Split(headerValues, ",")}}
	}
	if dialTimeout != 0 {
		m1.DialTimeout = &metav1.Duration{Duration: time.Duration(dialTimeout)}
	}
	if flags&fuzzSkipVerify != 0 {
		m1.SkipVerify = ptr.To(flags&fuzzSkipVerifyTrue != 0)
	}
	if flags&fuzzOverridePath != 0 {
		m1.OverridePath = ptr.To(true)
	}
	switch {
	case flags&fuzzCAFromServer != 0:
		m1.CABundle = caRef("fuzzed", "")
	case flags&fuzzCA != 0:
		m1.CABundle = caRef("ca", "")
	}
	reg := hotelv1alpha1.RegistryHost{Host: host, Mirrors: []hotelv1alpha1.RegistryMirror{m1}}
	if flags&fuzzServer != 0 {
		reg.Server = &server
	}
	if url2 != "" {
		m2 := hotelv1alpha1.RegistryMirror{URL: url2, Headers: m1.Headers}
		if flags&fuzzSecondMirrorCA != 0 {
			m2.CABundle = caRef("ca", "ca.crt")
		}
		reg.Mirrors = append(reg.Mirrors, m2)
	}
	spec := &hotelv1alpha1.ContainerdSpec{ConfigVersion: 2, Registries: []hotelv1alpha1.RegistryHost{reg}}
	if flags&fuzzVersion3 != 0 {
		spec.ConfigVersion = 3
	}
	if flags&fuzzDefaultHost != 0 {
		spec.Registries = append(spec.Registries, hotelv1alpha1.RegistryHost{Host: "_default", Mirrors: []hotelv1alpha1.RegistryMirror{{URL: url1}}})
	}
	return spec, cas
}

// requireFieldErrors fails unless err is an aggregate of field errors, which the engine reports
// as an invalid spec.
func requireFieldErrors(t *testing.T, err error) {
	t.Helper()
	var agg utilerrors.Aggregate
	if !errors.As(err, &agg) {
		t.Fatalf("Render failed without field errors: %v", err)
	}
	for _, e := range agg.Errors() {
		var fe *field.Error
		if !errors.As(e, &fe) || fe.Type == field.ErrorTypeInternal {
			t.Fatalf("Render failed with %v, not a field error", e)
		}
	}
}

// requireHostsFile decodes a hosts.toml loosely (any key) and checks that it holds exactly the
// registry's server and mirrors, in order, each with exactly the keys and headers it sets.
func requireHostsFile(t *testing.T, data string, reg *hotelv1alpha1.RegistryHost) {
	t.Helper()
	if !hasMarker([]byte(data)) {
		t.Fatalf("hosts.toml does not start with the marker:\n%s", data)
	}
	doc := map[string]any{}
	if err := toml.Unmarshal([]byte(data), &doc); err != nil {
		t.Fatalf("hosts.toml is not TOML: %v\n%s", err, data)
	}
	wantTop := []string{"host"}
	if reg.Server != nil {
		wantTop = []string{"host", "server"}
		if doc["server"] != *reg.Server {
			t.Fatalf("server is %q, want %q\n%s", doc["server"], *reg.Server, data)
		}
	}
	requireKeys(t, doc, wantTop, data)
	hosts, _ := doc["host"].(map[string]any)
	order, err := mirrorOrder([]byte(data))
	if err != nil || len(hosts) != len(reg.Mirrors) || len(order) != len(reg.Mirrors) {
		t.Fatalf("%d host tables in order %q (%v), want %d\n%s", len(hosts), order, err, len(reg.Mirrors), data)
	}
	for i, m := range reg.Mirrors {
		if order[i] != m.URL {
			t.Fatalf("host table %d is %q, want %q\n%s", i, order[i], m.URL, data)
		}
		table, _ := hosts[m.URL].(map[string]any)
		requireKeys(t, table, mirrorKeys(&m), data)
		if len(m.Headers) == 0 {
			continue
		}
		headers, _ := table["header"].(map[string]any)
		requireKeys(t, headers, []string{m.Headers[0].Name}, data)
		got, _ := headers[m.Headers[0].Name].([]any)
		if len(got) != len(m.Headers[0].Values) {
			t.Fatalf("header %q has %d values, want %q\n%s", m.Headers[0].Name, len(got), m.Headers[0].Values, data)
		}
		for j, v := range m.Headers[0].Values {
			if got[j] != v {
				t.Fatalf("header %q value %d is %q, want %q\n%s", m.Headers[0].Name, j, got[j], v, data)
			}
		}
	}
}

// mirrorKeys are the keys of a mirror's table: those of the settings it sets.
func mirrorKeys(m *hotelv1alpha1.RegistryMirror) []string {
	var keys []string
	for key, set := range map[string]bool{
		"ca": m.CABundle != nil, "capabilities": len(m.Capabilities) > 0, "dial_timeout": m.DialTimeout != nil,
		"header": len(m.Headers) > 0, "override_path": m.OverridePath != nil, "skip_verify": m.SkipVerify != nil,
	} {
		if set {
			keys = append(keys, key)
		}
	}
	return keys
}

func requireKeys(t *testing.T, m map[string]any, want []string, data string) {
	t.Helper()
	got := slices.Sorted(maps.Keys(m))
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("keys %q, want %q\n%s", got, want, data)
	}
}
