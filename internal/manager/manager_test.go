package manager

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	certutil "k8s.io/client-go/util/cert"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/innkeeper-dev/innkeeper/internal/outage"
	"github.com/innkeeper-dev/innkeeper/internal/pool"
)

func TestServerOfKubeconfig(t *testing.T) {
	tests := []struct {
		name, kubeconfig, want, wantErr string
	}{
		{name: "kubeadm's cluster-info", want: "https://10.0.0.10:6443", kubeconfig: `apiVersion: v1
kind: Config
clusters:
- name: ""
  cluster:
    certificate-authority-data: ""
    server: https://10.0.0.10:6443
`},
		{name: "the current context's cluster", want: "https://b:6443", kubeconfig: `apiVersion: v1
kind: Config
clusters:
- {name: a, cluster: {server: "https://a:6443"}}
- {name: b, cluster: {server: "https://b:6443"}}
contexts:
- {name: ctx, context: {cluster: b, user: u}}
current-context: ctx
`},
		{name: "two clusters and no current context", wantErr: "names no single server", kubeconfig: `apiVersion: v1
kind: Config
clusters:
- {name: a, cluster: {server: "https://a:6443"}}
- {name: b, cluster: {server: "https://b:6443"}}
`},
		{name: "not a kubeconfig", kubeconfig: "{", wantErr: "parse kubeconfig"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			got, err := ServerOfKubeconfig([]byte(tt.kubeconfig))
			if tt.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tt.wantErr)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(tt.want))
		})
	}
}

func TestReleaseVersion(t *testing.T) {
	for in, want := range map[string]string{
		"v1.37.2": "v1.37.2", "v1.37.2+k3s1": "v1.37.2", "v1.30.4-eks-a737599": "v1.30.4", "v1.31.1-gke.1146000": "v1.31.1", "1.30": "",
	} {
		NewWithT(t).Expect(releaseVersion.FindString(in)).To(Equal(want), in)
	}
}

// Options that do not come from the command line are checked too, before the manager reaches
// for the cluster; nil settings are innkeeper's defaults.
func TestNewRefusesBadNodePods(t *testing.T) {
	g := NewWithT(t)
	bad := pool.NodePods{PriorityClassName: "Node_Critical", Tolerations: []corev1.Toleration{{Operator: "Maybe"}}}
	_, err := New(context.Background(), &rest.Config{Host: "https://127.0.0.1:1"}, Options{Namespace: "ns", AgentImage: "img", NodePods: &bad})
	g.Expect(err).To(MatchError(And(
		ContainSubstring("the node pods' scheduling settings are invalid"),
		ContainSubstring(`priorityClassName: Invalid value: "Node_Critical"`),
		ContainSubstring(`tolerations[0].operator: Unsupported value: "Maybe"`))))
}

// New asks the API server for its version (the default kube-proxy image) with the caller's
// context: cancelled, as by a signal, it stops waiting at once.
func TestNewAsksTheAPIServerWithTheCallersContext(t *testing.T) {
	g := NewWithT(t)
	asked := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case asked <- struct{}{}:
		default:
		}
		<-r.Context().Done() // an API server that does not answer
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-asked; cancel() }()
	_, err := New(ctx, &rest.Config{Host: srv.URL}, Options{Namespace: "ns", AgentImage: "img"})
	g.Expect(err).To(MatchError(ContainSubstring("read the API server's version")))
	g.Expect(errors.Is(err, context.Canceled)).To(BeTrue(), "%v", err)
}

// A manager started while the API server is down (a leader that lost its Lease in an outage exits,
// and the kubelet starts it again at once) waits for it, rather than exit into the kubelet's
// crash-loop backoff or fall back to the kubernetes Service for kube-proxy for want of an answer:
// the defaults it reads once the API server is back are those it would have read before.
func TestKubeProxyDefaultsWaitForTheAPIServer(t *testing.T) {
	g := NewWithT(t)
	var up atomic.Bool
	var asked atomic.Int32
	ctx, cfg, outages := fakeAPIServer(t, func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		if !up.Load() {
			http.Error(w, "etcd is down", http.StatusInternalServerError)
			return
		}
		serveWell(w, r)
	})

	done := make(chan error, 1)
	opts := Options{}
	go func() { done <- kubeProxyDefaults(ctx, cfg, outages, &opts) }()
	g.Eventually(asked.Load).WithTimeout(10 * time.Second).Should(BeNumerically(">=", 3))
	g.Consistently(done).WithTimeout(200*time.Millisecond).ShouldNot(Receive(), "gave up on the API server")
	up.Store(true)
	g.Eventually(done).WithTimeout(10 * time.Second).Should(Receive(BeNil()))
	g.Expect(opts.KubeProxyImage).To(Equal("registry.k8s.io/kube-proxy:v1.37.2"))
	g.Expect(opts.KubeProxyAPIServer).To(Equal("https://10.0.0.10:6443"), "fell back to the kubernetes Service")
}

// An API server back from an outage may serve /readyz and still deny requests for a moment, its
// authorizer not yet holding every binding: the fault suite saw the restarted leader exit on a 403
// for /version there ("read the API server's version ...: unknown"), leaving the standby to take
// over seconds later. A manager that waited for the API server takes a denial then for the API
// server settling, for a while (authSettle); one that saw no outage is denied at once.
func TestKubeProxyDefaultsWaitForTheAuthorizerAfterAnOutage(t *testing.T) {
	const (
		down = iota
		settling
		up
	)
	for _, tt := range []struct {
		name    string
		start   int32 // the API server's state when the manager starts
		settle  time.Duration
		wantErr string
	}{
		{name: "down, then denying, then up: the defaults are read", start: down, settle: time.Minute},
		{name: "denying from the start, no outage seen: a denial at once", start: settling, settle: time.Minute,
			wantErr: "read the API server's version"},
		{name: "down, then denying for longer than it settles: a denial", start: down, settle: 300 * time.Millisecond,
			wantErr: "read the API server's version"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			var state atomic.Int32
			state.Store(tt.start)
			var denied atomic.Int32
			ctx, cfg, outages := fakeAPIServer(t, func(w http.ResponseWriter, r *http.Request) {
				switch state.Load() {
				case down:
					http.Error(w, "etcd is down", http.StatusInternalServerError)
					return
				case settling:
					if r.URL.Path != "/readyz" {
						denied.Add(1)
						w.WriteHeader(http.StatusForbidden) // no body: client-go says "unknown"
						return
					}
				}
				serveWell(w, r)
			})

			done := make(chan error, 1)
			go func() {
				done <- whileUnreachable(ctx, outages, tt.settle, func() error {
					_, err := serverKubeProxyImage(ctx, cfg)
					return err
				})
			}()
			if tt.start == down {
				g.Consistently(done).WithTimeout(300*time.Millisecond).ShouldNot(Receive(), "gave up on the API server")
				state.Store(settling)
				g.Eventually(denied.Load).WithTimeout(10 * time.Second).Should(BeNumerically(">=", 1))
			}
			if tt.wantErr != "" {
				g.Eventually(done).WithTimeout(10 * time.Second).Should(Receive(MatchError(ContainSubstring(tt.wantErr))))
				return
			}
			g.Consistently(done).WithTimeout(300*time.Millisecond).ShouldNot(Receive(), "took a denial after an outage for good")
			state.Store(up)
			g.Eventually(done).WithTimeout(10 * time.Second).Should(Receive(BeNil()))
		})
	}
}

// serveWell answers as a well API server does what kubeProxyDefaults asks: /readyz, /version and
// kubeadm's cluster-info.
func serveWell(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/readyz":
		_, _ = w.Write([]byte("ok"))
	case "/version":
		_, _ = w.Write([]byte(`{"major":"1","minor":"37","gitVersion":"v1.37.2"}`))
	case "/api/v1/namespaces/kube-public/configmaps/cluster-info":
		_, _ = w.Write([]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cluster-info","namespace":"kube-public"},` +
			`"data":{"kubeconfig":"apiVersion: v1\nkind: Config\nclusters:\n- name: ''\n  cluster:\n    server: https://10.0.0.10:6443\n"}}`))
	default:
		http.NotFound(w, r)
	}
}

// fakeAPIServer serves handler on loopback as an API server for the test, and returns a context that
// ends with the test (30 s at most), a client configuration for the server, and an outage tracker
// that probes its /readyz every 50 ms.
func fakeAPIServer(t *testing.T, handler http.HandlerFunc) (context.Context, *rest.Config, *outage.Tracker) {
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	cfg := &rest.Config{Host: srv.URL}
	return ctx, cfg, outage.NewTracker(ctx, func(ctx context.Context) error {
		return kubernetes.NewForConfigOrDie(cfg).Discovery().RESTClient().Get().AbsPath("/readyz").MaxRetries(0).Do(ctx).Error()
	}, 50*time.Millisecond)
}

// HTTP/2 is off on the metrics server unless asked for (CVE-2023-44487).
func TestMetricsServerHTTP2(t *testing.T) {
	g := NewWithT(t)
	offered := func(o Options) []string {
		c := &tls.Config{NextProtos: []string{"h2", "http/1.1"}}
		for _, f := range metricsServerOptions(o).TLSOpts {
			f(c)
		}
		return c.NextProtos
	}
	g.Expect(offered(Options{MetricsSecure: true})).To(Equal([]string{"http/1.1"}))
	g.Expect(offered(Options{MetricsSecure: true, EnableHTTP2: true})).To(Equal([]string{"h2", "http/1.1"}))
	g.Expect(metricsServerOptions(Options{MetricsSecure: true}).FilterProvider).NotTo(BeNil(), "secure metrics are authorized")
}

// A metrics certificate the user gives is the one the metrics server serves; one that is not
// where the flags say is an error at start, not a silent self-signed fallback.
func TestMetricsCertificate(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	_, err := New(context.Background(), &rest.Config{Host: "https://127.0.0.1:1"},
		Options{Namespace: "ns", AgentImage: "img", MetricsSecure: true, MetricsCertDir: dir})
	g.Expect(err).To(MatchError(And(ContainSubstring("the metrics certificate"), ContainSubstring(filepath.Join(dir, "tls.crt")))))

	certPEM, keyPEM, err := certutil.GenerateSelfSignedCertKey("innkeeper-metrics.innkeeper-system.svc", nil, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(os.WriteFile(filepath.Join(dir, "serving.crt"), certPEM, 0o600)).To(Succeed())
	g.Expect(os.WriteFile(filepath.Join(dir, "serving.key"), keyPEM, 0o600)).To(Succeed())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	g.Expect(err).NotTo(HaveOccurred())
	addr := l.Addr().String()
	g.Expect(l.Close()).To(Succeed())

	opts := metricsServerOptions(Options{MetricsSecure: true, MetricsBindAddress: addr,
		MetricsCertDir: dir, MetricsCertName: "serving.crt", MetricsKeyName: "serving.key"})
	opts.FilterProvider = nil // authorization needs an API server; the certificate is what is tested
	srv, err := metricsserver.NewServer(opts, &rest.Config{}, http.DefaultClient)
	g.Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()

	roots := x509.NewCertPool()
	g.Expect(roots.AppendCertsFromPEM(certPEM)).To(BeTrue())
	g.Eventually(func() error {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "innkeeper-metrics.innkeeper-system.svc", MinVersion: tls.VersionTLS12})
		if err != nil {
			return err
		}
		return conn.Close()
	}).WithTimeout(10*time.Second).WithPolling(50*time.Millisecond).Should(Succeed(), "the metrics server serves the given certificate")
	cancel()
	g.Eventually(done).WithTimeout(10 * time.Second).Should(Receive(BeNil()))
}
