package pool

import (
	"testing"

	. "github.com/onsi/gomega"
)

func TestJSONSubset(t *testing.T) {
	tests := []struct {
		name      string
		want, got any
		subset    bool
	}{
		{name: "equal", want: map[string]any{"a": 1}, got: map[string]any{"a": 1}, subset: true},
		{name: "defaulted extra field", want: map[string]any{"a": map[string]any{"b": 1}},
			got: map[string]any{"a": map[string]any{"b": 1, "c": "default"}}, subset: true},
		{name: "changed value", want: map[string]any{"a": 1}, got: map[string]any{"a": 2}},
		{name: "missing field", want: map[string]any{"a": 1, "b": 2}, got: map[string]any{"a": 1}},
		{name: "list of different length", want: map[string]any{"l": []any{1, 2}}, got: map[string]any{"l": []any{1}}},
		{name: "list elements with defaults", want: []any{map[string]any{"n": "x"}},
			got: []any{map[string]any{"n": "x", "d": true}}, subset: true},
		{name: "list order matters", want: []any{"a", "b"}, got: []any{"b", "a"}},
		{name: "named entries others added", want: []any{map[string]any{"name": "agent", "image": "i"}},
			got: []any{map[string]any{"name": "sidecar"}, map[string]any{"name": "agent", "image": "i", "tty": false}}, subset: true},
		{name: "a named entry changed", want: []any{map[string]any{"name": "agent", "image": "i"}},
			got: []any{map[string]any{"name": "agent", "image": "j"}}},
		{name: "a named entry removed", want: []any{map[string]any{"name": "a"}, map[string]any{"name": "b"}},
			got: []any{map[string]any{"name": "a"}}},
		{name: "mounts by path", want: []any{map[string]any{"mountPath": "/x", "name": "v"}},
			got: []any{map[string]any{"mountPath": "/y", "name": "w"}, map[string]any{"mountPath": "/x", "name": "v"}}, subset: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			NewWithT(t).Expect(jsonSubset(tt.want, tt.got)).To(Equal(tt.subset))
		})
	}
}
