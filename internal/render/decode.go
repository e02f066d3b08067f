// Package render holds what the components' renderers share: decoding a rendered configuration
// exactly as the component itself will.
package render

import (
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// DecodeStrict decodes YAML or JSON into v the way Kubernetes components load their configuration
// (sigs.k8s.io/json): case-sensitive field names, no unknown or duplicate fields.
func DecodeStrict(data []byte, v any) error {
	body, err := yaml.YAMLToJSON(data)
	if err != nil {
		return err
	}
	strictErrs, err := sigsjson.UnmarshalStrict(body, v, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return utilerrors.NewAggregate(strictErrs)
}

// Document renders a spec as a component configuration document: the spec's JSON fields (only the
// ones set, when every optional field is a pointer, slice or map with omitempty) under apiVersion
// and kind, as YAML with sorted keys, so that the same spec always renders the same bytes.
func Document(apiVersion, kind string, spec any) ([]byte, error) {
	body, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", kind, err)
	}
	doc := map[string]any{}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("decode %s: %w", kind, err)
	}
	doc["apiVersion"] = apiVersion
	doc["kind"] = kind
	return yaml.Marshal(doc)
}

// Config renders spec as a configuration document of kind and proves, with decode (the
// component's own strict decoding), that the component will load it: a configuration it would
// refuse never leaves the manager.
func Config(kind schema.GroupVersionKind, spec any, decode func([]byte) error) ([]byte, error) {
	out, err := Document(kind.GroupVersion().String(), kind.Kind, spec)
	if err != nil {
		return nil, err
	}
	if err := decode(out); err != nil {
		return nil, err
	}
	return out, nil
}

// DecodeConfig decodes a configuration document strictly into obj, the component's own type, and
// checks that it is of kind.
func DecodeConfig(data []byte, kind schema.GroupVersionKind, obj interface{ GetObjectKind() schema.ObjectKind }) error {
	if err := DecodeStrict(data, obj); err != nil {
		return fmt.Errorf("not a valid %s: %w", kind.Kind, err)
	}
	if got := obj.GetObjectKind().GroupVersionKind(); got != kind {
		return fmt.Errorf("has apiVersion %q and kind %q, want %s %s", got.GroupVersion(), got.Kind, kind.GroupVersion(), kind.Kind)
	}
	return nil
}

// SpecOf decodes a configuration document back into the spec it was rendered from, strictly: a
// field the spec does not have is an error.
func SpecOf(data []byte, spec any) error {
	doc := map[string]any{}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("not YAML: %w", err)
	}
	delete(doc, "apiVersion")
	delete(doc, "kind")
	body, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return DecodeStrict(body, spec)
}
