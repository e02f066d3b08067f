// Package kubelet renders a FloorManager's kubelet settings into a KubeletConfiguration drop-in
// (kubelet.config.k8s.io/v1beta1) and checks what the CRD's admission rules cannot.
package kubelet

import (
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"
	kubeletconfigv1beta1 "k8s.io/kubelet/config/v1beta1"
	"sigs.k8s.io/yaml"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// DropInFile is the name of the drop-in in the kubelet's --config-dir. Drop-ins apply in
// alphanumeric order, so 50- leaves room for the distribution's own files before and after it.
const DropInFile = "50-innkeeper.conf"

// The kubelet's defaults for the image GC thresholds, used where a FloorManager sets only one of
// them: the drop-in then meets the node's other threshold, which is the default unless the node's
// own configuration changed it.
const (
	defaultImageGCHighThresholdPercent = 85
	defaultImageGCLowThresholdPercent  = 80
)

// Render returns the kubelet drop-in for spec: a KubeletConfiguration holding only the fields that
// spec sets, so that every other setting stays as the node has it. It fails with a field.ErrorList
// (paths under spec.kubelet) when spec passes admission but the kubelet would refuse it.
func Render(spec *hotelv1alpha1.KubeletSpec) ([]byte, error) {
	if errs := Validate(spec, field.NewPath("spec", "kubelet")); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	// The API's JSON names and encodings are KubeletConfiguration's, and every optional field is a
	// pointer or a map with omitempty, so marshalling the spec yields exactly the fields it sets.
	body, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("encode kubelet settings: %w", err)
	}
	doc := map[string]any{}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("decode kubelet settings: %w", err)
	}
	doc["apiVersion"] = kubeletconfigv1beta1.SchemeGroupVersion.String()
	doc["kind"] = "KubeletConfiguration"
	out, err := yaml.Marshal(doc) // sorted keys: the same spec always renders the same bytes
	if err != nil {
		return nil, fmt.Errorf("encode kubelet drop-in: %w", err)
	}
	// The kubelet refuses to start on a drop-in it cannot decode: prove it decodes strictly into the
	// upstream type before it goes anywhere near a node.
	if _, err := Decode(out); err != nil {
		return nil, err
	}
	return out, nil
}

// Decode parses a rendered drop-in strictly: an unknown field or a wrong type is an error.
func Decode(data []byte) (*kubeletconfigv1beta1.KubeletConfiguration, error) {
	kc := &kubeletconfigv1beta1.KubeletConfiguration{}
	if err := yaml.UnmarshalStrict(data, kc); err != nil {
		return nil, fmt.Errorf("kubelet drop-in is not a valid KubeletConfiguration: %w", err)
	}
	if kc.APIVersion != kubeletconfigv1beta1.SchemeGroupVersion.String() || kc.Kind != "KubeletConfiguration" {
		return nil, fmt.Errorf("kubelet drop-in has apiVersion %q and kind %q, want %s KubeletConfiguration",
			kc.APIVersion, kc.Kind, kubeletconfigv1beta1.SchemeGroupVersion)
	}
	return kc, nil
}

// Validate checks the rules that need more than one object's fields or the kubelet's defaults, and
// so cannot be admission rules. The CRD already enforces the rest.
func Validate(spec *hotelv1alpha1.KubeletSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	high, low := spec.ImageGCHighThresholdPercent, spec.ImageGCLowThresholdPercent
	switch {
	case high != nil && low == nil && *high <= defaultImageGCLowThresholdPercent:
		errs = append(errs, field.Invalid(path.Child("imageGCHighThresholdPercent"), *high, fmt.Sprintf(
			"must be above the kubelet's default imageGCLowThresholdPercent (%d); set imageGCLowThresholdPercent as well",
			defaultImageGCLowThresholdPercent)))
	case low != nil && high == nil && *low >= defaultImageGCHighThresholdPercent:
		errs = append(errs, field.Invalid(path.Child("imageGCLowThresholdPercent"), *low, fmt.Sprintf(
			"must be below the kubelet's default imageGCHighThresholdPercent (%d); set imageGCHighThresholdPercent as well",
			defaultImageGCHighThresholdPercent)))
	}
	return errs
}
