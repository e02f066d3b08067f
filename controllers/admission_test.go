package controllers_test

import (
	"fmt"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// createOpts submit an object the way `kubectl apply` does (unknown fields are errors) without
// storing it, so admission runs in full and tests leave nothing behind.
var createOpts = []client.CreateOption{client.DryRunAll, client.FieldValidation("Strict")}

// poolObject builds an innkeeper object of kind from a YAML spec. A spec without a nodeSelector
// gets one, unless the spec sets nodeSelector to null to test that it is required.
func poolObject(kind, name, specYAML string) *unstructured.Unstructured {
	spec := map[string]any{}
	Expect(yaml.Unmarshal([]byte(specYAML), &spec)).To(Succeed())
	if sel, ok := spec["nodeSelector"]; !ok {
		spec["nodeSelector"] = map[string]any{"matchLabels": map[string]any{"pool": "test"}}
	} else if sel == nil {
		delete(spec, "nodeSelector")
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "hotel.innkeeper.dev/v1alpha1",
		"kind":       kind,
		"metadata":   map[string]any{"name": name},
		"spec":       spec,
	}}
}

// floorManager builds a FloorManager from a YAML spec (see poolObject).
func floorManager(name, specYAML string) *unstructured.Unstructured {
	return poolObject("FloorManager", name, specYAML)
}

var _ = Describe("FloorManager admission", func() {
	It("rejects a name longer than 63 characters, which could not label the pool's objects", func() {
		err := k8sClient.Create(ctx, floorManager(strings.Repeat("a", 64), `{kubelet: {}}`), createOpts...)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("metadata.name must be at most 63 characters"))
	})

	DescribeTable("the API server rejects an invalid FloorManager, naming the field",
		func(specYAML, field, message string) {
			err := k8sClient.Create(ctx, floorManager("invalid", specYAML), createOpts...)
			Expect(err).To(HaveOccurred(), "the API server accepted %s", specYAML)
			Expect(apierrors.IsInvalid(err) || apierrors.IsBadRequest(err)).To(BeTrue(), "unexpected error kind: %v", err)
			Expect(err.Error()).To(ContainSubstring(field))
			Expect(err.Error()).To(ContainSubstring(message))
		},
		Entry("no nodeSelector", `{nodeSelector: null, kubelet: {}}`,
			"spec.nodeSelector", "Required value"),
		Entry("no kubelet section", `{}`,
			"spec.kubelet", "Required value"),
		Entry("nodeSelector with an unknown operator",
			`{nodeSelector: {matchExpressions: [{key: pool, operator: Has}]}, kubelet: {}}`,
			"spec.nodeSelector", "operator must be one of In, NotIn, Exists, DoesNotExist"),
		Entry("nodeSelector In without values",
			`{nodeSelector: {matchExpressions: [{key: pool, operator: In}]}, kubelet: {}}`,
			"spec.nodeSelector", "values must be non-empty for In and NotIn"),
		Entry("maxUnavailable 0", `{rollout: {maxUnavailable: 0}, kubelet: {}}`,
			"spec.rollout.maxUnavailable", "at least 1 or a percentage from 1% to 100%"),
		Entry("maxUnavailable 0%", `{rollout: {maxUnavailable: "0%"}, kubelet: {}}`,
			"spec.rollout.maxUnavailable", "at least 1 or a percentage from 1% to 100%"),
		Entry("maxUnavailable 150%", `{rollout: {maxUnavailable: "150%"}, kubelet: {}}`,
			"spec.rollout.maxUnavailable", "at least 1 or a percentage from 1% to 100%"),
		Entry("maxUnavailable not a number", `{rollout: {maxUnavailable: "half"}, kubelet: {}}`,
			"spec.rollout.maxUnavailable", "at least 1 or a percentage from 1% to 100%"),
		Entry("maxPods 0", `{kubelet: {maxPods: 0}}`,
			"spec.kubelet.maxPods", "maxPods must be at least 1: the kubelet replaces 0 with its default, 110"),
		Entry("podPidsLimit below -1", `{kubelet: {podPidsLimit: -2}}`,
			"spec.kubelet.podPidsLimit", "should be greater than or equal to -1"),
		Entry("registryPullQPS negative", `{kubelet: {registryPullQPS: -1}}`,
			"spec.kubelet.registryPullQPS", "should be greater than or equal to 0"),
		Entry("imageGCHighThresholdPercent above 100", `{kubelet: {imageGCHighThresholdPercent: 101}}`,
			"spec.kubelet.imageGCHighThresholdPercent", "should be less than or equal to 100"),
		Entry("image GC low threshold not below high",
			`{kubelet: {imageGCHighThresholdPercent: 80, imageGCLowThresholdPercent: 80}}`,
			"spec.kubelet", "imageGCLowThresholdPercent must be lower than imageGCHighThresholdPercent"),
		Entry("imageMaximumGCAge not above imageMinimumGCAge",
			`{kubelet: {imageMinimumGCAge: 10m, imageMaximumGCAge: 5m}}`,
			"spec.kubelet", "imageMaximumGCAge must be 0 (no maximum) or greater than imageMinimumGCAge"),
		Entry("imageMaximumGCAge not above the default minimum of 2m",
			`{kubelet: {imageMaximumGCAge: 1m}}`,
			"spec.kubelet", "imageMaximumGCAge must be 0 (no maximum) or greater than imageMinimumGCAge"),
		Entry("imageMinimumGCAge not a Go duration", `{kubelet: {imageMinimumGCAge: "2 days"}}`,
			"spec.kubelet.imageMinimumGCAge", "should match"),
		Entry("maxParallelImagePulls 0", `{kubelet: {maxParallelImagePulls: 0}}`,
			"spec.kubelet.maxParallelImagePulls", "should be greater than or equal to 1"),
		Entry("maxParallelImagePulls above 1 with serialized pulls", `{kubelet: {maxParallelImagePulls: 5}}`,
			"spec.kubelet", "maxParallelImagePulls greater than 1 needs serializeImagePulls: false"),
		Entry("unknown cpuManagerPolicy", `{kubelet: {cpuManagerPolicy: dynamic}}`,
			"spec.kubelet.cpuManagerPolicy", "Unsupported value"),
		Entry("static cpuManagerPolicy without reserved CPU",
			`{kubelet: {cpuManagerPolicy: static, kubeReserved: {memory: 1Gi}}}`,
			"spec.kubelet", "cpuManagerPolicy static needs a CPU reservation"),
		Entry("unknown topologyManagerPolicy", `{kubelet: {topologyManagerPolicy: numa}}`,
			"spec.kubelet.topologyManagerPolicy", "Unsupported value"),
		Entry("unknown topologyManagerScope", `{kubelet: {topologyManagerScope: node}}`,
			"spec.kubelet.topologyManagerScope", "Unsupported value"),
		Entry("shutdownGracePeriod below 1s", `{kubelet: {shutdownGracePeriod: 500ms}}`,
			"spec.kubelet.shutdownGracePeriod", "must be 0 or at least 1s"),
		Entry("shutdownGracePeriodCriticalPods above shutdownGracePeriod",
			`{kubelet: {shutdownGracePeriod: 30s, shutdownGracePeriodCriticalPods: 1m}}`,
			"spec.kubelet", "shutdownGracePeriodCriticalPods must not exceed shutdownGracePeriod"),
		Entry("evictionHard with an unknown signal", `{kubelet: {evictionHard: {memory.free: 1Gi}}}`,
			"spec.kubelet.evictionHard", "evictionHard keys must be eviction signals"),
		Entry("evictionHard threshold neither quantity nor percentage", `{kubelet: {evictionHard: {memory.available: lots}}}`,
			"spec.kubelet.evictionHard[", "must be a positive quantity (500Mi) or a percentage from 0% to 100%"),
		Entry("evictionHard percentage above 100", `{kubelet: {evictionHard: {nodefs.available: 150%}}}`,
			"spec.kubelet.evictionHard[", "must be a positive quantity (500Mi) or a percentage from 0% to 100%"),
		Entry("evictionSoft signal without a grace period", `{kubelet: {evictionSoft: {memory.available: 1Gi}}}`,
			"spec.kubelet", "every evictionSoft signal needs an evictionSoftGracePeriod entry"),
		Entry("evictionSoftGracePeriod not a duration",
			`{kubelet: {evictionSoft: {memory.available: 1Gi}, evictionSoftGracePeriod: {memory.available: soon}}}`,
			"spec.kubelet.evictionSoftGracePeriod[memory.available]", "must be a duration such as 90s or 1m30s"),
		Entry("evictionMinimumReclaim with an unknown signal", `{kubelet: {evictionMinimumReclaim: {disk: 1Gi}}}`,
			"spec.kubelet.evictionMinimumReclaim", "keys must be eviction signals"),
		Entry("containerLogMaxSize not a quantity", `{kubelet: {containerLogMaxSize: big}}`,
			"spec.kubelet.containerLogMaxSize", "must be a positive quantity"),
		Entry("containerLogMaxFiles below 2", `{kubelet: {containerLogMaxFiles: 1}}`,
			"spec.kubelet.containerLogMaxFiles", "should be greater than or equal to 2"),
		Entry("kubeReserved cpu not a quantity", `{kubelet: {kubeReserved: {cpu: lots}}}`,
			"spec.kubelet.kubeReserved.cpu", "Invalid value"),
		Entry("kubeReserved memory negative", `{kubelet: {kubeReserved: {memory: -1Gi}}}`,
			"spec.kubelet.kubeReserved", "reserved resources must not be negative"),
		Entry("feature gate not CamelCase", `{kubelet: {featureGates: {kubeletTracing: true}}}`,
			"spec.kubelet.featureGates", "featureGates names must be CamelCase"),
		Entry("cgroupDriver, which can cut a node off, is not offered", `{kubelet: {cgroupDriver: cgroupfs}}`,
			"spec.kubelet.cgroupDriver", "unknown field"),
		Entry("clusterDNS, which can cut a node off, is not offered", `{kubelet: {clusterDNS: [10.0.0.10]}}`,
			"spec.kubelet.clusterDNS", "unknown field"),
		Entry("staticPodPath is not offered", `{kubelet: {staticPodPath: /tmp}}`,
			"spec.kubelet.staticPodPath", "unknown field"),
	)

	DescribeTable("the API server accepts a valid FloorManager",
		func(specYAML string) {
			Expect(k8sClient.Create(ctx, floorManager("valid", specYAML), createOpts...)).To(Succeed())
		},
		Entry("an empty kubelet section", `{kubelet: {}}`),
		Entry("a selector of every node", `{nodeSelector: {}, kubelet: {maxPods: 250}}`),
		Entry("a percentage maxUnavailable", `{rollout: {maxUnavailable: "100%", paused: true}, kubelet: {}}`),
		Entry("static CPU manager with system-reserved CPU",
			`{kubelet: {cpuManagerPolicy: static, systemReserved: {cpu: 500m}}}`),
		Entry("image GC thresholds and ages",
			`{kubelet: {imageGCHighThresholdPercent: 90, imageGCLowThresholdPercent: 10, imageMaximumGCAge: 0s}}`),
		Entry("every field set", `
kubelet:
  maxPods: 200
  podsPerCore: 0
  podPidsLimit: -1
  kubeReserved: {cpu: 1, memory: 2Gi, ephemeral-storage: 10Gi, pid: "1000"}
  systemReserved: {cpu: 500m, memory: 1Gi}
  evictionHard: {memory.available: 100Mi, nodefs.available: "10%", pid.available: "5%", imagefs.inodesFree: "0%"}
  evictionSoft: {memory.available: 1.5Gi, imagefs.available: "12.5%"}
  evictionSoftGracePeriod: {memory.available: 1m30s, imagefs.available: 2m}
  evictionMinimumReclaim: {memory.available: 0Mi, nodefs.available: 500Mi}
  evictionPressureTransitionPeriod: 5m
  evictionMaxPodGracePeriod: 30
  imageGCHighThresholdPercent: 85
  imageGCLowThresholdPercent: 80
  imageMinimumGCAge: 2m
  imageMaximumGCAge: 720h
  serializeImagePulls: false
  maxParallelImagePulls: 8
  registryPullQPS: 0
  registryBurst: 20
  containerLogMaxSize: 100Mi
  containerLogMaxFiles: 3
  cpuManagerPolicy: static
  topologyManagerPolicy: best-effort
  topologyManagerScope: container
  shutdownGracePeriod: 1m
  shutdownGracePeriodCriticalPods: 30s
  featureGates: {KubeletTracing: true, MemoryQoS: false}
`),
	)

	It("accepts every sample in config/samples", func() {
		files, err := filepath.Glob(filepath.Join("..", "config", "samples", "*.yaml"))
		Expect(err).NotTo(HaveOccurred())
		samples := 0
		for _, file := range files {
			if filepath.Base(file) == "kustomization.yaml" {
				continue
			}
			for _, obj := range readManifests(file) {
				Expect(k8sClient.Create(ctx, obj, createOpts...)).To(Succeed(),
					fmt.Sprintf("sample %s (%s %s)", file, obj.GetKind(), obj.GetName()))
				samples++
			}
		}
		Expect(samples).To(BeNumerically(">=", 2), "no samples found in config/samples")
	})
})
