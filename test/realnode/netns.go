package realnode

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
)

// envInside marks the test process that runs inside the private namespaces Main creates.
const envInside = "INNKEEPER_REALNODE_NAMESPACES"

// The cluster's network, inside the private network namespace: the bridge every node's veth is a
// port of, its address (the nodes' gateway, where the API server listens), the nodes' addresses,
// and the kubernetes Service's cluster IP, which the bridge holds too, so that in-cluster clients
// on the nodes (the agents) reach the API server before any kube-proxy runs.
const bridgeName = "ik0"

var (
	bridgeAddr = netip.MustParsePrefix("10.213.0.1/24")
	serviceIP  = netip.MustParseAddr("10.96.0.1")
)

// Main runs the tests of m, from TestMain, in network and mount namespaces of their own: the
// test process re-runs itself in new ones. Everything the real nodes change in a network (the
// bridge, their veths, addresses, routes, the iptables or nftables rules of a kube-proxy) and every
// overlay they mount exist only in those namespaces, and are gone when the tests end, however they
// end. The machine running the tests keeps its own network untouched. Only cgroups are
// machine-wide: each run reaps what an earlier, killed one left (see reapStaleRuns).
func Main(m *testing.M) {
	if os.Getenv(envInside) == "" {
		os.Exit(reexec())
	}
	if err := prepareNamespaces(); err != nil {
		fmt.Fprintf(os.Stderr, "realnode: %v\n", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// reexec runs this test binary again, with the same arguments, in new network and mount
// namespaces, and returns its exit code. Interrupts are passed on, so the inner run stops its
// nodes; if this process is killed, the inner one is too.
func reexec() int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "realnode: real nodes need root (systemd-nspawn, mounts, cgroups, network namespaces)")
		return 1
	}
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Env = append(os.Environ(), envInside+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNET | syscall.CLONE_NEWNS,
		Pdeathsig:  syscall.SIGKILL,
	}
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "realnode: run the tests in new namespaces: %v\n", err)
		return 1
	}
	go func() {
		for s := range signals {
			_ = cmd.Process.Signal(s)
		}
	}()
	err := cmd.Wait()
	signal.Stop(signals)
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit) && exit.ExitCode() >= 0:
		return exit.ExitCode()
	default:
		fmt.Fprintf(os.Stderr, "realnode: the tests stopped: %v\n", err)
		return 1
	}
}

// prepareNamespaces makes the new mount namespace's mounts private (none propagates back to the
// machine), brings up loopback, and creates the cluster's bridge.
func prepareNamespaces() error {
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", bridgeName, "type", "bridge"},
		{"addr", "add", bridgeAddr.String(), "dev", bridgeName},
		{"addr", "add", serviceIP.String() + "/32", "dev", bridgeName},
		{"link", "set", bridgeName, "up"},
	} {
		if err := ip(args...); err != nil {
			return err
		}
	}
	return nil
}

// ip runs iproute2's ip in this process's network namespace.
func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
