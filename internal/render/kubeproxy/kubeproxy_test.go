package kubeproxy

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func duration(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

func TestRenderGolden(t *testing.T) {
	tests := []struct {
		name string
		spec hotelv1alpha1.KubeProxySpec
	}{
		{name: "empty", spec: hotelv1alpha1.KubeProxySpec{}},
		{name: "ipvs", spec: hotelv1alpha1.KubeProxySpec{
			Mode: ptr.To("ipvs"), ClusterCIDR: ptr.To("10.244.0.0/16"),
			IPVS: &hotelv1alpha1.IPVS{Scheduler: ptr.To("lc"), StrictARP: ptr.To(true), ExcludeCIDRs: []string{"10.0.0.0/8"},
				TCPTimeout: duration(900 * time.Second)},
			MetricsBindAddress: ptr.To("0.0.0.0:10249"),
		}},
		{name: "nftables-dual-stack", spec: hotelv1alpha1.KubeProxySpec{
			Mode: ptr.To("nftables"), ClusterCIDR: ptr.To("10.244.0.0/16,fd00:10:244::/56"),
			DetectLocalMode: ptr.To("ClusterCIDR"), NodePortAddresses: []string{"primary"},
			HealthzBindAddress: ptr.To("[::]:10256"),
			NFTables:           &hotelv1alpha1.NFTables{MasqueradeBit: ptr.To[int32](14), SyncPeriod: duration(30 * time.Second), MinSyncPeriod: duration(time.Second)},
			Conntrack: &hotelv1alpha1.Conntrack{MaxPerCore: ptr.To[int32](0), Min: ptr.To[int32](131072), TCPBeLiberal: ptr.To(true),
				TCPEstablishedTimeout: duration(24 * time.Hour), UDPTimeout: duration(30 * time.Second)},
			ConfigSyncPeriod: duration(15 * time.Minute),
			FeatureGates:     map[string]bool{"NFTablesProxyMode": true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			got, err := Render(&tt.spec)
			g.Expect(err).NotTo(HaveOccurred())
			golden := filepath.Join("testdata", tt.name+".yaml")
			if *update {
				g.Expect(os.WriteFile(golden, got, 0o644)).To(Succeed())
			}
			want, err := os.ReadFile(golden)
			g.Expect(err).NotTo(HaveOccurred(), "run go test -update to create %s", golden)
			g.Expect(string(got)).To(Equal(string(want)))
			// The rendered configuration is what kube-proxy decodes, strictly.
			kc, err := Decode(got)
			g.Expect(err).NotTo(HaveOccurred())
			if tt.spec.Mode != nil {
				g.Expect(string(kc.Mode)).To(Equal(*tt.spec.Mode))
			}
		})
	}
}

func TestDecodeRejectsUnknownFields(t *testing.T) {
	g := NewWithT(t)
	_, err := Decode([]byte("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmodee: ipvs\n"))
	g.Expect(err).To(MatchError(ContainSubstring(`unknown field "modee"`)))
	_, err = Decode([]byte("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nMode: ipvs\n"))
	g.Expect(err).To(HaveOccurred(), "field names are case-sensitive, as kube-proxy reads them")
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		spec    hotelv1alpha1.KubeProxySpec
		wantErr string
	}{
		{name: "empty", spec: hotelv1alpha1.KubeProxySpec{}},
		{name: "a bad CIDR", spec: hotelv1alpha1.KubeProxySpec{ClusterCIDR: ptr.To("10.0.0.0")}, wantErr: `spec.kubeProxy.clusterCIDR: Invalid value: "10.0.0.0": "10.0.0.0" is not a CIDR`},
		{name: "three CIDRs", spec: hotelv1alpha1.KubeProxySpec{ClusterCIDR: ptr.To("10.0.0.0/8,10.1.0.0/16,fd00::/8")}, wantErr: "must be one CIDR, or two"},
		{name: "an address without port", spec: hotelv1alpha1.KubeProxySpec{HealthzBindAddress: ptr.To("0.0.0.0")}, wantErr: "spec.kubeProxy.healthzBindAddress"},
		{name: "ipvs settings in iptables mode", spec: hotelv1alpha1.KubeProxySpec{IPVS: &hotelv1alpha1.IPVS{}}, wantErr: "ipvs settings need mode: ipvs"},
		{name: "minSyncPeriod above syncPeriod", spec: hotelv1alpha1.KubeProxySpec{IPTables: &hotelv1alpha1.IPTables{
			SyncPeriod: duration(time.Second), MinSyncPeriod: duration(time.Minute)}}, wantErr: "must not exceed syncPeriod"},
		{name: "masqueradeBit 32", spec: hotelv1alpha1.KubeProxySpec{Mode: ptr.To("nftables"), NFTables: &hotelv1alpha1.NFTables{MasqueradeBit: ptr.To[int32](32)}},
			wantErr: "spec.kubeProxy.nftables.masqueradeBit"},
		{name: "a zero configSyncPeriod", spec: hotelv1alpha1.KubeProxySpec{ConfigSyncPeriod: duration(0)}, wantErr: "spec.kubeProxy.configSyncPeriod"},
		{name: "ClusterCIDR local mode without a CIDR", spec: hotelv1alpha1.KubeProxySpec{DetectLocalMode: ptr.To("ClusterCIDR")}, wantErr: "needs clusterCIDR"},
		{name: "ClusterCIDR local mode with two IPv4 CIDRs", spec: hotelv1alpha1.KubeProxySpec{DetectLocalMode: ptr.To("ClusterCIDR"),
			ClusterCIDR: ptr.To("10.0.0.0/16,10.1.0.0/16")}, wantErr: "one IPv4 and one IPv6"},
		{name: "two IPv4 CIDRs and kube-proxy's default local mode, ClusterCIDR", spec: hotelv1alpha1.KubeProxySpec{
			ClusterCIDR: ptr.To("10.0.0.0/16,10.1.0.0/16")}, wantErr: "one IPv4 and one IPv6"},
		{name: "two IPv4 CIDRs and NodeCIDR local mode, which does not read them", spec: hotelv1alpha1.KubeProxySpec{
			DetectLocalMode: ptr.To("NodeCIDR"), ClusterCIDR: ptr.To("10.0.0.0/16,10.1.0.0/16")}},
		{name: "primary twice", spec: hotelv1alpha1.KubeProxySpec{NodePortAddresses: []string{"primary", "10.0.0.0/8", "primary"}},
			wantErr: `spec.kubeProxy.nodePortAddresses[2]: Duplicate value: "primary"`},
		{name: "all twice", spec: hotelv1alpha1.KubeProxySpec{NodePortAddresses: []string{"all", "localhost", "all"}},
			wantErr: `spec.kubeProxy.nodePortAddresses[2]: Duplicate value: "all"`},
		{name: "a word that is no keyword", spec: hotelv1alpha1.KubeProxySpec{NodePortAddresses: []string{"everywhere"}},
			wantErr: `spec.kubeProxy.nodePortAddresses[0]: Invalid value: "everywhere": must be a CIDR or one of the keywords primary, localhost and all`},
		{name: "a CIDR twice, which kube-proxy takes", spec: hotelv1alpha1.KubeProxySpec{NodePortAddresses: []string{"10.0.0.0/8", "10.0.0.0/8"}}},
		{name: "BridgeInterface mode without a bridge", spec: hotelv1alpha1.KubeProxySpec{DetectLocalMode: ptr.To("BridgeInterface")},
			wantErr: "spec.kubeProxy.detectLocal.bridgeInterface: Required value"},
		{name: "minSyncPeriod alone above the default syncPeriod", spec: hotelv1alpha1.KubeProxySpec{IPTables: &hotelv1alpha1.IPTables{
			MinSyncPeriod: duration(time.Minute)}}, wantErr: "must not exceed syncPeriod (30s"},
		{name: "syncPeriod alone below the default minSyncPeriod", spec: hotelv1alpha1.KubeProxySpec{IPTables: &hotelv1alpha1.IPTables{
			SyncPeriod: duration(500 * time.Millisecond)}}, wantErr: "must not exceed syncPeriod (500ms"},
		{name: "a zero minSyncPeriod, which kube-proxy turns into 1s, above syncPeriod", spec: hotelv1alpha1.KubeProxySpec{IPTables: &hotelv1alpha1.IPTables{
			SyncPeriod: duration(500 * time.Millisecond), MinSyncPeriod: duration(0)}}, wantErr: "spec.kubeProxy.iptables.minSyncPeriod: Invalid value: \"0s\""},
		{name: "a zero nftables minSyncPeriod above syncPeriod", spec: hotelv1alpha1.KubeProxySpec{Mode: ptr.To("nftables"), NFTables: &hotelv1alpha1.NFTables{
			SyncPeriod: duration(500 * time.Millisecond), MinSyncPeriod: duration(0)}}, wantErr: "spec.kubeProxy.nftables.minSyncPeriod"},
		{name: "an unknown feature gate", spec: hotelv1alpha1.KubeProxySpec{FeatureGates: map[string]bool{"NoSuchGate": true}},
			wantErr: "spec.kubeProxy.featureGates[NoSuchGate]"},
		{name: "ipvs without its gate", spec: hotelv1alpha1.KubeProxySpec{Mode: ptr.To("ipvs"), FeatureGates: map[string]bool{"KubeProxyIPVS": false}},
			wantErr: "spec.kubeProxy.featureGates[KubeProxyIPVS]: Invalid value: false: is off, but mode is ipvs"},
		{name: "another mode without the ipvs gate", spec: hotelv1alpha1.KubeProxySpec{Mode: ptr.To("nftables"), FeatureGates: map[string]bool{"KubeProxyIPVS": false}}},
		{name: "a zero minSyncPeriod with a syncPeriod of 1s", spec: hotelv1alpha1.KubeProxySpec{IPTables: &hotelv1alpha1.IPTables{
			SyncPeriod: duration(time.Second), MinSyncPeriod: duration(0)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			_, err := Render(&tt.spec)
			if tt.wantErr == "" {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			g.Expect(err).To(MatchError(ContainSubstring(tt.wantErr)))
		})
	}
}

func TestForeign(t *testing.T) {
	ds := func(c corev1.Container) *appsv1.DaemonSet {
		d := &appsv1.DaemonSet{}
		d.Spec.Template.Spec.Containers = []corev1.Container{c}
		return d
	}
	tests := []struct {
		name string
		ds   *appsv1.DaemonSet
		want bool
	}{
		{name: "kubeadm's", ds: ds(corev1.Container{Image: "registry.k8s.io/kube-proxy:v1.36.0", Command: []string{"/usr/local/bin/kube-proxy"}}), want: true},
		{name: "a mirror, by digest", ds: ds(corev1.Container{Image: "mirror.example:5000/k8s/kube-proxy@sha256:abc"}), want: true},
		{name: "a custom image running kube-proxy", ds: ds(corev1.Container{Image: "example/net:1", Args: []string{"kube-proxy", "--v=2"}}), want: true},
		{name: "a CNI", ds: ds(corev1.Container{Image: "quay.io/cilium/cilium:v1.18", Command: []string{"cilium-agent"}})},
		{name: "a look-alike name", ds: ds(corev1.Container{Image: "example/kube-proxy-exporter:1"})},
		{name: "a registry port", ds: ds(corev1.Container{Image: "registry:5000/node-exporter"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			NewWithT(t).Expect(Component{}.Foreign(tt.ds)).To(Equal(tt.want))
		})
	}
}
