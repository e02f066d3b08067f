// Package agent is innkeeper's node agent (`innkeeper agent`). It runs in a component's DaemonSet
// pod on each Node of a pool and applies the configuration that pod was created with: it validates
// it, writes the component's drop-in atomically with a backup of what was there, restarts the
// component's systemd unit, waits for it to be healthy, restores the backup if it is not, and
// records the outcome on its Node. Its pod turns Ready only once the configuration is applied and
// healthy, which is what paces the DaemonSet's rollout.
//
// Every host interaction sits behind an interface (Target, Restarter, Reporter), so that the logic
// is tested against a temporary directory and fakes. The agent is level-based: each run starts
// from what the host's files and the Node's annotations say, so a restart mid-apply resumes.
package agent

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// Agent states recorded on the Node, as hotel.innkeeper.dev/<component>-state.
const (
	StateApplying = hotelv1alpha1.AgentStateApplying
	StateApplied  = hotelv1alpha1.AgentStateApplied
	StateDegraded = hotelv1alpha1.AgentStateDegraded
	StateDraining = hotelv1alpha1.AgentStateDraining
	StateReverted = hotelv1alpha1.AgentStateReverted
)

// failedOnTheNode tells whether a Degraded reason recorded on the Node means that the component ran
// the configuration (or was restarted for it) and was unhealthy: such a configuration is never
// applied on that Node again, whatever restarts the agent. Any other Degraded outcome (a
// configuration refused before anything was written, an unhealthy component whose files were
// already right, a write that failed and was undone) is checked again by a new agent pod.
func failedOnTheNode(reason string) bool {
	return reason == hotelv1alpha1.ReasonHealthCheckFailed || reason == hotelv1alpha1.ReasonRestartFailed
}

// Target is one node component as the agent manages it on the host.
type Target interface {
	// Name is the component's name, such as "kubelet".
	Name() string
	// Unit is the component's systemd unit, such as kubelet.service.
	Unit() string
	// Files checks a configuration (its ConfigMap's files, by key) before it touches the host, and
	// returns the host files it consists of, in the order they must be written.
	Files(config map[string][]byte) ([]File, error)
	// Stale returns, as files to remove (Data nil), the files under hostRoot that the agent wrote
	// for an earlier configuration and that want no longer holds, and those an interrupted run
	// removed but still holds a backup of.
	Stale(hostRoot string, want []File) ([]File, error)
	// Revert returns, as files to remove (Data nil), every file under hostRoot that the agent may
	// have written for any configuration, in the order to remove them: what reverting the Node
	// removes. Like Prepare, it reads the host and the component (what their health must be after a
	// restart), never writes; an error is transient.
	Revert(ctx context.Context, hostRoot string) ([]File, error)
	// Prepare checks that the component on this host reads the files and must be given them, and
	// returns them as this host needs them: a *DegradedError when it would not read them (for a
	// kubelet, one not run with --config-dir) or they would break it; any other error is
	// transient. It reads the host (under hostRoot), never writes.
	Prepare(ctx context.Context, hostRoot string, files []File) ([]File, error)
	// Healthy returns nil once the component is healthy after a restart at since (zero: no restart).
	Healthy(ctx context.Context, since time.Time) error
}

// Disruptive is a Target some of whose changes need the Node drained before the component restarts
// (the kubelet's CPU manager policy, its reservations): see spec.rollout.drain.
type Disruptive interface {
	// Disruption returns the fields whose change from the host's files to changed (agent paths, as
	// plan found them) needs the Node drained, nil for none.
	Disruption(changed []File) ([]string, error)
}

// RestartPreparer is a Target that must tidy the host before each restart of its component, such
// as the kubelet's checkpoint of a CPU manager policy it no longer runs.
type RestartPreparer interface {
	// BeforeRestart makes the host ready for the component to start on the files now there.
	BeforeRestart(ctx context.Context, hostRoot string) error
}

// File is one file of a configuration on the host.
type File struct {
	// Path is the file's path on the host, such as /etc/kubernetes/kubelet.conf.d/50-innkeeper.conf.
	Path string
	// Data is the file's content; nil for a file that must not exist.
	Data []byte
	// Restart says that the component reads the file only when it starts: a change restarts it.
	Restart bool
	// OwnDir says that the file's directory exists for the configuration's files alone (a registry
	// host's directory): the agent removes it once it holds nothing.
	OwnDir bool
}

// Restarter restarts a systemd unit and returns once the restart job has finished.
type Restarter interface {
	RestartUnit(ctx context.Context, unit string) error
}

// Reporter reads and records the agent's state on its Node.
type Reporter interface {
	// Read returns the component's state annotations on the Node.
	Read(ctx context.Context) (Report, error)
	// Write records a state on the Node.
	Write(ctx context.Context, r Report) error
}

// Report is the agent's state on its Node.
type Report struct {
	// Config is the hash of the configuration last applied successfully.
	Config string
	// State is Applying, Applied or Degraded.
	State string
	// Reason is why the state is Degraded.
	Reason string
	// Message tells a human what happened.
	Message string
	// Target is the hash being applied (with Applying) or that failed (with Degraded).
	Target string
	// Drained is the hash of the configuration for which the manager drained the Node
	// (hotelv1alpha1.DrainedAnnotation): the agent reads it, never writes it.
	Drained string
}

// DegradedError is a failure to report on the Node as Degraded with a reason.
type DegradedError struct {
	Reason  string
	Message string
	// Recheck says that nothing was written and the configuration was not found at fault (the Node
	// does not read it as it is, or the component is unhealthy anyway): the agent checks again
	// (see Run), and applies the configuration once the Node is fixed.
	Recheck bool
}

func (e *DegradedError) Error() string { return e.Reason + ": " + e.Message }

// same tells whether the outcome is the one recorded as reason and message. An Unhealthy
// component's error changes at every check (a kubelet's "PLEG was last seen active 3m5.1s ago"),
// so for it the reason alone counts.
func (e *DegradedError) same(reason, message string) bool {
	return e.Reason == reason && (e.Message == message || e.Reason == hotelv1alpha1.ReasonUnhealthy)
}

// InconclusiveError is a health check that could not decide, such as the API server being
// unreachable: the wait for health goes on past its timeout rather than roll back a configuration
// that may be fine.
type InconclusiveError struct{ Err error }

func (e *InconclusiveError) Error() string { return e.Err.Error() + " (inconclusive)" }

func (e *InconclusiveError) Unwrap() error { return e.Err }

// maxInconclusiveWait bounds how long inconclusive health checks extend the wait for health.
const maxInconclusiveWait = 10 * time.Minute

// defaultRecheckInterval is how soon a configuration the Node refused is checked again; the
// interval grows to maxRecheckFactor times it while the outcome stays the same.
const (
	defaultRecheckInterval = time.Minute
	maxRecheckFactor       = 5
)

// recheckDelay is the wait before the next check after n checks in a row with the same outcome:
// base, doubling, at most maxRecheckFactor times base. A Node left refusing costs its agent a
// Node read every few minutes, not every minute, however long it lasts.
func recheckDelay(base time.Duration, n int) time.Duration {
	d := base
	for range n {
		d *= 2
		if d >= maxRecheckFactor*base {
			return maxRecheckFactor * base
		}
	}
	return d
}

// Agent applies one configuration of one component on its Node.
type Agent struct {
	Target    Target
	Restarter Restarter
	Reporter  Reporter
	// HostRoot is where the host's root filesystem is mounted in the agent's pod ("/host").
	HostRoot string
	// Config is the rendered configuration, its ConfigMap's files by key, and Hash the hash it was
	// rendered under.
	Config map[string][]byte
	Hash   string
	// HealthTimeout bounds the wait for the component to become healthy after a restart.
	HealthTimeout time.Duration
	// HealthInterval is how often health is polled while waiting.
	HealthInterval time.Duration
	// RecheckInterval is how soon a configuration the Node refused (a *DegradedError with
	// Recheck) is checked again, growing to 5 times it while nothing changes; default one minute.
	RecheckInterval time.Duration
	// Events, if not nil, records on the Node each configuration applied and each failure, with
	// its rollback.
	Events Events
	// Goals, if not nil, tells Run what the Node asks: apply the configuration, or revert the Node.
	// Nil: apply.
	Goals Goals
	// DriftInterval is how often, once the configuration is applied, Run checks that the host's
	// files still hold it (see checkDrift); zero: never. DriftPolicy says what it does if not.
	DriftInterval time.Duration
	DriftPolicy   DriftPolicy
	// Drain: a change the Target says needs a drain (Disruptive) waits, recorded as Draining, until
	// the manager has drained the Node for it (Report.Drained); false: it restarts the component
	// under the Node's pods, as any other change.
	Drain bool
	Log   logr.Logger

	mu    sync.Mutex
	ready bool
	// goal is what the Apply or Revert in progress brings the host to, as the Node's target
	// records it: Hash, or hotelv1alpha1.AgentTargetRevert.
	goal string
	// correcting: the Apply in progress puts back files changed on the host (see checkDrift), which
	// are no healthy state to back up.
	correcting bool
	// failed holds, by goal, the outcome of an Apply or Revert that failed after it wrote or
	// restarted something: later calls only record it again, so that a failure to record Degraded
	// never makes the agent apply (or revert) twice what failed.
	failed map[string]*DegradedError
}

// Ready reports whether the agent's configuration is applied and healthy: its pod's readiness.
func (a *Agent) Ready() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ready
}

func (a *Agent) setReady(ready bool) {
	a.mu.Lock()
	a.ready = ready
	a.mu.Unlock()
}

// hostPath returns the agent's path for a host path.
func (a *Agent) hostPath(p string) string {
	return filepath.Join(a.HostRoot, p)
}

// Apply brings the host to the agent's configuration, once. It returns nil when the configuration
// is applied and healthy, a *DegradedError when it failed and was reported (and, if written,
// rolled back), and any other error when it was interrupted or could not report; running Apply
// again resumes from what the host and the Node say.
func (a *Agent) Apply(ctx context.Context) error {
	a.setReady(false)
	a.goal = a.Hash
	log := a.Log.WithValues("component", a.Target.Name(), "configHash", a.Hash)

	report, err := a.start(ctx)
	if err != nil {
		return err
	}
	want, err := a.Target.Files(a.Config)
	if err != nil {
		return a.degrade(ctx, report, hotelv1alpha1.ReasonInvalidConfig, fmt.Sprintf(
			"configuration %s is invalid and was not applied: %v", a.Hash, err))
	}
	if want, err = a.Target.Prepare(ctx, a.HostRoot, want); err != nil {
		var de *DegradedError
		if errors.As(err, &de) {
			return a.refuse(ctx, report, de.Reason, de.Message)
		}
		return fmt.Errorf("check that %s reads the configuration: %w", a.Target.Name(), err)
	}
	stale, err := a.Target.Stale(a.HostRoot, want)
	if err != nil {
		return fmt.Errorf("find the files of earlier configurations: %w", err)
	}
	c, err := a.plan(append(want, stale...), report)
	if err != nil {
		return err
	}

	if len(c.changed) == 0 && !c.resuming {
		// Identical content: nothing to write and nothing to restart, but the component must be
		// healthy for the Node to count as updated. If it is not, this configuration did not make
		// it so: nothing to roll back, and the agent checks again, once per check after the first.
		check := a.pollHealthy
		if report.State == StateDegraded && report.Target == a.Hash && report.Reason == hotelv1alpha1.ReasonUnhealthy {
			check = a.Target.Healthy
		}
		if err := check(ctx, time.Time{}); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return a.refuse(ctx, report, hotelv1alpha1.ReasonUnhealthy, fmt.Sprintf(
				"%s is not healthy: %v. Its files already hold configuration %s, so nothing was changed; checking again",
				a.Target.Name(), err, a.Hash))
		}
		return a.succeed(ctx, log, report, c)
	}
	return a.carryOut(ctx, log, report, c)
}

// carryOut makes change c on the host for a.goal: writes (or removes) the files that differ,
// restarts the component if one of them is read only at start (or an interrupted run may have
// restarted it), and waits for it to be healthy, rolling back if it is not.
func (a *Agent) carryOut(ctx context.Context, log logr.Logger, report Report, c change) error {
	if err := a.awaitDrain(ctx, log, report, c); err != nil {
		return err
	}
	if len(c.changed) > 0 {
		if err := a.write(ctx, log, &report, c); err != nil {
			return err // rolled back and reported, or interrupted
		}
	}
	if !c.restart {
		// What changed is read without a restart (registry hosts files): the component only has to
		// stay healthy.
		return a.waitHealthy(ctx, log, report, c, time.Time{})
	}
	restarted := time.Now()
	if err := a.restart(ctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return a.rollBack(ctx, log, report, c, hotelv1alpha1.ReasonRestartFailed, fmt.Sprintf(
			"restarting %s with %s failed: %v", a.Target.Unit(), a.describe(), err))
	}
	return a.waitHealthy(ctx, log, report, c, restarted)
}

// restart restarts the component, once the Target has made the host ready for it.
func (a *Agent) restart(ctx context.Context) error {
	if p, ok := a.Target.(RestartPreparer); ok {
		if err := p.BeforeRestart(ctx, a.HostRoot); err != nil {
			return fmt.Errorf("prepare the host for the restart: %w", err)
		}
	}
	return a.Restarter.RestartUnit(ctx, a.Target.Unit())
}

// DrainWaitError is an Apply that waits for the manager to drain the Node: nothing was written.
type DrainWaitError struct {
	// Fields are those whose change needs the drain.
	Fields []string
}

func (e *DrainWaitError) Error() string {
	return "waiting for the Node to be drained: the change of " + strings.Join(e.Fields, ", ") + " needs it"
}

// awaitDrain returns a *DrainWaitError, once the Node records Draining, when change c restarts a
// Disruptive component for fields that need a drain and the manager has not drained the Node for
// a.goal yet; nil when the change may go on. A revert does not wait: it gives the Node back what it
// ran before innkeeper, and a Node that leaves a pool is no longer the rollout's to drain. Nor does
// putting back files changed by hand (see checkDrift): the component still runs what they held,
// and restarts on the same; a drain there would be unpaced, as many Nodes may drift at once.
func (a *Agent) awaitDrain(ctx context.Context, log logr.Logger, report Report, c change) error {
	d, ok := a.Target.(Disruptive)
	if !a.Drain || !ok || a.correcting || !c.restart || len(c.changed) == 0 || a.goal != a.Hash || report.Drained == a.goal {
		return nil
	}
	fields, err := d.Disruption(c.changed)
	if err != nil {
		return fmt.Errorf("tell whether the change needs a drain: %w", err)
	}
	if len(fields) == 0 {
		return nil
	}
	wait := &DrainWaitError{Fields: fields}
	if report.State != StateDraining || report.Target != a.goal {
		log.Info("Waiting for the manager to drain the Node", "fields", fields)
		recordState(a.Target.Name(), StateDraining)
		report.State, report.Target, report.Reason = StateDraining, a.goal, ""
		report.Message = fmt.Sprintf("configuration %s changes %s, which needs the Node drained first: waiting for the manager "+
			"to cordon and drain it; nothing was written yet", a.goal, strings.Join(fields, ", "))
		if err := a.Reporter.Write(ctx, report); err != nil {
			return fmt.Errorf("record %s on the Node: %w", StateDraining, err)
		}
	}
	return wait
}

// start reads the agent's state on the Node for an Apply or Revert of a.goal and returns it, or the
// failure to return instead: the one this pod already met, or one the Node records (before the
// agent restarted, or the Node rebooted) that applying (or reverting) again would only repeat,
// taking the component down again. A new configuration comes with a new pod.
func (a *Agent) start(ctx context.Context) (Report, error) {
	report, err := a.Reporter.Read(ctx)
	if err != nil {
		return report, fmt.Errorf("read the agent's state on the Node: %w", err)
	}
	recordState(a.Target.Name(), report.State)
	if de := a.failed[a.goal]; de != nil {
		return report, a.degrade(ctx, report, de.Reason, de.Message)
	}
	if report.State == StateDegraded && report.Target == a.goal && failedOnTheNode(report.Reason) {
		a.setFailed(&DegradedError{Reason: report.Reason, Message: report.Message})
		return report, a.failed[a.goal]
	}
	return report, nil
}

func (a *Agent) setFailed(de *DegradedError) {
	if a.failed == nil {
		a.failed = map[string]*DegradedError{}
	}
	a.failed[a.goal] = de
}

// Revert takes innkeeper's configuration off the host: it removes every file the agent may have
// written for the component (see Target.Revert), restarts the component only if it removed one the
// component reads at start, and waits for it to be healthy. It then removes the component's
// annotations from the Node, which tells the manager that the Node is reverted. If the component
// is not healthy in time, the files are put back, the component restarted on them, and the Node
// reports Degraded with target AgentTargetRevert. Like Apply, it returns nil once done, a
// *DegradedError when it failed and was reported, and any other error when it was interrupted or
// could not report; running it again resumes.
func (a *Agent) Revert(ctx context.Context) error {
	a.setReady(false)
	a.goal = hotelv1alpha1.AgentTargetRevert
	log := a.Log.WithValues("component", a.Target.Name(), "revert", true)

	report, err := a.start(ctx)
	if err != nil {
		return err
	}
	files, err := a.Target.Revert(ctx, a.HostRoot)
	if err != nil {
		return fmt.Errorf("find innkeeper's files of %s: %w", a.Target.Name(), err)
	}
	c, err := a.plan(files, report)
	if err != nil {
		return err
	}
	if len(c.changed) == 0 && !c.resuming {
		// Nothing of innkeeper's on the host: nothing to restart or check.
		return a.reverted(ctx, log, report, c)
	}
	return a.carryOut(ctx, log, report, c)
}

// reverted finishes a Revert: the component is healthy without innkeeper's files, whose backups go
// too, and the Node records it (state Reverted; the manager removes the record with the label).
func (a *Agent) reverted(ctx context.Context, log logr.Logger, current Report, c change) error {
	a.tidy(log, c)
	result := "unchanged"
	if len(c.changed) > 0 || c.resuming {
		result = "reverted"
	}
	applies.WithLabelValues(a.Target.Name(), result).Inc()
	recordState(a.Target.Name(), "")
	done := Report{State: StateReverted, Target: hotelv1alpha1.AgentTargetRevert, Message: fmt.Sprintf(
		"innkeeper's configuration is off the Node; %s runs the Node's own and is healthy.", a.Target.Name())}
	if current != done {
		if err := a.Reporter.Write(ctx, done); err != nil {
			return fmt.Errorf("record Reverted on the Node: %w", err)
		}
		log.Info("Configuration reverted")
		a.event(ctx, corev1.EventTypeNormal, EventReasonReverted, EventActionRevert, fmt.Sprintf(
			"%s: removed innkeeper's configuration; %s runs the Node's own configuration and is healthy.",
			a.Target.Name(), a.Target.Name()))
	}
	a.setReady(true)
	return nil
}

// describe names what a.goal brings the host to, for messages.
func (a *Agent) describe() string {
	if a.goal == hotelv1alpha1.AgentTargetRevert {
		return "the Node's own configuration (innkeeper's removed)"
	}
	return "configuration " + a.goal
}

// finish completes an Apply or Revert whose change is healthy.
func (a *Agent) finish(ctx context.Context, log logr.Logger, report Report, c change) error {
	if a.goal == hotelv1alpha1.AgentTargetRevert {
		return a.reverted(ctx, log, report, c)
	}
	return a.succeed(ctx, log, report, c)
}

// change is what one Apply does to the host's files.
type change struct {
	// files are every file the configuration touches (to write or to remove), as agent paths.
	files []File
	// changed are the files whose content differs from the configuration's.
	changed []File
	// resuming: the files are already the configuration's, but a previous run recorded Applying
	// and never saw the component healthy with them.
	resuming bool
	// restart: the change needs the component restarted.
	restart bool
	// mayRunUnverified: an interrupted run may have restarted the component on files read at
	// start that differ from the last healthy state.
	mayRunUnverified bool
}

// plan compares the host's files with the configuration's.
func (a *Agent) plan(files []File, report Report) (change, error) {
	c := change{}
	dirs := map[string]bool{}
	for _, f := range files {
		f.Path = a.hostPath(f.Path)
		c.files = append(c.files, f)
		if dir := filepath.Dir(f.Path); !dirs[dir] {
			dirs[dir] = true
			if err := removeTempFiles(dir); err != nil {
				return c, err
			}
		}
		same, err := hasContent(f.Path, f.Data)
		if err != nil {
			return c, fmt.Errorf("read %s: %w", f.Path, err)
		}
		if !same {
			c.changed = append(c.changed, f)
			c.restart = c.restart || f.Restart
		}
	}
	// An interrupted run of this configuration may have written a file read at start, and even
	// restarted the component, before it stopped: it must be restarted if such a file differs from
	// the last healthy state, whatever else is left to change.
	interrupted := report.State == StateApplying && report.Target == a.goal
	c.resuming = len(c.changed) == 0 && interrupted
	if interrupted {
		for _, f := range c.files {
			current, _, err := readFile(f.Path)
			if err != nil {
				return c, fmt.Errorf("read %s: %w", f.Path, err)
			}
			if f.Restart && !backupHolds(f.Path, current) {
				c.mayRunUnverified = true
			}
			if f.Restart && !backupHolds(f.Path, f.Data) {
				c.restart = true
			}
		}
		c.restart = c.restart || c.mayRunUnverified
	}
	return c, nil
}

// write backs up the files about to change, records Applying, and writes them.
func (a *Agent) write(ctx context.Context, log logr.Logger, report *Report, c change) error {
	// Back up only a state known to be healthy: what an Applied Node runs, all of it, so that the
	// backups are one consistent state. After an interrupted apply, or a failed restore, the files
	// hold an unverified configuration, and the backups taken before it are still the ones to
	// restore.
	for _, f := range c.files {
		if (report.State == StateApplied && !a.correcting) || !hasBackup(f.Path) {
			if err := saveBackup(f.Path); err != nil {
				return a.degrade(ctx, *report, hotelv1alpha1.ReasonAgentApplyFailed, fmt.Sprintf("could not back up %s: %v", f.Path, err))
			}
		}
	}
	report.State, report.Target, report.Reason, report.Message = StateApplying, a.goal, "",
		fmt.Sprintf("Applying %s.", a.describe())
	if err := a.Reporter.Write(ctx, *report); err != nil {
		return fmt.Errorf("record Applying on the Node: %w", err)
	}
	recordState(a.Target.Name(), StateApplying)
	for _, f := range c.changed {
		if err := writeHostFile(f.Path, f.Data); err != nil {
			// The files written so far take effect (a registry's hosts.toml at the next pull): put
			// every file back as it was. The component read none of those it reads at start, unless
			// an interrupted run restarted it on them.
			c.restart = c.mayRunUnverified
			return a.rollBack(ctx, log, *report, c, hotelv1alpha1.ReasonAgentApplyFailed, fmt.Sprintf("could not write %s: %v", f.Path, err))
		}
		log.Info("Wrote the configuration", "path", f.Path, "removed", f.Data == nil)
	}
	return nil
}

// waitHealthy waits for the component to be healthy after a change (and a restart at since; zero:
// none). If it does not become healthy in time, the backups are restored.
func (a *Agent) waitHealthy(ctx context.Context, log logr.Logger, report Report, c change, since time.Time) error {
	start := since
	if start.IsZero() {
		start = time.Now()
	}
	err := a.pollHealthy(ctx, since)
	if ctx.Err() == nil {
		observeHealthCheck(a.Target.Name(), start, err == nil)
	}
	if err == nil {
		return a.finish(ctx, log, report, c)
	}
	if ctx.Err() != nil {
		return ctx.Err() // interrupted: leave the state as it is; the next run resumes
	}
	message := fmt.Sprintf("%s did not become healthy within %s with %s: %v",
		a.Target.Name(), a.HealthTimeout, a.describe(), err)
	return a.rollBack(ctx, log, report, c, hotelv1alpha1.ReasonHealthCheckFailed, message)
}

func (a *Agent) pollHealthy(ctx context.Context, since time.Time) error {
	interval := a.HealthInterval
	if interval <= 0 {
		interval = 2 * time.Second
	}
	deadline := time.Now().Add(a.HealthTimeout)
	hardDeadline := deadline.Add(maxInconclusiveWait)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	var last error
	for {
		checkCtx, cancel := context.WithDeadline(ctx, hardDeadline)
		err := a.Target.Healthy(checkCtx, since)
		cancel()
		if err == nil {
			return nil
		}
		var inconclusive *InconclusiveError
		conclusive := !errors.As(err, &inconclusive)
		// A check cut short by ctx says less than the one before it.
		if last == nil || ctx.Err() == nil {
			last = err
		}
		now := time.Now()
		if (conclusive && now.After(deadline)) || now.After(hardDeadline) {
			return last
		}
		select {
		case <-ctx.Done():
			return last
		case <-ticker.C:
		}
	}
}

// rollBack restores the backups, restarts the component on them if the change had restarted it,
// and reports Degraded.
func (a *Agent) rollBack(ctx context.Context, log logr.Logger, report Report, c change, reason, message string) error {
	log.Info("Rolling back", "reason", reason, "message", message)
	// In the reverse order of writing: a hosts.toml goes back before the CA file it names.
	for _, f := range slices.Backward(c.files) {
		if err := restoreBackup(f.Path); err != nil {
			return a.rolledBack(ctx, report, reason, message+fmt.Sprintf("; restoring the previous configuration failed too: %v", err))
		}
	}
	a.tidy(log, c)
	if !c.restart {
		return a.rolledBack(ctx, report, reason, message+"; restored the previous configuration")
	}
	restarted := time.Now()
	if err := a.restart(ctx); err != nil {
		return a.rolledBack(ctx, report, reason, message+fmt.Sprintf(
			"; restored the previous configuration, but restarting %s on it failed: %v", a.Target.Unit(), err))
	}
	if err := a.pollHealthy(ctx, restarted); err != nil {
		return a.rolledBack(ctx, report, reason, message+fmt.Sprintf(
			"; restored the previous configuration, but %s is not healthy on it either: %v", a.Target.Name(), err))
	}
	return a.rolledBack(ctx, report, reason, message+"; restored the previous configuration")
}

func (a *Agent) succeed(ctx context.Context, log logr.Logger, current Report, c change) error {
	a.tidy(log, c)
	// What runs now is healthy: it is what a later failure must go back to, even if a
	// configuration that failed before writing anything comes in between.
	for _, f := range c.files {
		if f.Data != nil && !backupHolds(f.Path, f.Data) {
			if err := saveBackup(f.Path); err != nil {
				return fmt.Errorf("back up the healthy configuration: %w", err)
			}
		}
	}
	result := "unchanged"
	if len(c.changed) > 0 || c.resuming {
		result = "applied"
	}
	applies.WithLabelValues(a.Target.Name(), result).Inc()
	recordState(a.Target.Name(), StateApplied)
	// Already recorded: a restarted agent on an unchanged Node writes nothing.
	if current.State != StateApplied || current.Config != a.Hash || current.Target != a.Hash {
		report := Report{Config: a.Hash, State: StateApplied, Target: a.Hash,
			Message: fmt.Sprintf("Configuration %s is applied and %s is healthy.", a.Hash, a.Target.Name())}
		if err := a.Reporter.Write(ctx, report); err != nil {
			return fmt.Errorf("record Applied on the Node: %w", err)
		}
		log.Info("Configuration applied and healthy")
		a.event(ctx, corev1.EventTypeNormal, EventReasonApplied, EventActionApply, report.Message)
	}
	a.setReady(true)
	return nil
}

// tidy removes what is left of the files that the configuration removed (their backups) and the
// directories they alone held, so that nothing of a removed registry host stays on the Node.
func (a *Agent) tidy(log logr.Logger, c change) {
	for _, f := range c.files {
		if exists, err := fileExists(f.Path); err != nil || exists {
			continue
		}
		if err := dropBackup(f.Path); err != nil {
			log.Error(err, "Could not remove the backup of a removed file", "path", f.Path)
		}
		if f.OwnDir {
			removeDirIfEmpty(filepath.Dir(f.Path))
		}
	}
}

// degrade reports Degraded on the Node: the configuration failed, and this pod does not try it
// again. The applied configuration (report.Config) stays what it was: a failed configuration is
// never recorded as applied.
func (a *Agent) degrade(ctx context.Context, report Report, reason, message string) error {
	a.setFailed(&DegradedError{Reason: reason, Message: message})
	return a.record(ctx, report, a.failed[a.goal], a.action())
}

// action is the Event action of what the agent does: apply or revert.
func (a *Agent) action() string {
	if a.goal == hotelv1alpha1.AgentTargetRevert {
		return EventActionRevert
	}
	return EventActionApply
}

// rolledBack is degrade for a configuration that was rolled back.
func (a *Agent) rolledBack(ctx context.Context, report Report, reason, message string) error {
	rollbacks.WithLabelValues(a.Target.Name(), reason).Inc()
	a.setFailed(&DegradedError{Reason: reason, Message: message})
	return a.record(ctx, report, a.failed[a.goal], EventActionRollBack)
}

// refuse reports Degraded on the Node for a configuration that was not applied, with nothing
// written: the agent checks again (Recheck).
func (a *Agent) refuse(ctx context.Context, report Report, reason, message string) error {
	return a.record(ctx, report, &DegradedError{Reason: reason, Message: message, Recheck: true}, EventActionCheck)
}

// record writes a Degraded outcome on the Node, unless the Node already records it (a refusal
// checked again writes nothing; an Unhealthy component keeps its first error), and returns it.
// What it writes is also a Warning Event on the Node, for action.
func (a *Agent) record(ctx context.Context, report Report, de *DegradedError, action string) error {
	if report.State == StateDegraded && report.Target == a.goal && de.same(report.Reason, report.Message) {
		return de
	}
	report.State, report.Target, report.Reason, report.Message = StateDegraded, a.goal, de.Reason, de.Message
	if err := a.Reporter.Write(ctx, report); err != nil {
		return fmt.Errorf("record Degraded (%s: %s) on the Node: %w", de.Reason, de.Message, err)
	}
	applies.WithLabelValues(a.Target.Name(), "degraded").Inc()
	recordState(a.Target.Name(), StateDegraded)
	a.event(ctx, corev1.EventTypeWarning, de.Reason, action, fmt.Sprintf("%s: %s", a.Target.Name(), de.Message))
	return de
}

// event records an Event on the Node, if the agent has Events.
func (a *Agent) event(ctx context.Context, eventType, reason, action, note string) {
	if a.Events != nil {
		a.Events.Event(ctx, eventType, reason, action, note)
	}
}
