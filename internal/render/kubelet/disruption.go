package kubelet

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	kubeletconfigv1beta1 "k8s.io/kubelet/config/v1beta1"
)

// Every kubelet change restarts the kubelet, which keeps its pods running. A few fields change what
// the pods already running there were admitted with, or how their resources are held, and the
// kubelet re-admits its pods when it starts: those changes drain the Node first (see
// spec.rollout.drain). Each field of the API is in exactly one class, and a test holds this table
// to the API, so that a new field is classed when it is added.
//
//   - drain on any change: cpuManagerPolicy (the kubelet refuses to start with a policy other than
//     its checkpoint's, and exclusive cores move), topologyManagerPolicy, topologyManagerScope
//     (alignment of the pods' CPUs and devices);
//   - drain when they take room from pods: kubeReserved, systemReserved (a reservation that grows
//     shrinks allocatable, and the re-admitted pods may no longer fit), evictionHard's
//     memory.available and nodefs.available (taken off allocatable too) raised or changed between
//     an amount and a percentage, maxPods lowered, podsPerCore set or lowered (pods over the new
//     count are rejected);
//   - restart only: every other field.

// drainAlways are the fields whose every change needs a drain, by their JSON names.
var drainAlways = []string{"cpuManagerPolicy", "topologyManagerPolicy", "topologyManagerScope"}

// drainWhenTighter are the fields whose change needs a drain when it leaves less room for pods.
var drainWhenTighter = []string{"kubeReserved", "systemReserved", "evictionHard", "maxPods", "podsPerCore"}

// restartOnly are the fields whose change restarts the kubelet and drains nothing.
var restartOnly = []string{
	"evictionSoft", "evictionSoftGracePeriod", "evictionMinimumReclaim", "evictionPressureTransitionPeriod",
	"evictionMaxPodGracePeriod", "podPidsLimit", "imageGCHighThresholdPercent", "imageGCLowThresholdPercent",
	"imageMinimumGCAge", "imageMaximumGCAge", "serializeImagePulls", "maxParallelImagePulls", "registryPullQPS",
	"registryBurst", "containerLogMaxSize", "containerLogMaxFiles", "shutdownGracePeriod",
	"shutdownGracePeriodCriticalPods", "featureGates",
}

// defaultMaxPods is the kubelet's maxPods when no configuration sets it.
const defaultMaxPods = 110

// Disruption returns, sorted, the fields whose change from the drop-in current (empty: none on the
// Node) to want needs the Node drained, nil if a restart is enough. A field current does not set
// counts as the kubelet's default (a reservation of 0), so a drop-in that sets it for the first
// time drains if the default leaves more room.
func Disruption(current, want []byte) ([]string, error) {
	from := &kubeletconfigv1beta1.KubeletConfiguration{}
	if len(current) > 0 {
		var err error
		if from, err = Decode(current); err != nil {
			return nil, fmt.Errorf("the drop-in on the Node: %w", err)
		}
	}
	to, err := Decode(want)
	if err != nil {
		return nil, err
	}
	var fields []string
	if from.CPUManagerPolicy != to.CPUManagerPolicy {
		fields = append(fields, "cpuManagerPolicy")
	}
	if from.TopologyManagerPolicy != to.TopologyManagerPolicy {
		fields = append(fields, "topologyManagerPolicy")
	}
	if from.TopologyManagerScope != to.TopologyManagerScope {
		fields = append(fields, "topologyManagerScope")
	}
	if grows(from.KubeReserved, to.KubeReserved) {
		fields = append(fields, "kubeReserved")
	}
	if grows(from.SystemReserved, to.SystemReserved) {
		fields = append(fields, "systemReserved")
	}
	if evictionHardTighter(from.EvictionHard, to.EvictionHard) {
		fields = append(fields, "evictionHard")
	}
	if maxPods(from.MaxPods) > maxPods(to.MaxPods) {
		fields = append(fields, "maxPods")
	}
	if tighterPerCore(from.PodsPerCore, to.PodsPerCore) {
		fields = append(fields, "podsPerCore")
	}
	slices.Sort(fields)
	return fields, nil
}

// grows reports whether a reservation takes more of some resource in to than in from (unset: 0).
func grows(from, to map[string]string) bool {
	for name, v := range to {
		want, err := resource.ParseQuantity(v)
		if err != nil {
			return true // Decode accepted it as a string: treat the unknown as a change that drains
		}
		had := resource.Quantity{}
		if old, ok := from[name]; ok {
			if had, err = resource.ParseQuantity(old); err != nil {
				return true
			}
		}
		if want.Cmp(had) > 0 {
			return true
		}
	}
	return false
}

// allocatableThresholds are the hard eviction signals the kubelet takes off allocatable, with
// their defaults.
var allocatableThresholds = map[string]string{"memory.available": "100Mi", "nodefs.available": "10%"}

// evictionHardTighter reports whether to's hard eviction thresholds take more off allocatable than
// from's (unset: the kubelet's default): an amount that grows, or one whose form changes between an
// amount and a percentage, which cannot be compared without the Node's capacity.
func evictionHardTighter(from, to map[string]string) bool {
	for signal, def := range allocatableThresholds {
		was, now := cmp.Or(from[signal], def), cmp.Or(to[signal], def)
		if was == now {
			continue
		}
		a, errA := resource.ParseQuantity(was)
		b, errB := resource.ParseQuantity(now)
		if errA != nil || errB != nil {
			// A percentage on either side.
			if strings.HasSuffix(was, "%") && strings.HasSuffix(now, "%") {
				p, _ := strconv.ParseFloat(strings.TrimSuffix(was, "%"), 64)
				q, _ := strconv.ParseFloat(strings.TrimSuffix(now, "%"), 64)
				if q <= p {
					continue
				}
			}
			return true
		}
		if b.Cmp(a) > 0 {
			return true
		}
	}
	return false
}

// maxPods returns the kubelet's maxPods for a configured value (0: unset, the default).
func maxPods(v int32) int32 {
	if v == 0 {
		return defaultMaxPods
	}
	return v
}

// tighterPerCore reports whether podsPerCore allows fewer pods in to than in from (0: no limit).
func tighterPerCore(from, to int32) bool {
	switch {
	case to == 0:
		return false
	case from == 0:
		return true
	}
	return to < from
}
