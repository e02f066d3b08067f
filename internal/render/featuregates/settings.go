package featuregates

import "slices"

// GatedSetting is a setting of a component's configuration that the component refuses while a
// feature gate is off. The renderers check these, and hack/gatesapi turns them into the API's
// admission rules, so that both follow one list.
type GatedSetting struct {
	// Field is the setting's JSON name, in the component's configuration and in innkeeper's API.
	Field string
	// Value is the value that needs the gate; empty for a duration, which needs it above 0.
	Value string
	// Gate is the gate the setting needs.
	Gate string
}

// KubeletGatedSettings are the settings of a FloorManager that the kubelet refuses without their
// gate (pkg/kubelet/apis/config/validation, ValidateKubeletConfiguration).
var KubeletGatedSettings = []GatedSetting{
	{Field: "shutdownGracePeriod", Gate: gracefulNodeShutdown},
	{Field: "shutdownGracePeriodCriticalPods", Gate: gracefulNodeShutdown},
}

const gracefulNodeShutdown = "GracefulNodeShutdown"

// KubeProxyGatedSettings are the settings of a Concierge that kube-proxy refuses without their
// gate (pkg/proxy/apis/config/validation, validateProxyModeLinux: mode ipvs needs KubeProxyIPVS,
// against the gates kube-proxy set from its configuration's featureGates just before).
var KubeProxyGatedSettings = []GatedSetting{
	{Field: "mode", Value: "ipvs", Gate: "KubeProxyIPVS"},
}

// kubeletDefaultedByGate maps the gates on which the kubelet's defaulting sets a field
// (pkg/kubelet/apis/config/v1beta1/defaults.go) to that field, which its validation refuses while
// the gate is off. The kubelet defaults its configuration files with the gates of its flags,
// before it applies their featureGates, so a gate on by default cannot be turned off from a file.
var kubeletDefaultedByGate = map[string]string{
	"KubeletCrashLoopBackOffMax":      "crashLoopBackOff.maxContainerRestartPeriod",
	"KubeletEnsureSecretPulledImages": "imagePullCredentialsVerificationPolicy",
}

// KubeletUnsettable returns the gates that a kubelet configuration file cannot turn off, mapped
// to the field the kubelet defaults while they are on: those of kubeletDefaultedByGate that are
// on by default in KubernetesVersion (one off by default is never defaulted on).
func KubeletUnsettable() map[string]string {
	out := map[string]string{}
	for gate, field := range kubeletDefaultedByGate {
		if Enabled(nil, gate) {
			out[gate] = field
		}
	}
	return out
}

// OnByDefault reports whether gate is on by default in KubernetesVersion; false for an unknown gate.
func OnByDefault(gate string) bool {
	return gates[gate].Default
}

// PreRelease returns the stage of gate in KubernetesVersion: ALPHA, BETA, DEPRECATED, or empty
// for GA and for an unknown gate.
func PreRelease(gate string) string {
	return gates[gate].PreRelease
}

// Dependencies returns each gate that depends on others, with the gates it needs on, all sorted.
func Dependencies() map[string][]string {
	out := make(map[string][]string, len(dependencies))
	for name, deps := range dependencies {
		out[name] = slices.Sorted(slices.Values(deps))
	}
	return out
}
