package differential

import (
	"fmt"

	utilfeature "k8s.io/apiserver/pkg/util/feature"
	kubeproxyconfig "k8s.io/kubernetes/pkg/proxy/apis/config"
	proxyconfigscheme "k8s.io/kubernetes/pkg/proxy/apis/config/scheme"
	kubeproxyvalidation "k8s.io/kubernetes/pkg/proxy/apis/config/validation"
	"k8s.io/kubernetes/pkg/util/parsers"
)

// checkKubeProxy runs kube-proxy's configuration path on a rendered configuration, as
// cmd/kube-proxy/app's Options.Complete and Validate do on Linux with --config: strict decoding
// and defaulting through kube-proxy's scheme (loadConfig), the Linux defaults
// (platformApplyDefaults), the feature gates (SetFromMap) and validation.Validate.
func checkKubeProxy(config []byte) error {
	obj, gvk, err := proxyconfigscheme.Codecs.UniversalDecoder().Decode(config, nil, nil)
	if err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	kc, ok := obj.(*kubeproxyconfig.KubeProxyConfiguration)
	if !ok {
		return fmt.Errorf("decode: unexpected config type %v", gvk)
	}
	// cmd/kube-proxy/app/server_linux.go, platformApplyDefaults.
	if kc.Mode == "" {
		kc.Mode = kubeproxyconfig.ProxyModeIPTables
	}
	if kc.Mode == kubeproxyconfig.ProxyModeNFTables && len(kc.NodePortAddresses) == 0 {
		kc.NodePortAddresses = []string{kubeproxyconfig.NodePortAddressesPrimary}
	}
	if kc.DetectLocalMode == "" {
		kc.DetectLocalMode = kubeproxyconfig.LocalModeClusterCIDR
	}
	gate := utilfeature.DefaultMutableFeatureGate.DeepCopy()
	if err := gate.SetFromMap(kc.FeatureGates); err != nil {
		return fmt.Errorf("feature gates: %w", err)
	}
	// kube-proxy sets its process-wide gates from the configuration before it validates it, and
	// validation reads them from there (validateProxyModeLinux: mode ipvs needs KubeProxyIPVS), so
	// validate against this configuration's gates, not the test binary's defaults. The objects are
	// checked one at a time.
	defaultGate := utilfeature.DefaultFeatureGate
	utilfeature.DefaultFeatureGate = gate
	defer func() { utilfeature.DefaultFeatureGate = defaultGate }()
	if errs := kubeproxyvalidation.Validate(kc); len(errs) > 0 {
		return fmt.Errorf("validation.Validate: %w", errs.ToAggregate())
	}
	return nil
}

// checkImage parses a Concierge's image with the kubelet's own image parser, which it runs
// before it pulls the image of a pod.
func checkImage(image string) error {
	_, _, _, err := parsers.ParseImageName(image)
	return err
}
