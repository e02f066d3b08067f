package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2/ktesting"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

const dropInDir = "/etc/kubernetes/kubelet.conf.d"

var (
	oldConfig = []byte("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nmaxPods: 110\n")
	newConfig = []byte("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nmaxPods: 80\n")
)

// fakeHost is a node for the agent: a temporary host root, a kubelet whose health the test sets, a
// systemd that records restarts, and a Node whose annotations the agent keeps.
type fakeHost struct {
	t        *testing.T
	root     string
	unit     string      // the systemd unit the component runs as
	healthy  atomic.Bool // the kubelet's healthz answers 200
	args     []string    // the kubelet's command line
	restarts atomic.Int32
	// onRestart, if set, runs in place of a restart; its error is the restart's.
	onRestart func(ctx context.Context) error

	mu          sync.Mutex
	annotations map[string]string
	heartbeat   time.Time // the Node's Ready heartbeat
	writes      []Report
	events      []string // "type reason action: note"
}

func (h *fakeHost) Event(_ context.Context, eventType, reason, action, note string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, fmt.Sprintf("%s %s %s: %s", eventType, reason, action, note))
}

func (h *fakeHost) recorded() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.events)
}

func newFakeHost(t *testing.T) *fakeHost {
	h := &fakeHost{t: t, root: t.TempDir(), unit: "kubelet.service", annotations: map[string]string{},
		args: []string{"/usr/bin/kubelet", "--config=/var/lib/kubelet/config.yaml", "--config-dir", dropInDir}}
	h.healthy.Store(true)
	return h
}

// RestartUnit restarts the "kubelet": its heartbeat moves past the restart.
func (h *fakeHost) RestartUnit(ctx context.Context, unit string) error {
	if unit != h.unit {
		return errors.New("unexpected unit " + unit)
	}
	h.restarts.Add(1)
	if h.onRestart != nil {
		if err := h.onRestart(ctx); err != nil {
			return err
		}
	}
	h.mu.Lock()
	h.heartbeat = time.Now().Add(time.Second)
	h.mu.Unlock()
	return nil
}

func (h *fakeHost) Read(context.Context) (Report, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return reportFromAnnotations(h.annotations, "kubelet"), nil
}

func (h *fakeHost) Write(_ context.Context, r Report) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.writes = append(h.writes, r)
	for _, suffix := range hotelv1alpha1.AgentAnnotations {
		delete(h.annotations, hotelv1alpha1.AgentAnnotation("kubelet", suffix))
	}
	for suffix, v := range map[string]string{"config": r.Config, "target": r.Target, "state": r.State, "reason": r.Reason, "message": r.Message} {
		if v != "" {
			h.annotations[hotelv1alpha1.AgentAnnotation("kubelet", suffix)] = v
		}
	}
	return nil
}

func (h *fakeHost) report() Report {
	r, _ := h.Read(context.Background())
	return r
}

func (h *fakeHost) node(context.Context) (*corev1.Node, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return &corev1.Node{Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{
		Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.NewTime(h.heartbeat),
	}}}}, nil
}

// agent returns an agent for config on the host, with a short health timeout.
func (h *fakeHost) agent(config []byte, hash string) *Agent {
	healthz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !h.healthy.Load() {
			http.Error(w, "plugins not ready", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	h.t.Cleanup(healthz.Close)
	return &Agent{
		Target: &Kubelet{
			DropInDir:  dropInDir,
			HealthzURL: healthz.URL,
			Client:     healthz.Client(),
			Args:       func() ([]string, error) { return h.args, nil },
			Node:       h.node,
		},
		Restarter:      h,
		Reporter:       h,
		Events:         h,
		HostRoot:       h.root,
		Config:         map[string][]byte{"50-innkeeper.conf": config},
		Hash:           hash,
		HealthTimeout:  300 * time.Millisecond,
		HealthInterval: 10 * time.Millisecond,
		Log:            ktesting.NewLogger(h.t, ktesting.NewConfig()),
	}
}

// healthyOnlyWith makes the kubelet come back healthy from a restart only on the given drop-in.
func (h *fakeHost) healthyOnlyWith(content []byte) {
	h.onRestart = func(context.Context) error {
		h.healthy.Store(string(h.fileContent()) == string(content))
		return nil
	}
}

func (h *fakeHost) dropIn() string {
	return filepath.Join(h.root, dropInDir, "50-innkeeper.conf")
}

// install puts content in the drop-in as a previous, healthy apply of hash left it.
func (h *fakeHost) install(content []byte, hash string) {
	h.t.Helper()
	NewWithT(h.t).Expect(writeFileAtomic(h.dropIn(), content, 0o644)).To(Succeed())
	_ = h.Write(context.Background(), Report{Config: hash, Target: hash, State: StateApplied})
	h.writes = nil
}

func (h *fakeHost) fileContent() []byte {
	data, err := os.ReadFile(h.dropIn())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	NewWithT(h.t).Expect(err).NotTo(HaveOccurred())
	return data
}

func (h *fakeHost) leftovers() []string {
	matches, _ := filepath.Glob(filepath.Join(h.root, dropInDir, tempPrefix+"*"))
	return matches
}

func TestFirstApply(t *testing.T) {
	g := NewWithT(t)
	h := newFakeHost(t)
	a := h.agent(newConfig, "new")
	g.Expect(a.Apply(context.Background())).To(Succeed())
	g.Expect(h.fileContent()).To(Equal(newConfig))
	g.Expect(h.restarts.Load()).To(Equal(int32(1)))
	g.Expect(h.report()).To(Equal(Report{Config: "new", Target: "new", State: StateApplied,
		Message: "Configuration new is applied and kubelet is healthy."}))
	g.Expect(a.Ready()).To(BeTrue())
	g.Expect(h.writes[0].State).To(Equal(StateApplying), "Applying is recorded before the file is written")
	g.Expect(h.leftovers()).To(BeEmpty())
}

func TestIdenticalContentNeitherWritesNorRestarts(t *testing.T) {
	g := NewWithT(t)
	h := newFakeHost(t)
	h.install(newConfig, "new")
	past := time.Now().Add(-time.Hour)
	g.Expect(os.Chtimes(h.dropIn(), past, past)).To(Succeed())

	a := h.agent(newConfig, "new")
	g.Expect(a.Apply(context.Background())).To(Succeed())
	info, err := os.Stat(h.dropIn())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(info.ModTime()).To(BeTemporally("~", past, time.Second), "the file was rewritten")
	g.Expect(h.restarts.Load()).To(BeZero())
	g.Expect(h.writes).To(BeEmpty(), "nothing changed on the Node either")
	g.Expect(a.Ready()).To(BeTrue())
}

func TestChangedContentBacksUpAndRestarts(t *testing.T) {
	g := NewWithT(t)
	h := newFakeHost(t)
	h.install(oldConfig, "old")
	var backupDuringRestart []byte
	h.onRestart = func(context.Context) error {
		backupDuringRestart, _ = os.ReadFile(h.dropIn() + backupSuffix)
		return nil
	}
	g.Expect(h.agent(newConfig, "new").Apply(context.Background())).To(Succeed())
	g.Expect(h.fileContent()).To(Equal(newConfig))
	g.Expect(backupDuringRestart).To(Equal(oldConfig), "the healthy drop-in is backed up before the new one is written")
	backup, err := os.ReadFile(h.dropIn() + backupSuffix)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(backup).To(Equal(newConfig), "once healthy, the new drop-in is what a later failure goes back to")
	g.Expect(h.restarts.Load()).To(Equal(int32(1)))
	g.Expect(h.report().Config).To(Equal("new"))
}

// A configuration refused before it wrote anything leaves the backup of the last healthy one, so
// that the next failure goes back to what the Node ran, not to an older configuration.
func TestARefusedConfigurationKeepsTheLatestHealthyBackup(t *testing.T) {
	g := NewWithT(t)
	h := newFakeHost(t)
	h.install(oldConfig, "a")
	g.Expect(h.agent(newConfig, "b").Apply(context.Background())).To(Succeed())

	bad := []byte("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncgroupDriver: cgroupfs\n")
	g.Expect(h.agent(bad, "c").Apply(context.Background())).To(MatchError(ContainSubstring(hotelv1alpha1.ReasonInvalidConfig)))

	failing := []byte("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nmaxPods: 60\n")
	h.healthyOnlyWith(newConfig)
	err := h.agent(failing, "d").Apply(context.Background())
	g.Expect(err).To(MatchError(ContainSubstring(hotelv1alpha1.ReasonHealthCheckFailed)))
	g.Expect(h.fileContent()).To(Equal(newConfig), "rolled back to an older configuration than the Node ran")
}

func TestHealthFailureRollsBackByteForByte(t *testing.T) {
	g := NewWithT(t)
	h := newFakeHost(t)
	previous := append([]byte("# hand-tuned, keep\n"), oldConfig...)
	h.install(previous, "old")
	// The kubelet refuses the new drop-in and answers again once the old one is back.
	h.healthyOnlyWith(previous)
	a := h.agent(newConfig, "new")
	err := a.Apply(context.Background())

	var de *DegradedError
	g.Expect(errors.As(err, &de)).To(BeTrue(), "got %v", err)
	g.Expect(de.Reason).To(Equal(hotelv1alpha1.ReasonHealthCheckFailed))
	g.Expect(h.fileContent()).To(Equal(previous))
	g.Expect(h.restarts.Load()).To(Equal(int32(2)), "once for the new drop-in, once for the restored one")
	r := h.report()
	g.Expect(r.State).To(Equal(StateDegraded))
	g.Expect(r.Config).To(Equal("old"), "a failed configuration is never recorded as applied")
	g.Expect(r.Target).To(Equal("new"))
	g.Expect(r.Reason).To(Equal(hotelv1alpha1.ReasonHealthCheckFailed))
	g.Expect(r.Message).To(ContainSubstring("kubelet did not become healthy within 300ms with configuration new"))
	g.Expect(r.Message).To(ContainSubstring("plugins not ready"))
	g.Expect(r.Message).To(HaveSuffix("; restored the previous configuration"))
	g.Expect(a.Ready()).To(BeFalse())
}

func TestHealthFailureWithoutPreviousDropInRemovesIt(t *testing.T) {
	g := NewWithT(t)
	h := newFakeHost(t)
	h.onRestart = func(context.Context) error {
		h.healthy.Store(h.fileContent() == nil)
		return nil
	}
	err := h.agent(newConfig, "new").Apply(context.Background())
	g.Expect(err).To(MatchError(ContainSubstring(hotelv1alpha1.ReasonHealthCheckFailed)))
	_, statErr := os.Stat(h.dropIn())
	g.Expect(os.IsNotExist(statErr)).To(BeTrue(), "the new drop-in is still there")
}

func TestStaleReadyConditionIsNotHealth(t *testing.T) {
	g := NewWithT(t)
	h := newFakeHost(t)
	h.install(oldConfig, "old")
	// The kubelet never posts status again: the Ready condition is the one from before the restart.
	h.onRestart = func(context.Context) error { return nil }
	h.heartbeat = time.Now().Add(-time.Minute)
	var calls atomic.Int32
	a := h.agent(newConfig, "new")
	a.Restarter = restarterFunc(func(ctx context.Context, unit string) error {
		calls.Add(1)
		return nil
	})
	err := a.Apply(context.Background())
	g.Expect(err).To(MatchError(ContainSubstring("has not reported the Node Ready since its restart")))
	g.Expect(h.fileContent()).To(Equal(oldConfig))
}

type restarterFunc func(ctx context.Context, unit string) error

func (f restarterFunc) RestartUnit(ctx context.Context, unit string) error { return f(ctx, unit) }

func TestRestartFailureRollsBack(t *testing.T) {
	g := NewWithT(t)
	h := newFakeHost(t)
	h.install(oldConfig, "old")
	h.onRestart = func(context.Context) error {
		if h.restarts.Load() == 1 {
			return errors.New("Job for kubelet.service failed")
		}
		return nil
	}
	err := h.agent(newConfig, "new").Apply(context.Background())
	g.Expect(err).To(MatchError(ContainSubstring(hotelv1alpha1.ReasonRestartFailed)))
	g.Expect(h.fileContent()).To(Equal(oldConfig))
	g.Expect(h.report().Message).To(ContainSubstring("Job for kubelet.service failed"))
}

func TestDropInUnsupported(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "no --config-dir", args: []string{"/usr/bin/kubelet", "--config=/var/lib/kubelet/config.yaml"},
			want: "does not run with --config-dir"},
		{name: "another --config-dir", args: []string{"/usr/bin/kubelet", "--config-dir=/etc/kubelet.d"},
			want: "reads drop-ins from /etc/kubelet.d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			h := newFakeHost(t)
			h.args = tt.args
			err := h.agent(newConfig, "new").Apply(context.Background())
			g.Expect(err).To(MatchError(ContainSubstring(tt.want)))
			g.Expect(h.report().Reason).To(Equal(hotelv1alpha1.ReasonDropInUnsupported))
			g.Expect(h.fileContent()).To(BeNil(), "the drop-in was written anyway")
			g.Expect(h.restarts.Load()).To(BeZero())
		})
	}
}

func TestInvalidConfigTouchesNothing(t *testing.T) {
	g := NewWithT(t)
	h := newFakeHost(t)
	h.install(oldConfig, "old")
	bad := []byte("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncgroupDriver: cgroupfs\n")
	err := h.agent(bad, "bad").Apply(context.Background())
	g.Expect(err).To(MatchError(ContainSubstring(hotelv1alpha1.ReasonInvalidConfig)))
	g.Expect(h.fileContent()).To(Equal(oldConfig))
	g.Expect(h.restarts.Load()).To(BeZero())
	g.Expect(h.report().Config).To(Equal("old"))
}

func TestInterruptedApplyLeavesAWholeFileAndResumes(t *testing.T) {
	g := NewWithT(t)
	h := newFakeHost(t)
	h.install(oldConfig, "old")

	// SIGTERM arrives while systemd restarts the kubelet.
	ctx, cancel := context.WithCancel(context.Background())
	h.onRestart = func(ctx context.Context) error {
		cancel()
		<-ctx.Done()
		return ctx.Err()
	}
	err := h.agent(newConfig, "new").Apply(ctx)
	g.Expect(err).To(MatchError(context.Canceled))
	g.Expect(h.fileContent()).To(Equal(newConfig), "the drop-in is whole: old or new, never a part")
	g.Expect(h.leftovers()).To(BeEmpty())
	g.Expect(h.report().State).To(Equal(StateApplying))
	g.Expect(h.report().Config).To(Equal("old"))

	// The agent's next run (a restarted container) finds the file in place and Applying recorded:
	// it restarts the kubelet again and waits for health, without touching the backup.
	h.onRestart = nil
	restartsBefore := h.restarts.Load()
	a := h.agent(newConfig, "new")
	g.Expect(a.Apply(context.Background())).To(Succeed())
	g.Expect(h.restarts.Load()).To(Equal(restartsBefore + 1))
	g.Expect(h.report().State).To(Equal(StateApplied))
	g.Expect(a.Ready()).To(BeTrue())
}

func TestInterruptedApplyKeepsTheLastHealthyBackup(t *testing.T) {
	g := NewWithT(t)
	h := newFakeHost(t)
	h.install(oldConfig, "old")
	ctx, cancel := context.WithCancel(context.Background())
	h.onRestart = func(ctx context.Context) error { cancel(); <-ctx.Done(); return ctx.Err() }
	g.Expect(h.agent(newConfig, "new").Apply(ctx)).To(MatchError(context.Canceled))

	// A newer configuration replaces the pod before the interrupted one was ever seen healthy; it
	// fails too. The Node must go back to the last healthy drop-in, not to the unverified one.
	newer := []byte("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nmaxPods: 60\n")
	h.healthyOnlyWith(oldConfig)
	err := h.agent(newer, "newer").Apply(context.Background())
	g.Expect(err).To(MatchError(ContainSubstring(hotelv1alpha1.ReasonHealthCheckFailed)))
	g.Expect(h.fileContent()).To(Equal(oldConfig))
}

func TestLeftoverTempFilesAreRemoved(t *testing.T) {
	g := NewWithT(t)
	h := newFakeHost(t)
	dir := filepath.Join(h.root, dropInDir)
	g.Expect(os.MkdirAll(dir, 0o755)).To(Succeed())
	g.Expect(os.WriteFile(filepath.Join(dir, tempPrefix+"50-innkeeper.conf-123"), []byte("maxPo"), 0o600)).To(Succeed())
	g.Expect(h.agent(newConfig, "new").Apply(context.Background())).To(Succeed())
	g.Expect(h.leftovers()).To(BeEmpty())
}

func TestReadyz(t *testing.T) {
	g := NewWithT(t)
	h := newFakeHost(t)
	a := h.agent(newConfig, "new")
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	status := func(path string) int {
		resp, err := srv.Client().Get(srv.URL + path)
		g.Expect(err).NotTo(HaveOccurred())
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	g.Expect(status("/healthz")).To(Equal(http.StatusOK))
	g.Expect(status("/readyz")).To(Equal(http.StatusServiceUnavailable))
	g.Expect(a.Apply(context.Background())).To(Succeed())
	g.Expect(status("/readyz")).To(Equal(http.StatusOK))
}

func TestFlagValue(t *testing.T) {
	tests := []struct {
		args  []string
		value string
		found bool
	}{
		{args: []string{"kubelet", "--config-dir=/a"}, value: "/a", found: true},
		{args: []string{"kubelet", "--config-dir", "/b"}, value: "/b", found: true},
		{args: []string{"kubelet", "-config-dir=/c"}, value: "/c", found: true},
		{args: []string{"kubelet", "--config=/x"}},
		{args: []string{"kubelet", "--config-dir"}},
		{args: []string{"kubelet", "--config-directory=/d"}},
	}
	for _, tt := range tests {
		v, ok := flagValue(tt.args, "config-dir")
		NewWithT(t).Expect([]any{v, ok}).To(Equal([]any{tt.value, tt.found}), "%q", tt.args)
	}
}

func TestProcessArgs(t *testing.T) {
	g := NewWithT(t)
	proc := t.TempDir()
	write := func(pid, cmdline string) {
		g.Expect(os.MkdirAll(filepath.Join(proc, pid), 0o755)).To(Succeed())
		g.Expect(os.WriteFile(filepath.Join(proc, pid, "cmdline"), []byte(cmdline), 0o644)).To(Succeed())
	}
	write("1", "/sbin/init\x00")
	write("2", "") // a kernel thread
	write("77", "/usr/bin/kubelet\x00--config-dir=/etc/kubernetes/kubelet.conf.d\x00--v=2\x00")
	g.Expect(os.MkdirAll(filepath.Join(proc, "sys"), 0o755)).To(Succeed())

	args, err := ProcessArgs(proc, "kubelet")()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(args).To(Equal([]string{"/usr/bin/kubelet", "--config-dir=/etc/kubernetes/kubelet.conf.d", "--v=2"}))
	_, err = ProcessArgs(proc, "containerd")()
	g.Expect(err).To(MatchError(ContainSubstring("no containerd process")))
}

func TestAnnotationPatch(t *testing.T) {
	g := NewWithT(t)
	key := func(s string) string { return hotelv1alpha1.AgentAnnotation("kubelet", s) }
	current := map[string]string{key("config"): "old", key("state"): "Degraded", key("reason"): "HealthCheckFailed", "other": "x"}
	patch := annotationPatch(current, "kubelet", Report{Config: "old", State: StateApplying, Target: "new"})
	g.Expect(string(patch)).To(MatchJSON(`{"metadata":{"annotations":{
		"hotel.innkeeper.dev/kubelet-state":"Applying",
		"hotel.innkeeper.dev/kubelet-target":"new",
		"hotel.innkeeper.dev/kubelet-reason":null}}}`))
	g.Expect(annotationPatch(current, "kubelet", reportFromAnnotations(current, "kubelet"))).To(BeNil())
}

// A real kubelet posts its status as it starts, often in the very second of its restart, and then
// only when the status changes or every nodeStatusReportFrequency (5 minutes): a heartbeat stamped
// in the second of the restart is the new kubelet's (healthz, which only the new one answers, has
// passed too), and waiting for a later one rolled healthy kubelets back (found on real nodes).
func TestHeartbeatFromTheSecondOfTheRestartIsHealth(t *testing.T) {
	g := NewWithT(t)
	restart := time.Date(2026, 11, 27, 12, 0, 0, 700_000_000, time.UTC)
	var heartbeat time.Time
	k := &Kubelet{
		HealthzURL: "unused",
		Client:     &http.Client{Transport: roundTripFunc(okResponse)},
		Node: func(context.Context) (*corev1.Node, error) {
			return &corev1.Node{Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{
				Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.NewTime(heartbeat)}}}}, nil
		},
	}
	k.HealthzURL = "http://127.0.0.1:1/healthz"
	heartbeat = restart.Truncate(time.Second).Add(-time.Second) // 11:59:59: the kubelet before the restart
	g.Expect(k.Healthy(context.Background(), restart)).To(MatchError(ContainSubstring("has not reported the Node Ready")))
	heartbeat = restart.Truncate(time.Second) // 12:00:00: the new kubelet, as it started
	g.Expect(k.Healthy(context.Background(), restart)).To(Succeed())
	heartbeat = restart.Truncate(time.Second).Add(time.Second)
	g.Expect(k.Healthy(context.Background(), restart)).To(Succeed())
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func okResponse(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	_, _ = rec.WriteString("ok")
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

func TestAPIServerOutageDuringTheWaitIsNoReasonToRollBack(t *testing.T) {
	g := NewWithT(t)
	h := newFakeHost(t)
	h.install(oldConfig, "old")
	a := h.agent(newConfig, "new")
	kubeletTarget := a.Target.(*Kubelet)
	outageUntil := time.Now().Add(3 * a.HealthTimeout)
	kubeletTarget.Node = func(ctx context.Context) (*corev1.Node, error) {
		if time.Now().Before(outageUntil) {
			return nil, errors.New("connection refused")
		}
		return h.node(ctx)
	}
	g.Expect(a.Apply(context.Background())).To(Succeed())
	g.Expect(h.fileContent()).To(Equal(newConfig))
	g.Expect(h.restarts.Load()).To(Equal(int32(1)), "rolled back although the kubelet was healthy")
}

func TestAFailedConfigurationIsNotAppliedAgain(t *testing.T) {
	g := NewWithT(t)
	h := newFakeHost(t)
	h.install(oldConfig, "old")
	h.healthyOnlyWith(oldConfig)
	g.Expect(h.agent(newConfig, "new").Apply(context.Background())).To(MatchError(ContainSubstring(hotelv1alpha1.ReasonHealthCheckFailed)))
	restarts := h.restarts.Load()

	// The agent's container restarts (or the Node reboots) with the same configuration.
	err := h.agent(newConfig, "new").Apply(context.Background())
	g.Expect(err).To(MatchError(ContainSubstring(hotelv1alpha1.ReasonHealthCheckFailed)))
	g.Expect(h.restarts.Load()).To(Equal(restarts), "the kubelet was taken down again for a configuration known to fail")
	g.Expect(h.fileContent()).To(Equal(oldConfig))
}

// failingReporter fails the first Degraded write.
type failingReporter struct {
	*fakeHost
	failed atomic.Bool
}

func (r *failingReporter) Write(ctx context.Context, rep Report) error {
	if rep.State == StateDegraded && !r.failed.Swap(true) {
		return errors.New("the API server is unavailable")
	}
	return r.fakeHost.Write(ctx, rep)
}

func TestAFailureToRecordDegradedDoesNotReapply(t *testing.T) {
	g := NewWithT(t)
	h := newFakeHost(t)
	h.install(oldConfig, "old")
	h.healthyOnlyWith(oldConfig)
	a := h.agent(newConfig, "new")
	a.Reporter = &failingReporter{fakeHost: h}
	err := a.Apply(context.Background())
	g.Expect(err).To(MatchError(ContainSubstring("record Degraded")))
	restarts := h.restarts.Load()

	// Run retries: only the record is written again.
	err = a.Apply(context.Background())
	g.Expect(err).To(MatchError(ContainSubstring(hotelv1alpha1.ReasonHealthCheckFailed)))
	g.Expect(h.restarts.Load()).To(Equal(restarts))
	g.Expect(h.report().State).To(Equal(StateDegraded))
	g.Expect(h.fileContent()).To(Equal(oldConfig))
}

func TestAnUnverifiedFileNeverBecomesTheBackup(t *testing.T) {
	g := NewWithT(t)
	h := newFakeHost(t)
	h.install(oldConfig, "old")
	g.Expect(saveBackup(h.dropIn())).To(Succeed())
	// A restore failed earlier: the Node is Degraded and the file still holds the failed drop-in.
	g.Expect(writeFileAtomic(h.dropIn(), newConfig, 0o644)).To(Succeed())
	_ = h.Write(context.Background(), Report{Config: "old", Target: "new", State: StateDegraded, Reason: hotelv1alpha1.ReasonHealthCheckFailed})

	newer := []byte("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nmaxPods: 60\n")
	h.healthyOnlyWith(oldConfig)
	g.Expect(h.agent(newer, "newer").Apply(context.Background())).To(MatchError(ContainSubstring(hotelv1alpha1.ReasonHealthCheckFailed)))
	g.Expect(h.fileContent()).To(Equal(oldConfig), "the rollback went to the unverified drop-in")
}

// A configuration refused before anything was written (a kubelet without --config-dir) is not a
// configuration that failed: once the Node is fixed, a new agent pod applies it.
func TestARefusedConfigurationIsTriedInANewPod(t *testing.T) {
	g := NewWithT(t)
	h := newFakeHost(t)
	fixed := h.args
	h.args = []string{"/usr/bin/kubelet", "--config=/var/lib/kubelet/config.yaml"}
	g.Expect(h.agent(newConfig, "new").Apply(context.Background())).To(MatchError(ContainSubstring(hotelv1alpha1.ReasonDropInUnsupported)))

	h.args = fixed
	g.Expect(h.agent(newConfig, "new").Apply(context.Background())).To(Succeed())
	g.Expect(h.fileContent()).To(Equal(newConfig))
	g.Expect(h.report()).To(HaveField("State", StateApplied))
}

// runAgent runs a in the background until the test ends, serving its probes on loopback.
func runAgent(t *testing.T, a *Agent) {
	ctx, cancel := context.WithCancel(context.Background())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		NewWithT(t).Expect(<-done).To(Succeed())
	})
}

// The same pod checks a refused configuration again, and applies it once the Node is fixed. The
// refusal is recorded on the Node once, not at every check.
func TestARefusedConfigurationIsCheckedAgain(t *testing.T) {
	g := NewWithT(t)
	h := newFakeHost(t)
	fixed := h.args
	h.mu.Lock()
	h.args = []string{"/usr/bin/kubelet", "--config=/var/lib/kubelet/config.yaml"}
	h.mu.Unlock()
	a := h.agent(newConfig, "new")
	a.RecheckInterval = 20 * time.Millisecond
	var checks atomic.Int32
	a.Target.(*Kubelet).Args = func() ([]string, error) {
		checks.Add(1)
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.args, nil
	}
	runAgent(t, a)
	g.Eventually(func() string { return h.report().Reason }, 5*time.Second, 10*time.Millisecond).
		Should(Equal(hotelv1alpha1.ReasonDropInUnsupported))
	g.Eventually(checks.Load, 5*time.Second, 10*time.Millisecond).Should(BeNumerically(">=", 4), "no check again")
	h.mu.Lock()
	g.Expect(h.writes).To(HaveLen(1), "every check recorded the same refusal again")
	h.args = fixed
	h.mu.Unlock()

	g.Eventually(a.Ready, 5*time.Second, 10*time.Millisecond).Should(BeTrue())
	g.Expect(h.fileContent()).To(Equal(newConfig))
	g.Expect(h.report()).To(HaveField("State", StateApplied))
}

// A component found unhealthy while its files are already the configuration's was not made so by
// this configuration: the Node is Degraded while it lasts, and Applied once it is healthy again.
func TestAnUnhealthyComponentWithUnchangedFilesRecovers(t *testing.T) {
	g := NewWithT(t)
	h := newFakeHost(t)
	h.install(newConfig, "new")
	h.healthy.Store(false)
	a := h.agent(newConfig, "new")
	a.RecheckInterval = 20 * time.Millisecond
	runAgent(t, a)
	g.Eventually(func() string { return h.report().State }, 5*time.Second, 10*time.Millisecond).
		Should(Equal(StateDegraded))
	g.Expect(h.report().Reason).To(Equal(hotelv1alpha1.ReasonUnhealthy))
	g.Expect(h.restarts.Load()).To(BeZero())

	h.healthy.Store(true)
	g.Eventually(a.Ready, 5*time.Second, 10*time.Millisecond).Should(BeTrue())
	g.Expect(h.report()).To(HaveField("State", StateApplied))
	g.Expect(h.restarts.Load()).To(BeZero())
	g.Expect(h.fileContent()).To(Equal(newConfig))
}

// A component that stays unhealthy is recorded once, with the first error: a Ready message that
// changes at every check (PLEG's "last seen active 3m5.1s ago") must not rewrite the Node each time.
func TestAnUnhealthyComponentIsRecordedOnce(t *testing.T) {
	g := NewWithT(t)
	h := newFakeHost(t)
	h.install(newConfig, "new")
	a := h.agent(newConfig, "new")
	a.RecheckInterval = 20 * time.Millisecond
	var checks atomic.Int32
	a.Target.(*Kubelet).Node = func(context.Context) (*corev1.Node, error) {
		return &corev1.Node{Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: corev1.ConditionFalse,
			Message: fmt.Sprintf("PLEG is not healthy: pleg was last seen active 3m%d.5s ago", checks.Add(1)),
		}}}}, nil
	}
	runAgent(t, a)
	g.Eventually(func() int32 { return checks.Load() }, 5*time.Second, 10*time.Millisecond).Should(BeNumerically(">", 40))
	h.mu.Lock()
	defer h.mu.Unlock()
	g.Expect(h.writes).To(HaveLen(1), "the Node was rewritten at every check")
	g.Expect(h.writes[0].Reason).To(Equal(hotelv1alpha1.ReasonUnhealthy))
}

func TestRecheckDelayGrows(t *testing.T) {
	g := NewWithT(t)
	var got []time.Duration
	for n := range 6 {
		got = append(got, recheckDelay(time.Minute, n))
	}
	g.Expect(got).To(Equal([]time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 5 * time.Minute,
		5 * time.Minute, 5 * time.Minute}))
	g.Expect(recheckDelay(20*time.Millisecond, 10)).To(Equal(100 * time.Millisecond))
}

func TestRechecksBackOffWhileTheOutcomeStays(t *testing.T) {
	g := NewWithT(t)
	var r rechecks
	refused := &DegradedError{Reason: hotelv1alpha1.ReasonDropInUnsupported, Message: "no --config-dir", Recheck: true}
	var delays []time.Duration
	for range 5 {
		d, _ := r.next(refused, time.Minute)
		delays = append(delays, d)
	}
	g.Expect(delays).To(Equal([]time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 5 * time.Minute, 5 * time.Minute}))

	// Another outcome starts over, and says so.
	other := &DegradedError{Reason: hotelv1alpha1.ReasonDropInUnsupported, Message: "reads drop-ins from /etc/kubelet.d", Recheck: true}
	d, changed := r.next(other, time.Minute)
	g.Expect(d).To(Equal(time.Minute))
	g.Expect(changed).To(BeTrue())
	// An unhealthy component's error changes at every check: the reason alone counts.
	r.next(&DegradedError{Reason: hotelv1alpha1.ReasonUnhealthy, Message: "last seen 3m1s ago"}, time.Minute)
	d, changed = r.next(&DegradedError{Reason: hotelv1alpha1.ReasonUnhealthy, Message: "last seen 3m2s ago"}, time.Minute)
	g.Expect(d).To(Equal(2 * time.Minute))
	g.Expect(changed).To(BeFalse())
}

// What the agent records on the Node is also an Event there, once: an apply, a rollback with its
// reason, a refusal; nothing when nothing changed.
func TestEventsOnTheNode(t *testing.T) {
	g := NewWithT(t)
	h := newFakeHost(t)
	g.Expect(h.agent(oldConfig, "old").Apply(context.Background())).To(Succeed())
	g.Expect(h.recorded()).To(Equal([]string{"Normal ConfigurationApplied Apply: Configuration old is applied and kubelet is healthy."}))

	g.Expect(h.agent(oldConfig, "old").Apply(context.Background())).To(Succeed())
	g.Expect(h.recorded()).To(HaveLen(1), "an agent that changed nothing recorded an Event")

	h.healthyOnlyWith(oldConfig)
	g.Expect(h.agent(newConfig, "new").Apply(context.Background())).To(MatchError(ContainSubstring(hotelv1alpha1.ReasonHealthCheckFailed)))
	g.Expect(h.recorded()).To(HaveLen(2))
	g.Expect(h.recorded()[1]).To(And(HavePrefix("Warning HealthCheckFailed RollBack: kubelet: kubelet did not become healthy"),
		HaveSuffix("; restored the previous configuration")))

	h.mu.Lock()
	h.args = []string{"/usr/bin/kubelet", "--config=/var/lib/kubelet/config.yaml"}
	h.mu.Unlock()
	refused := h.agent(newConfig, "newer")
	for range 2 {
		g.Expect(refused.Apply(context.Background())).To(MatchError(ContainSubstring(hotelv1alpha1.ReasonDropInUnsupported)))
	}
	g.Expect(h.recorded()).To(HaveLen(3), "a refusal checked again is recorded once")
	g.Expect(h.recorded()[2]).To(HavePrefix("Warning DropInUnsupported Check: kubelet: "))
}

// The agent counts what it does, for its /metrics: an apply, a configuration already there, a
// rollback with its reason, and how long the health checks after a change took.
func TestAgentMetrics(t *testing.T) {
	g := NewWithT(t)
	count := func(c *prometheus.CounterVec, labels ...string) float64 {
		return testutil.ToFloat64(c.WithLabelValues(labels...))
	}
	checks := func(result string) uint64 {
		m := &dto.Metric{}
		g.Expect(healthCheckDuration.WithLabelValues("kubelet", result).(prometheus.Metric).Write(m)).To(Succeed())
		return m.GetHistogram().GetSampleCount()
	}
	applied, unchanged, degraded := count(applies, "kubelet", "applied"), count(applies, "kubelet", "unchanged"), count(applies, "kubelet", "degraded")
	rolledBack := count(rollbacks, "kubelet", hotelv1alpha1.ReasonHealthCheckFailed)
	healthy, unhealthy := checks("healthy"), checks("unhealthy")

	h := newFakeHost(t)
	g.Expect(h.agent(oldConfig, "old").Apply(context.Background())).To(Succeed())
	g.Expect(h.agent(oldConfig, "old").Apply(context.Background())).To(Succeed())
	g.Expect(testutil.ToFloat64(agentState.WithLabelValues("kubelet", StateApplied))).To(Equal(1.0))
	h.healthyOnlyWith(oldConfig)
	g.Expect(h.agent(newConfig, "new").Apply(context.Background())).NotTo(Succeed())

	g.Expect(count(applies, "kubelet", "applied") - applied).To(Equal(1.0))
	g.Expect(count(applies, "kubelet", "unchanged") - unchanged).To(Equal(1.0))
	g.Expect(count(applies, "kubelet", "degraded") - degraded).To(Equal(1.0))
	g.Expect(count(rollbacks, "kubelet", hotelv1alpha1.ReasonHealthCheckFailed) - rolledBack).To(Equal(1.0))
	g.Expect(checks("healthy")-healthy).To(BeEquivalentTo(1), "the first apply's check")
	g.Expect(checks("unhealthy")-unhealthy).To(BeEquivalentTo(1), "the failed configuration's check")
	g.Expect(testutil.ToFloat64(agentState.WithLabelValues("kubelet", StateDegraded))).To(Equal(1.0))
	g.Expect(testutil.ToFloat64(agentState.WithLabelValues("kubelet", StateApplied))).To(Equal(0.0))
}

// recordedWrites returns the reports written to the Node so far.
func (h *fakeHost) recordedWrites() []Report {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.writes)
}
