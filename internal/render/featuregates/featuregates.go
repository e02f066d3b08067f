// Package featuregates checks the featureGates of a kubelet or kube-proxy configuration against the
// feature-gate table of the Kubernetes version innkeeper targets, as the components do when they
// start (k8s.io/component-base/featuregate, SetFromMap and Validate). The table is generated from
// k8s.io/kubernetes by hack/featuregates (make generate); make verify fails when it is stale.
package featuregates

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Spec is a feature gate as KubernetesVersion registers it.
type Spec struct {
	// Default is whether the gate is on when not set.
	Default bool
	// LockToDefault means the component refuses to start with the gate set to anything else.
	LockToDefault bool
	// PreRelease is ALPHA, BETA, DEPRECATED, or empty for GA.
	PreRelease string
}

// The component-base gates that switch every alpha or beta gate at once.
const (
	allAlpha = "AllAlpha"
	allBeta  = "AllBeta"
)

// Enabled reports whether gate is on, given the explicit settings set, after the component's
// defaulting. An unknown gate is off.
func Enabled(set map[string]bool, gate string) bool {
	if v, ok := set[gate]; ok {
		return v
	}
	return gates[gate].Default
}

// Validate checks featureGates as the kubelet and kube-proxy of KubernetesVersion do when they
// start: every gate must be known, a gate locked to its default may only be set to it, and a gate
// that is on needs the gates it depends on. AllAlpha and AllBeta, which the components accept, are
// refused: they switch on gates no check here can follow.
func Validate(set map[string]bool, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := make([]string, 0, len(set))
	for name := range set {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		v := set[name]
		spec, known := gates[name]
		switch {
		case name == allAlpha || name == allBeta:
			errs = append(errs, field.Forbidden(path.Key(name), fmt.Sprintf(
				"innkeeper refuses %s (the component takes it): it switches on every %s gate of whatever version a Node runs, "+
					"which cannot be checked before a rollout; set the gates you want by name",
				name, strings.ToLower(strings.TrimPrefix(name, "All")))))
		case !known:
			errs = append(errs, field.Invalid(path.Key(name), v, fmt.Sprintf(
				"is no feature gate of Kubernetes %s: the component refuses to start on an unknown gate", KubernetesVersion)))
		case spec.LockToDefault && v != spec.Default:
			errs = append(errs, field.Invalid(path.Key(name), v, fmt.Sprintf(
				"is locked to %t in Kubernetes %s: the component refuses to start with it set otherwise; remove it", spec.Default, KubernetesVersion)))
		}
	}
	if len(errs) > 0 {
		return errs
	}
	dependents := make([]string, 0, len(dependencies))
	for name := range dependencies {
		dependents = append(dependents, name)
	}
	slices.Sort(dependents)
	for _, name := range dependents {
		if !Enabled(set, name) {
			continue
		}
		var off []string
		for _, dep := range dependencies[name] {
			if !Enabled(set, dep) {
				off = append(off, dep)
			}
		}
		if len(off) > 0 {
			errs = append(errs, field.Invalid(path.Key(name), Enabled(set, name), fmt.Sprintf(
				"is on (set or by default) but depends on %s, which is off: the component refuses to start; "+
					"turn %s off too or turn on what it needs",
				strings.Join(off, ", "), name)))
		}
	}
	return errs
}

// Names returns the names of every feature gate of KubernetesVersion, sorted.
func Names() []string {
	names := make([]string, 0, len(gates))
	for name := range gates {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Locked returns the gates of KubernetesVersion locked to their default, with that default.
func Locked() map[string]bool {
	locked := map[string]bool{}
	for name, spec := range gates {
		if spec.LockToDefault {
			locked[name] = spec.Default
		}
	}
	return locked
}
