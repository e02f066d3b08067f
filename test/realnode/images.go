package realnode

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/innkeeper-dev/innkeeper/hack/image/oci"
)

// PauseImage builds the pods' sandbox image from test/realnode/pause, named SandboxImage, into an
// archive in dir, and returns its path. root is the repository's root.
func PauseImage(ctx context.Context, root, dir string) (string, error) {
	binary := filepath.Join(dir, "pause")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", binary, "./test/realnode/pause")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the pause binary: %w: %s", err, out)
	}
	data, err := os.ReadFile(binary)
	if err != nil {
		return "", err
	}
	img, err := oci.Image{
		Files:      []oci.File{{Path: "/pause", Mode: 0o755, Data: data}},
		Entrypoint: []string{"/pause"},
		User:       "65535:65535",
	}.Build()
	if err != nil {
		return "", err
	}
	archive := filepath.Join(dir, "pause.tar")
	return archive, oci.WriteArchive(archive, SandboxImage, img)
}

// KubeProxyImageName is the name of the kube-proxy image KubeProxyImage builds: upstream's, at the
// nodes' version, the default image of a Concierge.
const KubeProxyImageName = "registry.k8s.io/kube-proxy:v1.37.2"

// kubeProxyTools are the programs kube-proxy runs, from the nodes' root filesystem: nft (its
// nftables mode), and iptables (its iptables mode, and its clean-up of the other mode's rules),
// as Debian's multi-call binary under each name kube-proxy calls.
var kubeProxyTools = []string{"/usr/sbin/nft", "/usr/sbin/xtables-nft-multi"}

var iptablesNames = []string{"iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"}

// KubeProxyImage builds kube-proxy's image, named KubeProxyImageName, into an archive in dir and
// returns its path: the kube-proxy binary of binDir, and nft and iptables with the shared
// libraries they load, from rootfs (the nodes' root filesystem), as upstream's image holds them.
func KubeProxyImage(rootfs, binDir, dir string) (string, error) {
	proxy, err := os.ReadFile(filepath.Join(binDir, "kube-proxy"))
	if err != nil {
		return "", fmt.Errorf("%w: build it with hack/controlplane.sh node", err)
	}
	files := []oci.File{{Path: "/usr/local/bin/kube-proxy", Mode: 0o755, Data: proxy}}
	seen := map[string]bool{}
	add := func(p string) error {
		if seen[p] {
			return nil
		}
		seen[p] = true
		// The file's content, wherever its symbolic links lead, at the path the loader asks for.
		data, err := os.ReadFile(filepath.Join(rootfs, resolveIn(rootfs, p)))
		if err != nil {
			return err
		}
		files = append(files, oci.File{Path: p, Mode: 0o755, Data: data})
		return nil
	}
	for _, tool := range kubeProxyTools {
		if err := add(tool); err != nil {
			return "", err
		}
		libs, err := sharedLibraries(rootfs, tool)
		if err != nil {
			return "", err
		}
		for _, lib := range libs {
			if err := add(lib); err != nil {
				return "", err
			}
		}
	}
	for _, name := range iptablesNames {
		files = append(files, oci.File{Path: "/usr/sbin/" + name, Link: "xtables-nft-multi"})
	}
	img, err := oci.Image{Files: files, Entrypoint: []string{"/usr/local/bin/kube-proxy"},
		Env: []string{"PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}}.Build()
	if err != nil {
		return "", err
	}
	archive := filepath.Join(dir, "kube-proxy.tar")
	return archive, oci.WriteArchive(archive, KubeProxyImageName, img)
}

// sharedLibraries returns the shared libraries a program of rootfs loads, the dynamic loader
// included, as ldd run in rootfs lists them.
func sharedLibraries(rootfs, program string) ([]string, error) {
	out, err := exec.Command("chroot", rootfs, "ldd", program).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("ldd %s in %s: %w: %s", program, rootfs, err, out)
	}
	var libs []string
	for _, line := range strings.Split(string(out), "\n") {
		// "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
		for _, f := range strings.Fields(line) {
			if strings.HasPrefix(f, "/") {
				libs = append(libs, f)
				break
			}
		}
	}
	return libs, nil
}

// resolveIn resolves the symbolic links of p (absolute, as rootfs sees it) within rootfs, and
// returns the path of the file it names, as rootfs sees it.
func resolveIn(rootfs, p string) string {
	for range 16 {
		target, err := os.Readlink(filepath.Join(rootfs, p))
		if err != nil {
			return p
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(p), target)
		}
		p = target
	}
	return p
}
