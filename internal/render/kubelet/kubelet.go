// Package kubelet renders a FloorManager's kubelet settings into a KubeletConfiguration drop-in
// (kubelet.config.k8s.io/v1beta1) and checks what the CRD's admission rules cannot.
package kubelet

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	kubeletconfigv1beta1 "k8s.io/kubelet/config/v1beta1"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/render"
	"github.com/innkeeper-dev/innkeeper/internal/render/featuregates"
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
	// pointer or a map with omitempty, so the document holds exactly the fields the spec sets. The
	// kubelet refuses to start on a drop-in it cannot decode: it must decode strictly first.
	return render.Config(kind, spec, func(data []byte) error { _, err := Decode(data); return err })
}

// kind is the drop-in's apiVersion and kind.
var kind = kubeletconfigv1beta1.SchemeGroupVersion.WithKind("KubeletConfiguration")

// Decode parses a rendered drop-in as strictly as the kubelet does: field names are case-sensitive,
// and an unknown or duplicate field or a wrong type is an error.
func Decode(data []byte) (*kubeletconfigv1beta1.KubeletConfiguration, error) {
	kc := &kubeletconfigv1beta1.KubeletConfiguration{}
	if err := render.DecodeConfig(data, kind, kc); err != nil {
		return nil, fmt.Errorf("kubelet drop-in: %w", err)
	}
	return kc, nil
}

// Validate checks a FloorManager's kubelet settings by the kubelet's own rules. The CRD enforces
// most of them at admission; they are checked again here because the node agent validates the
// drop-in it receives with this function before it touches a host, and because some rules need the
// kubelet's defaults, which admission cannot know.
func Validate(spec *hotelv1alpha1.KubeletSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, validateRanges(spec, path)...)
	errs = append(errs, validateEviction(spec, path)...)
	errs = append(errs, validateDurations(spec, path)...)
	errs = append(errs, validateFeatureGates(spec, path)...)
	high, low := spec.ImageGCHighThresholdPercent, spec.ImageGCLowThresholdPercent
	switch {
	case high != nil && low != nil && *low >= *high:
		errs = append(errs, field.Invalid(path.Child("imageGCLowThresholdPercent"), *low,
			"must be lower than imageGCHighThresholdPercent"))
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

// ValidateDropIn checks a rendered drop-in as the node agent receives it, before it touches the
// host: it must be a KubeletConfiguration that holds only the fields a FloorManager offers, with
// values that pass Validate. A drop-in edited on its way to the node fails here.
func ValidateDropIn(data []byte) error {
	if _, err := Decode(data); err != nil {
		return err
	}
	spec := &hotelv1alpha1.KubeletSpec{}
	if err := render.SpecOf(data, spec); err != nil {
		return fmt.Errorf("kubelet drop-in sets fields innkeeper does not manage: %w", err)
	}
	if errs := Validate(spec, field.NewPath("kubelet")); len(errs) > 0 {
		return errs.ToAggregate()
	}
	return nil
}

// evictionSignals are the kubelet's eviction signals.
var evictionSignals = map[string]bool{
	"memory.available": true, "nodefs.available": true, "nodefs.inodesFree": true, "imagefs.available": true,
	"imagefs.inodesFree": true, "containerfs.available": true, "containerfs.inodesFree": true, "pid.available": true,
}

var (
	percentage  = regexp.MustCompile(`^[0-9]+([.][0-9]+)?%$`)
	featureGate = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*$`)
)

func validateRanges(spec *hotelv1alpha1.KubeletSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	atLeast := func(name string, v *int32, least int32) {
		if v != nil && *v < least {
			errs = append(errs, field.Invalid(path.Child(name), *v, fmt.Sprintf("must be at least %d", least)))
		}
	}
	atLeast("maxPods", spec.MaxPods, 1)
	atLeast("podsPerCore", spec.PodsPerCore, 0)
	atLeast("evictionMaxPodGracePeriod", spec.EvictionMaxPodGracePeriod, 0)
	atLeast("maxParallelImagePulls", spec.MaxParallelImagePulls, 1)
	atLeast("registryPullQPS", spec.RegistryPullQPS, 0)
	atLeast("registryBurst", spec.RegistryBurst, 0)
	atLeast("containerLogMaxFiles", spec.ContainerLogMaxFiles, 2)
	if spec.PodPidsLimit != nil && *spec.PodPidsLimit < -1 {
		errs = append(errs, field.Invalid(path.Child("podPidsLimit"), *spec.PodPidsLimit, "must be -1 (no limit) or more"))
	}
	for name, v := range map[string]*int32{
		"imageGCHighThresholdPercent": spec.ImageGCHighThresholdPercent, "imageGCLowThresholdPercent": spec.ImageGCLowThresholdPercent,
	} {
		if v != nil && (*v < 0 || *v > 100) {
			errs = append(errs, field.Invalid(path.Child(name), *v, "must be from 0 to 100"))
		}
	}
	if spec.MaxParallelImagePulls != nil && *spec.MaxParallelImagePulls > 1 &&
		(spec.SerializeImagePulls == nil || *spec.SerializeImagePulls) {
		errs = append(errs, field.Invalid(path.Child("maxParallelImagePulls"), *spec.MaxParallelImagePulls,
			"greater than 1 needs serializeImagePulls: false"))
	}
	if spec.ContainerLogMaxSize != nil {
		// The kubelet reads it as a whole number of bytes when it starts
		// (pkg/kubelet/logs/container_log_manager.go, parseMaxSize: Quantity.AsInt64).
		q, err := resource.ParseQuantity(*spec.ContainerLogMaxSize)
		_, whole := q.AsInt64()
		switch {
		case err != nil || q.Sign() <= 0:
			errs = append(errs, field.Invalid(path.Child("containerLogMaxSize"), *spec.ContainerLogMaxSize,
				"must be a positive quantity such as 10Mi"))
		case !whole:
			errs = append(errs, field.Invalid(path.Child("containerLogMaxSize"), *spec.ContainerLogMaxSize,
				"must be a whole number of bytes written without a fraction of a binary unit, such as 10Mi, 1500k or 1.5M: "+
					"the kubelet refuses to start on 1.5, 500m or 1.5Ki"))
		}
	}
	enum := func(name string, v *string, allowed ...string) {
		if v != nil && !slices.Contains(allowed, *v) {
			errs = append(errs, field.NotSupported(path.Child(name), *v, allowed))
		}
	}
	enum("cpuManagerPolicy", spec.CPUManagerPolicy, "none", "static")
	enum("topologyManagerPolicy", spec.TopologyManagerPolicy, "none", "best-effort", "restricted", "single-numa-node")
	enum("topologyManagerScope", spec.TopologyManagerScope, "container", "pod")
	if spec.CPUManagerPolicy != nil && *spec.CPUManagerPolicy == "static" &&
		reservedMilliCPU(spec.KubeReserved)+reservedMilliCPU(spec.SystemReserved) == 0 {
		errs = append(errs, field.Invalid(path.Child("cpuManagerPolicy"), "static",
			"needs a CPU reservation: set kubeReserved.cpu or systemReserved.cpu to at least 1m (the kubelet rounds each to whole millicores)"))
	}
	errs = append(errs, validateReserved(spec, path)...)
	for gate := range spec.FeatureGates {
		if !featureGate.MatchString(gate) {
			errs = append(errs, field.Invalid(path.Child("featureGates").Key(gate), gate, "must be a CamelCase feature gate name"))
		}
	}
	return errs
}

// validateFeatureGates checks featureGates against the table of the Kubernetes version innkeeper
// targets, and the settings the kubelet refuses without their gate
// (pkg/kubelet/apis/config/validation). Admission makes the same checks, by rules generated from
// the same tables (hack/gatesapi); this is the second line, and the node agent's.
func validateFeatureGates(spec *hotelv1alpha1.KubeletSpec, path *field.Path) field.ErrorList {
	errs := featuregates.Validate(spec.FeatureGates, path.Child("featureGates"))
	for _, s := range featuregates.KubeletGatedSettings {
		d, ok := gatedDurations(spec)[s.Field]
		if !ok {
			errs = append(errs, field.InternalError(path.Child(s.Field), fmt.Errorf("no kubelet duration %s to check against gate %s", s.Field, s.Gate)))
			continue
		}
		if durationOr(d, 0) > 0 && !featuregates.Enabled(spec.FeatureGates, s.Gate) {
			errs = append(errs, field.Invalid(path.Child("featureGates").Key(s.Gate), false, fmt.Sprintf(
				"is off, but %s is set above 0: the kubelet refuses the setting without the gate", s.Field)))
		}
	}
	unsettable := featuregates.KubeletUnsettable()
	for _, gate := range slices.Sorted(maps.Keys(unsettable)) {
		if on, set := spec.FeatureGates[gate]; set && !on {
			errs = append(errs, field.Invalid(path.Child("featureGates").Key(gate), false, fmt.Sprintf(
				"cannot be turned off in a configuration file: the kubelet defaults %s while the gate is still on (its default), "+
					"applies featureGates after that, and then refuses %s without the gate; turn it off with the kubelet's --feature-gates flag",
				unsettable[gate], unsettable[gate])))
		}
	}
	return errs
}

// The JSON names of the kubelet's shutdown grace periods.
const (
	shutdownGracePeriod             = "shutdownGracePeriod"
	shutdownGracePeriodCriticalPods = "shutdownGracePeriodCriticalPods"
)

// gatedDurations are the durations of spec that featuregates.KubeletGatedSettings may name, by
// their JSON names.
func gatedDurations(spec *hotelv1alpha1.KubeletSpec) map[string]*metav1.Duration {
	return map[string]*metav1.Duration{
		shutdownGracePeriod:             spec.ShutdownGracePeriod,
		shutdownGracePeriodCriticalPods: spec.ShutdownGracePeriodCriticalPods,
	}
}

// validateReserved checks kubeReserved and systemReserved as the kubelet parses them
// (cmd/kubelet/app.parseResourceList): no negative quantity, and a CPU reservation it can round
// through its int64 millionths of a core, which overflow far above any Node's capacity.
func validateReserved(spec *hotelv1alpha1.KubeletSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for name, r := range map[string]*hotelv1alpha1.ReservedResources{"kubeReserved": spec.KubeReserved, "systemReserved": spec.SystemReserved} {
		if r == nil {
			continue
		}
		for res, q := range map[string]*resource.Quantity{"cpu": r.CPU, "memory": r.Memory, "ephemeral-storage": r.EphemeralStorage, "pid": r.PID} {
			switch {
			case q == nil:
			case q.Sign() < 0:
				errs = append(errs, field.Invalid(path.Child(name, res), q.String(), "must not be negative"))
			case res == "cpu" && q.Cmp(maxReservedCPU) > 0:
				errs = append(errs, field.Invalid(path.Child(name, res), q.String(), "must be at most 1M (a million cores): "+
					"the kubelet refuses a reservation above the Node's capacity, and its arithmetic overflows on a much larger one"))
			}
		}
	}
	return errs
}

// maxReservedCPU is the largest CPU reservation admission and rendering take (see ReservedResources).
var maxReservedCPU = resource.MustParse("1M")

// reservedMilliCPU is the CPU reservation as the kubelet reads it at start
// (cmd/kubelet/app/server.go, parseResourceList): rounded to whole millicores, half up.
func reservedMilliCPU(r *hotelv1alpha1.ReservedResources) int64 {
	if r == nil || r.CPU == nil || r.CPU.Sign() <= 0 {
		return 0
	}
	return (r.CPU.ScaledValue(resource.Micro) + 500) / 1000
}

// validateEviction checks eviction maps as the kubelet parses them (pkg/kubelet/eviction/helpers.go):
// a threshold is a positive quantity or a percentage from 0% to 100% (0% and 100% switch the signal
// off); a minimum reclaim is a non-negative quantity or a positive percentage.
func validateEviction(spec *hotelv1alpha1.KubeletSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	checkSignals := func(name string, keys []string) {
		for _, k := range keys {
			if !evictionSignals[k] {
				errs = append(errs, field.NotSupported(path.Child(name), k, sortedKeys(evictionSignals)))
			}
		}
	}
	thresholds := func(name string, m map[string]hotelv1alpha1.Threshold) {
		checkSignals(name, sortedKeys(m))
		for _, k := range sortedKeys(m) {
			if msg := checkAmount(string(m[k]), false); msg != "" {
				errs = append(errs, field.Invalid(path.Child(name).Key(k), string(m[k]), msg))
			}
		}
	}
	thresholds("evictionHard", spec.EvictionHard)
	thresholds("evictionSoft", spec.EvictionSoft)
	checkSignals("evictionMinimumReclaim", sortedKeys(spec.EvictionMinimumReclaim))
	for _, k := range sortedKeys(spec.EvictionMinimumReclaim) {
		if msg := checkAmount(string(spec.EvictionMinimumReclaim[k]), true); msg != "" {
			errs = append(errs, field.Invalid(path.Child("evictionMinimumReclaim").Key(k), string(spec.EvictionMinimumReclaim[k]), msg))
		}
	}
	checkSignals("evictionSoftGracePeriod", sortedKeys(spec.EvictionSoftGracePeriod))
	for _, k := range sortedKeys(spec.EvictionSoft) {
		if _, ok := spec.EvictionSoftGracePeriod[k]; !ok {
			errs = append(errs, field.Required(path.Child("evictionSoftGracePeriod").Key(k), "every evictionSoft signal needs a grace period"))
		}
	}
	for _, k := range sortedKeys(spec.EvictionSoftGracePeriod) {
		if d, err := time.ParseDuration(string(spec.EvictionSoftGracePeriod[k])); err != nil || d < 0 {
			errs = append(errs, field.Invalid(path.Child("evictionSoftGracePeriod").Key(k), string(spec.EvictionSoftGracePeriod[k]),
				"must be a duration such as 90s or 1m30s"))
		}
	}
	return errs
}

// checkAmount returns why v is not a valid eviction threshold (reclaim false) or minimum reclaim
// (reclaim true), or "".
func checkAmount(v string, reclaim bool) string {
	if strings.HasSuffix(v, "%") {
		if !percentage.MatchString(v) {
			return "must be a quantity such as 500Mi or a percentage such as 10%"
		}
		p, _ := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
		switch {
		case p > 100:
			return "must be a percentage from 0% to 100%"
		case reclaim && p <= 0:
			return "must be a percentage above 0%"
		}
		return ""
	}
	q, err := resource.ParseQuantity(v)
	switch {
	case err != nil:
		return "must be a quantity such as 500Mi or a percentage such as 10%"
	case reclaim && q.Sign() < 0:
		return "must not be negative"
	case !reclaim && q.Sign() <= 0:
		return "must be a positive quantity (to switch a signal off, use 0% or 100%)"
	}
	return ""
}

func validateDurations(spec *hotelv1alpha1.KubeletSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for name, d := range map[string]*metav1.Duration{
		"evictionPressureTransitionPeriod": spec.EvictionPressureTransitionPeriod,
		"imageMinimumGCAge":                spec.ImageMinimumGCAge, "imageMaximumGCAge": spec.ImageMaximumGCAge,
		shutdownGracePeriod: spec.ShutdownGracePeriod, shutdownGracePeriodCriticalPods: spec.ShutdownGracePeriodCriticalPods,
	} {
		if d != nil && d.Duration < 0 {
			errs = append(errs, field.Invalid(path.Child(name), d.Duration.String(), "must not be negative"))
		}
	}
	for name, d := range map[string]*metav1.Duration{
		shutdownGracePeriod: spec.ShutdownGracePeriod, shutdownGracePeriodCriticalPods: spec.ShutdownGracePeriodCriticalPods,
	} {
		if d != nil && d.Duration > 0 && d.Duration < time.Second {
			errs = append(errs, field.Invalid(path.Child(name), d.Duration.String(), "must be 0 or at least 1s"))
		}
	}
	if crit := spec.ShutdownGracePeriodCriticalPods; crit != nil && crit.Duration > durationOr(spec.ShutdownGracePeriod, 0) {
		errs = append(errs, field.Invalid(path.Child(shutdownGracePeriodCriticalPods), crit.Duration.String(),
			"must not exceed shutdownGracePeriod"))
	}
	if maxAge := spec.ImageMaximumGCAge; maxAge != nil && maxAge.Duration != 0 &&
		maxAge.Duration <= defaultIfZero(spec.ImageMinimumGCAge, defaultImageMinimumGCAge) {
		errs = append(errs, field.Invalid(path.Child("imageMaximumGCAge"), maxAge.Duration.String(),
			"must be 0 (no maximum) or greater than imageMinimumGCAge (0 or unset: the kubelet's default, 2m)"))
	}
	return errs
}

// defaultImageMinimumGCAge is the kubelet's default imageMinimumGCAge, which it also puts in place
// of an explicit 0 (kubernetes pkg/kubelet/apis/config/v1beta1/defaults.go, SetDefaults_KubeletConfiguration).
const defaultImageMinimumGCAge = 2 * time.Minute

// defaultIfZero is d as the kubelet runs it after its defaulting: fallback when unset or 0.
func defaultIfZero(d *metav1.Duration, fallback time.Duration) time.Duration {
	if d == nil || d.Duration == 0 {
		return fallback
	}
	return d.Duration
}

func durationOr(d *metav1.Duration, fallback time.Duration) time.Duration {
	if d == nil {
		return fallback
	}
	return d.Duration
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
