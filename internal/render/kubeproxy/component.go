package kubeproxy

import (
	"fmt"
	"net/netip"
	"net/url"
	"path"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/pool"
	"github.com/innkeeper-dev/innkeeper/internal/render"
)

// Name is the component's name in object names and labels.
const Name = "kube-proxy"

// configDir is where kube-proxy's pod mounts its configuration, as kubeadm mounts it.
const configDir = "/var/lib/kube-proxy"

// Component renders Concierges for the rollout engine: the DaemonSet is kube-proxy itself, run as
// kubeadm runs it.
type Component struct {
	// DefaultImage is the kube-proxy image of a Concierge that names none: the API server's version.
	DefaultImage string
	// ServiceAccount is kube-proxy's ServiceAccount, bound to the ClusterRole system:node-proxier.
	ServiceAccount string
	// APIServer is the URL kube-proxy reaches the API server at, such as https://10.0.0.10:6443.
	// Empty: the kubernetes Service, which has no route on a Node until a kube-proxy programs one.
	APIServer string
	// Resources are kube-proxy's container resources; nil means DefaultResources.
	Resources *corev1.ResourceRequirements
}

// DefaultResources are kube-proxy's resources unless the installation sets others: kubeadm's
// request, no limit (a throttled kube-proxy delays every Service's rules).
func DefaultResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{Requests: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi"),
	}}
}

var (
	_ pool.Component = Component{}
	_ pool.Exclusive = Component{}
	_ pool.Orphaning = Component{}
)

// Orphan reports whether a Concierge's kube-proxy must outlive it (deletionPolicy: Orphan).
func (Component) Orphan(obj pool.Object) bool {
	cg, err := concierge(obj)
	return err == nil && cg.Spec.DeletionPolicy == hotelv1alpha1.DeletionPolicyOrphan
}

// Name returns "kube-proxy".
func (Component) Name() string { return Name }

// NodeAgent returns false: kube-proxy's own readiness is what the DaemonSet reports.
func (Component) NodeAgent() bool { return false }

// Foreign reports whether a DaemonSet runs kube-proxy: a container of the kube-proxy image, or
// whose command is kube-proxy.
func (Component) Foreign(ds *appsv1.DaemonSet) bool {
	for _, c := range ds.Spec.Template.Spec.Containers {
		repo, _, _ := strings.Cut(c.Image, "@") // drop a digest
		if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
			repo = repo[:i] // drop a tag, not a registry's port
		}
		if path.Base(repo) == Name {
			return true
		}
		for _, argv := range [][]string{c.Command, c.Args} {
			if len(argv) > 0 && path.Base(argv[0]) == Name {
				return true
			}
		}
	}
	return false
}

// TakeOver reports whether a Concierge takes its Nodes from other kube-proxies (spec.takeOver).
func (Component) TakeOver(obj pool.Object) bool {
	cg, err := concierge(obj)
	return err == nil && cg.Spec.TakeOver
}

// ForeignReason returns ForeignKubeProxy.
func (Component) ForeignReason() string { return hotelv1alpha1.ReasonForeignKubeProxy }

// Render returns the KubeProxyConfiguration of a Concierge.
func (Component) Render(obj pool.Object, _ pool.Inputs) (map[string]string, error) {
	cg, err := concierge(obj)
	if err != nil {
		return nil, err
	}
	if cg.Spec.Image != nil {
		if errs := ValidateImage(*cg.Spec.Image, field.NewPath("spec", "image")); len(errs) > 0 {
			return nil, errs.ToAggregate()
		}
	}
	data, err := Render(&cg.Spec.KubeProxy)
	if err != nil {
		return nil, err
	}
	return map[string]string{ConfigFile: string(data)}, nil
}

func concierge(obj pool.Object) (*hotelv1alpha1.Concierge, error) {
	cg, ok := obj.(*hotelv1alpha1.Concierge)
	if !ok {
		return nil, fmt.Errorf("kube-proxy component got a %T, not a Concierge", obj)
	}
	return cg, nil
}

// env is kube-proxy's environment: its Node's name and, when known, the API server's own address,
// which the in-cluster client then uses instead of the kubernetes Service (as kubeadm's kubeconfig
// for kube-proxy does).
func (c Component) env() []*corev1ac.EnvVarApplyConfiguration {
	env := []*corev1ac.EnvVarApplyConfiguration{corev1ac.EnvVar().WithName("NODE_NAME").WithValueFrom(corev1ac.EnvVarSource().
		WithFieldRef(corev1ac.ObjectFieldSelector().WithAPIVersion("v1").WithFieldPath("spec.nodeName")))}
	if u, err := url.Parse(c.APIServer); err == nil && u.Hostname() != "" {
		port := u.Port()
		if port == "" {
			port = "443"
		}
		env = append(env,
			corev1ac.EnvVar().WithName("KUBERNETES_SERVICE_HOST").WithValue(u.Hostname()),
			corev1ac.EnvVar().WithName("KUBERNETES_SERVICE_PORT").WithValue(port))
	}
	return env
}

// PodSpec returns kube-proxy's pod, as kubeadm's (cmd/kubeadm/app/phases/addons/proxy): host
// network, privileged, the xtables lock and kernel modules of the host, ready when its healthz is.
func (c Component) PodSpec(obj pool.Object, _ pool.Config) *corev1ac.PodSpecApplyConfiguration {
	image := c.DefaultImage
	healthzPort, healthzHost := int32(DefaultHealthzPort), "127.0.0.1"
	if cg, err := concierge(obj); err == nil {
		if cg.Spec.Image != nil {
			image = *cg.Spec.Image
		}
		healthzPort = HealthzPort(&cg.Spec.KubeProxy)
		// A healthz bound to one address answers there only.
		if a := cg.Spec.KubeProxy.HealthzBindAddress; a != nil {
			if ap, err := netip.ParseAddrPort(*a); err == nil && !ap.Addr().IsUnspecified() {
				healthzHost = ap.Addr().String()
			}
		}
	}
	return corev1ac.PodSpec().
		WithServiceAccountName(c.ServiceAccount).
		WithHostNetwork(true).
		WithDNSPolicy(corev1.DNSClusterFirstWithHostNet).
		WithNodeSelector(map[string]string{corev1.LabelOSStable: "linux"}).
		WithContainers(corev1ac.Container().
			WithName("kube-proxy").
			WithImage(image).
			WithCommand("/usr/local/bin/kube-proxy",
				"--config="+configDir+"/"+ConfigFile,
				"--hostname-override=$(NODE_NAME)").
			WithEnv(c.env()...).
			WithSecurityContext(corev1ac.SecurityContext().WithPrivileged(true)).
			WithReadinessProbe(corev1ac.Probe().
				WithHTTPGet(corev1ac.HTTPGetAction().WithHost(healthzHost).WithPath("/healthz").
					WithPort(intstr.FromInt32(healthzPort))).
				WithPeriodSeconds(10).
				WithFailureThreshold(3)).
			WithResources(render.Resources(c.Resources, DefaultResources())).
			WithVolumeMounts(
				corev1ac.VolumeMount().WithName(pool.ConfigVolume).WithMountPath(configDir).WithReadOnly(true),
				corev1ac.VolumeMount().WithName("xtables-lock").WithMountPath("/run/xtables.lock"),
				corev1ac.VolumeMount().WithName("lib-modules").WithMountPath("/lib/modules").WithReadOnly(true),
			)).
		WithVolumes(
			render.HostPathVolume("xtables-lock", "/run/xtables.lock", corev1.HostPathFileOrCreate),
			render.HostPathVolume("lib-modules", "/lib/modules", ""),
		)
}
