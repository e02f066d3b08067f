package pool

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	kjson "sigs.k8s.io/json"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// The engine reads innkeeper's own objects unstructured from the manager's cache, and decodes each
// into its Go type where it reads it. A typed informer decodes every object of its kind in one list:
// a single object that does not decode (a duration past 292 years that admission let through, a
// value stored before a schema change) fails the list, so that no object of the kind is reconciled
// again and a manager that starts exits at its cache-sync timeout. Unstructured, an object that does
// not decode is that object's error alone: its reconcile reports it (reportUndecodable) and every
// other object is reconciled as usual. The objects of a kind are few; Nodes, which are many, stay
// typed.

// decoded is one version of an object of the reconciler's kind, as the engine decoded it.
type decoded struct {
	resourceVersion string
	// obj is the object, shared by every reader: read it, copy it before changing it. Nil if the
	// object does not decode, and err says why, naming the field.
	obj Object
	err error
	// peer is the object as its peers see it (see peers): obj, or for an object that does not
	// decode, its metadata and pool alone; nil if even those do not decode.
	peer Object
}

// newUnstructured returns an empty unstructured object of the reconciler's kind: read through the
// cache, it is served by the kind's unstructured informer.
func (r *Reconciler) newUnstructured() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(r.gvk)
	return u
}

// decode returns cached, an object of the reconciler's kind as the cache holds it, decoded. It
// decodes each version of an object once (cached is not modified), and logs when an object turns
// undecodable or the reason changes.
func (r *Reconciler) decode(ctx context.Context, cached *unstructured.Unstructured) *decoded {
	previous, _ := r.decoded.Load(cached.GetName())
	if d, ok := previous.(*decoded); ok && d.resourceVersion == cached.GetResourceVersion() {
		return d
	}
	d := &decoded{resourceVersion: cached.GetResourceVersion()}
	d.obj, d.err = decodeObject(cached.Object, r.kind.NewObject)
	d.peer = d.obj
	if d.err != nil {
		d.peer = poolOnly(cached.Object, r.kind.NewObject)
		if p, ok := previous.(*decoded); !ok || p.err == nil || p.err.Error() != d.err.Error() {
			log.FromContext(ctx).Error(d.err, "Cannot decode an object: it is not reconciled until it is corrected",
				"kind", r.gvk.Kind, "object", klog.KObj(cached), "keepsPool", d.peer != nil)
		}
	}
	r.decoded.Store(cached.GetName(), d)
	return d
}

// decodeObject decodes content, an object as the API server serves it, into a new object as a typed
// client would: JSON with case-sensitive field names. If it does not decode, the error names the
// first field that does not (see undecodableField).
func decodeObject(content map[string]any, newObject func() Object) (Object, error) {
	obj := newObject()
	err := decodeInto(content, obj)
	if err == nil {
		return obj, nil
	}
	if field, fieldErr := undecodableField(content, newObject); field != "" {
		return nil, fmt.Errorf("%s: %w", field, fieldErr)
	}
	return nil, err
}

// decodeInto decodes content into obj as the API machinery's JSON serializer does.
func decodeInto(content map[string]any, obj Object) error {
	data, err := json.Marshal(content)
	if err != nil {
		return err
	}
	return kjson.UnmarshalCaseSensitivePreserveInts(data, obj)
}

// undecodableField returns the path of the first field of content (in the order of its keys) that
// does not decode alone, such as spec.kubelet.evictionPressureTransitionPeriod, and why; "" if
// every field decodes alone. It is called only for an object that does not decode, and decodes one
// small object per field along the way.
func undecodableField(content map[string]any, newObject func() Object) (string, error) {
	decodes := func(path []any, v any) error {
		for i := len(path) - 1; i >= 0; i-- {
			if key, ok := path[i].(string); ok {
				v = map[string]any{key: v}
			} else {
				v = []any{v} // the element alone; the path keeps its index
			}
		}
		return decodeInto(v.(map[string]any), newObject())
	}
	var find func(path []any, v any) (string, error)
	find = func(path []any, v any) (string, error) {
		err := decodes(path, v)
		if err == nil {
			return "", nil
		}
		// Look inside an object or a list only if the field is one: a string field that holds an
		// object is wrong as a whole.
		switch v := v.(type) {
		case map[string]any:
			if decodes(path, map[string]any{}) == nil {
				for _, k := range slices.Sorted(maps.Keys(v)) {
					if f, e := find(append(slices.Clip(path), k), v[k]); f != "" {
						return f, e
					}
				}
			}
		case []any:
			if decodes(path, []any{}) == nil {
				for i, e := range v {
					if f, fe := find(append(slices.Clip(path), i), e); f != "" {
						return f, fe
					}
				}
			}
		}
		return fieldPath(path), err
	}
	for _, k := range slices.Sorted(maps.Keys(content)) {
		if f, err := find([]any{k}, content[k]); f != "" {
			return f, err
		}
	}
	return "", nil
}

// fieldPath renders a path of keys and list indexes as kubectl explain and API errors name fields:
// spec.registries[1].host. A key that cannot be a field's name, such as a map's key
// memory.available, is put in brackets as API errors put map keys: spec.kubelet.evictionHard[memory.available].
func fieldPath(path []any) string {
	var b strings.Builder
	for _, p := range path {
		switch p := p.(type) {
		case string:
			if !isFieldName(p) {
				b.WriteString("[" + p + "]")
				continue
			}
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(p)
		case int:
			b.WriteString("[" + strconv.Itoa(p) + "]")
		}
	}
	return b.String()
}

// isFieldName reports whether key can be the JSON name of a field of innkeeper's types: a letter
// followed by letters and digits. A key that is not must be a map's.
func isFieldName(key string) bool {
	for i, c := range key {
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return key != ""
}

// poolOnly decodes, of an object that does not decode as a whole, what its peers read of it (see
// peers): its metadata and spec.nodeSelector alone. It returns nil if those do not decode either,
// or if the object stores no nodeSelector (an empty one would select every Node). The pool still
// counts against newer objects of the kind, so that they do not roll out onto Nodes where this
// object's DaemonSet still runs, and stays excluded from the foreign DaemonSets it took its Nodes
// from. The rest of the spec, rollout settings included, is left out: a bad value there must not
// cost the object its pool.
func poolOnly(content map[string]any, newObject func() Object) Object {
	spec, _ := content["spec"].(map[string]any)
	selector := spec["nodeSelector"]
	if selector == nil {
		return nil
	}
	obj := newObject()
	if err := decodeInto(map[string]any{"apiVersion": content["apiVersion"], "kind": content["kind"],
		fieldMetadata: content[fieldMetadata], "spec": map[string]any{"nodeSelector": selector}}, obj); err != nil {
		return nil
	}
	return obj
}

// reportUndecodable reports an object that does not decode: Stalled=True, Ready=False and
// Reconciling=False with reason Undecodable and a message naming the field, written to its status
// with a merge patch of the unstructured object, which needs no decoding, and a Warning Event when
// that is news. It writes nothing if the status already says so for the object's generation. The
// object's DaemonSet and ConfigMaps are left as they are, and a deleted object keeps the finalizer
// until it can be read: what its deletion asks for (an Orphan policy, Nodes to give back) is in the
// spec that does not decode. An error (a failed write) is retried with backoff; otherwise the object
// waits for a change to it, which brings a reconcile: there is nothing to retry.
func (r *Reconciler) reportUndecodable(ctx context.Context, cached *unstructured.Unstructured, cause error) error {
	r.computed.Delete(cached.GetName())
	u := cached.DeepCopy()
	generation := u.GetGeneration()
	deleting := !u.GetDeletionTimestamp().IsZero() && slices.Contains(u.GetFinalizers(), Finalizer)
	message := undecodableMessage(r.gvk.Kind, u.GetName(), cause, deleting)

	// The conditions alone, decoded apart: the rest of the status may be what does not decode.
	var conditions []metav1.Condition
	if raw, ok, _ := unstructured.NestedSlice(u.Object, "status", "conditions"); ok {
		if err := decodeConditions(raw, &conditions); err != nil {
			conditions = nil
		}
	}
	previous := slices.Clone(conditions)
	setUndecodable(&conditions, generation, message, r.now())
	observed, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	if observed == generation && equality.Semantic.DeepEqual(previous, conditions) {
		return nil
	}

	if old := meta.FindStatusCondition(previous, hotelv1alpha1.ConditionStalled); old == nil ||
		old.Status != metav1.ConditionTrue || old.Reason != hotelv1alpha1.ReasonUndecodable || old.Message != message {
		r.recorder.Eventf(u, nil, corev1.EventTypeWarning, hotelv1alpha1.ReasonUndecodable, "Decode", "%s", message)
	}
	raw := make([]any, len(conditions))
	for i := range conditions {
		c, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&conditions[i])
		if err != nil {
			return fmt.Errorf("encode condition %s: %w", conditions[i].Type, err)
		}
		raw[i] = c
	}
	if err := unstructured.SetNestedSlice(u.Object, raw, "status", "conditions"); err != nil {
		return fmt.Errorf("set the conditions of undecodable %s %s: %w", r.gvk.Kind, u.GetName(), err)
	}
	if err := unstructured.SetNestedField(u.Object, generation, "status", "observedGeneration"); err != nil {
		return fmt.Errorf("set the observed generation of undecodable %s %s: %w", r.gvk.Kind, u.GetName(), err)
	}
	// A merge patch replaces the list of conditions whole: with the optimistic lock, it replaces the
	// list it was computed from, and a write that came between fails and is retried.
	if err := r.client.Status().Patch(ctx, u, client.MergeFromWithOptions(cached, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("write the status of undecodable %s %s: %w", r.gvk.Kind, u.GetName(), err)
	}
	return nil
}

// maxCauseLength bounds the decoding error quoted in an Undecodable message: the error may quote the
// stored value, which has no length limit once admission is bypassed, and the message goes into a
// condition and an Event note, which the API server caps at 32,768 and 1,024 characters.
const maxCauseLength = 300

// undecodableMessage says what is wrong with an object of kind that does not decode, and what to do:
// correct the field that cause names. deleting is true for an object whose deletion waits for the
// engine's finalizer.
func undecodableMessage(kind, name string, cause error, deleting bool) string {
	why := cause.Error()
	if r := []rune(why); len(r) > maxCauseLength {
		why = string(r[:maxCauseLength]) + "…"
	}
	message := fmt.Sprintf("The manager cannot read this %s: %s. Nothing is rolled out for it, and what it rolled out "+
		"is left as it is; every other object is reconciled as usual. Correct or remove the field (kubectl edit %s %s): "+
		"it is reconciled again as soon as it can be read.", kind, why, strings.ToLower(kind), name)
	if deleting {
		message += fmt.Sprintf(" Its deletion waits for that too, so that what its deletion asks for is done; to "+
			"delete it without, remove the finalizer %s.", Finalizer)
	}
	return message
}

// setUndecodable sets, in conditions, Stalled=True with message, and Ready=False and
// Reconciling=False, all with reason Undecodable and for generation. A condition whose status does
// not change keeps its transition time; the other conditions are left as they are: the object is
// not observed, and they say what was last.
func setUndecodable(conditions *[]metav1.Condition, generation int64, message string, now metav1.Time) {
	set := func(t string, s metav1.ConditionStatus, message string) {
		meta.SetStatusCondition(conditions, metav1.Condition{Type: t, Status: s, Reason: hotelv1alpha1.ReasonUndecodable,
			Message: message, ObservedGeneration: generation, LastTransitionTime: now})
	}
	set(hotelv1alpha1.ConditionStalled, metav1.ConditionTrue, message)
	set(hotelv1alpha1.ConditionReconciling, metav1.ConditionFalse, "The object cannot be read; see the Stalled condition.")
	set(hotelv1alpha1.ConditionReady, metav1.ConditionFalse, message)
}

// decodeConditions decodes a list of conditions as the API server serves them.
func decodeConditions(raw []any, conditions *[]metav1.Condition) error {
	data, err := json.Marshal(raw)
	if err != nil {
		return err
	}
	return kjson.UnmarshalCaseSensitivePreserveInts(data, conditions)
}
