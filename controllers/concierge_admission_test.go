package controllers_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// concierge builds a Concierge over a test pool from a YAML spec (see poolObject).
func concierge(name, specYAML string) *unstructured.Unstructured {
	return poolObject("Concierge", name, specYAML)
}

var _ = Describe("Concierge admission", func() {
	DescribeTable("the API server rejects an invalid Concierge, naming the field",
		func(specYAML, field, message string) {
			err := k8sClient.Create(ctx, concierge("invalid", specYAML), createOpts...)
			Expect(err).To(HaveOccurred(), "the API server accepted %s", specYAML)
			Expect(apierrors.IsInvalid(err) || apierrors.IsBadRequest(err)).To(BeTrue(), "unexpected error kind: %v", err)
			Expect(err.Error()).To(ContainSubstring(field))
			Expect(err.Error()).To(ContainSubstring(message))
		},
		Entry("no kubeProxy section", `{}`, "spec.kubeProxy", "Required value"),
		Entry("an unknown mode", `{kubeProxy: {mode: userspace}}`, "spec.kubeProxy.mode", "Unsupported value"),
		Entry("a clusterCIDR that is no CIDR", `{kubeProxy: {clusterCIDR: 10.244.0.0}}`,
			"spec.kubeProxy.clusterCIDR", "must be one CIDR, or two separated by a comma"),
		Entry("three clusterCIDRs", `{kubeProxy: {clusterCIDR: "10.0.0.0/16,10.1.0.0/16,fd00::/56"}}`,
			"spec.kubeProxy.clusterCIDR", "must be one CIDR, or two separated by a comma"),
		Entry("a metricsBindAddress without a port", `{kubeProxy: {metricsBindAddress: 0.0.0.0}}`,
			"spec.kubeProxy.metricsBindAddress", "must be IP:port"),
		Entry("a healthzBindAddress with a host name", `{kubeProxy: {healthzBindAddress: "localhost:10256"}}`,
			"spec.kubeProxy.healthzBindAddress", "must be IP:port"),
		Entry("a healthzBindAddress port above 65535", `{kubeProxy: {healthzBindAddress: "0.0.0.0:70000"}}`,
			"spec.kubeProxy.healthzBindAddress", "must be IP:port"),
		Entry("nodePortAddresses that are no CIDRs", `{kubeProxy: {nodePortAddresses: [10.0.0.1]}}`,
			"spec.kubeProxy.nodePortAddresses", "must be CIDRs or the keywords primary, localhost and all"),
		Entry("ipvs settings in iptables mode", `{kubeProxy: {mode: iptables, ipvs: {strictARP: true}}}`,
			"spec.kubeProxy", "ipvs settings need mode: ipvs"),
		Entry("nftables settings without a mode", `{kubeProxy: {nftables: {masqueradeBit: 3}}}`,
			"spec.kubeProxy", "nftables settings need mode: nftables"),
		Entry("masqueradeBit above 31", `{kubeProxy: {iptables: {masqueradeBit: 32}}}`,
			"spec.kubeProxy.iptables.masqueradeBit", "should be less than or equal to 31"),
		Entry("a zero syncPeriod", `{kubeProxy: {iptables: {syncPeriod: 0s}}}`,
			"spec.kubeProxy.iptables.syncPeriod", "syncPeriod must be above 0: kube-proxy replaces 0 with its default, 30s"),
		Entry("minSyncPeriod above syncPeriod", `{kubeProxy: {iptables: {syncPeriod: 10s, minSyncPeriod: 1m}}}`,
			"spec.kubeProxy.iptables", "minSyncPeriod (0 or unset: 1s) must not exceed syncPeriod"),
		Entry("an unknown IPVS scheduler", `{kubeProxy: {mode: ipvs, ipvs: {scheduler: fastest}}}`,
			"spec.kubeProxy.ipvs.scheduler", "Unsupported value"),
		Entry("excludeCIDRs that are no CIDRs", `{kubeProxy: {mode: ipvs, ipvs: {excludeCIDRs: [nope]}}}`,
			"spec.kubeProxy.ipvs.excludeCIDRs", "must be CIDRs"),
		Entry("detectLocalMode ClusterCIDR without clusterCIDR", `{kubeProxy: {detectLocalMode: ClusterCIDR}}`,
			"spec.kubeProxy", "detectLocalMode ClusterCIDR needs clusterCIDR"),
		Entry("a bridge interface in another mode", `{kubeProxy: {detectLocalMode: NodeCIDR, detectLocal: {bridgeInterface: cbr0}}}`,
			"spec.kubeProxy", "detectLocal.bridgeInterface needs detectLocalMode: BridgeInterface"),
		Entry("minSyncPeriod alone above the default syncPeriod", `{kubeProxy: {iptables: {minSyncPeriod: 1m}}}`,
			"spec.kubeProxy.iptables", "minSyncPeriod (0 or unset: 1s) must not exceed syncPeriod (default 30s)"),
		Entry("BridgeInterface mode without a bridge", `{kubeProxy: {detectLocalMode: BridgeInterface}}`,
			"spec.kubeProxy", "detectLocalMode BridgeInterface needs detectLocal.bridgeInterface"),
		Entry("a metricsBindAddress on port 0", `{kubeProxy: {metricsBindAddress: "0.0.0.0:0"}}`,
			"spec.kubeProxy.metricsBindAddress", "must be IP:port"),
		Entry("a zero configSyncPeriod", `{kubeProxy: {configSyncPeriod: 0s}}`,
			"spec.kubeProxy.configSyncPeriod", "must be above 0"),
		Entry("an unknown deletionPolicy", `{kubeProxy: {}, deletionPolicy: Keep}`,
			"spec.deletionPolicy", "Unsupported value"),
		Entry("a field kube-proxy has but innkeeper does not offer", `{kubeProxy: {bindAddress: 0.0.0.0}}`,
			"spec.kubeProxy.bindAddress", "unknown field"),
	)

	DescribeTable("the API server accepts a valid Concierge",
		func(specYAML string) {
			Expect(k8sClient.Create(ctx, concierge("valid", specYAML), createOpts...)).To(Succeed())
		},
		Entry("an empty kubeProxy section", `{kubeProxy: {}}`),
		Entry("ipvs mode with its settings", `{kubeProxy: {mode: ipvs, ipvs: {scheduler: lc, strictARP: true, excludeCIDRs: [10.0.0.0/8], tcpTimeout: 900s}}}`),
		Entry("nftables on a dual-stack cluster", `
kubeProxy:
  mode: nftables
  clusterCIDR: "10.244.0.0/16,fd00:10:244::/56"
  detectLocalMode: ClusterCIDR
  nodePortAddresses: [primary, "192.168.0.0/16"]
  metricsBindAddress: "[::]:10249"
  healthzBindAddress: "0.0.0.0:10256"
  nftables: {masqueradeBit: 14, syncPeriod: 30s, minSyncPeriod: 1s}
  conntrack: {maxPerCore: 32768, min: 131072, tcpEstablishedTimeout: 24h, tcpCloseWaitTimeout: 1h, tcpBeLiberal: true, udpTimeout: 30s, udpStreamTimeout: 2m}
  configSyncPeriod: 15m
  featureGates: {NFTablesProxyMode: true}
image: registry.k8s.io/kube-proxy:v1.37.2
deletionPolicy: Orphan
takeOver: true
`),
	)
})
