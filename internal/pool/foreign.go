package pool

import (
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"

	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
)

// Exclusive is implemented by a Component of which a Node must never run two, such as kube-proxy:
// before it rolls anything out, the engine looks for DaemonSets that it does not manage and that
// run the component on the pool's Nodes, and stalls while there are any.
type Exclusive interface {
	// Foreign reports whether a DaemonSet runs the component.
	Foreign(ds *appsv1.DaemonSet) bool
	// ForeignReason is the Stalled reason while a foreign DaemonSet runs on the pool, such as
	// ForeignKubeProxy.
	ForeignReason() string
}

// foreignOverlap is a DaemonSet innkeeper does not manage that runs the component on pool Nodes.
type foreignOverlap struct {
	daemonSet string // namespace/name
	nodes     []string
}

// foreignDaemonSets returns, by name, the DaemonSets among dss that are not innkeeper's, run the
// component (per ex) and would run a pod on some of the selected Nodes: their required node
// affinity and node selector match the Node, and they tolerate its NoSchedule and NoExecute taints.
func foreignDaemonSets(ex Exclusive, dss []appsv1.DaemonSet, selected []corev1.Node) []foreignOverlap {
	var out []foreignOverlap
	for i := range dss {
		ds := &dss[i]
		if ds.Labels[LabelManagedBy] == ManagedByValue || !ex.Foreign(ds) {
			continue
		}
		affinity := nodeaffinity.GetRequiredNodeAffinity(&corev1.Pod{Spec: ds.Spec.Template.Spec})
		var nodes []string
		for j := range selected {
			node := &selected[j]
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

// foreignStall describes foreign DaemonSets on the pool as a stall.
func foreignStall(reason, component string, overlaps []foreignOverlap) *stall {
	o := overlaps[0]
	more := ""
	if len(overlaps) > 1 {
		more = fmt.Sprintf(" (and %d more DaemonSets)", len(overlaps)-1)
	}
	return &stall{reason: reason, message: fmt.Sprintf(
		"DaemonSet %s%s, which innkeeper does not manage, runs %s on %d selected Nodes (%s); two on one Node "+
			"would fight. Keep it off the pool (for kubeadm's kube-system/kube-proxy, a node-affinity term that "+
			"excludes the pool's label); until then nothing is rolled out and this object's DaemonSet is removed. "+
			"Rechecked every 30s.",
		o.daemonSet, more, component, len(o.nodes), nameList(o.nodes))}
}
