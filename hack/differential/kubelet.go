package differential

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	logsapi "k8s.io/component-base/logs/api/v1"
	metricsfeatures "k8s.io/component-base/metrics/features"
	kubeletconfigv1beta1 "k8s.io/kubelet/config/v1beta1"
	_ "k8s.io/kubernetes/pkg/features" // registers the kubelet's and kube-proxy's gates
	kubeletconfig "k8s.io/kubernetes/pkg/kubelet/apis/config"
	kubeletconfigv1beta1conversion "k8s.io/kubernetes/pkg/kubelet/apis/config/v1beta1"
	kubeletvalidation "k8s.io/kubernetes/pkg/kubelet/apis/config/validation"
	"k8s.io/kubernetes/pkg/kubelet/eviction"
	"k8s.io/kubernetes/pkg/kubelet/kubeletconfig/configfiles"
	utilfs "k8s.io/kubernetes/pkg/util/filesystem"
)

// The kubelet and kube-proxy register the logging and metrics gates in their own start-up code
// (cmd/kubelet/app, pkg/kubelet/server and cmd/kube-proxy/app, in init), beside pkg/features:
// registered here as there, so that the gates checked are the ones the components accept
// (hack/featuregates registers the same for the operator's table).
func init() {
	utilruntime.Must(logsapi.AddFeatureGates(utilfeature.DefaultMutableFeatureGate))
	utilruntime.Must(metricsfeatures.AddFeatureGates(utilfeature.DefaultMutableFeatureGate))
}

// kubeletBase is the configuration file the drop-in is merged over: the least a kubelet is
// started with, so that every other field takes the kubelet's own default. failCgroupV1 is off
// because ValidateKubeletConfiguration looks at the cgroup version of the host it runs on, and the
// machine running this test is no Node.
const kubeletBase = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nfailCgroupV1: false\n"

// checkKubelet starts the kubelet's configuration path on a rendered drop-in, as
// cmd/kubelet/app.NewKubeletCommand does with --config and --config-dir, up to the point where the
// kubelet would refuse to start on its configuration: load and default the base file, merge the
// drop-in (strictly decoded by the kubelet's own loader) as a JSON merge patch, default again,
// apply the feature gates, ValidateKubeletConfiguration, and the start-up parses the kubelet makes
// later (eviction thresholds, reserved resources, the static CPU manager's reservation, the log
// size).
func checkKubelet(ctx context.Context, dir string, dropIn []byte) error {
	base := filepath.Join(dir, "kubelet.yaml")
	dropInDir := filepath.Join(dir, "kubelet.conf.d")
	if err := os.MkdirAll(dropInDir, 0o755); err != nil {
		return err
	}
	dropInPath := filepath.Join(dropInDir, "50-innkeeper.conf")
	if err := os.WriteFile(base, []byte(kubeletBase), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(dropInPath, dropIn, 0o644); err != nil {
		return err
	}

	loader, err := configfiles.NewFsLoader(&utilfs.DefaultFs{}, base)
	if err != nil {
		return err
	}
	kc, err := loader.Load(ctx)
	if err != nil {
		return fmt.Errorf("base config: %w", err)
	}
	if err := mergeKubeletDropIn(kc, dropInPath); err != nil {
		return err
	}

	gate := utilfeature.DefaultMutableFeatureGate.DeepCopy()
	if err := gate.SetFromMap(kc.FeatureGates); err != nil {
		return fmt.Errorf("feature gates: %w", err)
	}
	if err := kubeletvalidation.ValidateKubeletConfiguration(kc, gate); err != nil {
		return fmt.Errorf("ValidateKubeletConfiguration: %w", err)
	}
	return kubeletStartChecks(kc)
}

// mergeKubeletDropIn is cmd/kubelet/app's mergeKubeletConfigurations for one drop-in file.
func mergeKubeletDropIn(kc *kubeletconfig.KubeletConfiguration, path string) error {
	versioned := &kubeletconfigv1beta1.KubeletConfiguration{}
	if err := kubeletconfigv1beta1conversion.Convert_config_KubeletConfiguration_To_v1beta1_KubeletConfiguration(kc, versioned, nil); err != nil {
		return err
	}
	baseJSON, err := json.Marshal(versioned)
	if err != nil {
		return err
	}
	loader, err := configfiles.NewFsLoader(&utilfs.DefaultFs{}, path)
	if err != nil {
		return err
	}
	dropInJSON, gvk, err := loader.LoadIntoJSON()
	if err != nil {
		return fmt.Errorf("load drop-in: %w", err)
	}
	if gvk == nil || *gvk != kubeletconfigv1beta1.SchemeGroupVersion.WithKind("KubeletConfiguration") {
		return fmt.Errorf("drop-in: unknown apiVersion/kind %v", gvk)
	}
	merged, err := jsonpatch.MergePatch(baseJSON, dropInJSON)
	if err != nil {
		return fmt.Errorf("merge drop-in: %w", err)
	}
	versioned = &kubeletconfigv1beta1.KubeletConfiguration{}
	if err := json.Unmarshal(merged, versioned); err != nil {
		return fmt.Errorf("unmarshal merged config: %w", err)
	}
	kubeletconfigv1beta1conversion.SetDefaults_KubeletConfiguration(versioned)
	return kubeletconfigv1beta1conversion.Convert_v1beta1_KubeletConfiguration_To_config_KubeletConfiguration(versioned, kc, nil)
}

// kubeletStartChecks are what the kubelet parses after validation, on its way to running, and
// exits on: each mirrors the kubelet function named.
func kubeletStartChecks(kc *kubeletconfig.KubeletConfiguration) error {
	// cmd/kubelet/app.run: eviction.ParseThresholdConfig.
	if _, err := eviction.ParseThresholdConfig(kc.EnforceNodeAllocatable, kc.EvictionHard, kc.EvictionSoft,
		kc.EvictionSoftGracePeriod, kc.EvictionMinimumReclaim); err != nil {
		return fmt.Errorf("eviction thresholds: %w", err)
	}
	// cmd/kubelet/app.run: parseResourceList of kubeReserved and systemReserved.
	var reservedCPU resource.Quantity
	for name, m := range map[string]map[string]string{"kubeReserved": kc.KubeReserved, "systemReserved": kc.SystemReserved} {
		rl, err := parseResourceList(m)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if q, ok := rl[corev1.ResourceCPU]; ok {
			reservedCPU.Add(q)
		}
	}
	// pkg/kubelet/cm/cpumanager.NewManager: the static policy needs a reservation above zero.
	if kc.CPUManagerPolicy == "static" && reservedCPU.IsZero() && kc.ReservedSystemCPUs == "" {
		return errors.New("cpumanager: the static policy requires systemreserved.cpu + kubereserved.cpu to be greater than zero")
	}
	// pkg/kubelet/logs.parseMaxSize, called by NewContainerLogManager.
	if q, err := resource.ParseQuantity(kc.ContainerLogMaxSize); err != nil {
		return fmt.Errorf("containerLogMaxSize: %w", err)
	} else if _, ok := q.AsInt64(); !ok {
		return errors.New("containerLogMaxSize: invalid max log size")
	}
	return nil
}

// parseResourceList is cmd/kubelet/app.parseResourceList.
func parseResourceList(m map[string]string) (corev1.ResourceList, error) {
	rl := corev1.ResourceList{}
	for k, v := range m {
		switch corev1.ResourceName(k) {
		case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage, "pid":
			q, err := resource.ParseQuantity(v)
			if err != nil {
				return nil, fmt.Errorf("failed to parse quantity %q for %q resource: %w", v, k, err)
			}
			if q.Sign() == -1 {
				return nil, fmt.Errorf("resource quantity for %q cannot be negative: %v", k, v)
			}
			if corev1.ResourceName(k) == corev1.ResourceCPU {
				q.SetMilli((q.ScaledValue(resource.Micro) + 500) / 1000)
			}
			rl[corev1.ResourceName(k)] = q
		default:
			return nil, fmt.Errorf("cannot reserve %q resource", k)
		}
	}
	return rl, nil
}
