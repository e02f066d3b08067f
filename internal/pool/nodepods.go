package pool

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
)

// NodePods are the scheduling settings of every pod that innkeeper runs on the pools' Nodes: the
// node agents and kube-proxy. They belong to the installation, not to an object: a cluster whose
// Nodes carry taints that innkeeper's pods must not tolerate, or whose priority classes are
// reserved, sets them once for the manager.
type NodePods struct {
	// PriorityClassName is the pods' priority class; empty for none.
	PriorityClassName string
	// Tolerations are the pods' tolerations, in order; none if empty.
	Tolerations []corev1.Toleration
	// ImagePullSecrets name the Secrets, in the workload namespace, with which the pods' images are
	// pulled (the agent's, a Concierge's kube-proxy); none if empty.
	ImagePullSecrets []string
}

// DefaultNodePods returns the settings innkeeper has always rendered: a priority class that lets
// the pods preempt ordinary ones, and a toleration of every taint, because a Node of a pool must
// not be left without the pod that manages its components.
func DefaultNodePods() NodePods {
	return NodePods{
		PriorityClassName: PriorityClass,
		Tolerations:       []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
	}
}

// Validate checks the settings as the API server checks a pod's: a priority class that is a DNS
// subdomain, tolerations whose key, operator, value, effect and tolerationSeconds agree, and
// image pull secrets named as Secrets are.
func (p NodePods) Validate() error {
	errs := ValidatePriorityClassName(p.PriorityClassName, field.NewPath("priorityClassName"))
	errs = append(errs, ValidateTolerations(p.Tolerations, field.NewPath("tolerations"))...)
	errs = append(errs, ValidateSecretNames(p.ImagePullSecrets, field.NewPath("imagePullSecrets"))...)
	return errs.ToAggregate()
}

// ValidateSecretNames checks names of Secrets: DNS subdomains.
func ValidateSecretNames(names []string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, name := range names {
		for _, msg := range apivalidation.NameIsDNSSubdomain(name, false) {
			errs = append(errs, field.Invalid(path.Index(i), name, msg))
		}
	}
	return errs
}

// ValidateNamespaceNames checks names of namespaces: DNS labels.
func ValidateNamespaceNames(names []string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, name := range names {
		for _, msg := range apivalidation.ValidateNamespaceName(name, false) {
			errs = append(errs, field.Invalid(path.Index(i), name, msg))
		}
	}
	return errs
}

// ValidatePriorityClassName checks a pod's priority class name; empty means none and is valid.
func ValidatePriorityClassName(name string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if name == "" {
		return errs
	}
	for _, msg := range apivalidation.NameIsDNSSubdomain(name, false) {
		errs = append(errs, field.Invalid(path, name, msg))
	}
	return errs
}

// ValidateTolerations checks tolerations with the rules of the API server's pod validation
// (k8s.io/kubernetes/pkg/apis/core/validation, which the operator must not import), less the
// feature-gated Lt and Gt operators.
func ValidateTolerations(tolerations []corev1.Toleration, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, t := range tolerations {
		p := path.Index(i)
		if t.Key != "" {
			errs = append(errs, metav1validation.ValidateLabelName(t.Key, p.Child("key"))...)
		}
		// An empty key matches every key, which only the Exists operator can.
		if t.Key == "" && t.Operator != corev1.TolerationOpExists {
			errs = append(errs, field.Invalid(p.Child("operator"), t.Operator,
				`operator must be Exists when key is empty, which means "match all values and all keys"`))
		}
		if t.TolerationSeconds != nil && t.Effect != corev1.TaintEffectNoExecute {
			errs = append(errs, field.Invalid(p.Child("effect"), t.Effect, "effect must be NoExecute when tolerationSeconds is set"))
		}
		switch t.Operator {
		case corev1.TolerationOpEqual, "": // empty means Equal
			if msgs := validation.IsValidLabelValue(t.Value); len(msgs) > 0 {
				errs = append(errs, field.Invalid(p.Child("value"), t.Value, strings.Join(msgs, "; ")))
			}
		case corev1.TolerationOpExists:
			if t.Value != "" {
				errs = append(errs, field.Invalid(p.Child("value"), t.Value, "value must be empty when operator is Exists"))
			}
		default:
			errs = append(errs, field.NotSupported(p.Child("operator"), t.Operator,
				[]corev1.TolerationOperator{corev1.TolerationOpEqual, corev1.TolerationOpExists}))
		}
		// An empty effect matches every effect.
		effects := []corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute}
		if t.Effect != "" && !slices.Contains(effects, t.Effect) {
			errs = append(errs, field.NotSupported(p.Child("effect"), t.Effect, effects))
		}
	}
	return errs
}

// tolerationApplyConfigurations converts tolerations into apply configurations that set only the
// fields the tolerations set: the same JSON as the tolerations', so that the default settings
// render the DaemonSets (and their spec-hash) that innkeeper rendered before they were settings.
func tolerationApplyConfigurations(tolerations []corev1.Toleration) []*corev1ac.TolerationApplyConfiguration {
	acs := make([]*corev1ac.TolerationApplyConfiguration, 0, len(tolerations))
	for _, t := range tolerations {
		ac := corev1ac.Toleration()
		if t.Key != "" {
			ac.WithKey(t.Key)
		}
		if t.Operator != "" {
			ac.WithOperator(t.Operator)
		}
		if t.Value != "" {
			ac.WithValue(t.Value)
		}
		if t.Effect != "" {
			ac.WithEffect(t.Effect)
		}
		if t.TolerationSeconds != nil {
			ac.WithTolerationSeconds(*t.TolerationSeconds)
		}
		acs = append(acs, ac)
	}
	return acs
}
