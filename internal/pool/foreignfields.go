package pool

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// innkeeper owns the whole pod template of the DaemonSets it renders: the node agents run
// privileged, with the host's root mounted, so a container, a volume or hostIPC that someone else
// adds would run with them on every Node of a pool, and survive every rollout, since server-side
// apply takes over only the fields the applier sets. Which fields someone else set is in the
// DaemonSet's managed fields: any field under spec.template that another field manager owns and
// innkeeper does not is removed. Fields the API server defaults belong to no manager and stay.

// foreignField is a field of a DaemonSet's pod template that another field manager set and
// innkeeper did not.
type foreignField struct {
	// path names the field for people: spec.template.spec.containers[name=sidecar].
	path string
	// pointer is its JSON pointer in the DaemonSet, for a JSON patch that removes it.
	pointer string
	// manager is the field manager that set it.
	manager string
}

// foreignTemplateFields returns the fields of ds's pod template that a field manager other than
// owner set, and owner's apply does not: the outermost such field of each subtree, in the order
// of a JSON patch that removes them all (a list's later elements first). Status, written through
// its own subresource, is not looked at.
func foreignTemplateFields(ds *appsv1.DaemonSet, owner string) ([]foreignField, error) {
	var own map[string]any
	var others []metav1.ManagedFieldsEntry
	for _, e := range ds.ManagedFields {
		switch {
		case e.Subresource != "" || e.FieldsV1 == nil:
		case e.Manager == owner && e.Operation == metav1.ManagedFieldsOperationApply:
			tree, err := fieldsTree(e.FieldsV1.GetRawBytes())
			if err != nil {
				return nil, fmt.Errorf("read the fields %s owns: %w", owner, err)
			}
			own = template(tree)
		default:
			others = append(others, e)
		}
	}
	// Without innkeeper's own apply on record, every field would look foreign: leave the DaemonSet
	// alone until innkeeper has applied it.
	if own == nil || len(others) == 0 {
		return nil, nil
	}
	live, err := toJSONMap(ds)
	if err != nil {
		return nil, err
	}
	liveSpec, _ := live["spec"].(map[string]any)
	liveTemplate, _ := liveSpec["template"].(map[string]any)
	var out []foreignField
	seen := map[string]bool{}
	for _, e := range others {
		tree, err := fieldsTree(e.FieldsV1.GetRawBytes())
		if err != nil {
			return nil, fmt.Errorf("read the fields %s owns: %w", e.Manager, err)
		}
		w := foreignWalk{manager: e.Manager, seen: seen}
		w.walk(template(tree), own, liveTemplate, "/spec/template", "spec.template")
		out = append(out, w.found...)
	}
	slices.SortFunc(out, func(a, b foreignField) int { return -comparePointers(a.pointer, b.pointer) })
	return out, nil
}

// fieldsTree decodes a managed fields entry's FieldsV1.
func fieldsTree(raw []byte) (map[string]any, error) {
	tree := map[string]any{}
	return tree, json.Unmarshal(raw, &tree)
}

// template returns the pod template's subtree of a FieldsV1 tree, nil if it has none.
func template(tree map[string]any) map[string]any {
	spec, _ := tree["f:spec"].(map[string]any)
	t, _ := spec["f:template"].(map[string]any)
	return t
}

type foreignWalk struct {
	manager string
	seen    map[string]bool
	found   []foreignField
}

// walk compares the subtree a foreign manager owns with the one innkeeper owns, at the same place
// of the live object, and records each field only the foreign manager owns that the live object
// still has.
func (w *foreignWalk) walk(foreign, own map[string]any, live any, pointer, path string) {
	for _, key := range sortedKeys(foreign) {
		if key == "." {
			continue // the element itself, owned by whoever owns its keys
		}
		child, childPointer, childPath, ok := locate(live, key, pointer, path)
		if !ok {
			continue // no longer there
		}
		if ownSub, owned := own[key]; owned {
			sub, _ := foreign[key].(map[string]any)
			ownMap, _ := ownSub.(map[string]any)
			w.walk(sub, ownMap, child, childPointer, childPath)
			continue
		}
		if !w.seen[childPointer] {
			w.seen[childPointer] = true
			w.found = append(w.found, foreignField{path: childPath, pointer: childPointer, manager: w.manager})
		}
	}
}

// locate finds a FieldsV1 key's place in the live object: a field (f:name), a list element by its
// keys (k:{"name":"x"}) or its value (v:"x"), or by its index (i:0).
func locate(live any, key, pointer, path string) (child any, childPointer, childPath string, ok bool) {
	prefix, rest, _ := strings.Cut(key, ":")
	switch prefix {
	case "f":
		m, isMap := live.(map[string]any)
		if !isMap {
			return nil, "", "", false
		}
		v, present := m[rest]
		return v, pointer + "/" + escapePointer(rest), path + "." + rest, present
	case "k", "v", "i":
		list, isList := live.([]any)
		if !isList {
			return nil, "", "", false
		}
		for i, e := range list {
			if elementMatches(prefix, rest, i, e) {
				return e, pointer + "/" + strconv.Itoa(i), path + "[" + describeElement(prefix, rest) + "]", true
			}
		}
	}
	return nil, "", "", false
}

// elementMatches reports whether a list element e, at index i, is the one a FieldsV1 key names.
func elementMatches(prefix, rest string, i int, e any) bool {
	switch prefix {
	case "i":
		return strconv.Itoa(i) == rest
	case "v":
		var v any
		return json.Unmarshal([]byte(rest), &v) == nil && jsonEqual(v, e)
	}
	keys := map[string]any{}
	if json.Unmarshal([]byte(rest), &keys) != nil {
		return false
	}
	m, isMap := e.(map[string]any)
	if !isMap {
		return false
	}
	for k, v := range keys {
		if !jsonEqual(v, m[k]) {
			return false
		}
	}
	return true
}

func jsonEqual(a, b any) bool {
	da, errA := json.Marshal(a)
	db, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(da) == string(db)
}

// describeElement names a list element for people: name=sidecar, or its value.
func describeElement(prefix, rest string) string {
	if prefix != "k" {
		return rest
	}
	keys := map[string]any{}
	if json.Unmarshal([]byte(rest), &keys) != nil {
		return rest
	}
	parts := make([]string, 0, len(keys))
	for _, k := range sortedKeys(keys) {
		parts = append(parts, fmt.Sprintf("%s=%v", k, keys[k]))
	}
	return strings.Join(parts, ",")
}

// escapePointer escapes a key for a JSON pointer (RFC 6901).
func escapePointer(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

// comparePointers orders JSON pointers segment by segment, list indexes as numbers.
func comparePointers(a, b string) int {
	as, bs := strings.Split(a, "/"), strings.Split(b, "/")
	for i := 0; i < len(as) && i < len(bs); i++ {
		if as[i] == bs[i] {
			continue
		}
		ai, errA := strconv.Atoi(as[i])
		bi, errB := strconv.Atoi(bs[i])
		if errA == nil && errB == nil {
			return ai - bi
		}
		return strings.Compare(as[i], bs[i])
	}
	return len(as) - len(bs)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
