package realnode

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

func TestCgroupMounts(t *testing.T) {
	g := NewWithT(t)
	// This machine's layout: cgroup v1 controllers, name=systemd, and cgroup2 at unified.
	mountinfo := `22 1 0:21 / /sys rw,nosuid shared:7 - sysfs sysfs rw
30 22 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate
32 30 0:28 / /sys/fs/cgroup/systemd rw,nosuid shared:10 - cgroup cgroup rw,xattr,name=systemd
33 30 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
34 30 0:30 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
`
	got, err := cgroupMounts(strings.NewReader(mountinfo))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(Equal([]string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/memory"}))
	_, err = cgroupMounts(strings.NewReader("22 1 0:21 / /sys rw - sysfs sysfs rw\n"))
	g.Expect(err).To(MatchError(ContainSubstring("no cgroup hierarchy")))
}

func TestNodeFiles(t *testing.T) {
	g := NewWithT(t)
	cfg := nodeConfig{
		name: "node-1", addr: netip.MustParsePrefix("10.213.0.10/24"), gateway: netip.MustParseAddr("10.213.0.1"),
		apiServer: "https://10.213.0.1:443", podCIDR: netip.MustParsePrefix("10.244.0.0/24"),
		labels: map[string]string{"node.kubernetes.io/pool": "real", "zone": "a"},
	}
	files := nodeFiles(cfg)
	g.Expect(files["/etc/hostname"].data).To(Equal("node-1\n"))
	g.Expect(files["/etc/innkeeper-realnode/node.env"].data).To(Equal("NODE_ADDR=10.213.0.10/24\nGATEWAY=10.213.0.1\n"))
	unit := files["/etc/systemd/system/kubelet.service"].data
	g.Expect(unit).To(ContainSubstring("--config-dir=" + KubeletDropInDir))
	g.Expect(unit).To(ContainSubstring("--node-ip=10.213.0.10"))
	g.Expect(unit).To(ContainSubstring("--node-labels=node.kubernetes.io/pool=real,zone=a"), "labels sorted")
	g.Expect(files["/etc/kubernetes/kubelet.kubeconfig"].data).To(ContainSubstring("server: https://10.213.0.1:443"))
	g.Expect(files["/etc/kubernetes/kubelet.kubeconfig"].mode).To(Equal(uint32(0o600)))
	// What innkeeper's containerd agent needs of the main configuration: the drop-in directory
	// imported, registry hosts in /etc/containerd/certs.d alone.
	g.Expect(files[ContainerdConfig].data).To(ContainSubstring(`imports = ["/etc/containerd/conf.d/*.toml"]`))
	g.Expect(files[ContainerdConfig].data).To(ContainSubstring(`config_path = "/etc/containerd/certs.d"`))
	g.Expect(files["/etc/cni/net.d/10-innkeeper-realnode.conflist"].data).To(ContainSubstring(`"subnet": "10.244.0.0/24"`))
	g.Expect(files["/etc/systemd/system/multi-user.target.wants/kubelet.service"]).To(Equal(
		file{data: "/etc/systemd/system/kubelet.service", mode: symlink}))
	for name, value := range kernelTunables {
		g.Expect(files["/etc/innkeeper-realnode/sysctl/"+name].data).To(Equal(value + "\n"))
	}
}

func TestWriteFiles(t *testing.T) {
	g := NewWithT(t)
	root := t.TempDir()
	g.Expect(writeFiles(root, map[string]file{
		"/etc/a/b.conf":   {data: "x"},
		"/usr/bin/run":    {data: "#!/bin/sh\n", mode: 0o755},
		"/etc/link.wants": {data: "/etc/a/b.conf", mode: symlink},
	})).To(Succeed())
	data, err := os.ReadFile(filepath.Join(root, "etc/a/b.conf"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(data)).To(Equal("x"))
	info, err := os.Stat(filepath.Join(root, "usr/bin/run"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(info.Mode().Perm()).To(Equal(os.FileMode(0o755)))
	target, err := os.Readlink(filepath.Join(root, "etc/link.wants"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(target).To(Equal("/etc/a/b.conf"))
}

func TestNodeBinaries(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	_, err := nodeBinaries(dir)
	g.Expect(err).To(MatchError(ContainSubstring("hack/controlplane.sh node")))
	for _, rel := range []string{"kubelet", "containerd-v2.4.2/containerd", "containerd-v2.4.2/ctr",
		"containerd-v2.4.2/containerd-shim-runc-v2", "cri-tools-v1.37.0/crictl",
		"cni-plugins-v1.9.1/tap", "cni-plugins-v1.9.1/host-local", "cni-plugins-v1.9.1/loopback"} {
		p := filepath.Join(dir, rel)
		g.Expect(os.MkdirAll(filepath.Dir(p), 0o755)).To(Succeed())
		g.Expect(os.WriteFile(p, nil, 0o755)).To(Succeed())
	}
	bins, err := nodeBinaries(dir)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(bins).To(HaveLen(len(binaries)))
	g.Expect(bins["/usr/local/bin/containerd-shim-runc-v2"]).To(Equal(filepath.Join(dir, "containerd-v2.4.2/containerd-shim-runc-v2")))
	g.Expect(bins["/opt/cni/bin/host-local"]).To(Equal(filepath.Join(dir, "cni-plugins-v1.9.1/host-local")))
}
