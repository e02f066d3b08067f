package manager

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// This test and the start-up test each build a manager in this process.
func init() { skipNameValidation = true }

const (
	// outageLength is how long the manager is cut off from the API server, as long as the
	// outage #17 measured.
	outageLength = 20 * time.Second
	// catchUpGoal is how soon after the API server is reachable again the status must be right.
	catchUpGoal = 5 * time.Second
)

// A manager cut off from its API server for 20 s, while its pool and its spec change, reports
// both within 5 s of reaching the API server again. Its informers lost their watches at the cut;
// with client-go's backoff alone they would try again up to a minute later (#17 measured the
// status right 61.6 s after an outage). The API server itself stays up, so that the test can
// change what the manager must then catch up on: to the manager, a proxy that closes every
// connection and refuses new ones is an API server that went away.
func TestCatchesUpAfterAnAPIServerOutage(t *testing.T) {
	g := NewWithT(t)
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run `make test`, or export KUBEBUILDER_ASSETS=$(make -s envtest-assets)")
	}
	logs := &lockedBuffer{}
	ctrl.SetLogger(zap.New(zap.WriteTo(logs), zap.UseDevMode(true)))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("manager logs:\n%s", logs.String())
		}
	})
	testEnv := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := testEnv.Start()
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { g.Expect(testEnv.Stop()).To(Succeed()) })

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := client.New(cfg, client.Options{Scheme: Scheme()})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: DefaultNamespace}})).To(Succeed())
	for name, pool := range map[string]string{"node-1": "a", "node-2": "a", "node-3": "b"} {
		g.Expect(c.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"pool": pool}}})).To(Succeed())
	}
	fm := poolObject(t, "FloorManager", "catch-up", `{nodeSelector: {matchLabels: {pool: a}}, kubelet: {maxPods: 100}}`)
	g.Expect(c.Create(ctx, fm)).To(Succeed())

	proxy := newCuttableProxy(t, cfg.Host)
	managerCfg := rest.CopyConfig(cfg)
	managerCfg.Host = proxy.url
	mgr, err := New(ctx, managerCfg, Options{Namespace: DefaultNamespace, MetricsBindAddress: "0", HealthProbeBindAddress: "0",
		AgentImage: "example.test/innkeeper:test"})
	g.Expect(err).NotTo(HaveOccurred())
	stopped := make(chan error, 1)
	go func() { stopped <- mgr.Start(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-stopped:
			g.Expect(err).NotTo(HaveOccurred(), "the manager's stop")
		case <-time.After(time.Minute):
			t.Error("the manager did not stop")
		}
	}()

	status := func() (int64, int64, int32) {
		got := &hotelv1alpha1.FloorManager{}
		if err := c.Get(ctx, client.ObjectKey{Name: "catch-up"}, got); err != nil {
			return 0, 0, 0
		}
		return got.Generation, got.Status.ObservedGeneration, got.Status.Nodes.Selected
	}
	g.Eventually(func(g Gomega) {
		generation, observed, selected := status()
		g.Expect(observed).To(Equal(generation))
		g.Expect(selected).To(BeEquivalentTo(2))
	}).WithTimeout(startupTimeout).WithPolling(100 * time.Millisecond).Should(Succeed())

	proxy.cut()
	cutAt := time.Now()
	// While the manager cannot see it: a third Node joins the pool, and the spec changes.
	g.Expect(c.Patch(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-3"}},
		client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"pool":"a"}}}`)))).To(Succeed())
	g.Expect(c.Patch(ctx, fm, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"kubelet":{"maxPods":90}}}`)))).To(Succeed())
	time.Sleep(outageLength - time.Since(cutAt))
	proxy.restore()
	back := time.Now()

	g.Eventually(func(g Gomega) {
		generation, observed, selected := status()
		g.Expect(observed).To(Equal(generation), "observedGeneration")
		g.Expect(selected).To(BeEquivalentTo(3), "selected Nodes")
	}).WithTimeout(time.Minute).WithPolling(100*time.Millisecond).Should(Succeed(), "the status never caught up")
	caughtUp := time.Since(back)
	t.Logf("status right %s after the API server was reachable again (goal: %s)", caughtUp.Round(10*time.Millisecond), catchUpGoal)
	g.Expect(caughtUp).To(BeNumerically("<=", catchUpGoal), "the status caught up %s after the outage", caughtUp)
}

// cuttableProxy forwards TCP connections to an API server until it is cut: it then closes every
// connection and refuses new ones, until it is restored on the same address.
type cuttableProxy struct {
	t      *testing.T
	target string
	addr   string
	url    string

	mu       sync.Mutex
	listener net.Listener
	conns    map[net.Conn]struct{}
}

func newCuttableProxy(t *testing.T, server string) *cuttableProxy {
	t.Helper()
	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("parse the API server's URL %q: %v", server, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	p := &cuttableProxy{t: t, target: u.Host, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.url = (&url.URL{Scheme: u.Scheme, Host: p.addr}).String()
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

// serve accepts connections on ln until it is closed.
func (p *cuttableProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.listener = ln
	p.mu.Unlock()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go p.forward(conn)
		}
	}()
}

// forward copies a connection both ways to the API server until either side closes.
func (p *cuttableProxy) forward(conn net.Conn) {
	upstream, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = conn.Close()
		return
	}
	p.mu.Lock()
	if p.listener == nil { // cut meanwhile
		p.mu.Unlock()
		_ = conn.Close()
		_ = upstream.Close()
		return
	}
	p.conns[conn], p.conns[upstream] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(upstream, conn)
	go pipe(conn, upstream)
	<-done
	_ = conn.Close()
	_ = upstream.Close()
	p.mu.Lock()
	delete(p.conns, conn)
	delete(p.conns, upstream)
	p.mu.Unlock()
}

// cut closes the listener and every connection.
func (p *cuttableProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.listener != nil {
		_ = p.listener.Close()
		p.listener = nil
	}
	for conn := range p.conns {
		_ = conn.Close()
	}
	clear(p.conns)
}

// restore listens again on the proxy's address.
func (p *cuttableProxy) restore() {
	var ln net.Listener
	var err error
	for range 50 { // the port may linger for a moment after the close
		if ln, err = net.Listen("tcp", p.addr); err == nil || !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("listen again on %s: %v", p.addr, err)
	}
	p.serve(ln)
}
