package realnode

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// Paths inside a node, where the harness puts what the node runs and the agents look for.
const (
	// KubeletDropInDir is the kubelet's --config-dir, where innkeeper's agent writes its drop-in.
	KubeletDropInDir = "/etc/kubernetes/kubelet.conf.d"
	// ContainerdConfig is containerd's main configuration, which imports ContainerdDropInDir.
	ContainerdConfig = "/etc/containerd/config.toml"
	// ContainerdDropInDir holds the drop-ins containerd imports.
	ContainerdDropInDir = "/etc/containerd/conf.d"
	// CRISocket is containerd's CRI socket.
	CRISocket = "/run/containerd/containerd.sock"
	// ImagesDir is where each node sees the image archives it imports (read-only).
	ImagesDir = "/var/lib/innkeeper-realnode/images"
	// KubeletHealthzPort is the kubelet's healthz port on the node's loopback.
	KubeletHealthzPort = 10248
	// KubeletPort is the kubelet's API (and /configz) port on the node's address.
	KubeletPort = 10250
	// SandboxImage is the pause image each node's containerd runs pods' sandboxes from: the one
	// the harness builds (see PauseImage), under containerd's default name.
	SandboxImage = "registry.k8s.io/pause:3.10.2"
)

// binaries are the node binaries, by where the node sees them, with where hack/controlplane.sh
// node builds them in its directory (%s: the versions of containerd, cri-tools and the CNI
// plugins, filled in by nodeBinaries).
var binaries = map[string]string{
	"/usr/local/bin/kubelet":                 "kubelet",
	"/usr/local/bin/containerd":              "containerd-%[1]s/containerd",
	"/usr/local/bin/ctr":                     "containerd-%[1]s/ctr",
	"/usr/local/bin/containerd-shim-runc-v2": "containerd-%[1]s/containerd-shim-runc-v2",
	"/usr/local/bin/crictl":                  "cri-tools-%[2]s/crictl",
	"/opt/cni/bin/tap":                       "cni-plugins-%[3]s/tap",
	"/opt/cni/bin/host-local":                "cni-plugins-%[3]s/host-local",
	"/opt/cni/bin/loopback":                  "cni-plugins-%[3]s/loopback",
}

// kernelTunables are the sysctls the kubelet sets at start. /proc/sys is read-only in a node, and
// the values are global to the machine: the node sees files holding them instead (bind-mounted
// over /proc/sys by innkeeper-node-prep), so the kubelet finds what it wants and the machine keeps
// its own. Nothing in the tests depends on them.
var kernelTunables = map[string]string{
	"vm.overcommit_memory":      "1",
	"vm.panic_on_oom":           "0",
	"kernel.panic":              "10",
	"kernel.panic_on_oops":      "1",
	"kernel.keys.root_maxkeys":  "1000000",
	"kernel.keys.root_maxbytes": "25000000",
}

// nodeConfig is what makes one node different from another.
type nodeConfig struct {
	// name is the node's hostname and its Node's name.
	name string
	// addr is the node's address on the cluster's bridge, with its prefix; gateway the bridge's.
	addr    netip.Prefix
	gateway netip.Addr
	// apiServer is the API server's URL as the node reaches it.
	apiServer string
	// podCIDR is the range the node's pods get addresses from.
	podCIDR netip.Prefix
	// labels are the Node's labels, registered by its kubelet.
	labels map[string]string
}

// file is one file of a node's root filesystem.
type file struct {
	data string
	mode uint32
}

// nodeFiles returns the files that make a Debian root filesystem into the node cfg, by path:
// the units that prepare the node and run containerd and the kubelet, their configuration, and
// the node's identity. Certificates and keys are added by the caller.
func nodeFiles(cfg nodeConfig) map[string]file {
	files := map[string]file{
		"/etc/hostname": {data: cfg.name + "\n"},
		// minbase has no netbase: a hostNetwork sandbox needs /etc/hosts.
		"/etc/hosts":                       {data: fmt.Sprintf("127.0.0.1 localhost\n%s %s\n", cfg.addr.Addr(), cfg.name)},
		"/etc/resolv.conf":                 {data: "# No DNS: the nodes are on a private bridge.\nnameserver 127.0.0.1\n"},
		"/etc/innkeeper-realnode/node.env": {data: fmt.Sprintf("NODE_ADDR=%s\nGATEWAY=%s\n", cfg.addr, cfg.gateway)},
		// A pod whose PID 1 ignores SIGTERM must not hold the node's shutdown for 90 s.
		"/etc/systemd/system.conf.d/10-innkeeper-realnode.conf": {data: "[Manager]\nDefaultTimeoutStopSec=10s\n"},
		"/usr/local/sbin/innkeeper-node-prep":                   {data: nodePrepScript, mode: 0o755},
		"/etc/systemd/system/innkeeper-node-prep.service":       {data: nodePrepUnit},
		"/etc/systemd/system/containerd.service":                {data: containerdUnit},
		"/etc/systemd/system/kubelet.service":                   {data: kubeletUnit(cfg)},
		ContainerdConfig:                                        {data: containerdConfig},
		"/etc/cni/net.d/10-innkeeper-realnode.conflist":         {data: cniConfig(cfg.podCIDR)},
		"/etc/crictl.yaml":                                      {data: "runtime-endpoint: unix://" + CRISocket + "\n"},
		"/etc/kubernetes/kubelet.yaml":                          {data: kubeletConfig},
		"/etc/kubernetes/kubelet.kubeconfig":                    {data: kubeletKubeconfig(cfg.apiServer), mode: 0o600},
		KubeletDropInDir + "/.keep":                             {data: ""},
		ContainerdDropInDir + "/.keep":                          {data: ""},
	}
	for _, unit := range []string{"innkeeper-node-prep.service", "containerd.service", "kubelet.service"} {
		files["/etc/systemd/system/multi-user.target.wants/"+unit] = file{data: "/etc/systemd/system/" + unit, mode: symlink}
	}
	// What a container needs no timer or console for.
	for _, unit := range []string{"apt-daily.timer", "apt-daily-upgrade.timer", "dpkg-db-backup.timer", "e2scrub_all.timer",
		"console-getty.service", "systemd-tmpfiles-clean.timer"} {
		files["/etc/systemd/system/"+unit] = file{data: "/dev/null", mode: symlink}
	}
	for name, value := range kernelTunables {
		files["/etc/innkeeper-realnode/sysctl/"+name] = file{data: value + "\n"}
	}
	return files
}

// symlink as a file's mode makes it a symbolic link to its data.
const symlink = 1 << 31

// nodePrepScript prepares a booted node for containerd and the kubelet: its address on the
// cluster's bridge, writable cgroup hierarchies, and the kernel tunables the kubelet sets.
const nodePrepScript = `#!/bin/sh
# Written by innkeeper's test/realnode: prepares this node for containerd and the kubelet.
set -eu
. /etc/innkeeper-realnode/node.env

ip link set lo up
ip addr replace "$NODE_ADDR" dev host0
ip link set host0 up
ip route replace default via "$GATEWAY"

# systemd-nspawn mounts cgroup v1 hierarchies read-only (there is no user namespace to make them
# safe): containerd and the kubelet create cgroups in them, below this node's own.
for d in /sys/fs/cgroup/*/; do
	case "$d" in */systemd/|*/unified/) continue ;; esac
	mount -o remount,bind,rw "$d"
done

# The kubelet writes these machine-wide sysctls at start; the node gets files of its own instead.
for f in /etc/innkeeper-realnode/sysctl/*; do
	key=$(basename "$f" | tr . /)
	mount --bind "$f" "/proc/sys/$key"
done
`

const nodePrepUnit = `[Unit]
Description=Prepare the node for containerd and the kubelet (innkeeper test/realnode)
DefaultDependencies=no
After=local-fs.target
Before=containerd.service kubelet.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/innkeeper-node-prep

[Install]
WantedBy=multi-user.target
`

// containerdUnit runs containerd as its own unit does, less OOMScoreAdjust, which this machine
// does not allow (no CAP_SYS_RESOURCE).
const containerdUnit = `[Unit]
Description=containerd container runtime
After=innkeeper-node-prep.service
Requires=innkeeper-node-prep.service

[Service]
ExecStart=/usr/local/bin/containerd
Type=notify
Delegate=yes
KillMode=process
Restart=always
RestartSec=1
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity

[Install]
WantedBy=multi-user.target
`

func kubeletUnit(cfg nodeConfig) string {
	labels := make([]string, 0, len(cfg.labels))
	for k, v := range cfg.labels {
		labels = append(labels, k+"="+v)
	}
	sort.Strings(labels)
	args := []string{
		"--config=/etc/kubernetes/kubelet.yaml",
		"--config-dir=" + KubeletDropInDir,
		"--kubeconfig=/etc/kubernetes/kubelet.kubeconfig",
		"--hostname-override=" + cfg.name,
		"--node-ip=" + cfg.addr.Addr().String(),
	}
	if len(labels) > 0 {
		args = append(args, "--node-labels="+strings.Join(labels, ","))
	}
	// As the kubelet's own unit: restarted however often it is restarted (a rollout restarts it,
	// and so does a test measuring its restart), never given up on after five starts in 10 s.
	return `[Unit]
Description=kubelet
After=containerd.service innkeeper-node-prep.service
Requires=innkeeper-node-prep.service
StartLimitIntervalSec=0

[Service]
ExecStart=/usr/local/bin/kubelet ` + strings.Join(args, " ") + `
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
`
}

// containerdConfig is the node's containerd configuration: version 3, importing the drop-ins
// innkeeper's agent writes, registry hosts in /etc/containerd/certs.d, the harness's pause image,
// and no lowering of a container's OOM score below containerd's own (this machine does not allow
// it).
const containerdConfig = `version = 3
imports = ["` + ContainerdDropInDir + `/*.toml"]

[plugins.'io.containerd.cri.v1.images']
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "` + SandboxImage + `"
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = "/etc/containerd/certs.d"

[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["/opt/cni/bin"]
    conf_dir = "/etc/cni/net.d"
`

// cniConfig gives pods an address of podCIDR on a tap device of their own network namespace: no
// bridge, so nothing outside the pod's namespace changes. Pods on the pod network get an address
// but reach nothing; innkeeper's pods use the node's network.
func cniConfig(podCIDR netip.Prefix) string {
	return fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "innkeeper-realnode",
  "plugins": [
    {
      "type": "tap",
      "ipam": {"type": "host-local", "ranges": [[{"subnet": %q}]]}
    }
  ]
}
`, podCIDR.String())
}

// kubeletConfig is the node's kubelet configuration. The kubelet's client and serving
// certificates and the cluster's CA are files the harness writes; requests to its API are
// authenticated with them and authorized by the API server. cgroup v1 must be allowed, and swap.
const kubeletConfig = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: /etc/kubernetes/pki/ca.crt
authorization:
  mode: Webhook
tlsCertFile: /etc/kubernetes/pki/kubelet-serving.crt
tlsPrivateKeyFile: /etc/kubernetes/pki/kubelet-serving.key
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://` + CRISocket + `
resolvConf: /etc/resolv.conf
clusterDomain: cluster.local
serializeImagePulls: false
imageGCHighThresholdPercent: 100
evictionHard:
  memory.available: "1Mi"
  nodefs.available: "1%"
  imagefs.available: "1%"
  nodefs.inodesFree: "1%"
`

func kubeletKubeconfig(server string) string {
	return `apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: ` + server + `
    certificate-authority: /etc/kubernetes/pki/ca.crt
users:
- name: kubelet
  user:
    client-certificate: /etc/kubernetes/pki/kubelet-client.crt
    client-key: /etc/kubernetes/pki/kubelet-client.key
contexts:
- name: local
  context: {cluster: local, user: kubelet}
current-context: local
`
}
