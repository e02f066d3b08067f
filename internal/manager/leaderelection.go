package manager

import (
	"errors"
	"fmt"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
)

// LeaderElectionTiming times the election of the manager's leader among its replicas, as client-go's
// leader election does. A leader renews the Lease every RetryPeriod; a standby takes the Lease over
// once LeaseDuration has passed since it last saw it renewed; a leader that cannot renew for
// RenewDeadline gives up leading, and the manager exits.
type LeaderElectionTiming struct {
	// LeaseDuration is how long after a standby last saw the Lease renewed it may take the Lease
	// over: how long a leader that died without releasing it keeps the standbys waiting. The Lease
	// records it in whole seconds.
	LeaseDuration time.Duration
	// RenewDeadline is how long a leader keeps trying to renew the Lease before it stops leading.
	RenewDeadline time.Duration
	// RetryPeriod is how often the leader renews the Lease, and how often (each wait jittered by up
	// to 120%) a standby tries to take it.
	RetryPeriod time.Duration
}

// DefaultLeaderElectionTiming is 5 s / 3 s / 1 s, so that a standby leads within 10 s of the leader's
// death (#17) while two managers never act at once.
//
// A leader that dies without releasing the Lease renewed it last at most RetryPeriod before; a
// standby sees that renewal within one of its waits (at most 2.2 × RetryPeriod), takes the Lease over
// LeaseDuration later, on its first try after that (again at most 2.2 × RetryPeriod): at worst
// LeaseDuration + 4.4 × RetryPeriod = 9.4 s after the death (measured against envtest, a leader cut
// off from the API server: 5.1–7.3 s over 10 runs; client-go's and controller-runtime's 15 s / 10 s /
// 2 s took 16–21 s). A leader that cannot renew keeps acting
// until RenewDeadline has passed since the renewal it attempts RetryPeriod after its last
// successful one, 4 s, and a standby takes over no sooner than LeaseDuration, 5 s, after that
// renewal: 1 s to spare (see Validate). A SIGTERM releases the Lease at once, whatever the timing.
func DefaultLeaderElectionTiming() LeaderElectionTiming {
	return LeaderElectionTiming{LeaseDuration: 5 * time.Second, RenewDeadline: 3 * time.Second, RetryPeriod: time.Second}
}

// Validate returns why the timing cannot elect a leader safely, nil if it can: every duration
// positive, the lease duration whole seconds (the Lease records seconds, and a standby reads it
// from there), the renew deadline more than 1.2 × the retry period (client-go refuses less), and
// the lease duration more than the renew deadline and the retry period together, so that a leader
// that cannot renew has stopped before a standby may take its place.
func (t LeaderElectionTiming) Validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		d    time.Duration
	}{{"lease duration", t.LeaseDuration}, {"renew deadline", t.RenewDeadline}, {"retry period", t.RetryPeriod}} {
		if d.d <= 0 {
			errs = append(errs, fmt.Errorf("the %s (%s) must be positive", d.name, d.d))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if t.LeaseDuration%time.Second != 0 {
		errs = append(errs, fmt.Errorf("the lease duration (%s) must be a whole number of seconds: the Lease records seconds", t.LeaseDuration))
	}
	if float64(t.RenewDeadline) <= 1.2*float64(t.RetryPeriod) {
		errs = append(errs, fmt.Errorf("the renew deadline (%s) must be more than 1.2 × the retry period (%s), as client-go's leader election requires",
			t.RenewDeadline, t.RetryPeriod))
	}
	if t.LeaseDuration <= t.RenewDeadline+t.RetryPeriod {
		errs = append(errs, fmt.Errorf("the lease duration (%s) must be more than the renew deadline (%s) and the retry period (%s) together: "+
			"a leader that cannot renew keeps acting that long after its last renewal, and a standby takes over a lease duration after it",
			t.LeaseDuration, t.RenewDeadline, t.RetryPeriod))
	}
	return errors.Join(errs...)
}

// leaderElection sets mo's leader election from opts: the Lease LeaderElectionID in opts.Namespace,
// held under opts.LeaderElectionIdentity, with opts' timing, released when the manager stops. It
// returns the recorder of the Lease's Events, to connect to the manager once built (leaseEvents).
//
// controller-runtime names every process anew (its hostname and a random UUID), so a replica
// restarted after a crash finds the Lease held by its previous process under another name and
// waits it out (16–20 s with the default timing, #17). Under a stable identity, such as its pod's
// name, client-go's leader election (tryAcquireOrRenew) reads the Lease as its own and renews it at
// its first try. The identity must then be unique among the processes that may run at once: a
// pod's name is, as the kubelet restarts a container only after it exited; a host's name is not
// (two managers on one machine, or with hostNetwork on one Node), so without an identity every
// process gets a unique one, as controller-runtime gives.
func leaderElection(mo *ctrl.Options, cfg *rest.Config, opts Options) (*leaseEvents, error) {
	if !opts.LeaderElection {
		return nil, nil
	}
	timing := DefaultLeaderElectionTiming()
	if opts.LeaderElectionTiming != nil {
		timing = *opts.LeaderElectionTiming
	}
	if err := timing.Validate(); err != nil {
		return nil, fmt.Errorf("the leader election's timing is invalid: %w", err)
	}
	identity := opts.LeaderElectionIdentity
	if identity == "" {
		host, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("name this process for leader election: %w", err)
		}
		identity = host + "_" + string(uuid.NewUUID())
	}
	// As controller-runtime configures its own lock's client: a request that hangs must not use up
	// the renew deadline by itself.
	lockCfg := rest.AddUserAgent(rest.CopyConfig(cfg), "leader-election")
	lockCfg.Timeout = max(timing.RenewDeadline/2, time.Second)
	cs, err := kubernetes.NewForConfig(lockCfg)
	if err != nil {
		return nil, fmt.Errorf("create the leader election's client: %w", err)
	}
	events := &leaseEvents{}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, opts.Namespace, LeaderElectionID,
		cs.CoreV1(), cs.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: identity, EventRecorder: events})
	if err != nil {
		return nil, fmt.Errorf("create the leader election's Lease lock: %w", err)
	}
	mo.LeaderElection = true
	mo.LeaderElectionResourceLockInterface = lock
	mo.LeaderElectionID = LeaderElectionID
	mo.LeaderElectionNamespace = opts.Namespace
	mo.LeaseDuration = &timing.LeaseDuration
	mo.RenewDeadline = &timing.RenewDeadline
	mo.RetryPeriod = &timing.RetryPeriod
	// A new leader starts only after the old one has stopped: two managers never apply at once. And
	// a manager stopped by a signal hands over at once, whatever the lease duration.
	mo.LeaderElectionReleaseOnCancel = true
	return events, nil
}

// leaseEvents records the Lease's leader-election Events ("<identity> became leader") with the
// manager's recorder. The lock is built before the manager, which makes the recorder; the lock
// records nothing before the manager starts, and the recorder is set before it does.
type leaseEvents struct {
	recorder recorder.EventRecorder
}

// use sets the recorder; on a nil leaseEvents (no leader election) it does nothing.
func (e *leaseEvents) use(r recorder.EventRecorder) {
	if e != nil {
		e.recorder = r
	}
}

// Eventf implements resourcelock.EventRecorder with events.k8s.io Events, which the manager may
// create in every namespace.
func (e *leaseEvents) Eventf(obj runtime.Object, eventType, reason, message string, args ...any) {
	if e.recorder != nil {
		e.recorder.Eventf(obj, nil, eventType, reason, "LeaderElection", message, args...)
	}
}
