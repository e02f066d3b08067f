package manager

import (
	"context"
	"os"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

func TestLeaderElectionTimingValidate(t *testing.T) {
	timing := func(lease, renew, retry time.Duration) LeaderElectionTiming {
		return LeaderElectionTiming{LeaseDuration: lease, RenewDeadline: renew, RetryPeriod: retry}
	}
	tests := []struct {
		name    string
		timing  LeaderElectionTiming
		wantErr []string
	}{
		{name: "the default", timing: DefaultLeaderElectionTiming()},
		{name: "client-go's and controller-runtime's default", timing: timing(15*time.Second, 10*time.Second, 2*time.Second)},
		{name: "zero", timing: LeaderElectionTiming{}, wantErr: []string{
			"the lease duration (0s) must be positive", "the renew deadline (0s) must be positive", "the retry period (0s) must be positive"}},
		{name: "a fraction of a second in the lease", timing: timing(5500*time.Millisecond, 3*time.Second, time.Second),
			wantErr: []string{"the lease duration (5.5s) must be a whole number of seconds"}},
		{name: "a renew deadline as long as the lease", timing: timing(5*time.Second, 5*time.Second, time.Second),
			wantErr: []string{"the lease duration (5s) must be more than the renew deadline (5s) and the retry period (1s) together"}},
		// A leader that cannot renew acts until 6 s + 2 s after its last renewal; a standby could take
		// over 8 s after it.
		{name: "no time between a failing leader and its successor", timing: timing(8*time.Second, 6*time.Second, 2*time.Second),
			wantErr: []string{"the lease duration (8s) must be more than the renew deadline (6s) and the retry period (2s) together"}},
		{name: "a retry period client-go refuses", timing: timing(10*time.Second, 3*time.Second, 2500*time.Millisecond),
			wantErr: []string{"the renew deadline (3s) must be more than 1.2 × the retry period (2.5s)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			err := tt.timing.Validate()
			if len(tt.wantErr) == 0 {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			for _, want := range tt.wantErr {
				g.Expect(err).To(MatchError(ContainSubstring(want)))
			}
		})
	}
}

// Options that do not come from the command line are checked too, before the manager reaches for
// the cluster.
func TestNewRefusesABadLeaderElectionTiming(t *testing.T) {
	g := NewWithT(t)
	_, err := New(context.Background(), &rest.Config{Host: "https://127.0.0.1:1"}, Options{Namespace: "ns", AgentImage: "img",
		LeaderElection: true, LeaderElectionTiming: &LeaderElectionTiming{LeaseDuration: 3 * time.Second, RenewDeadline: 3 * time.Second, RetryPeriod: time.Second}})
	g.Expect(err).To(MatchError(ContainSubstring("the leader election's timing is invalid: the lease duration (3s) must be more than")))
}

// A manager killed without releasing its Lease (SIGKILL, a crash, an OOM kill) leaves it held for
// the lease duration. Restarted in its pod, under the pod's name, the manager takes it back at its
// first try; a process under another name waits it out. The Lease here is held for a minute and
// every wait is bounded far below that, so nothing passes by waiting the Lease out. Stopped, the
// manager releases the Lease at once, as a SIGTERM does.
func TestLeaderElectionAfterAKill(t *testing.T) {
	g := NewWithT(t)
	cfg := startAPIServer(t)
	cs, err := kubernetes.NewForConfig(cfg)
	g.Expect(err).NotTo(HaveOccurred())
	ctx := context.Background()
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: DefaultNamespace}}, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())

	const pod = "innkeeper-manager-7d4b9c-x2k8p"
	timing := LeaderElectionTiming{LeaseDuration: time.Minute, RenewDeadline: 20 * time.Second, RetryPeriod: time.Second}
	now := metav1.NewMicroTime(time.Now())
	_, err = cs.CoordinationV1().Leases(DefaultNamespace).Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: DefaultNamespace, Name: LeaderElectionID},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(pod), LeaseDurationSeconds: ptr.To[int32](60),
			AcquireTime: &now, RenewTime: &now, LeaseTransitions: ptr.To[int32](3)},
	}, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	lease := func() coordinationv1.LeaseSpec {
		l, err := cs.CoordinationV1().Leases(DefaultNamespace).Get(ctx, LeaderElectionID, metav1.GetOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		return l.Spec
	}

	// Another pod's manager (or one with no identity: a new one for every process).
	elected, stop := startElecting(t, cfg, "", timing)
	g.Consistently(elected).WithTimeout(3*time.Second).ShouldNot(BeClosed(), "took a Lease another process holds")
	stop()
	g.Expect(lease().HolderIdentity).To(HaveValue(Equal(pod)))

	elected, stop = startElecting(t, cfg, pod, timing)
	g.Eventually(elected).WithTimeout(10*time.Second).Should(BeClosed(), "the restarted manager waited for its own Lease")
	held := lease()
	g.Expect(held.HolderIdentity).To(HaveValue(Equal(pod)))
	g.Expect(held.LeaseTransitions).To(HaveValue(BeEquivalentTo(3)), "renewed by its holder, not a change of leader")

	stop()
	g.Expect(lease().HolderIdentity).To(Or(BeNil(), HaveValue(BeEmpty())), "not released when the manager stopped")
}

// startAPIServer starts a kube-apiserver and etcd (KUBEBUILDER_ASSETS, as make test sets it) for the
// test.
func startAPIServer(t *testing.T) *rest.Config {
	t.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run `make test`, or export KUBEBUILDER_ASSETS=$(make -s envtest-assets)")
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	env := &envtest.Environment{}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start the API server: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop the API server: %v", err)
		}
	})
	return cfg
}

// startElecting starts a manager with no controllers that elects its leader as New's managers do,
// under identity. elected is closed once it leads; stop stops it and returns once it has stopped.
func startElecting(t *testing.T, cfg *rest.Config, identity string, timing LeaderElectionTiming) (elected <-chan struct{}, stop func()) {
	t.Helper()
	mo := ctrl.Options{Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0"}
	events, err := leaderElection(&mo, cfg, Options{Namespace: DefaultNamespace, LeaderElection: true,
		LeaderElectionIdentity: identity, LeaderElectionTiming: &timing})
	if err != nil {
		t.Fatalf("leader election: %v", err)
	}
	mgr, err := ctrl.NewManager(cfg, mo)
	if err != nil {
		t.Fatalf("create a manager: %v", err)
	}
	events.use(mgr.GetEventRecorder("innkeeper"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("the manager stopped with an error: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the manager did not stop within 30 s")
		}
	}
	t.Cleanup(stop)
	return mgr.Elected(), stop
}
