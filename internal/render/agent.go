package render

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
)

// AgentContainer returns the node agent's container (`innkeeper agent`, args after "agent", then
// --health-port), as every component that runs the agent runs it: privileged and as root, since
// systemd accepts restart requests over D-Bus from root only (the system bus's socket is at
// /run/dbus, which the caller mounts with the component's own directories); the Node's name from
// the downward API; Ready once its /readyz on the host's loopback says the configuration is
// applied, which is what paces the DaemonSet's rollout.
func AgentContainer(image string, healthPort int32, args ...string) *corev1ac.ContainerApplyConfiguration {
	return corev1ac.Container().
		WithName("agent").
		WithImage(image).
		WithArgs(append(append([]string{"agent"}, args...), fmt.Sprintf("--health-port=%d", healthPort))...).
		WithEnv(
			corev1ac.EnvVar().WithName("NODE_NAME").WithValueFrom(corev1ac.EnvVarSource().
				WithFieldRef(corev1ac.ObjectFieldSelector().WithFieldPath("spec.nodeName"))),
			corev1ac.EnvVar().WithName("DBUS_SYSTEM_BUS_ADDRESS").WithValue("unix:path=/run/dbus/system_bus_socket"),
		).
		WithSecurityContext(corev1ac.SecurityContext().WithPrivileged(true).WithRunAsUser(0).WithRunAsNonRoot(false)).
		WithReadinessProbe(corev1ac.Probe().
			WithHTTPGet(corev1ac.HTTPGetAction().WithHost("127.0.0.1").WithPath("/readyz").
				WithPort(intstr.FromInt32(healthPort))).
			WithPeriodSeconds(5).
			WithFailureThreshold(3)).
		WithResources(corev1ac.ResourceRequirements().
			WithRequests(corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("10m"),
				corev1.ResourceMemory: resource.MustParse("32Mi"),
			}).
			WithLimits(corev1.ResourceList{
				corev1.ResourceMemory: resource.MustParse("128Mi"),
			}))
}
