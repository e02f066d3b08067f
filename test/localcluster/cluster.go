// Package localcluster runs a real Kubernetes control plane on loopback, with fake nodes, from
// binaries built out of Go modules (hack/controlplane.sh): etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok. DaemonSets really roll out on it: the real
// DaemonSet controller and scheduler place pods, and kwok plays the kubelets, marking pods Running
// and Ready. make demo and the end-to-end suite (test/e2e) run innkeeper against it.
//
// Every process it starts is stopped by Stop, and dies with the process that started it, so that
// nothing outlives a demo or a test run, even one that fails or is killed.
package localcluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Options configure a cluster.
type Options struct {
	// BinDir holds etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and kwok-*
	// (and kwok-*-stages/), and helm-* for InstallChart, as `hack/controlplane.sh ...` builds them.
	BinDir string
	// Pools are the fake Nodes to register. With none, kwok is not started.
	Pools []Pool
	// BindAddress is the address the API server listens on, 127.0.0.1 when empty.
	BindAddress string
	// AdvertiseAddress is the API server's address for clients, and the endpoint of the kubernetes
	// Service: BindAddress when empty (127.0.0.1: then the Service has no endpoint). Real nodes
	// (test/realnode), which have network namespaces of their own, reach it at a bridge's address.
	AdvertiseAddress string
	// APIServerPort is the API server's port; a free one when 0.
	APIServerPort int
	// WatchAgents makes InstallChart simulate the node agents with WatchAgents and an unthrottled
	// client, rather than SimulateAgents's paced polling.
	WatchAgents bool
	// PodReadyDelay is how long kwok waits, after a pod is scheduled to a fake Node, before it
	// reports the pod Ready: the time a real pod takes to start, and for a node agent, the time
	// it takes to apply a configuration (test/rolloutbench simulates it so). 0: at once.
	PodReadyDelay time.Duration
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// Cluster is a running local cluster.
type Cluster struct {
	// Kubeconfig is the path of an admin kubeconfig for the cluster.
	Kubeconfig string
	// Config is the admin client configuration.
	Config *rest.Config
	// Kubectl is the path of a kubectl of the cluster's version.
	Kubectl string
	// Helm is the path of helm, if BinDir has one.
	Helm string
	// Server is the API server's URL, at its advertised address.
	Server string
	// CACert is the path of the cluster CA's certificate, which signs the API server's serving
	// certificate and the client certificates it trusts (see IssueClientCert).
	CACert string

	dir   string
	log   io.Writer
	mu    sync.Mutex
	procs []*process
	certs *pki
	// watchAgents is Options.WatchAgents.
	watchAgents bool
	// fakeNodes is true when kwok plays the Nodes' kubelets: innkeeper's node agents are then
	// simulated (see SimulateAgents).
	fakeNodes bool
	// apiServerReadyz and apiServerClient tell when the API server is ready, after its start and
	// after a restart (StartAPIServer).
	apiServerReadyz string
	apiServerClient *http.Client
	// stoppedAPIServer is the API server StopAPIServer stopped, to start again in its place.
	stoppedAPIServer *process
}

// process is one control-plane binary the cluster started.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	// path, env and args start it again (see StartAPIServer).
	path string
	env  []string
	args []string
}

// Start launches a cluster and waits until its Nodes are Ready. On error, whatever it started is
// stopped again.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	dir, err := os.MkdirTemp("", "innkeeper-localcluster-")
	if err != nil {
		return nil, err
	}
	c = &Cluster{dir: dir, log: opts.Log, Kubectl: filepath.Join(opts.BinDir, "kubectl"), watchAgents: opts.WatchAgents}
	if c.log == nil {
		c.log = io.Discard
	}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	bin := func(name string) (string, error) {
		p := filepath.Join(opts.BinDir, name)
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s is missing from %s: build it with hack/controlplane.sh", name, opts.BinDir)
		}
		return p, nil
	}
	kwok := ""
	if len(opts.Pools) > 0 {
		if kwok, err = kwokBinary(opts.BinDir); err != nil {
			return nil, err
		}
	}
	if helms, _ := filepath.Glob(filepath.Join(opts.BinDir, "helm-v*")); len(helms) > 0 {
		c.Helm = helms[0]
	}
	binaries := map[string]string{}
	for _, name := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"} {
		if binaries[name], err = bin(name); err != nil {
			return nil, err
		}
	}
	bind, advertise, err := apiServerAddresses(opts)
	if err != nil {
		return nil, err
	}
	var serving []net.IP
	if ip := net.ParseIP(advertise); !ip.IsLoopback() {
		serving = append(serving, ip)
	}
	certs, err := newPKI(dir, serving)
	if err != nil {
		return nil, err
	}
	c.certs, c.CACert = certs, certs.caCert
	ports, err := freePorts(5)
	if err != nil {
		return nil, err
	}
	etcdPort, peerPort, apiPort, kcmPort, schedPort := ports[0], ports[1], ports[2], ports[3], ports[4]
	if opts.APIServerPort != 0 {
		apiPort = opts.APIServerPort
	}
	// A loopback advertise address cannot be an endpoint of the kubernetes Service.
	endpointReconciler := "lease"
	if net.ParseIP(advertise).IsLoopback() {
		endpointReconciler = "none"
	}

	c.logf("starting etcd on 127.0.0.1:%d", etcdPort)
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	if err := c.start("etcd", binaries["etcd"],
		"--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL,
		"--unsafe-no-fsync", "--log-level=warn"); err != nil {
		return nil, err
	}
	if err := c.waitHTTP(ctx, "etcd", etcdURL+"/health", nil); err != nil {
		return nil, err
	}

	c.logf("starting kube-apiserver on %s:%d", bind, apiPort)
	if err := c.start("kube-apiserver", binaries["kube-apiserver"],
		"--etcd-servers="+etcdURL,
		"--bind-address="+bind, "--advertise-address="+advertise, "--secure-port="+strconv.Itoa(apiPort),
		"--endpoint-reconciler-type="+endpointReconciler,
		"--tls-cert-file="+certs.servingCert, "--tls-private-key-file="+certs.servingKey,
		"--client-ca-file="+certs.caCert,
		"--kubelet-client-certificate="+certs.kubeletClientCert, "--kubelet-client-key="+certs.kubeletClientKey,
		"--kubelet-certificate-authority="+certs.caCert,
		// Real nodes' hostnames resolve nowhere; their InternalIP is their address.
		"--kubelet-preferred-address-types=InternalIP,Hostname",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+certs.saPub, "--service-account-signing-key-file="+certs.saKey,
		"--service-cluster-ip-range="+serviceCIDR,
		"--authorization-mode=Node,RBAC",
		"--allow-privileged=true"); err != nil {
		return nil, err
	}
	c.Kubeconfig = filepath.Join(dir, "kubeconfig")
	server := fmt.Sprintf("https://%s", net.JoinHostPort(advertise, strconv.Itoa(apiPort)))
	c.Server = server
	if err := writeKubeconfig(c.Kubeconfig, server, certs.caCert,
		&clientcmdapi.AuthInfo{ClientCertificate: certs.adminCert, ClientKey: certs.adminKey}); err != nil {
		return nil, err
	}
	if c.Config, err = clientcmd.BuildConfigFromFlags("", c.Kubeconfig); err != nil {
		return nil, err
	}
	httpClient, err := rest.HTTPClientFor(c.Config)
	if err != nil {
		return nil, err
	}
	c.apiServerReadyz, c.apiServerClient = server+"/readyz", httpClient
	if err := c.waitHTTP(ctx, "kube-apiserver", c.apiServerReadyz, httpClient); err != nil {
		return nil, err
	}

	kubeconfigs := func(extra ...string) []string {
		return append([]string{"--kubeconfig=" + c.Kubeconfig, "--authentication-kubeconfig=" + c.Kubeconfig,
			"--authorization-kubeconfig=" + c.Kubeconfig, "--bind-address=127.0.0.1", "--leader-elect=false"}, extra...)
	}
	c.logf("starting kube-controller-manager and kube-scheduler")
	if err := c.start("kube-controller-manager", binaries["kube-controller-manager"], kubeconfigs(
		"--secure-port="+strconv.Itoa(kcmPort), "--cert-dir="+filepath.Join(dir, "kcm"),
		"--service-account-private-key-file="+certs.saKey, "--root-ca-file="+certs.caCert,
		"--use-service-account-credentials=false")...); err != nil {
		return nil, err
	}
	if err := c.start("kube-scheduler", binaries["kube-scheduler"], kubeconfigs(
		"--secure-port="+strconv.Itoa(schedPort), "--cert-dir="+filepath.Join(dir, "scheduler"))...); err != nil {
		return nil, err
	}
	insecure := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // loopback health check of our own self-signed servers
	}}
	for name, port := range map[string]int{"kube-controller-manager": kcmPort, "kube-scheduler": schedPort} {
		if err := c.waitHTTP(ctx, name, fmt.Sprintf("https://127.0.0.1:%d/healthz", port), insecure); err != nil {
			return nil, err
		}
	}

	if kwok != "" {
		if err := c.startKwok(ctx, kwok, opts.Pools, opts.PodReadyDelay); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// apiServerAddresses returns the address the API server binds and the one it advertises, as
// opts give them or by default.
func apiServerAddresses(opts Options) (bind, advertise string, err error) {
	bind, advertise = opts.BindAddress, opts.AdvertiseAddress
	if bind == "" {
		bind = "127.0.0.1"
	}
	if advertise == "" {
		advertise = bind
	}
	if net.ParseIP(advertise) == nil {
		return "", "", fmt.Errorf("advertise address %q is not an IP address", advertise)
	}
	return bind, advertise, nil
}

// The Services' cluster IPs, and the kubernetes Service's, the first of them.
const (
	serviceCIDR         = "10.96.0.0/16"
	kubernetesServiceIP = "10.96.0.1"
)

// IssueClientCert issues a client certificate, signed by the cluster CA, for user cn in groups
// orgs, such as a kubelet's (system:node:<name> in system:nodes). It returns the paths of the
// certificate and its key, named after name.
func (c *Cluster) IssueClientCert(name, cn string, orgs ...string) (certPath, keyPath string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.certs.issue(name, clientCert(cn, orgs...))
}

// IssueServingCert issues a serving certificate, signed by the cluster CA, for the IP addresses and
// DNS names given, such as a kubelet's. It returns the paths of the certificate and its key.
func (c *Cluster) IssueServingCert(name string, ips []net.IP, dnsNames ...string) (certPath, keyPath string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.certs.issue(name, &x509.Certificate{
		Subject: pkix.Name{CommonName: name}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: ips, DNSNames: dnsNames,
	})
}

// startKwok starts kwok, which plays the kubelets of the fake Nodes of pools, and registers them.
func (c *Cluster) startKwok(ctx context.Context, kwok string, pools []Pool, podReadyDelay time.Duration) error {
	c.fakeNodes = true
	c.logf("starting kwok")
	stages, err := filepath.Glob(filepath.Join(kwok+"-stages", "*.yaml"))
	if err != nil || len(stages) == 0 {
		return fmt.Errorf("no kwok stages in %s-stages: rebuild with hack/controlplane.sh kwok", kwok)
	}
	if podReadyDelay > 0 {
		if stages, err = c.delayPodReady(stages, podReadyDelay); err != nil {
			return err
		}
	}
	if err := c.start("kwok", kwok, "--kubeconfig="+c.Kubeconfig,
		"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector="+kwokNodeAnnotation+"=fake",
		"--node-lease-duration-seconds=40", "--config="+strings.Join(stages, ",")); err != nil {
		return err
	}
	return c.registerNodes(ctx, pools)
}

// podReadyStage is the file of the kwok stage that reports a pod Ready.
const podReadyStage = "pod-ready.yaml"

// delayPodReady returns stages with the stage that reports a pod Ready replaced by a copy, in the
// cluster's directory, that waits delay first.
func (c *Cluster) delayPodReady(stages []string, delay time.Duration) ([]string, error) {
	out := slices.Clone(stages)
	for i, path := range out {
		if filepath.Base(path) != podReadyStage {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		delayed, err := withStageDelay(string(data), delay)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out[i] = filepath.Join(c.dir, "kwok-"+podReadyStage)
		if err := os.WriteFile(out[i], []byte(delayed), 0o644); err != nil {
			return nil, err
		}
		return out, nil
	}
	return nil, fmt.Errorf("no %s among kwok's stages %v", podReadyStage, stages)
}

// withStageDelay returns a kwok Stage (YAML) with a delay of d before it applies (spec.delay).
func withStageDelay(stage string, d time.Duration) (string, error) {
	if strings.Contains(stage, "\n  delay:") {
		return "", errors.New("the stage has a delay already")
	}
	const spec = "\nspec:\n"
	if !strings.Contains(stage, spec) {
		return "", errors.New("the stage has no spec")
	}
	return strings.Replace(stage, spec, fmt.Sprintf("%s  delay:\n    durationMilliseconds: %d\n", spec, d.Milliseconds()), 1), nil
}

// kwokBinary returns the path of the kwok build in binDir (kwok-<version>).
func kwokBinary(binDir string) (string, error) {
	matches, err := filepath.Glob(filepath.Join(binDir, "kwok-v*"))
	if err != nil {
		return "", err
	}
	for _, m := range matches {
		if !strings.HasSuffix(m, "-stages") {
			return m, nil
		}
	}
	return "", fmt.Errorf("kwok is missing from %s: build it with hack/controlplane.sh kwok", binDir)
}

// start runs a binary in the background, its output in a log file of the cluster's directory.
// The process dies with its parent (Pdeathsig), so a killed test leaves nothing behind.
func (c *Cluster) start(name, path string, args ...string) error {
	return c.startEnv(name, path, nil, args...)
}

// startEnv is start with environment variables added to this process's.
func (c *Cluster) startEnv(name, path string, env []string, args ...string) error {
	logPath := filepath.Join(c.dir, name+".log")
	// Appended to: a process started again (the manager, after a helm upgrade) keeps its history.
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, exited: make(chan struct{}), path: path, env: env, args: args}
	go func() {
		_ = cmd.Wait()
		_ = logFile.Close()
		close(p.exited)
	}()
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	return nil
}

// StopAPIServer stops the API server as an outage or a restart would (SIGTERM, so it closes its
// connections): every client, innkeeper's manager and the cluster's own components, then finds
// nothing listening at its address until StartAPIServer. etcd keeps running, so nothing is lost.
func (c *Cluster) StopAPIServer() error {
	p := c.process("kube-apiserver")
	if p == nil {
		return errors.New("the API server is not running")
	}
	c.logf("stopping kube-apiserver")
	c.stopProcess(p.name)
	c.mu.Lock()
	c.stoppedAPIServer = p
	c.mu.Unlock()
	return nil
}

// APIServerStopped reports whether StopAPIServer stopped the API server and StartAPIServer has not
// started it again.
func (c *Cluster) APIServerStopped() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stoppedAPIServer != nil
}

// StartAPIServer starts the API server that StopAPIServer stopped, on the same address with the
// same arguments, and waits until it is ready (/readyz).
func (c *Cluster) StartAPIServer(ctx context.Context) error {
	c.mu.Lock()
	p := c.stoppedAPIServer
	c.stoppedAPIServer = nil
	c.mu.Unlock()
	if p == nil {
		return errors.New("the API server was not stopped")
	}
	c.logf("starting kube-apiserver again")
	if err := c.startEnv(p.name, p.path, p.env, p.args...); err != nil {
		return err
	}
	return c.waitHTTP(ctx, p.name, c.apiServerReadyz, c.apiServerClient)
}

// waitHTTP waits up to a minute for url to answer 200, failing early if the process exits.
func (c *Cluster) waitHTTP(ctx context.Context, name, url string, client *http.Client) error {
	if client == nil {
		client = &http.Client{Timeout: 2 * time.Second}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s answered %d", url, resp.StatusCode)
		}
		last = err
		if p := c.process(name); p != nil {
			select {
			case <-p.exited:
				return fmt.Errorf("%s exited: %s", name, c.logTail(p))
			default:
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not become healthy: %v", name, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (c *Cluster) process(name string) *process {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.procs {
		if p.name == name {
			return p
		}
	}
	return nil
}

// logTail returns the last lines of a process's log.
func (c *Cluster) logTail(p *process) string {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}

// Stop stops every process the cluster started, in reverse order (SIGTERM, then SIGKILL after 10s),
// and removes its directory. It is safe to call more than once.
func (c *Cluster) Stop() {
	c.mu.Lock()
	procs := c.procs
	c.procs = nil
	c.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		terminate(procs[i])
	}
	if c.dir != "" {
		_ = os.RemoveAll(c.dir)
	}
}

// stopProcess stops the processes of a name that the cluster started (SIGTERM, then SIGKILL after
// 10s), and forgets them.
func (c *Cluster) stopProcess(name string) {
	c.mu.Lock()
	var stop, keep []*process
	for _, p := range c.procs {
		if p.name == name {
			stop = append(stop, p)
		} else {
			keep = append(keep, p)
		}
	}
	c.procs = keep
	c.mu.Unlock()
	for _, p := range stop {
		terminate(p)
	}
}

// killProcess kills the processes of a name that the cluster started at once (SIGKILL, as a crash,
// an OOM kill or `kill -9` would), waits until they are gone, and forgets them.
func (c *Cluster) killProcess(name string) {
	c.mu.Lock()
	var kill, keep []*process
	for _, p := range c.procs {
		if p.name == name {
			kill = append(kill, p)
		} else {
			keep = append(keep, p)
		}
	}
	c.procs = keep
	c.mu.Unlock()
	for _, p := range kill {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
}

// restartProcess starts a process of a name that exited again, with the path, arguments and
// environment of its last start.
func (c *Cluster) restartProcess(name string) error {
	c.mu.Lock()
	var old *process
	for i, p := range c.procs {
		if p.name == name {
			select {
			case <-p.exited:
			default:
				c.mu.Unlock()
				return fmt.Errorf("%s is still running", name)
			}
			old = p
			c.procs = append(c.procs[:i], c.procs[i+1:]...)
			break
		}
	}
	c.mu.Unlock()
	if old == nil {
		return fmt.Errorf("%s was never started", name)
	}
	return c.startEnv(old.name, old.path, old.env, old.args...)
}

// exited reports whether the process of a name that the cluster started has exited by itself;
// false if there is none.
func (c *Cluster) exited(name string) bool {
	p := c.process(name)
	if p == nil {
		return false
	}
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// terminate stops a process: SIGTERM to its group, then SIGKILL after 10s.
func terminate(p *process) {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
}

// SaveLogs copies the log of every process the cluster started (of every start) into dir, to
// keep once Stop has removed the cluster's directory.
func (c *Cluster) SaveLogs(dir string) error {
	logs, err := filepath.Glob(filepath.Join(c.dir, "*.log"))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, l := range logs {
		data, err := os.ReadFile(l)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(l)), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// PIDs returns the process IDs of the processes the cluster runs.
func (c *Cluster) PIDs() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	pids := make([]int, 0, len(c.procs))
	for _, p := range c.procs {
		pids = append(pids, p.cmd.Process.Pid)
	}
	return pids
}

func (c *Cluster) logf(format string, args ...any) {
	fmt.Fprintf(c.log, "localcluster: "+format+"\n", args...)
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// writeKubeconfig writes a kubeconfig for the local cluster's API server at server, whose serving
// certificate caFile signs, as user: the admin's client certificate, or a ServiceAccount's token.
func writeKubeconfig(path, server, caFile string, user *clientcmdapi.AuthInfo) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: server, CertificateAuthority: caFile}
	cfg.AuthInfos["local"] = user
	cfg.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "local"}
	cfg.CurrentContext = "local"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}
