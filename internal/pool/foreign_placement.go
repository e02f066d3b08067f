package pool

import (
	"slices"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"

	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
)

// foreignOverlap is a DaemonSet innkeeper does not manage that runs the component on pool Nodes.
type foreignOverlap struct {
	daemonSet string // namespace/name
	nodes     []string
}

// foreignDaemonSets returns, by name, the DaemonSets among dss that are not innkeeper's, run the
// component (per ex) and would run a pod on some of the selected Nodes: their required node
// affinity and node selector match the Node, and they tolerate its NoSchedule and NoExecute taints.
// own (namespace/name) is the object's own DaemonSet, never foreign: if it lost innkeeper's label,
// the next apply puts it back.
func foreignDaemonSets(ex Exclusive, dss []appsv1.DaemonSet, selected []*corev1.Node, own string) []foreignOverlap {
	var out []foreignOverlap
	for i := range dss {
		ds := &dss[i]
		if ds.Labels[LabelManagedBy] == ManagedByValue || ds.Namespace+"/"+ds.Name == own || !ex.Foreign(ds) {
			continue
		}
		affinity := nodeaffinity.GetRequiredNodeAffinity(&corev1.Pod{Spec: ds.Spec.Template.Spec})
		var nodes []string
		for j := range selected {
			node := selected[j]
			if ok, err := affinity.Match(node); err != nil || !ok {
				continue
			}
			if _, untolerated := corev1helpers.FindMatchingUntoleratedTaint(klog.Background(), node.Spec.Taints,
				daemonSetTolerations(&ds.Spec.Template.Spec), scheduleBlocking, false); untolerated {
				continue
			}
			nodes = append(nodes, node.Name)
		}
		if len(nodes) > 0 {
			sort.Strings(nodes)
			out = append(out, foreignOverlap{daemonSet: ds.Namespace + "/" + ds.Name, nodes: nodes})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].daemonSet < out[j].daemonSet })
	return out
}

// daemonSetTolerations returns a DaemonSet pod's tolerations with those the DaemonSet controller adds
// to every daemon pod (pkg/controller/daemon/util): its pods run on Nodes that are not ready,
// unreachable, under pressure or cordoned, and, with host networking, without a network.
func daemonSetTolerations(pod *corev1.PodSpec) []corev1.Toleration {
	tolerations := append([]corev1.Toleration(nil), pod.Tolerations...)
	add := func(key string, effect corev1.TaintEffect) {
		tolerations = append(tolerations, corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: effect})
	}
	add(corev1.TaintNodeNotReady, corev1.TaintEffectNoExecute)
	add(corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute)
	add(corev1.TaintNodeDiskPressure, corev1.TaintEffectNoSchedule)
	add(corev1.TaintNodeMemoryPressure, corev1.TaintEffectNoSchedule)
	add(corev1.TaintNodePIDPressure, corev1.TaintEffectNoSchedule)
	add(corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule)
	if pod.HostNetwork {
		add(corev1.TaintNodeNetworkUnavailable, corev1.TaintEffectNoSchedule)
	}
	return tolerations
}

// scheduleBlocking keeps the taints that keep a DaemonSet's pod off a Node.
func scheduleBlocking(t *corev1.Taint) bool {
	return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
}

// excludingAffinity returns original narrowed to the Nodes not admitted to the rollouts of the
// objects with uids (admittedKey is the component's admission label): each required node-affinity
// term of original (a Node matches if any term does) gains the requirement admittedKey NotIn uids,
// which a Node without the label meets too. So the foreign DaemonSet leaves a pool's Nodes as they
// are admitted to the object's rollout, in its waves, not all at once.
func excludingAffinity(original *corev1.Affinity, admittedKey string, uids []string) *corev1.Affinity {
	out := original.DeepCopy()
	if len(uids) == 0 {
		return out
	}
	if out == nil {
		out = &corev1.Affinity{}
	}
	if out.NodeAffinity == nil {
		out.NodeAffinity = &corev1.NodeAffinity{}
	}
	required := out.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	terms := []corev1.NodeSelectorTerm{{}}
	if required != nil && len(required.NodeSelectorTerms) > 0 {
		terms = required.NodeSelectorTerms
	}
	values := slices.Sorted(slices.Values(uids))
	for i := range terms {
		terms[i].MatchExpressions = append(terms[i].MatchExpressions, corev1.NodeSelectorRequirement{
			Key: admittedKey, Operator: corev1.NodeSelectorOpNotIn, Values: values})
	}
	out.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{NodeSelectorTerms: terms}
	return out
}

// placementTaints returns the Node's taints that keep pods off it (NoSchedule, NoExecute), without
// their times.
func placementTaints(n *corev1.Node) []corev1.Taint {
	var out []corev1.Taint
	for _, t := range n.Spec.Taints {
		if scheduleBlocking(&t) {
			out = append(out, corev1.Taint{Key: t.Key, Value: t.Value, Effect: t.Effect})
		}
	}
	return out
}
