package pool

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// holdsApplied reports whether live is what innkeeper last applied and nobody changed since: its
// spec-hash annotation is desired's hash (so a field innkeeper stopped setting is noticed too), and
// it still holds every field innkeeper sets, with the same values. live may hold more: fields the
// API server defaults (a probe's timeouts, a fieldRef's apiVersion) and fields others set are not
// drift. (Comparing with the live object rather than with the fields innkeeper owns, extracted from
// managedFields, spares the manager the server-side-apply type parser, a few MiB of heap.)
func holdsApplied(live client.Object, desired any, hash string) bool {
	if live.GetAnnotations()[AnnotationSpecHash] != hash {
		return false
	}
	want, err := toJSONMap(desired)
	if err != nil {
		return false
	}
	// Objects from the cache carry no apiVersion and kind.
	delete(want, "apiVersion")
	delete(want, "kind")
	return jsonSubset(want, live)
}

// upToDate is holdsApplied, remembered under key (the kind of live and the name of the
// object it belongs to): a live object whose resourceVersion was already found to hold what
// innkeeper applies, under the same spec-hash, still does (any change to it changes its
// resourceVersion). This spares every reconcile two JSON round trips.
func (r *Reconciler) upToDate(key string, live client.Object, desired any, hash string) bool {
	verified := verification{uid: live.GetUID(), resourceVersion: live.GetResourceVersion(), hash: hash}
	if v, ok := r.verified.Load(key); ok && v.(verification) == verified {
		return true
	}
	if !holdsApplied(live, desired, hash) {
		return false
	}
	r.verified.Store(key, verified)
	return true
}

// isVerified reports whether live, at its resourceVersion, was already found to hold what
// innkeeper applies under hash (and nothing else in its pod template, for a DaemonSet).
func (r *Reconciler) isVerified(key string, live client.Object, hash string) bool {
	v, ok := r.verified.Load(key)
	return ok && v.(verification) == verification{uid: live.GetUID(), resourceVersion: live.GetResourceVersion(), hash: hash}
}

// verification is an object's state found up to date: its identity, version, and the spec-hash
// of what innkeeper applies.
type verification struct {
	uid             types.UID
	resourceVersion string
	hash            string
}

func toJSONMap(v any) (map[string]any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	return m, json.Unmarshal(data, &m)
}

// specHash hashes what innkeeper applies, so that a field it stops setting is noticed too.
func specHash(desired any) string {
	data, err := json.Marshal(desired)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])[:16]
}

// jsonSubset reports whether every field of want is in got with an equal value, comparing their
// JSON forms: maps by key; lists of named entries (containers, env, volumes, volume mounts) by
// name, so that entries others added (a sidecar, an env var) do not count; other lists element by
// element.
func jsonSubset(want, got any) bool {
	var w, g any
	for _, c := range []struct {
		in  any
		out *any
	}{{want, &w}, {got, &g}} {
		data, err := json.Marshal(c.in)
		if err != nil {
			return false
		}
		if err := json.Unmarshal(data, c.out); err != nil {
			return false
		}
	}
	return subset(w, g)
}

func subset(want, got any) bool {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range w {
			if gv, ok := g[k]; !ok || !subset(v, gv) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok {
			return false
		}
		if key := mergeKey(w); key != "" {
			byKey := map[any]any{}
			for _, e := range g {
				if m, ok := e.(map[string]any); ok {
					byKey[m[key]] = m
				}
			}
			for _, e := range w {
				if ge, ok := byKey[e.(map[string]any)[key]]; !ok || !subset(e, ge) {
					return false
				}
			}
			return true
		}
		if len(g) != len(w) {
			return false
		}
		for i := range w {
			if !subset(w[i], g[i]) {
				return false
			}
		}
		return true
	default:
		return equality.Semantic.DeepEqual(want, got)
	}
}

// mergeKey returns the key that names every entry of a list, "name" or "mountPath", or "" if the
// list is not one of named entries.
func mergeKey(list []any) string {
	for _, key := range []string{"name", "mountPath"} {
		named := len(list) > 0
		for _, e := range list {
			m, ok := e.(map[string]any)
			if !ok {
				named = false
				break
			}
			if _, ok := m[key].(string); !ok {
				named = false
				break
			}
		}
		if named {
			return key
		}
	}
	return ""
}
