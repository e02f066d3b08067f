package realnode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Node is a real node: a systemd-nspawn container, in a network namespace of its own, that runs
// systemd, D-Bus, containerd and the kubelet from an overlay of the base root filesystem.
type Node struct {
	// Name is the node's hostname and its Node's name.
	Name string
	// Addr is the node's address on the cluster's bridge: the kubelet's address.
	Addr netip.Addr

	dir     string // the node's state: overlay layers, containerd's and the kubelet's directories
	root    string // the node's root filesystem, an overlay mount
	cgroups *cgroupSet
	cmd     *exec.Cmd
	exited  chan struct{}
	log     func(format string, args ...any)
}

// nodeSpec is what boot needs to start a node.
type nodeSpec struct {
	cfg      nodeConfig
	rootfs   string            // the base root filesystem (lower layer)
	dir      string            // the node's state directory
	cgroup   string            // the node's cgroup, relative to each hierarchy's root
	binds    map[string]string // host path -> node path, read-only
	writable map[string]string // host path -> node path, read-write
	extra    map[string]file   // more files, such as certificates
}

// boot mounts the node's root filesystem, writes its files, and starts systemd-nspawn in the node's
// cgroups. It returns once the container runs; the node is then still booting.
func boot(spec nodeSpec, log func(string, ...any)) (n *Node, err error) {
	n = &Node{Name: spec.cfg.name, Addr: spec.cfg.addr.Addr(), dir: spec.dir, root: filepath.Join(spec.dir, "root"),
		exited: make(chan struct{}), log: log}
	defer func() {
		if err != nil {
			if stopErr := n.stop(); stopErr != nil {
				log("stopping %s after it failed to boot: %v", n.Name, stopErr)
			}
		}
	}()
	upper, work := filepath.Join(spec.dir, "upper"), filepath.Join(spec.dir, "work")
	for _, d := range []string{upper, work, n.root} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return n, err
		}
	}
	if err := syscall.Mount("overlay", n.root, "overlay", 0,
		fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", spec.rootfs, upper, work)); err != nil {
		return n, fmt.Errorf("mount the root filesystem of %s: %w", n.Name, err)
	}
	files := nodeFiles(spec.cfg)
	for p, f := range spec.extra {
		files[p] = f
	}
	if err := writeFiles(n.root, files); err != nil {
		return n, fmt.Errorf("write the files of %s: %w", n.Name, err)
	}
	if n.cgroups, err = newCgroupSet(spec.cgroup); err != nil {
		return n, err
	}

	args := []string{
		"--boot", "--directory=" + n.root, "--machine=" + n.Name,
		// No systemd runs this machine: no machined to register with, no scope to create.
		"--register=no", "--keep-unit",
		"--private-network", "--network-veth",
		"--capability=all",
		// runc joins a session keyring, which nspawn's default seccomp filter refuses.
		"--system-call-filter=@keyring",
		// The kubelet's OOM watcher reads the kernel's log.
		"--bind-ro=/dev/kmsg",
		"--resolv-conf=off", "--timezone=off", "--link-journal=no", "--console=read-only",
	}
	for _, m := range []struct {
		flag  string
		binds map[string]string
	}{{"--bind-ro=", spec.binds}, {"--bind=", spec.writable}} {
		for host, inNode := range m.binds {
			args = append(args, m.flag+host+":"+inNode)
		}
	}
	// The shell moves itself into the node's cgroups, then becomes systemd-nspawn: every process of
	// the node starts inside them.
	script := `for f in ` + strings.Join(quoteAll(n.cgroups.procsFiles()), " ") + `; do echo $$ > "$f"; done; exec systemd-nspawn "$@"`
	n.cmd = exec.Command("sh", append([]string{"-c", script, "sh"}, args...)...)
	console, err := os.Create(filepath.Join(spec.dir, "console.log"))
	if err != nil {
		return n, err
	}
	n.cmd.Stdout, n.cmd.Stderr = console, console
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := n.cmd.Start(); err != nil {
		_ = console.Close()
		return n, fmt.Errorf("start systemd-nspawn for %s: %w", n.Name, err)
	}
	go func() {
		_ = n.cmd.Wait()
		_ = console.Close()
		close(n.exited)
	}()
	return n, nil
}

// writeFiles writes files below root, creating their directories.
func writeFiles(root string, files map[string]file) error {
	for p, f := range files {
		target := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		if f.mode&symlink != 0 {
			_ = os.Remove(target)
			if err := os.Symlink(f.data, target); err != nil {
				return err
			}
			continue
		}
		mode := os.FileMode(f.mode & 0o7777)
		if mode == 0 {
			mode = 0o644
		}
		if err := os.WriteFile(target, []byte(f.data), mode); err != nil {
			return err
		}
		if err := os.Chmod(target, mode); err != nil {
			return err
		}
	}
	return nil
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	return out
}

// vethName is the host side of the node's veth, as systemd-nspawn names it for a short machine name.
func (n *Node) vethName() string { return "ve-" + n.Name }

// attach waits for the node's veth to appear and makes it a port of the cluster's bridge.
func (n *Node) attach(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		if err := ip("link", "set", n.vethName(), "master", bridgeName, "up"); err == nil {
			return nil
		} else if ctx.Err() != nil {
			return fmt.Errorf("the veth of %s did not appear: %w (console: %s)", n.Name, err, n.consoleTail())
		}
		select {
		case <-n.exited:
			return fmt.Errorf("systemd-nspawn for %s exited: %s", n.Name, n.consoleTail())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Leader returns the host PID of the node's init (its systemd), which Exec enters.
func (n *Node) Leader() (int, error) {
	for _, pid := range n.cgroups.pids() {
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(status), "\n") {
			// NSpid: <pid here> <pid in the node's PID namespace>: the node's PID 1 is its init.
			if f := strings.Fields(line); len(f) == 3 && f[0] == "NSpid:" && f[2] == "1" {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("%s has no init process", n.Name)
}

// Exec runs a command in the node, in all of its namespaces, and returns its combined output.
func (n *Node) Exec(ctx context.Context, args ...string) ([]byte, error) {
	leader, err := n.Leader()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"-t", strconv.Itoa(leader), "-a", "--"}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("%s on %s: %w: %s", strings.Join(args, " "), n.Name, err, strings.TrimSpace(out.String()))
	}
	return out.Bytes(), nil
}

// MainPID returns the main PID (in the node's PID namespace) of a systemd unit on the node, 0 if
// it does not run.
func (n *Node) MainPID(ctx context.Context, unit string) (int, error) {
	out, err := n.Exec(ctx, "systemctl", "show", "--property=MainPID", "--value", unit)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(out)))
}

// ReadFile returns a file of the node's root filesystem, as the node sees it.
func (n *Node) ReadFile(ctx context.Context, path string) ([]byte, error) {
	return n.Exec(ctx, "cat", path)
}

// waitBooted waits until the node's systemd has started its units and containerd answers.
func (n *Node) waitBooted(ctx context.Context) error {
	var last error
	for {
		out, err := n.Exec(ctx, "systemctl", "is-active", "containerd.service")
		if err == nil && strings.TrimSpace(string(out)) == "active" {
			if _, err := n.Exec(ctx, "ctr", "--address", CRISocket, "version"); err == nil {
				return nil
			} else {
				last = err
			}
		} else {
			last = fmt.Errorf("containerd is %s: %v", strings.TrimSpace(string(out)), err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not boot: %v (console: %s)", n.Name, last, n.consoleTail())
		case <-n.exited:
			return fmt.Errorf("systemd-nspawn for %s exited: %s", n.Name, n.consoleTail())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// importImages imports image archives (paths as the node sees them) into containerd's k8s.io
// namespace, where the kubelet looks for images.
func (n *Node) importImages(ctx context.Context, archives []string) error {
	for _, a := range archives {
		if _, err := n.Exec(ctx, "ctr", "--address", CRISocket, "-n", "k8s.io", "images", "import", "--local", a); err != nil {
			return err
		}
	}
	return nil
}

// consoleTail returns the last lines the node's console printed.
func (n *Node) consoleTail() string {
	data, err := os.ReadFile(filepath.Join(n.dir, "console.log"))
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}

// stop stops the node: systemd-nspawn is asked to shut it down, then whatever is left in the
// node's cgroups is killed. The root filesystem is unmounted and the cgroups removed; the state
// directory stays for the caller to remove (or keep, for a failed test's logs).
func (n *Node) stop() error {
	var errs []error
	if n.cmd != nil && n.cmd.Process != nil {
		_ = n.cmd.Process.Signal(syscall.SIGTERM) // nspawn asks the node's systemd to halt
		select {
		case <-n.exited:
		case <-time.After(20 * time.Second):
			n.log("%s did not halt in 20s; killing it", n.Name)
		}
	}
	if n.cgroups != nil {
		errs = append(errs, n.cgroups.kill(30*time.Second))
	}
	if n.cmd != nil && n.cmd.Process != nil {
		select {
		case <-n.exited:
		case <-time.After(10 * time.Second):
			errs = append(errs, fmt.Errorf("systemd-nspawn for %s did not exit", n.Name))
		}
	}
	if err := syscall.Unmount(n.root, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) &&
		!errors.Is(err, syscall.ENOENT) {
		errs = append(errs, fmt.Errorf("unmount the root filesystem of %s: %w", n.Name, err))
	}
	if n.cgroups != nil {
		errs = append(errs, n.cgroups.remove())
	}
	// What systemd-nspawn keeps on the host for a machine, which a killed nspawn leaves behind.
	for _, d := range []string{"/run/systemd/nspawn/propagate/" + n.Name, "/run/systemd/nspawn/unix-export/" + n.Name} {
		_ = os.RemoveAll(d)
	}
	return errors.Join(errs...)
}
