package controllers_test

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Admission parity (#15): an object the API server admits must render a configuration its
// component takes. Each table below holds the cases of one class of gap: the invalid object is
// rejected with a message naming the field, and its valid neighbour is admitted.

// expectRejected submits obj and expects the API server to refuse it with an error naming field
// and containing message.
func expectRejected(obj *unstructured.Unstructured, field, message string) {
	GinkgoHelper()
	err := k8sClient.Create(ctx, obj, createOpts...)
	Expect(err).To(HaveOccurred(), "the API server accepted %v", obj.Object["spec"])
	Expect(apierrors.IsInvalid(err) || apierrors.IsBadRequest(err)).To(BeTrue(), "unexpected error kind: %v", err)
	Expect(err.Error()).To(ContainSubstring(field))
	Expect(err.Error()).To(ContainSubstring(message))
}

// builders maps a kind to the function that builds one of its objects from a YAML spec.
var builders = map[string]func(name, specYAML string) *unstructured.Unstructured{
	"FloorManager": floorManager, "Concierge": concierge, "RoomService": roomService,
}

var _ = Describe("Admission parity", func() {
	// Class 3: a duration that overflows Go's int64 nanoseconds matches the duration pattern, but
	// no Go program can decode it (the manager's own decoding included).
	DescribeTable("a duration that overflows int64 is rejected on every duration field; the longest that fits is admitted",
		func(kind, specTemplate, field string) {
			build := builders[kind]
			expectRejected(build("overflow", strings.ReplaceAll(specTemplate, "D", "2562048h")), field, "must be a duration of at most 2562047h")
			Expect(k8sClient.Create(ctx, build("longest", strings.ReplaceAll(specTemplate, "D", "2562047h")), createOpts...)).To(Succeed())
		},
		Entry(nil, "FloorManager", `{kubelet: {evictionPressureTransitionPeriod: D}}`, "spec.kubelet.evictionPressureTransitionPeriod"),
		Entry(nil, "FloorManager", `{kubelet: {imageMinimumGCAge: D}}`, "spec.kubelet.imageMinimumGCAge"),
		Entry(nil, "FloorManager", `{kubelet: {imageMinimumGCAge: 1m, imageMaximumGCAge: D}}`, "spec.kubelet.imageMaximumGCAge"),
		Entry(nil, "FloorManager", `{kubelet: {shutdownGracePeriod: D}}`, "spec.kubelet.shutdownGracePeriod"),
		Entry(nil, "FloorManager", `{kubelet: {shutdownGracePeriod: D, shutdownGracePeriodCriticalPods: D}}`, "spec.kubelet.shutdownGracePeriodCriticalPods"),
		Entry(nil, "FloorManager", `{kubelet: {evictionSoft: {memory.available: 1Gi}, evictionSoftGracePeriod: {memory.available: D}}}`,
			"spec.kubelet.evictionSoftGracePeriod[memory.available]"),
		Entry(nil, "Concierge", `{kubeProxy: {configSyncPeriod: D}}`, "spec.kubeProxy.configSyncPeriod"),
		Entry(nil, "Concierge", `{kubeProxy: {conntrack: {tcpEstablishedTimeout: D}}}`, "spec.kubeProxy.conntrack.tcpEstablishedTimeout"),
		Entry(nil, "Concierge", `{kubeProxy: {conntrack: {tcpCloseWaitTimeout: D}}}`, "spec.kubeProxy.conntrack.tcpCloseWaitTimeout"),
		Entry(nil, "Concierge", `{kubeProxy: {conntrack: {udpTimeout: D}}}`, "spec.kubeProxy.conntrack.udpTimeout"),
		Entry(nil, "Concierge", `{kubeProxy: {conntrack: {udpStreamTimeout: D}}}`, "spec.kubeProxy.conntrack.udpStreamTimeout"),
		Entry(nil, "Concierge", `{kubeProxy: {iptables: {syncPeriod: D}}}`, "spec.kubeProxy.iptables.syncPeriod"),
		Entry(nil, "Concierge", `{kubeProxy: {iptables: {syncPeriod: D, minSyncPeriod: D}}}`, "spec.kubeProxy.iptables.minSyncPeriod"),
		Entry(nil, "Concierge", `{kubeProxy: {mode: ipvs, ipvs: {tcpTimeout: D}}}`, "spec.kubeProxy.ipvs.tcpTimeout"),
		Entry(nil, "Concierge", `{kubeProxy: {mode: ipvs, ipvs: {tcpFinTimeout: D}}}`, "spec.kubeProxy.ipvs.tcpFinTimeout"),
		Entry(nil, "Concierge", `{kubeProxy: {mode: ipvs, ipvs: {udpTimeout: D}}}`, "spec.kubeProxy.ipvs.udpTimeout"),
		Entry(nil, "Concierge", `{kubeProxy: {mode: nftables, nftables: {syncPeriod: D}}}`, "spec.kubeProxy.nftables.syncPeriod"),
		Entry(nil, "Concierge", `{kubeProxy: {mode: nftables, nftables: {syncPeriod: D, minSyncPeriod: D}}}`, "spec.kubeProxy.nftables.minSyncPeriod"),
		Entry(nil, "RoomService", `{containerd: {configVersion: 3, registries: [{host: docker.io, mirrors: [{url: "https://a.example", dialTimeout: D}]}]}}`,
			"spec.containerd.registries[0].mirrors[0].dialTimeout"),
	)

	// Class 6: the Concierge's image lands in every pod of the pool; admission refuses what can
	// smuggle arguments or paths, the renderer parses the rest as the kubelet does.
	DescribeTable("a Concierge image that is no image reference is rejected",
		func(image, message string) {
			cg := concierge("bad-image", `{kubeProxy: {}}`)
			Expect(unstructured.SetNestedField(cg.Object, image, "spec", "image")).To(Succeed())
			expectRejected(cg, "spec.image", message)
		},
		Entry("with arguments after it", "registry.k8s.io/kube-proxy:v1.37.2 --v=10", "image must be an image reference"),
		Entry("with a line break", "registry.k8s.io/kube-proxy:v1.37.2\nrm -rf /", "image must be an image reference"),
		Entry("a path", "../../etc/passwd", "image must be an image reference"),
		Entry("a path inside", "registry.k8s.io/../kube-proxy:v1", "image must be an image reference"),
		Entry("an upper-case repository", "registry.k8s.io/Kube-Proxy:v1.37.2", "image must be an image reference"),
		Entry("a digest too short", "kube-proxy@sha256:0123456789abcdef0123456789abcdef", "the digest after @ must be"),
		Entry("an image ID", strings.Repeat("ab", 32), "64 hex digits alone are an image ID"),
		Entry("a repository path of 256 characters", "registry.k8s.io/"+strings.Repeat("p", 256)+":v1", "the repository path"),
		Entry("a one-word name of 248 characters, 256 with docker.io's library/", strings.Repeat("p", 248), "must be at most 255 characters"),
		Entry("a one-word name on Docker Hub named by its host", "docker.io/"+strings.Repeat("p", 248)+":v1", "must be at most 255 characters"),
		Entry("the same on Docker Hub's legacy host", "index.docker.io/"+strings.Repeat("p", 248), "must be at most 255 characters"),
	)
	DescribeTable("a Concierge image reference is admitted",
		func(image string) {
			cg := concierge("good-image", `{kubeProxy: {}}`)
			Expect(unstructured.SetNestedField(cg.Object, image, "spec", "image")).To(Succeed())
			Expect(k8sClient.Create(ctx, cg, createOpts...)).To(Succeed())
		},
		Entry("a tag", "registry.k8s.io/kube-proxy:v1.37.2"),
		Entry("a short name", "kube-proxy:v1.37.2"),
		Entry("a registry port and a digest", "mirror.example:5000/k8s/kube-proxy:v1.37.2@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
		Entry("an IPv6 registry", "[fd00::1]:5000/kube-proxy:v1.37.2"),
		Entry("an upper-case registry", "Registry.Example/kube-proxy:v1.37.2"),
		Entry("localhost", "localhost/kube-proxy:v1.37.2"),
		Entry("a registry named in upper case, without a dot", "Kube/proxy:v1"),
		Entry("a repository path of 255 characters", "registry.k8s.io:5000/"+strings.Repeat("p", 255)+":v1"),
		Entry("a one-word name of 247 characters", strings.Repeat("p", 247)+":v1"),
		Entry("a one-word name of 247 characters on Docker Hub named by its host", "docker.io/"+strings.Repeat("p", 247)),
		Entry("a Docker Hub path of 255 characters", "docker.io/team/"+strings.Repeat("p", 250)),
	)

	// Class 4: what the kubelet checks only when it starts.
	DescribeTable("a FloorManager the kubelet would refuse at start is rejected",
		func(specYAML, field, message string) {
			expectRejected(floorManager("start-up", specYAML), field, message)
		},
		Entry("a fractional containerLogMaxSize", `{kubelet: {containerLogMaxSize: "1.5"}}`,
			"spec.kubelet.containerLogMaxSize", "whole number of bytes"),
		Entry("a containerLogMaxSize in millibytes", `{kubelet: {containerLogMaxSize: 500m}}`,
			"spec.kubelet.containerLogMaxSize", "whole number of bytes"),
		Entry("a containerLogMaxSize with a fraction of a binary unit", `{kubelet: {containerLogMaxSize: 1.5Ki}}`,
			"spec.kubelet.containerLogMaxSize", "whole number of bytes"),
		Entry("a containerLogMaxSize longer than any quantity", `{kubelet: {containerLogMaxSize: "`+strings.Repeat("1", 33)+`"}}`,
			"spec.kubelet.containerLogMaxSize", "Too long"),
		Entry("a static CPU manager whose reservation rounds to 0 millicores",
			`{kubelet: {cpuManagerPolicy: static, kubeReserved: {cpu: 1u}, systemReserved: {cpu: 499u}}}`,
			"spec.kubelet", "cpuManagerPolicy static needs a CPU reservation"),
		Entry("a CPU reservation so large that the kubelet's millionths of a core overflow to 0 (found by the differential test)",
			`{kubelet: {cpuManagerPolicy: static, systemReserved: {cpu: 1E}}}`,
			"spec.kubelet.systemReserved.cpu", "cpu must be at most 1M (a million cores)"),
	)
	DescribeTable("its neighbour the kubelet starts with is admitted",
		func(specYAML string) {
			Expect(k8sClient.Create(ctx, floorManager("start-up", specYAML), createOpts...)).To(Succeed())
		},
		Entry("a whole containerLogMaxSize", `{kubelet: {containerLogMaxSize: "1.5M"}}`),
		Entry("a static CPU manager whose reservation rounds to 1 millicore", `{kubelet: {cpuManagerPolicy: static, systemReserved: {cpu: 500u}}}`),
		Entry("a CPU reservation of a million cores", `{kubelet: {cpuManagerPolicy: static, kubeReserved: {cpu: 1M}}}`),
	)

	// Class 2: the component replaces an explicit zero with its default; admission checks what
	// it will run.
	DescribeTable("a zero that the component's default turns invalid is rejected",
		func(kind, specYAML, field, message string) {
			expectRejected(builders[kind]("zero", specYAML), field, message)
		},
		Entry(nil, "FloorManager", `{kubelet: {imageMinimumGCAge: 0s, imageMaximumGCAge: 2m}}`,
			"spec.kubelet", "imageMaximumGCAge must be 0 (no maximum) or greater than imageMinimumGCAge"),
		Entry(nil, "Concierge", `{kubeProxy: {iptables: {minSyncPeriod: 0s, syncPeriod: 500ms}}}`,
			"spec.kubeProxy.iptables", "minSyncPeriod (0 or unset: 1s) must not exceed syncPeriod"),
		Entry(nil, "Concierge", `{kubeProxy: {mode: nftables, nftables: {minSyncPeriod: 0s, syncPeriod: 500ms}}}`,
			"spec.kubeProxy.nftables", "minSyncPeriod (0 or unset: 1s) must not exceed syncPeriod"),
		Entry(nil, "FloorManager", `{kubelet: {imageGCHighThresholdPercent: 80}}`,
			"spec.kubelet.imageGCHighThresholdPercent", "imageGCHighThresholdPercent set alone must be above the kubelet's default imageGCLowThresholdPercent (80)"),
		Entry(nil, "FloorManager", `{kubelet: {imageGCLowThresholdPercent: 85}}`,
			"spec.kubelet.imageGCLowThresholdPercent", "imageGCLowThresholdPercent set alone must be below the kubelet's default imageGCHighThresholdPercent (85)"),
	)
	DescribeTable("its neighbour is admitted",
		func(kind, specYAML string) {
			Expect(k8sClient.Create(ctx, builders[kind]("zero", specYAML), createOpts...)).To(Succeed())
		},
		Entry(nil, "FloorManager", `{kubelet: {imageMinimumGCAge: 0s, imageMaximumGCAge: 3m}}`),
		Entry(nil, "Concierge", `{kubeProxy: {iptables: {minSyncPeriod: 0s, syncPeriod: 1s}}}`),
		Entry(nil, "Concierge", `{kubeProxy: {mode: nftables, nftables: {minSyncPeriod: 0s, syncPeriod: 1s}}}`),
		Entry(nil, "FloorManager", `{kubelet: {imageGCHighThresholdPercent: 81}}`),
		Entry(nil, "FloorManager", `{kubelet: {imageGCLowThresholdPercent: 84}}`),
		Entry(nil, "FloorManager", `{kubelet: {imageGCHighThresholdPercent: 50, imageGCLowThresholdPercent: 40}}`),
	)

	// Class 7: smaller gaps, each of which the renderer caught only later or reported badly.
	DescribeTable("a smaller gap is rejected, naming the field and the bad key",
		func(kind, specYAML, field, message string) {
			expectRejected(builders[kind]("gap", specYAML), field, message)
		},
		Entry("an evictionHard key that is no signal", "FloorManager", `{kubelet: {evictionHard: {memory.free: 1Gi, memory.available: 1Gi}}}`,
			"spec.kubelet.evictionHard", "evictionHard keys must be eviction signals, not memory.free"),
		Entry("an evictionSoftGracePeriod key that is no signal", "FloorManager", `{kubelet: {evictionSoftGracePeriod: {disk: 1m}}}`,
			"spec.kubelet.evictionSoftGracePeriod", "evictionSoftGracePeriod keys must be eviction signals, not disk"),
		// The API server's own check of an int32 names no field; every int32 field has a maximum,
		// whose error does.
		Entry("a maxPods beyond int32", "FloorManager", `{kubelet: {maxPods: 99999999999}}`,
			"spec.kubelet.maxPods: Invalid value: 99999999999", "should be less than or equal to 2147483647"),
		Entry("a conntrack min beyond int32", "Concierge", `{kubeProxy: {conntrack: {min: 3000000000}}}`,
			"spec.kubeProxy.conntrack.min: Invalid value: 3000000000", "should be less than or equal to 2147483647"),
	)
	It("says that a fragment is why a registry URL is refused, not that it is no URL", func() {
		err := k8sClient.Create(ctx, roomService("gap", `{containerd: {configVersion: 2, registries: [{host: docker.io, mirrors: [{url: "https://mirror.example.com#v2"}]}]}}`), createOpts...)
		Expect(err).To(MatchError(ContainSubstring("url must not hold a fragment")))
		Expect(err.Error()).NotTo(ContainSubstring("must be an http or https URL"))
	})
	It("reports an unknown matchExpressions operator without the unrelated values rule", func() {
		err := k8sClient.Create(ctx, floorManager("gap", `{nodeSelector: {matchExpressions: [{key: pool, operator: Has, values: [a]}]}, kubelet: {}}`), createOpts...)
		Expect(err).To(MatchError(ContainSubstring("operator must be one of In, NotIn, Exists, DoesNotExist")))
		Expect(err.Error()).NotTo(ContainSubstring("values must be non-empty"))
	})
	DescribeTable("its neighbour is admitted",
		func(kind, specYAML string) {
			Expect(k8sClient.Create(ctx, builders[kind]("gap", specYAML), createOpts...)).To(Succeed())
		},
		Entry("an evictionHard of known signals", "FloorManager", `{kubelet: {evictionHard: {memory.available: 1Gi, pid.available: "5%"}}}`),
		Entry("an operator with values", "FloorManager", `{nodeSelector: {matchExpressions: [{key: pool, operator: In, values: [a]}]}, kubelet: {}}`),
		Entry("the largest maxPods", "FloorManager", `{kubelet: {maxPods: 2147483647}}`),
	)

	// Class 7: the pool's selector. Every key and value is checked as the engine's
	// metav1.LabelSelectorAsSelector checks it, which only rendering did before.
	DescribeTable("a nodeSelector key or value that is no label key or value is rejected, naming it",
		func(selectorYAML, field, message string) {
			expectRejected(floorManager("selector", `{nodeSelector: `+selectorYAML+`, kubelet: {}}`), field, message)
		},
		Entry("a matchLabels key with a space", `{matchLabels: {"po ol": gpu}}`,
			"spec.nodeSelector", "nodeSelector.matchLabels keys must be label keys (an optional DNS subdomain prefix and /, then at most 63 letters, digits, -, _ or ., starting and ending with a letter or digit), not po ol"),
		Entry("a matchLabels key with an empty prefix", `{matchLabels: {pool: gpu, /pool: gpu}}`,
			"spec.nodeSelector", "nodeSelector.matchLabels keys must be label keys"),
		Entry("a matchLabels key with an upper-case prefix", `{matchLabels: {Example.com/pool: gpu}}`,
			"spec.nodeSelector", "not Example.com/pool"),
		Entry("a matchLabels key whose name is 64 characters", `{matchLabels: {`+strings.Repeat("k", 64)+`: gpu}}`,
			"spec.nodeSelector", "nodeSelector.matchLabels keys must be label keys"),
		Entry("a matchLabels value ending in -", `{matchLabels: {pool: gpu-}}`,
			"spec.nodeSelector.matchLabels[pool]", "must be a label value (empty, or at most 63 letters, digits, -, _ or ., starting and ending with a letter or digit), not gpu-"),
		Entry("a matchLabels value with a slash", `{matchLabels: {pool: gpu/a}}`,
			"spec.nodeSelector.matchLabels[pool]", "not gpu/a"),
		Entry("a matchLabels value of 64 characters", `{matchLabels: {pool: `+strings.Repeat("v", 64)+`}}`,
			"spec.nodeSelector.matchLabels.pool", "Too long"),
		Entry("a matchExpressions key with a colon", `{matchExpressions: [{key: "pool:x", operator: Exists}]}`,
			"spec.nodeSelector.matchExpressions[0].key", "key must be a label key (an optional DNS subdomain prefix and /, then at most 63 letters, digits, -, _ or ., starting and ending with a letter or digit), not pool:x"),
		Entry("a matchExpressions value with a space", `{matchExpressions: [{key: pool, operator: In, values: [gpu, "g pu"]}]}`,
			"spec.nodeSelector.matchExpressions[0].values[1]", "must be a label value (empty, or at most 63 letters, digits, -, _ or ., starting and ending with a letter or digit), not g pu"),
	)
	DescribeTable("its neighbour, a label key or value, is admitted",
		func(selectorYAML string) {
			Expect(k8sClient.Create(ctx, floorManager("selector", `{nodeSelector: `+selectorYAML+`, kubelet: {}}`), createOpts...)).To(Succeed())
		},
		Entry("prefixed keys and an empty value", `{matchLabels: {node.kubernetes.io/pool: gpu, example.com/gpu: "", A_b.c-9: x}}`),
		Entry("the longest key and value", `{matchLabels: {`+strings.Repeat("d", 253)+`/`+strings.Repeat("k", 63)+`: `+strings.Repeat("v", 63)+`}}`),
		Entry("expressions on prefixed keys", `{matchExpressions: [{key: example.com/gpu, operator: NotIn, values: [a, B_c.9]}, {key: pool, operator: Exists}]}`),
	)

	// Found by the differential test (hack/differential): what kube-proxy refuses of a Concierge
	// admission let through.
	DescribeTable("a Concierge kube-proxy refuses is rejected",
		func(specYAML, field, message string) {
			expectRejected(concierge("kube-proxy", specYAML), field, message)
		},
		Entry("two IPv4 clusterCIDRs with kube-proxy's default detectLocalMode", `{kubeProxy: {clusterCIDR: "10.0.0.0/8,192.168.1.0/24"}}`,
			"spec.kubeProxy.clusterCIDR", "clusterCIDR's two CIDRs must be one IPv4 and one IPv6"),
		Entry("two IPv6 clusterCIDRs with detectLocalMode ClusterCIDR", `{kubeProxy: {detectLocalMode: ClusterCIDR, clusterCIDR: "fd00::/56,fd01::/56"}}`,
			"spec.kubeProxy.clusterCIDR", "clusterCIDR's two CIDRs must be one IPv4 and one IPv6"),
		Entry("nodePortAddresses with primary twice", `{kubeProxy: {nodePortAddresses: [primary, primary]}}`,
			"spec.kubeProxy.nodePortAddresses", "nodePortAddresses must hold each keyword (primary, localhost, all) at most once"),
		Entry("nodePortAddresses with all twice", `{kubeProxy: {nodePortAddresses: [all, localhost, all]}}`,
			"spec.kubeProxy.nodePortAddresses", "nodePortAddresses must hold each keyword (primary, localhost, all) at most once"),
		Entry("an empty bridgeInterface", `{kubeProxy: {detectLocalMode: BridgeInterface, detectLocal: {bridgeInterface: ""}}}`,
			"spec.kubeProxy.detectLocal.bridgeInterface", "should be at least 1 chars long"),
		Entry("an empty interfaceNamePrefix", `{kubeProxy: {detectLocalMode: InterfaceNamePrefix, detectLocal: {interfaceNamePrefix: ""}}}`,
			"spec.kubeProxy.detectLocal.interfaceNamePrefix", "should be at least 1 chars long"),
	)
	DescribeTable("its neighbour kube-proxy takes is admitted",
		func(specYAML string) {
			Expect(k8sClient.Create(ctx, concierge("kube-proxy", specYAML), createOpts...)).To(Succeed())
		},
		Entry("a dual-stack pair", `{kubeProxy: {clusterCIDR: "10.0.0.0/8,fd00::/56"}}`),
		Entry("primary once, and a CIDR twice", `{kubeProxy: {nodePortAddresses: [primary, 10.0.0.0/8, 10.0.0.0/8]}}`),
		Entry("every keyword once", `{kubeProxy: {nodePortAddresses: [primary, localhost, all, "::1/128"]}}`),
		Entry("two IPv4 clusterCIDRs with detectLocalMode NodeCIDR, which does not read them", `{kubeProxy: {detectLocalMode: NodeCIDR, clusterCIDR: "10.0.0.0/8,192.168.1.0/24"}}`),
		Entry("a bridgeInterface", `{kubeProxy: {detectLocalMode: BridgeInterface, detectLocal: {bridgeInterface: cbr0}}}`),
	)

	// Class 1: feature gates. Admission refuses what the components of Kubernetes v1.37.2 refuse
	// to start with, by rules generated from its gate table (api/v1alpha1/zz_generated_featuregates.go,
	// hack/gatesapi): unknown gates, locked ones set otherwise, a gate on while one it depends on is
	// off, a setting whose gate is off, and AllAlpha and AllBeta. Rendering checks the same again.
	DescribeTable("a gate the components refuse to start with is rejected, naming it",
		func(kind, specYAML, field, message string) {
			expectRejected(builders[kind]("gates", specYAML), field, message)
		},
		Entry(nil, "FloorManager", `{kubelet: {featureGates: {MemoryQoS: true, NoSuchGate: true}}}`, "spec.kubelet.featureGates",
			"featureGates: NoSuchGate is no feature gate of Kubernetes v1.37.2"),
		Entry(nil, "Concierge", `{kubeProxy: {featureGates: {NoSuchGate: false}}}`, "spec.kubeProxy.featureGates",
			"featureGates: NoSuchGate is no feature gate of Kubernetes v1.37.2"),
		Entry(nil, "FloorManager", `{kubelet: {featureGates: {InPlacePodVerticalScaling: false}}}`, "spec.kubelet.featureGates",
			"featureGates: InPlacePodVerticalScaling is locked to its default in Kubernetes v1.37.2"),
		Entry("the issue's example: the kubelet panics at start with it", "FloorManager", `{kubelet: {featureGates: {ImageMaximumGCAge: false}}}`,
			"spec.kubelet.featureGates", "featureGates: ImageMaximumGCAge is locked to its default in Kubernetes v1.37.2"),
	)
	It("admits a locked gate set to its default", func() {
		Expect(k8sClient.Create(ctx, floorManager("locked", `{kubelet: {featureGates: {InPlacePodVerticalScaling: true}}}`), createOpts...)).To(Succeed())
	})
	DescribeTable("a gate on while a gate it depends on is off is rejected, naming both",
		func(kind, specYAML, field, message string) {
			expectRejected(builders[kind]("gates", specYAML), field, message)
		},
		Entry("a dependency turned off under a dependent on by default", "FloorManager", `{kubelet: {featureGates: {GracefulNodeShutdown: false}}}`,
			"spec.kubelet.featureGates", "featureGates: GracefulNodeShutdownBasedOnPodPriority (on by default) needs GracefulNodeShutdown, which is off: "+
				"the component refuses to start; turn GracefulNodeShutdownBasedOnPodPriority off too or keep GracefulNodeShutdown on"),
		Entry("the other dependent of that dependency", "Concierge", `{kubeProxy: {featureGates: {GracefulNodeShutdown: false, GracefulNodeShutdownBasedOnPodPriority: false}}}`,
			"spec.kubeProxy.featureGates", "featureGates: WindowsGracefulNodeShutdown (on by default) needs GracefulNodeShutdown, which is off"),
		Entry("a dependent turned on without its dependency, off by default", "Concierge", `{kubeProxy: {featureGates: {CompositePodGroup: true, TopologyAwareWorkloadScheduling: true}}}`,
			"spec.kubeProxy.featureGates", "featureGates: CompositePodGroup needs GenericWorkload, which is off (its default): the component refuses to start; "+
				"turn CompositePodGroup off too or turn GenericWorkload on"),
		Entry("both set, the dependency off", "FloorManager", `{kubelet: {featureGates: {PodLevelResourceManagers: true, PodLevelResources: false}}}`,
			"spec.kubelet.featureGates", "featureGates: PodLevelResourceManagers needs PodLevelResources, which is off"),
	)
	DescribeTable("its neighbour, with the dependencies on or the dependents off, is admitted",
		func(kind, specYAML string) {
			Expect(k8sClient.Create(ctx, builders[kind]("gates", specYAML), createOpts...)).To(Succeed())
		},
		Entry("a dependency turned off with its dependents", "FloorManager",
			`{kubelet: {featureGates: {GracefulNodeShutdown: false, GracefulNodeShutdownBasedOnPodPriority: false, WindowsGracefulNodeShutdown: false}}}`),
		Entry("a dependent turned on with its dependencies", "Concierge",
			`{kubeProxy: {featureGates: {CompositePodGroup: true, TopologyAwareWorkloadScheduling: true, GenericWorkload: true}}}`),
		Entry("a dependency on by default kept on", "FloorManager", `{kubelet: {featureGates: {PodLevelResourceManagers: true}}}`),
	)
	DescribeTable("a setting whose gate is off is rejected, naming the setting and the gate",
		func(kind, specYAML, field, message string) {
			expectRejected(builders[kind]("gated", specYAML), field, message)
		},
		Entry(nil, "FloorManager", `{kubelet: {shutdownGracePeriod: 30s, featureGates: {GracefulNodeShutdown: false, GracefulNodeShutdownBasedOnPodPriority: false, WindowsGracefulNodeShutdown: false}}}`,
			"spec.kubelet.shutdownGracePeriod", "shutdownGracePeriod above 0 needs featureGates.GracefulNodeShutdown, which is off: the kubelet refuses the setting without the gate"),
		Entry(nil, "FloorManager", `{kubelet: {shutdownGracePeriod: 30s, shutdownGracePeriodCriticalPods: 10s, featureGates: {GracefulNodeShutdown: false, GracefulNodeShutdownBasedOnPodPriority: false, WindowsGracefulNodeShutdown: false}}}`,
			"spec.kubelet.shutdownGracePeriodCriticalPods", "shutdownGracePeriodCriticalPods above 0 needs featureGates.GracefulNodeShutdown"),
		Entry(nil, "FloorManager", `{kubelet: {featureGates: {KubeletCrashLoopBackOffMax: false}}}`,
			"spec.kubelet.featureGates", "featureGates: KubeletCrashLoopBackOffMax cannot be turned off in a configuration file: the kubelet defaults crashLoopBackOff.maxContainerRestartPeriod"),
		Entry(nil, "FloorManager", `{kubelet: {featureGates: {KubeletEnsureSecretPulledImages: false}}}`,
			"spec.kubelet.featureGates", "featureGates: KubeletEnsureSecretPulledImages cannot be turned off in a configuration file"),
		Entry(nil, "Concierge", `{kubeProxy: {mode: ipvs, featureGates: {KubeProxyIPVS: false}}}`,
			"spec.kubeProxy.mode", "mode: ipvs needs featureGates.KubeProxyIPVS, which is off: kube-proxy refuses the setting without the gate"),
	)
	DescribeTable("its neighbour is admitted",
		func(kind, specYAML string) {
			Expect(k8sClient.Create(ctx, builders[kind]("gated", specYAML), createOpts...)).To(Succeed())
		},
		Entry("a zero shutdownGracePeriod with the gate off", "FloorManager",
			`{kubelet: {shutdownGracePeriod: 0s, featureGates: {GracefulNodeShutdown: false, GracefulNodeShutdownBasedOnPodPriority: false, WindowsGracefulNodeShutdown: false}}}`),
		Entry("a shutdownGracePeriod with the gate on", "FloorManager", `{kubelet: {shutdownGracePeriod: 30s, featureGates: {GracefulNodeShutdown: true}}}`),
		Entry("a gate the kubelet defaults a field on, left on", "FloorManager", `{kubelet: {featureGates: {KubeletCrashLoopBackOffMax: true}}}`),
		Entry("another mode with the ipvs gate off", "Concierge", `{kubeProxy: {mode: nftables, featureGates: {KubeProxyIPVS: false}}}`),
		Entry("ipvs with its gate on", "Concierge", `{kubeProxy: {mode: ipvs, featureGates: {KubeProxyIPVS: true}}}`),
	)
	// The kubelet and kube-proxy take AllAlpha and AllBeta; innkeeper does not (the message says why).
	DescribeTable("AllAlpha and AllBeta are rejected, saying why",
		func(kind, specYAML, field, message string) {
			expectRejected(builders[kind]("gates", specYAML), field, message)
		},
		Entry(nil, "FloorManager", `{kubelet: {featureGates: {AllAlpha: true}}}`, "spec.kubelet.featureGates",
			"featureGates: innkeeper refuses AllAlpha, which the kubelet and kube-proxy take: it sets every alpha gate not named"),
		Entry(nil, "FloorManager", `{kubelet: {featureGates: {AllAlpha: false}}}`, "spec.kubelet.featureGates",
			"the components refuse to start (CompositePodGroup needs GenericWorkload"),
		Entry(nil, "Concierge", `{kubeProxy: {featureGates: {AllBeta: false}}}`, "spec.kubeProxy.featureGates",
			"among them KubeletCrashLoopBackOffMax and KubeletEnsureSecretPulledImages, without which the kubelet refuses to start"),
	)
	It("admits named gates", func() {
		Expect(k8sClient.Create(ctx, floorManager("gates", `{kubelet: {featureGates: {MemoryQoS: false}}}`), createOpts...)).To(Succeed())
	})
	// The logging and metrics gates are registered by the components' start-up code, not by
	// k8s.io/kubernetes/pkg/features: the table holds them all the same.
	DescribeTable("admits the gates the components register at start-up",
		func(kind, specYAML string) {
			Expect(k8sClient.Create(ctx, builders[kind]("startup-gates", specYAML), createOpts...)).To(Succeed())
		},
		Entry("logging gates", "FloorManager", `{kubelet: {featureGates: {ContextualLogging: false, LoggingAlphaOptions: true}}}`),
		Entry("the metrics gate", "Concierge", `{kubeProxy: {featureGates: {NativeHistograms: false, LoggingBetaOptions: false}}}`),
	)

	// Class 5: containerd settings the Node's containerd drops or cannot load.
	DescribeTable("a containerd setting the Node's containerd cannot honour is rejected",
		func(specYAML, field, message string) {
			expectRejected(roomService("containerd", specYAML), field, message)
		},
		Entry("containerd 1.7 runtimes without runc or a default", `{containerd: {configVersion: 2, runtimes: [{name: kata, runtimeType: io.containerd.kata.v2}]}}`,
			"spec.containerd.runtimes", "runtimes need a runtime named runc, a defaultRuntimeName or systemdCgroup"),
		Entry("CDI off on containerd 2.x", `{containerd: {configVersion: 3, enableCDI: false}}`,
			"spec.containerd.enableCDI", "containerd 2.x always enables CDI"),
	)
	DescribeTable("its neighbour is admitted",
		func(specYAML string) {
			Expect(k8sClient.Create(ctx, roomService("containerd", specYAML), createOpts...)).To(Succeed())
		},
		Entry("containerd 1.7 runtimes with a default", `{containerd: {configVersion: 2, defaultRuntimeName: kata, runtimes: [{name: kata, runtimeType: io.containerd.kata.v2}]}}`),
		Entry("containerd 1.7 runtimes with runc", `{containerd: {configVersion: 2, runtimes: [{name: kata, runtimeType: io.containerd.kata.v2}, {name: runc, runtimeType: io.containerd.runc.v2}]}}`),
		Entry("CDI off on containerd 1.7", `{containerd: {configVersion: 2, enableCDI: false}}`),
	)

	// Class 8: refusals of what the component takes and a user has a reason for.
	DescribeTable("what the component accepts is admitted",
		func(specYAML string) {
			Expect(k8sClient.Create(ctx, floorManager("relaxed", specYAML), createOpts...)).To(Succeed())
		},
		Entry("a soft grace period whose threshold is the Node's own (the kubelet ignores one without)",
			`{kubelet: {evictionSoftGracePeriod: {memory.available: 1m}}}`),
	)
})
