// Package kubeproxy renders a Concierge's kube-proxy settings into a KubeProxyConfiguration
// (kubeproxy.config.k8s.io/v1alpha1) and checks them by kube-proxy's rules.
package kubeproxy

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/distribution/reference"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	kubeproxyconfigv1alpha1 "k8s.io/kube-proxy/config/v1alpha1"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/render"
	"github.com/innkeeper-dev/innkeeper/internal/render/featuregates"
)

// ConfigFile is the name of the configuration in its ConfigMap, as kubeadm names it.
const ConfigFile = "config.conf"

// DefaultHealthzPort is kube-proxy's default healthz port.
const DefaultHealthzPort = 10256

// Render returns the KubeProxyConfiguration of spec: the fields it sets, and kube-proxy's defaults
// for the rest. kube-proxy reaches the API server with the pod's in-cluster credentials (the
// clientConnection's kubeconfig is left empty). It fails with a field.ErrorList (paths under
// spec.kubeProxy) when kube-proxy would refuse the configuration.
func Render(spec *hotelv1alpha1.KubeProxySpec) ([]byte, error) {
	if errs := Validate(spec, field.NewPath("spec", "kubeProxy")); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	return render.Config(kind, spec, func(data []byte) error { _, err := Decode(data); return err })
}

// kind is the configuration's apiVersion and kind.
var kind = kubeproxyconfigv1alpha1.SchemeGroupVersion.WithKind("KubeProxyConfiguration")

// Decode parses a rendered configuration as strictly as kube-proxy does.
func Decode(data []byte) (*kubeproxyconfigv1alpha1.KubeProxyConfiguration, error) {
	kc := &kubeproxyconfigv1alpha1.KubeProxyConfiguration{}
	if err := render.DecodeConfig(data, kind, kc); err != nil {
		return nil, fmt.Errorf("kube-proxy configuration: %w", err)
	}
	return kc, nil
}

// HealthzPort returns the port of kube-proxy's healthz endpoint.
func HealthzPort(spec *hotelv1alpha1.KubeProxySpec) int32 {
	if spec.HealthzBindAddress != nil {
		if ap, err := netip.ParseAddrPort(*spec.HealthzBindAddress); err == nil {
			return int32(ap.Port())
		}
	}
	return DefaultHealthzPort
}

// Validate checks a Concierge's kube-proxy settings by kube-proxy's own rules
// (pkg/proxy/apis/config/validation). The CRD enforces them at admission; they are checked again
// because the renderer must never hand kube-proxy a configuration it exits on.
func Validate(spec *hotelv1alpha1.KubeProxySpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	mode := ""
	if spec.Mode != nil {
		mode = *spec.Mode
	}
	if spec.ClusterCIDR != nil {
		cidrs := strings.Split(*spec.ClusterCIDR, ",")
		if len(cidrs) > 2 {
			errs = append(errs, field.Invalid(path.Child("clusterCIDR"), *spec.ClusterCIDR, "must be one CIDR, or two separated by a comma"))
		}
		for _, c := range cidrs {
			if _, err := netip.ParsePrefix(c); err != nil {
				errs = append(errs, field.Invalid(path.Child("clusterCIDR"), *spec.ClusterCIDR, fmt.Sprintf("%q is not a CIDR", c)))
			}
		}
	}
	keywords := map[string]bool{"primary": false, "localhost": false, "all": false}
	for i, a := range spec.NodePortAddresses {
		if seen, keyword := keywords[a]; keyword {
			if seen {
				errs = append(errs, field.Duplicate(path.Child("nodePortAddresses").Index(i), a))
			}
			keywords[a] = true
			continue
		}
		if _, err := netip.ParsePrefix(a); err != nil {
			errs = append(errs, field.Invalid(path.Child("nodePortAddresses").Index(i), a, "must be a CIDR or one of the keywords primary, localhost and all"))
		}
	}
	for name, a := range map[string]*string{"metricsBindAddress": spec.MetricsBindAddress, "healthzBindAddress": spec.HealthzBindAddress} {
		if a == nil {
			continue
		}
		if ap, err := netip.ParseAddrPort(*a); err != nil || ap.Port() == 0 {
			errs = append(errs, field.Invalid(path.Child(name), *a, "must be IP:port with a port above 0"))
		}
	}
	if spec.IPVS != nil && mode != "ipvs" {
		errs = append(errs, field.Forbidden(path.Child("ipvs"), "ipvs settings need mode: ipvs"))
	}
	if spec.NFTables != nil && mode != "nftables" {
		errs = append(errs, field.Forbidden(path.Child("nftables"), "nftables settings need mode: nftables"))
	}
	if spec.IPVS != nil {
		for i, c := range spec.IPVS.ExcludeCIDRs {
			if _, err := netip.ParsePrefix(c); err != nil {
				errs = append(errs, field.Invalid(path.Child("ipvs", "excludeCIDRs").Index(i), c, "must be a CIDR"))
			}
		}
	}
	if t := spec.IPTables; t != nil {
		errs = append(errs, validateSync(path.Child("iptables"), t.MasqueradeBit, t.SyncPeriod, t.MinSyncPeriod)...)
	}
	if t := spec.NFTables; t != nil {
		errs = append(errs, validateSync(path.Child("nftables"), t.MasqueradeBit, t.SyncPeriod, t.MinSyncPeriod)...)
	}
	if c := spec.Conntrack; c != nil {
		for name, v := range map[string]*int32{"maxPerCore": c.MaxPerCore, "min": c.Min} {
			if v != nil && *v < 0 {
				errs = append(errs, field.Invalid(path.Child("conntrack", name), *v, "must not be negative"))
			}
		}
	}
	if d := spec.ConfigSyncPeriod; d != nil && d.Duration <= 0 {
		errs = append(errs, field.Invalid(path.Child("configSyncPeriod"), d.Duration.String(), "must be above 0"))
	}
	errs = append(errs, validateDetectLocal(spec, path)...)
	errs = append(errs, featuregates.Validate(spec.FeatureGates, path.Child("featureGates"))...)
	errs = append(errs, validateGatedSettings(spec, path)...)
	return errs
}

// validateGatedSettings checks the settings kube-proxy refuses without their gate
// (featuregates.KubeProxyGatedSettings), as admission does by rules generated from that list.
func validateGatedSettings(spec *hotelv1alpha1.KubeProxySpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	values := map[string]*string{"mode": spec.Mode}
	for _, s := range featuregates.KubeProxyGatedSettings {
		v, ok := values[s.Field]
		switch {
		case !ok:
			errs = append(errs, field.InternalError(path.Child(s.Field), fmt.Errorf("no kube-proxy setting %s to check against gate %s", s.Field, s.Gate)))
		case v != nil && *v == s.Value && !featuregates.Enabled(spec.FeatureGates, s.Gate):
			errs = append(errs, field.Invalid(path.Child("featureGates").Key(s.Gate), false, fmt.Sprintf(
				"is off, but %s is %s: kube-proxy refuses it without the gate", s.Field, s.Value)))
		}
	}
	return errs
}

// ValidateImage checks a Concierge's image as the kubelet and containerd parse it
// (github.com/distribution/reference, whose grammar both use): a reference such as
// registry.k8s.io/kube-proxy:v1.37.2, kube-proxy:v1.37.2 (docker.io/library) or one pinned by
// digest. Admission checks the same grammar by CEL (api/v1alpha1, held to this package's regular
// expression by a test); it is checked here again, with the parser itself, before the image
// reaches a pod template.
func ValidateImage(image string, path *field.Path) field.ErrorList {
	if _, err := reference.ParseNormalizedNamed(image); err != nil {
		return field.ErrorList{field.Invalid(path, image,
			fmt.Sprintf("must be an image reference such as registry.k8s.io/kube-proxy:v1.37.2: %v", err))}
	}
	return nil
}

// validateDetectLocal checks that each detectLocalMode has what it reads.
func validateDetectLocal(spec *hotelv1alpha1.KubeProxySpec, path *field.Path) field.ErrorList {
	// ClusterCIDR is kube-proxy's default on Linux (cmd/kube-proxy/app, platformApplyDefaults),
	// and it checks the dual-stack pair then too.
	mode := "ClusterCIDR"
	if spec.DetectLocalMode != nil {
		mode = *spec.DetectLocalMode
	}
	var errs field.ErrorList
	detect := spec.DetectLocal
	switch mode {
	case "ClusterCIDR":
		if spec.ClusterCIDR == nil {
			if spec.DetectLocalMode != nil {
				errs = append(errs, field.Required(path.Child("clusterCIDR"), "detectLocalMode ClusterCIDR needs clusterCIDR"))
			}
		} else if cidrs := strings.Split(*spec.ClusterCIDR, ","); len(cidrs) == 2 {
			a, errA := netip.ParsePrefix(cidrs[0])
			b, errB := netip.ParsePrefix(cidrs[1])
			if errA == nil && errB == nil && a.Addr().Is4() == b.Addr().Is4() {
				errs = append(errs, field.Invalid(path.Child("clusterCIDR"), *spec.ClusterCIDR,
					"two CIDRs must be one IPv4 and one IPv6 (dual-stack)"))
			}
		}
	case "BridgeInterface":
		if detect == nil || detect.BridgeInterface == nil || *detect.BridgeInterface == "" {
			errs = append(errs, field.Required(path.Child("detectLocal", "bridgeInterface"), "detectLocalMode BridgeInterface needs it"))
		}
	case "InterfaceNamePrefix":
		if detect == nil || detect.InterfaceNamePrefix == nil || *detect.InterfaceNamePrefix == "" {
			errs = append(errs, field.Required(path.Child("detectLocal", "interfaceNamePrefix"), "detectLocalMode InterfaceNamePrefix needs it"))
		}
	}
	return errs
}

// kube-proxy's defaults for the sync periods of the iptables and nftables modes, which it also puts
// in place of an explicit 0 (kubernetes pkg/proxy/apis/config/v1alpha1/defaults.go,
// SetDefaults_KubeProxyConfiguration).
const (
	defaultSyncPeriod    = 30 * time.Second
	defaultMinSyncPeriod = time.Second
)

// validateSync checks a mode's masquerade bit and sync periods.
func validateSync(path *field.Path, bit *int32, sync, minSync *metav1.Duration) field.ErrorList {
	var errs field.ErrorList
	if bit != nil && (*bit < 0 || *bit > 31) {
		errs = append(errs, field.Invalid(path.Child("masqueradeBit"), *bit, "must be from 0 to 31"))
	}
	if sync != nil && sync.Duration <= 0 {
		errs = append(errs, field.Invalid(path.Child("syncPeriod"), sync.Duration.String(), "must be above 0"))
	}
	if minSync != nil && minSync.Duration < 0 {
		errs = append(errs, field.Invalid(path.Child("minSyncPeriod"), minSync.Duration.String(), "must not be negative"))
	}
	syncOr, minOr := defaultSyncPeriod, defaultMinSyncPeriod
	if sync != nil {
		syncOr = sync.Duration
	}
	if minSync != nil && minSync.Duration != 0 {
		minOr = minSync.Duration
	}
	if minOr > syncOr {
		shown := minOr.String()
		if minSync != nil {
			shown = minSync.Duration.String()
		}
		errs = append(errs, field.Invalid(path.Child("minSyncPeriod"), shown,
			fmt.Sprintf("must not exceed syncPeriod (%s; kube-proxy's defaults, which also replace 0, are 1s and 30s)", syncOr)))
	}
	return errs
}
