// Package realnode boots real Kubernetes worker nodes on this machine, without Docker, and joins
// them to a local control plane (test/localcluster). Each node is a systemd-nspawn container
// running systemd as PID 1, D-Bus, containerd, runc and the kubelet, from an overlay of a Debian
// root filesystem (hack/realnode.sh) with binaries built from Go modules (hack/controlplane.sh
// node). Each node has a network namespace of its own, its veth a port of a bridge in the tests'
// own network namespace (see Main), and a cgroup of its own in every hierarchy. make test-node runs
// innkeeper's real node agents on them.
//
// Everything a node needs on this machine (a cgroup v1 hybrid layout, no systemd as PID 1, no
// CAP_SYS_RESOURCE) is described where it is done, and in ../../../shared/REALNODE.md.
package realnode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/innkeeper-dev/innkeeper/test/localcluster"
)

// Options configure a cluster of real nodes.
type Options struct {
	// BinDir holds the control plane's and the nodes' binaries, as `hack/controlplane.sh
	// kube-apiserver etcd kube-controller-manager kube-scheduler kubectl helm node` builds them.
	BinDir string
	// Rootfs is the base root filesystem of every node, as hack/realnode.sh prints it.
	Rootfs string
	// Nodes are the nodes to boot.
	Nodes []NodeOptions
	// Images are image archives (docker load / ctr import format) to import into every node.
	Images []string
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// NodeOptions configure one node.
type NodeOptions struct {
	// Name is the node's name: at most 12 characters (its veth is named ve-<name>).
	Name string
	// Labels are the Node's labels, registered by its kubelet.
	Labels map[string]string
}

// Cluster is a local control plane with real nodes.
type Cluster struct {
	*localcluster.Cluster
	// Nodes are the nodes, in the order of Options.Nodes.
	Nodes []*Node

	dir    string
	rootfs string
	log    io.Writer
}

// Start boots a control plane and the nodes, imports the images into every node, and waits until
// every Node is Ready. It must run inside the namespaces Main creates. On error, whatever it
// started is stopped again.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	if os.Getenv(envInside) == "" {
		return nil, errors.New("realnode.Start needs the tests' own namespaces: call realnode.Main from TestMain")
	}
	for _, no := range opts.Nodes {
		if len(no.Name) > 12 || no.Name == "" {
			return nil, fmt.Errorf("node name %q: want 1 to 12 characters", no.Name)
		}
	}
	if len(opts.Nodes) > 200 {
		return nil, errors.New("at most 200 nodes fit the cluster's /24")
	}
	c := &Cluster{log: opts.Log, rootfs: opts.Rootfs}
	if c.log == nil {
		c.log = io.Discard
	}
	if err := reapStaleRuns(); err != nil {
		c.logf("reaping the leftovers of earlier runs: %v", err)
	}
	if c.dir, err = os.MkdirTemp("", "innkeeper-realnode-"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	bins, err := nodeBinaries(opts.BinDir)
	if err != nil {
		return nil, err
	}
	imagesDir := filepath.Join(c.dir, "images")
	if err := os.MkdirAll(imagesDir, 0o755); err != nil {
		return nil, err
	}
	var archives []string
	for i, img := range opts.Images {
		name := fmt.Sprintf("%02d-%s", i, filepath.Base(img))
		if err := linkOrCopy(img, filepath.Join(imagesDir, name)); err != nil {
			return nil, fmt.Errorf("image %s: %w", img, err)
		}
		archives = append(archives, ImagesDir+"/"+name)
	}

	c.logf("starting the control plane on %s:443", bridgeAddr.Addr())
	if c.Cluster, err = localcluster.Start(ctx, localcluster.Options{
		BinDir: opts.BinDir, Log: opts.Log,
		BindAddress: "0.0.0.0", AdvertiseAddress: bridgeAddr.Addr().String(), APIServerPort: 443,
	}); err != nil {
		return nil, err
	}

	c.Nodes = make([]*Node, len(opts.Nodes))
	errs := make([]error, len(opts.Nodes))
	var wg sync.WaitGroup
	for i, no := range opts.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Nodes[i], errs[i] = c.startNode(ctx, i, no, bins, imagesDir, archives)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := c.waitNodesReady(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// startNode boots node i, waits for containerd and imports the images.
func (c *Cluster) startNode(ctx context.Context, i int, no NodeOptions, bins map[string]string, imagesDir string,
	archives []string) (*Node, error) {
	start := time.Now()
	// Node i at .10+i of the bridge's /24.
	a := bridgeAddr.Addr().As4()
	a[3] = byte(10 + i)
	addr := netip.PrefixFrom(netip.AddrFrom4(a), bridgeAddr.Bits())
	cfg := nodeConfig{
		name: no.Name, addr: addr, gateway: bridgeAddr.Addr(),
		apiServer: c.Server,
		podCIDR:   netip.MustParsePrefix(fmt.Sprintf("10.244.%d.0/24", i)),
		labels:    no.Labels,
	}
	extra, err := c.nodeCerts(cfg)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(c.dir, no.Name)
	binds := map[string]string{imagesDir: ImagesDir}
	for inNode, host := range bins {
		binds[host] = inNode
	}
	writable := map[string]string{}
	// containerd's snapshots must not live on the root's overlay (no overlay on an overlay's upper
	// layer), nor the kubelet's volumes: both on the machine's own filesystem.
	for _, d := range []string{"/var/lib/containerd", "/var/lib/kubelet"} {
		host := filepath.Join(dir, "state", filepath.Base(d))
		if err := os.MkdirAll(host, 0o755); err != nil {
			return nil, err
		}
		writable[host] = d
	}
	n, err := boot(nodeSpec{
		cfg: cfg, rootfs: c.rootfs, dir: dir,
		cgroup: filepath.Join(cgroupRoot, strconv.Itoa(os.Getpid()), no.Name),
		binds:  binds, writable: writable, extra: extra,
	}, c.logf)
	if err != nil {
		return n, err
	}
	if err := n.attach(ctx); err != nil {
		return n, err
	}
	bootCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := n.waitBooted(bootCtx); err != nil {
		return n, err
	}
	if err := n.importImages(bootCtx, archives); err != nil {
		return n, err
	}
	c.logf("node %s (%s) booted in %s", n.Name, n.Addr, time.Since(start).Round(100*time.Millisecond))
	return n, nil
}

// nodeCerts issues the node's kubelet certificates, signed by the cluster CA: a client certificate
// as system:node:<name> (the Node authorizer lets it manage its own Node), and a serving
// certificate for its address. It returns them, with the CA, as files of the node.
func (c *Cluster) nodeCerts(cfg nodeConfig) (map[string]file, error) {
	clientCert, clientKey, err := c.IssueClientCert(cfg.name+"-kubelet-client", "system:node:"+cfg.name, "system:nodes")
	if err != nil {
		return nil, err
	}
	servingCert, servingKey, err := c.IssueServingCert(cfg.name+"-kubelet-serving",
		[]net.IP{net.IP(cfg.addr.Addr().AsSlice())}, cfg.name)
	if err != nil {
		return nil, err
	}
	files := map[string]file{}
	for inNode, host := range map[string]string{
		"/etc/kubernetes/pki/ca.crt":              c.CACert,
		"/etc/kubernetes/pki/kubelet-client.crt":  clientCert,
		"/etc/kubernetes/pki/kubelet-client.key":  clientKey,
		"/etc/kubernetes/pki/kubelet-serving.crt": servingCert,
		"/etc/kubernetes/pki/kubelet-serving.key": servingKey,
	} {
		data, err := os.ReadFile(host)
		if err != nil {
			return nil, err
		}
		files[inNode] = file{data: string(data), mode: 0o600}
	}
	return files, nil
}

// waitNodesReady waits until every node's Node is registered and Ready.
func (c *Cluster) waitNodesReady(ctx context.Context) error {
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	for _, n := range c.Nodes {
		for {
			node, err := cs.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
			if err == nil && nodeReady(node) {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("Node %s is not Ready: %v (console: %s)", n.Name, err, n.consoleTail())
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	return nil
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Stop stops every node (in parallel), then the control plane, and removes the cluster's
// directory. It is safe to call more than once.
func (c *Cluster) Stop() {
	var wg sync.WaitGroup
	for _, n := range c.Nodes {
		if n == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.stop(); err != nil {
				c.logf("stopping %s: %v", n.Name, err)
			}
		}()
	}
	wg.Wait()
	c.Nodes = nil
	if c.Cluster != nil {
		c.Cluster.Stop()
	}
	if err := removeCgroupRun(); err != nil {
		c.logf("removing the run's cgroups: %v", err)
	}
	if c.dir != "" {
		if err := os.RemoveAll(c.dir); err != nil {
			c.logf("removing %s: %v", c.dir, err)
		}
	}
}

// Leftovers returns what a stopped cluster left on the machine, which must be nothing: the run's
// cgroups and the processes in them, overlay mounts of its nodes, its directory. Call it after Stop.
func (c *Cluster) Leftovers() []string {
	var left []string
	roots, err := hierarchies()
	if err != nil {
		return []string{err.Error()}
	}
	for _, root := range roots {
		run := filepath.Join(root, cgroupRoot, strconv.Itoa(os.Getpid()))
		if _, err := os.Stat(run); err == nil {
			left = append(left, "cgroup "+run)
		}
	}
	if mounts, err := os.ReadFile("/proc/self/mountinfo"); err == nil && c.dir != "" &&
		strings.Contains(string(mounts), c.dir) {
		left = append(left, "mounts below "+c.dir)
	}
	if c.dir != "" {
		if _, err := os.Stat(c.dir); err == nil {
			left = append(left, "directory "+c.dir)
		}
	}
	return left
}

// removeCgroupRun removes this run's cgroup (the parent of its nodes') in every hierarchy, and
// innkeeper-realnode itself when no other run uses it.
func removeCgroupRun() error {
	roots, err := hierarchies()
	if err != nil {
		return err
	}
	var errs []error
	for _, root := range roots {
		errs = append(errs, removeCgroupTree(filepath.Join(root, cgroupRoot, strconv.Itoa(os.Getpid()))))
		_ = syscall.Rmdir(filepath.Join(root, cgroupRoot)) // fails while another run has nodes
	}
	return errors.Join(errs...)
}

// nodeBinaries returns the node binaries of binDir, by where a node sees them.
func nodeBinaries(binDir string) (map[string]string, error) {
	versions := make([]any, 3)
	for i, prefix := range []string{"containerd-v", "cri-tools-v", "cni-plugins-v"} {
		matches, err := filepath.Glob(filepath.Join(binDir, prefix+"*"))
		if err != nil || len(matches) == 0 {
			return nil, fmt.Errorf("no %s* in %s: build the node binaries with hack/controlplane.sh node", prefix, binDir)
		}
		versions[i] = filepath.Base(matches[0])[len(prefix)-1:]
	}
	out := map[string]string{}
	for inNode, rel := range binaries {
		if strings.Contains(rel, "%") {
			rel = fmt.Sprintf(rel, versions...)
		}
		p := filepath.Join(binDir, rel)
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%s: build the node binaries with hack/controlplane.sh node", err)
		}
		out[inNode] = p
	}
	return out, nil
}

// linkOrCopy hard-links src to dst, or copies it where a link is not possible.
func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// BridgeAddr returns the address of the cluster's bridge in the tests' network namespace: the
// nodes' gateway, where a server of the test is reachable from the nodes, and only from them.
func BridgeAddr() string { return bridgeAddr.Addr().String() }

// MachineNFTables lists the nftables tables of the machine's own network namespace (that of the
// process Main re-ran the tests from, outside the tests' namespaces), with the nodes' nft: what a
// node's kube-proxy must never touch.
func (c *Cluster) MachineNFTables(ctx context.Context) (string, error) {
	outside := strconv.Itoa(os.Getppid())
	out, err := exec.CommandContext(ctx, "nsenter", "-t", outside, "-n", "--", "chroot", c.rootfs, "nft", "list", "tables").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("nft list tables in the machine's network namespace: %w: %s", err, out)
	}
	return string(out), nil
}

func (c *Cluster) logf(format string, args ...any) {
	fmt.Fprintf(c.log, "realnode: "+format+"\n", args...)
}
