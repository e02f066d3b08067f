package pool

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// Labels and annotations on what the engine renders. The pool and component labels select a
// DaemonSet's pods and an object's ConfigMaps; the managed-by label scopes the manager's cache.
const (
	LabelManagedBy       = "app.kubernetes.io/managed-by"
	ManagedByValue       = "innkeeper"
	LabelComponent       = "hotel.innkeeper.dev/component"
	LabelPool            = "hotel.innkeeper.dev/pool"
	AnnotationHash       = "hotel.innkeeper.dev/config-hash"
	AnnotationGeneration = "hotel.innkeeper.dev/generation"
	// AnnotationSpecHash records the hash of what innkeeper last applied to an object.
	AnnotationSpecHash = "hotel.innkeeper.dev/spec-hash"
)

// FieldOwner is the server-side apply field manager of everything the engine applies.
const FieldOwner = "innkeeper"

// PriorityClass is the default priority class of the rollout pods (see DefaultNodePods): it lets
// them preempt ordinary pods, since a node must not be left without the pod that manages its
// components.
const PriorityClass = "system-node-critical"

// hashLength is how many hex digits of the SHA-256 name a configuration: 40 bits, no collision in
// the handful of configurations one object has at a time.
const hashLength = 10

// ConfigHash returns the content hash of a configuration's files. The node agent recomputes it to
// check that the files it was given are the ones its pod template names.
func ConfigHash(files map[string]string) string {
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, name := range names {
		// Length-prefixed, so that no two different file sets hash the same bytes.
		fmt.Fprintf(h, "%d:%s%d:%s", len(name), name, len(files[name]), files[name])
	}
	return hex.EncodeToString(h.Sum(nil))[:hashLength]
}

// daemonSetName names the DaemonSet of an object's component.
func daemonSetName(obj Object, component string) string {
	return obj.GetName() + "-" + component
}

// configMapName names the ConfigMap of one configuration of an object's component.
func configMapName(obj Object, component, hash string) string {
	return obj.GetName() + "-" + component + "-" + hash
}

// selectorLabels are the labels by which a DaemonSet selects its pods and an object finds its
// ConfigMaps. They never change for an object: a DaemonSet's selector is immutable.
func selectorLabels(obj Object, component string) map[string]string {
	return map[string]string{
		LabelManagedBy: ManagedByValue,
		LabelComponent: component,
		LabelPool:      obj.GetName(),
	}
}

func ownerReference(obj Object, gvk schema.GroupVersionKind) *metav1ac.OwnerReferenceApplyConfiguration {
	return metav1ac.OwnerReference().
		WithAPIVersion(gvk.GroupVersion().String()).
		WithKind(gvk.Kind).
		WithName(obj.GetName()).
		WithUID(obj.GetUID()).
		WithController(true).
		WithBlockOwnerDeletion(true)
}

// desiredConfigMap returns the immutable ConfigMap that holds one configuration. Its name carries
// the content hash, so a new configuration is a new ConfigMap and a pod never sees its files
// change under it.
func desiredConfigMap(obj Object, gvk schema.GroupVersionKind, component, namespace string, cfg Config,
	files map[string]string) *corev1ac.ConfigMapApplyConfiguration {
	return corev1ac.ConfigMap(cfg.ConfigMapName, namespace).
		WithLabels(selectorLabels(obj, component)).
		WithAnnotations(map[string]string{
			AnnotationHash: cfg.Hash,
			// Orders an object's ConfigMaps for pruning; creation times tie within a second.
			AnnotationGeneration: strconv.FormatInt(obj.GetGeneration(), 10),
		}).
		WithOwnerReferences(ownerReference(obj, gvk)).
		WithImmutable(true).
		WithData(files)
}

// rollStrategy is how a DaemonSet replaces its pods.
type rollStrategy struct {
	// hold: with the OnDelete strategy, so that the DaemonSet controller replaces no pod and each
	// Node keeps the configuration it has.
	hold bool
	// maxUnavailable, if not nil, paces the rolling update instead of spec.rollout.maxUnavailable
	// (a canary's size; see canary.go).
	maxUnavailable *intstr.IntOrString
	// canaryPassed, if not empty, is recorded on the DaemonSet as the configuration whose canary
	// passed (AnnotationCanaryPassed).
	canaryPassed string
}

// desiredDaemonSet returns the DaemonSet that rolls cfg out to the pool's Nodes as strategy says
// (by default at the pace of spec.rollout.maxUnavailable), its pods scheduled as nodePods say.
func desiredDaemonSet(obj Object, gvk schema.GroupVersionKind, component, namespace string, cfg Config,
	pod *corev1ac.PodSpecApplyConfiguration, nodePods NodePods, strategy rollStrategy, agent bool) *appsv1ac.DaemonSetApplyConfiguration {
	labels := selectorLabels(obj, component)
	pod = pod.
		WithVolumes(corev1ac.Volume().WithName(ConfigVolume).
			WithConfigMap(corev1ac.ConfigMapVolumeSource().WithName(cfg.ConfigMapName))).
		WithTolerations(tolerationApplyConfigurations(nodePods.Tolerations)...)
	// Unset rather than empty: with no priority class, innkeeper owns none, and server-side apply
	// removes the one it applied before. The same for pull secrets.
	if nodePods.PriorityClassName != "" {
		pod = pod.WithPriorityClassName(nodePods.PriorityClassName)
	}
	for _, name := range nodePods.ImagePullSecrets {
		pod = pod.WithImagePullSecrets(corev1ac.LocalObjectReference().WithName(name))
	}
	pod = pod.WithAffinity(nodeAffinity(obj.PoolSpec().NodeSelector.LabelSelector(), AdmittedLabel(component), string(obj.GetUID()), agent))
	mu := maxUnavailable(obj)
	if strategy.maxUnavailable != nil {
		mu = *strategy.maxUnavailable
	}
	update := appsv1ac.DaemonSetUpdateStrategy().
		WithType(appsv1.RollingUpdateDaemonSetStrategyType).
		WithRollingUpdate(appsv1ac.RollingUpdateDaemonSet().WithMaxUnavailable(mu))
	if strategy.hold {
		update = appsv1ac.DaemonSetUpdateStrategy().WithType(appsv1.OnDeleteDaemonSetStrategyType)
	}
	spec := appsv1ac.DaemonSetSpec()
	if soak := obj.PoolSpec().Rollout.SoakSeconds; soak > 0 {
		// Unset rather than 0, so that DaemonSets without a soak keep their spec.
		spec = spec.WithMinReadySeconds(soak)
	}
	ds := appsv1ac.DaemonSet(daemonSetName(obj, component), namespace)
	if strategy.canaryPassed != "" {
		ds = ds.WithAnnotations(map[string]string{AnnotationCanaryPassed: strategy.canaryPassed})
	}
	return ds.
		WithLabels(labels).
		WithOwnerReferences(ownerReference(obj, gvk)).
		WithSpec(spec.
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(labels)).
			WithUpdateStrategy(update).
			WithTemplate(corev1ac.PodTemplateSpec().
				WithLabels(labels).
				WithAnnotations(map[string]string{AnnotationHash: cfg.Hash}).
				WithSpec(pod)))
}

// maxUnavailable returns spec.rollout.maxUnavailable, 1 when unset.
func maxUnavailable(obj Object) intstr.IntOrString {
	if mu := obj.PoolSpec().Rollout.MaxUnavailable; mu != nil {
		return *mu
	}
	return intstr.FromInt32(1)
}

// nodeAffinity turns a label selector over Nodes into the equivalent required node affinity, and
// requires in addition that a Node be admitted to the object's rollout: labelled admittedKey=uid
// (see admission.go). matchLabels become In expressions; the selector's operators have
// node-affinity equivalents of the same name.
func nodeAffinity(sel *metav1.LabelSelector, admittedKey, uid string, agent bool) *corev1ac.AffinityApplyConfiguration {
	term := corev1ac.NodeSelectorTerm()
	keys := make([]string, 0, len(sel.MatchLabels))
	for k := range sel.MatchLabels {
		keys = append(keys, k)
	}
	sort.Strings(keys) // a stable order: the same selector always renders the same DaemonSet
	for _, k := range keys {
		term.WithMatchExpressions(corev1ac.NodeSelectorRequirement().
			WithKey(k).WithOperator(corev1.NodeSelectorOpIn).WithValues(sel.MatchLabels[k]))
	}
	for _, e := range sel.MatchExpressions {
		term.WithMatchExpressions(corev1ac.NodeSelectorRequirement().
			WithKey(e.Key).WithOperator(corev1.NodeSelectorOperator(e.Operator)).WithValues(e.Values...))
	}
	term.WithMatchExpressions(corev1ac.NodeSelectorRequirement().
		WithKey(admittedKey).WithOperator(corev1.NodeSelectorOpIn).WithValues(uid))
	terms := []*corev1ac.NodeSelectorTermApplyConfiguration{term}
	if agent {
		// Or a Node marked for revert by the object, in or out of the pool: its node agent stays to
		// revert it (see revert.go).
		terms = append(terms, corev1ac.NodeSelectorTerm().WithMatchExpressions(corev1ac.NodeSelectorRequirement().
			WithKey(admittedKey).WithOperator(corev1.NodeSelectorOpIn).WithValues(hotelv1alpha1.RevertValue(uid))))
	}
	return corev1ac.Affinity().WithNodeAffinity(corev1ac.NodeAffinity().
		WithRequiredDuringSchedulingIgnoredDuringExecution(corev1ac.NodeSelector().WithNodeSelectorTerms(terms...)))
}
