package differential

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"

	utilfeature "k8s.io/apiserver/pkg/util/feature"

	"github.com/innkeeper-dev/innkeeper/internal/render/featuregates"
)

// gen draws random but plausible spec values: mostly values a user would write, with the edge
// cases admission has to get right (zeros, the longest durations, odd quantities, malformed
// strings) mixed in. Every choice comes from one *rand.Rand, so a seed gives the same objects.
type gen struct {
	r *rand.Rand
}

// maybe is true with probability p.
func (g gen) maybe(p float64) bool { return g.r.Float64() < p }

// pick returns one of vs.
func pick[T any](g gen, vs ...T) T { return vs[g.r.IntN(len(vs))] }

// set adds key to m with the value of f, with probability p.
func (g gen) set(m map[string]any, p float64, key string, f func() any) {
	if g.maybe(p) {
		m[key] = f()
	}
}

// durations are Go durations, the edges of their range and malformed ones included.
var durations = []string{
	"0s", "1ns", "999ms", "1s", "1.5s", "10s", "30s", "1m", "2m", "3m", "5m", "15m", "1h", "1h30m", "24h", "168h",
	"2562047h", "2562047h47m16.854775807s", "2562047h47m16.854775808s", "2562048h", "-1s", "1d", "0", "5", "",
}

func (g gen) duration() any {
	if g.maybe(0.15) {
		return fmt.Sprintf("%dms", g.r.IntN(120000))
	}
	return pick(g, durations...)
}

// quantities are resource quantities, with fractions, exponents, negatives and overflows.
var quantities = []string{
	"0", "1", "1u", "499u", "500u", "1m", "100m", "500m", "1", "1.5", "2", "1e3", "1Ki", "1.5Ki", "100Mi", "1Gi",
	"1.5Gi", "10G", "1.5M", "8Ei", "9Ei", "-1", "-100Mi", "1E", "abc", "",
}

func (g gen) quantity() any { return pick(g, quantities...) }

func (g gen) bool() any { return g.maybe(0.5) }

func (g gen) int(vs ...int64) func() any { return func() any { return pick(g, vs...) } }

func (g gen) str(vs ...string) func() any { return func() any { return pick(g, vs...) } }

// featureGateNames are the gates the kubelet and kube-proxy of this module's Kubernetes know,
// sorted, so that a seed picks the same ones.
var featureGateNames = func() []string {
	var names []string
	for name := range utilfeature.DefaultFeatureGate.DeepCopy().GetAll() {
		names = append(names, string(name))
	}
	slices.Sort(names)
	return names
}()

// gatesThatMatter are the gates that depend on others or that others depend on (upstream's own
// table), and the gates that settings need (innkeeper's lists, which admission's rules come from):
// drawn more often, so that random specs turn them off and on against each other and their settings.
var gatesThatMatter = func() []string {
	set := map[string]bool{}
	for name, deps := range utilfeature.DefaultMutableFeatureGate.Dependencies() {
		set[string(name)] = true
		for _, d := range deps {
			set[string(d)] = true
		}
	}
	for _, s := range slices.Concat(featuregates.KubeletGatedSettings, featuregates.KubeProxyGatedSettings) {
		set[s.Gate] = true
	}
	for name := range featuregates.KubeletUnsettable() {
		set[name] = true
	}
	return slices.Sorted(maps.Keys(set))
}()

func (g gen) featureGates() any {
	m := map[string]any{}
	for range 1 + g.r.IntN(3) {
		name := pick(g, featureGateNames...)
		if g.maybe(0.4) {
			name = pick(g, gatesThatMatter...)
		}
		if g.maybe(0.1) {
			name = pick(g, "NotAGate", "AllAlpha", "AllBeta", "kubeletTracing", "Bad-Name")
		}
		m[name] = g.bool()
	}
	return m
}

// Label keys and values: valid ones, and each way of breaking them, drawn less often so that
// most selectors leave the rest of the spec to be tested.
var (
	labelKeys = []string{
		"pool", "node.kubernetes.io/pool", "example.com/gpu", "kubernetes.io/hostname", "a", "A_b.c-9",
		strings.Repeat("k", 63), strings.Repeat("d", 253) + "/x",
	}
	badLabelKeys = []string{
		strings.Repeat("k", 64), strings.Repeat("d", 254) + "/x", "-pool", "pool-", "a/b/c", "Example.com/x",
		"example.com/", "/pool", "", "po ol", "pool:x", "é",
	}
	labelValues    = []string{"gpu", "", "a", "A-b_c.9", strings.Repeat("v", 63)}
	badLabelValues = []string{strings.Repeat("v", 64), "-gpu", "gpu-", "g pu", "gpu/x", "gpu:x", "é"}
)

func (g gen) labelKey() string {
	if g.maybe(0.1) {
		return pick(g, badLabelKeys...)
	}
	return pick(g, labelKeys...)
}

func (g gen) labelValue() string {
	if g.maybe(0.1) {
		return pick(g, badLabelValues...)
	}
	return pick(g, labelValues...)
}

func (g gen) nodeSelector() any {
	sel := map[string]any{}
	if g.maybe(0.7) {
		labels := map[string]any{}
		for range 1 + g.r.IntN(2) {
			labels[g.labelKey()] = g.labelValue()
		}
		sel["matchLabels"] = labels
	}
	if g.maybe(0.4) {
		var exprs []any
		for range 1 + g.r.IntN(2) {
			op := pick(g, "In", "NotIn", "Exists", "DoesNotExist")
			e := map[string]any{"key": g.labelKey(), "operator": op}
			if op == "In" || op == "NotIn" {
				var values []any
				for range 1 + g.r.IntN(2) {
					values = append(values, g.labelValue())
				}
				e["values"] = values
			}
			exprs = append(exprs, e)
		}
		sel["matchExpressions"] = exprs
	}
	return sel
}

// evictionSignals are the kubelet's eviction signals, and one that is none.
var evictionSignals = []string{
	"memory.available", "nodefs.available", "nodefs.inodesFree", "imagefs.available", "imagefs.inodesFree",
	"containerfs.available", "containerfs.inodesFree", "pid.available",
}

var thresholds = []string{"100Mi", "1Gi", "500M", "0", "0%", "5%", "10%", "10.5%", "100%", "101%", "-1Gi", "1.5", "500m", "1u", "abc", "%"}

func (g gen) signalMap(value func() any) func() any {
	return func() any {
		m := map[string]any{}
		for range 1 + g.r.IntN(3) {
			m[pick(g, evictionSignals...)] = value()
		}
		return m
	}
}

func (g gen) reserved() any {
	m := map[string]any{}
	g.set(m, 0.6, "cpu", g.quantity)
	g.set(m, 0.4, "memory", g.quantity)
	g.set(m, 0.2, "ephemeral-storage", g.quantity)
	g.set(m, 0.2, "pid", g.quantity)
	return m
}

// kubeletSpec is a FloorManager's spec.kubelet.
func (g gen) kubeletSpec() map[string]any {
	k := map[string]any{}
	p := 0.12
	g.set(k, p, "maxPods", g.int(0, 1, 110, 250, 2147483647))
	g.set(k, p, "podsPerCore", g.int(0, 10, 2147483647))
	g.set(k, p, "podPidsLimit", g.int(-1, 0, 4096, 1<<40))
	g.set(k, p, "kubeReserved", g.reserved)
	g.set(k, p, "systemReserved", g.reserved)
	g.set(k, p, "evictionHard", g.signalMap(g.str(thresholds...)))
	g.set(k, p, "evictionSoft", g.signalMap(g.str(thresholds...)))
	g.set(k, p, "evictionSoftGracePeriod", g.signalMap(g.duration))
	g.set(k, p, "evictionMinimumReclaim", g.signalMap(g.str(thresholds...)))
	if soft, ok := k["evictionSoft"].(map[string]any); ok && g.maybe(0.8) {
		// Most users give every soft threshold its grace period.
		grace := map[string]any{}
		for s := range soft {
			grace[s] = g.duration()
		}
		k["evictionSoftGracePeriod"] = grace
	}
	g.set(k, p, "evictionPressureTransitionPeriod", g.duration)
	g.set(k, p, "evictionMaxPodGracePeriod", g.int(0, 30, 2147483647))
	g.set(k, p, "imageGCHighThresholdPercent", g.int(0, 1, 50, 79, 80, 81, 85, 86, 100))
	g.set(k, p, "imageGCLowThresholdPercent", g.int(0, 1, 50, 79, 80, 81, 85, 86, 100))
	g.set(k, p, "imageMinimumGCAge", g.duration)
	g.set(k, p, "imageMaximumGCAge", g.duration)
	g.set(k, p, "serializeImagePulls", g.bool)
	g.set(k, p, "maxParallelImagePulls", g.int(1, 2, 10))
	g.set(k, p, "registryPullQPS", g.int(0, 5, 2147483647))
	g.set(k, p, "registryBurst", g.int(0, 10, 2147483647))
	g.set(k, p, "containerLogMaxSize", g.quantity)
	g.set(k, p, "containerLogMaxFiles", g.int(2, 5, 2147483647))
	g.set(k, p, "cpuManagerPolicy", g.str("none", "static"))
	g.set(k, p, "topologyManagerPolicy", g.str("none", "best-effort", "restricted", "single-numa-node"))
	g.set(k, p, "topologyManagerScope", g.str("container", "pod"))
	g.set(k, p, "shutdownGracePeriod", g.duration)
	g.set(k, p, "shutdownGracePeriodCriticalPods", g.duration)
	g.set(k, p, "featureGates", g.featureGates)
	return k
}

var (
	cidrs     = []string{"10.244.0.0/16", "10.0.0.0/8", "192.168.1.0/24", "fd00:10:244::/56", "::/0", "0.0.0.0/0", "10.244.0.1/16", "10.0.0.0/32", "fd00::1/128"}
	hostPorts = []string{
		"127.0.0.1:10249", "0.0.0.0:10249", "0.0.0.0:10256", "[::]:10249", "[::1]:10256", "10.0.0.1:1", "10.0.0.1:65535",
		"0.0.0.0:0", "0.0.0.0:65536", "[::ffff:10.0.0.1]:80", "010.0.0.1:80", "1.2.3.4:080",
	}
)

// kubeProxySpec is a Concierge's spec.kubeProxy.
func (g gen) kubeProxySpec() map[string]any {
	k := map[string]any{}
	p := 0.2
	mode := pick(g, "", "iptables", "ipvs", "nftables")
	if mode != "" {
		k["mode"] = mode
	}
	g.set(k, p, "clusterCIDR", func() any {
		if g.maybe(0.3) {
			return pick(g, cidrs...) + "," + pick(g, cidrs...)
		}
		return pick(g, cidrs...)
	})
	g.set(k, p, "detectLocalMode", g.str("ClusterCIDR", "NodeCIDR", "BridgeInterface", "InterfaceNamePrefix"))
	switch k["detectLocalMode"] {
	case "BridgeInterface":
		k["detectLocal"] = map[string]any{"bridgeInterface": pick(g, "cbr0", "br-0", "", "a.b", "eth0/1", "bridge 0")}
	case "InterfaceNamePrefix":
		k["detectLocal"] = map[string]any{"interfaceNamePrefix": pick(g, "veth", "", "cali", "a b")}
	}
	g.set(k, p, "nodePortAddresses", func() any {
		var a []any
		for range 1 + g.r.IntN(2) {
			a = append(a, pick(g, append([]string{"primary"}, cidrs...)...))
		}
		return a
	})
	g.set(k, p, "metricsBindAddress", g.str(hostPorts...))
	g.set(k, p, "healthzBindAddress", g.str(hostPorts...))
	g.set(k, p, "conntrack", func() any {
		c := map[string]any{}
		g.set(c, 0.4, "maxPerCore", g.int(0, 32768, 2147483647))
		g.set(c, 0.4, "min", g.int(0, 131072, 2147483647))
		g.set(c, 0.3, "tcpEstablishedTimeout", g.duration)
		g.set(c, 0.3, "tcpCloseWaitTimeout", g.duration)
		g.set(c, 0.3, "tcpBeLiberal", g.bool)
		g.set(c, 0.3, "udpTimeout", g.duration)
		g.set(c, 0.3, "udpStreamTimeout", g.duration)
		return c
	})
	sync := func(m map[string]any) {
		g.set(m, 0.4, "masqueradeBit", g.int(0, 14, 31))
		g.set(m, 0.5, "syncPeriod", g.duration)
		g.set(m, 0.5, "minSyncPeriod", g.duration)
	}
	if mode == "" || mode == "iptables" || g.maybe(0.2) {
		g.set(k, p, "iptables", func() any {
			m := map[string]any{}
			sync(m)
			g.set(m, 0.3, "masqueradeAll", g.bool)
			g.set(m, 0.3, "localhostNodePorts", g.bool)
			return m
		})
	}
	if mode == "ipvs" || g.maybe(0.05) {
		g.set(k, 0.6, "ipvs", func() any {
			m := map[string]any{}
			g.set(m, 0.4, "scheduler", g.str("rr", "wrr", "lc", "wlc", "lblc", "lblcr", "sh", "dh", "sed", "nq", "mh"))
			g.set(m, 0.3, "excludeCIDRs", func() any { return []any{pick(g, cidrs...)} })
			g.set(m, 0.3, "strictARP", g.bool)
			g.set(m, 0.3, "tcpTimeout", g.duration)
			g.set(m, 0.3, "tcpFinTimeout", g.duration)
			g.set(m, 0.3, "udpTimeout", g.duration)
			g.set(m, 0.3, "syncPeriod", g.duration)
			g.set(m, 0.3, "minSyncPeriod", g.duration)
			return m
		})
	}
	if mode == "nftables" || g.maybe(0.05) {
		g.set(k, 0.6, "nftables", func() any {
			m := map[string]any{}
			sync(m)
			return m
		})
	}
	g.set(k, p, "configSyncPeriod", g.duration)
	g.set(k, 0.1, "featureGates", g.featureGates)
	return k
}

var images = []string{
	"registry.k8s.io/kube-proxy:v1.37.2", "kube-proxy:v1.37.2", "kube-proxy", "mirror.example:5000/k8s/kube-proxy:v1.37.2",
	"registry.k8s.io/kube-proxy@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	"registry.k8s.io/kube-proxy@sha256:0123", "Registry.k8s.io/kube-proxy:v1", "registry.k8s.io/Kube-Proxy:v1",
	"registry.k8s.io/kube-proxy:v1:v2", "registry.k8s.io/kube-proxy:" + strings.Repeat("t", 129), "[fd00::1]:5000/kube-proxy:v1",
	"registry.k8s.io//kube-proxy:v1", "registry.k8s.io/kube-proxy:", "registry.k8s.io/kube_proxy:v1", "registry.k8s.io/kube__proxy:v1",
	"registry.k8s.io/-kube-proxy:v1", "localhost/kube-proxy:v1", "a@b", "registry.k8s.io/kube-proxy:v1@sha256:x",
	// The repository path's bound, 255 characters, on either side: with a registry host, without
	// one (docker.io), and a one-word name (docker.io/library/).
	"registry.k8s.io/" + strings.Repeat("p", 255) + ":v1", "registry.k8s.io/" + strings.Repeat("p", 256) + ":v1",
	"localhost:5000/" + strings.Repeat("p", 256), "team/" + strings.Repeat("p", 250), "team/" + strings.Repeat("p", 251),
	strings.Repeat("p", 247) + ":v1", strings.Repeat("p", 248),
	"docker.io/" + strings.Repeat("p", 247), "docker.io/" + strings.Repeat("p", 248) + ":v1",
	"index.docker.io/" + strings.Repeat("p", 248), "docker.io/team/" + strings.Repeat("p", 250),
}

// containerdSpec is a RoomService's spec.containerd.
func (g gen) containerdSpec() map[string]any {
	c := map[string]any{"configVersion": pick(g, int64(2), int64(3))}
	p := 0.2
	g.set(c, p, "sandboxImage", g.str(images...))
	var names []string
	g.set(c, 0.4, "runtimes", func() any {
		var rs []any
		for range 1 + g.r.IntN(3) {
			name := pick(g, "runc", "nvidia", "runsc", "kata", "gpu-1", "crun")
			if slices.Contains(names, name) {
				continue
			}
			names = append(names, name)
			typ := pick(g, "io.containerd.runc.v2", "io.containerd.runsc.v1", "io.containerd.kata.v2", "io.containerd.crun.v2")
			r := map[string]any{"name": name, "runtimeType": typ}
			if typ == "io.containerd.runc.v2" {
				g.set(r, 0.3, "systemdCgroup", g.bool)
				g.set(r, 0.3, "binaryName", g.str("/usr/bin/nvidia-container-runtime", "crun", "/usr/local/bin/runc"))
			}
			g.set(r, 0.2, "configPath", g.str("/etc/kata-containers/configuration.toml", "/etc/runsc.toml", "/"))
			g.set(r, 0.2, "podAnnotations", func() any { return []any{pick(g, "io.katacontainers.*", "nvidia.com/gpu", "*")} })
			rs = append(rs, r)
		}
		return rs
	})
	if len(names) > 0 && g.maybe(0.5) {
		c["defaultRuntimeName"] = pick(g, names...)
	}
	g.set(c, p, "systemdCgroup", g.bool)
	g.set(c, p, "maxConcurrentDownloads", g.int(1, 3, 64))
	g.set(c, p, "snapshotter", g.str("overlayfs", "native", "zfs", "btrfs", "devmapper", "stargz"))
	g.set(c, p, "enableCDI", g.bool)
	g.set(c, 0.4, "registries", func() any {
		var regs []any
		var hosts []string
		for range 1 + g.r.IntN(2) {
			host := pick(g, "docker.io", "registry.k8s.io", "registry.example.com:5000", "_default", "localhost:5000", "10.0.0.1:5000", "ghcr.io")
			if slices.Contains(hosts, host) {
				continue
			}
			hosts = append(hosts, host)
			reg := map[string]any{"host": host}
			if host != "_default" {
				g.set(reg, 0.4, "server", g.str("https://registry-1.docker.io", "http://registry.example.com:5000", "https://"+host,
					"https://registry.example.com/v2", "https://registry.example.com?x=1", "https://registry.example.com#frag", "https://[fd00::1]:5000"))
			}
			if _, ok := reg["server"]; !ok || g.maybe(0.6) {
				var mirrors []any
				var urls []string
				for range 1 + g.r.IntN(2) {
					u := pick(g, "https://mirror.example.com", "http://10.0.0.2:5000", "https://mirror.example.com/v2/proxy", "https://[fd00::2]",
						"https://mirror.example.com:8443", "https://mirror.example.com/#frag", "https://mirror.example.com?ns=docker.io")
					if slices.Contains(urls, u) {
						continue
					}
					urls = append(urls, u)
					m := map[string]any{"url": u}
					g.set(m, 0.3, "capabilities", func() any {
						caps := []any{"pull"}
						if g.maybe(0.5) {
							caps = append(caps, "resolve")
						}
						if g.maybe(0.2) {
							caps = append(caps, "push")
						}
						return caps
					})
					g.set(m, 0.2, "skipVerify", g.bool)
					g.set(m, 0.2, "overridePath", g.bool)
					g.set(m, 0.2, "caBundle", func() any { return map[string]any{"name": caConfigMap} })
					g.set(m, 0.2, "headers", func() any {
						return []any{map[string]any{"name": pick(g, "X-Token", "Authorization"), "values": []any{pick(g, "a", "b c", "")}}}
					})
					if c["configVersion"] == int64(3) {
						g.set(m, 0.2, "dialTimeout", g.duration)
					}
					mirrors = append(mirrors, m)
				}
				reg["mirrors"] = mirrors
			}
			regs = append(regs, reg)
		}
		return regs
	})
	return c
}

// caConfigMap is the ConfigMap the mirrors' caBundles name; the test hands Render its PEM.
const caConfigMap = "registry-ca"

// spec returns a random spec of kind.
func (g gen) spec(kind string) map[string]any {
	s := map[string]any{"nodeSelector": g.nodeSelector()}
	if g.maybe(0.2) {
		s["rollout"] = map[string]any{"maxUnavailable": pick[any](g, int64(1), int64(3), "10%", "100%")}
	}
	switch kind {
	case "FloorManager":
		s["kubelet"] = g.kubeletSpec()
	case "Concierge":
		s["kubeProxy"] = g.kubeProxySpec()
		g.set(s, 0.3, "image", g.str(images...))
	case "RoomService":
		s["containerd"] = g.containerdSpec()
	}
	return s
}
