package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// DriftPolicy is what the agent does about innkeeper's files changed on the host after it applied
// them: hotelv1alpha1.DriftPolicyCorrect or DriftPolicyReport.
type DriftPolicy = hotelv1alpha1.DriftPolicy

// Drifted returns the host paths of the configuration's files that no longer hold what applying it
// writes (changed, removed, or, for a file the configuration removes, back), sorted: none once the
// host holds the configuration. It reads the host, never writes; an error says nothing either way.
func (a *Agent) Drifted(ctx context.Context) ([]string, error) {
	want, err := a.Target.Files(a.Config)
	if err != nil {
		return nil, err
	}
	if want, err = a.Target.Prepare(ctx, a.HostRoot, want); err != nil {
		return nil, err
	}
	stale, err := a.Target.Stale(a.HostRoot, want)
	if err != nil {
		return nil, err
	}
	var drifted []string
	for _, f := range append(want, stale...) {
		same, err := hasContent(a.hostPath(f.Path), f.Data)
		if err != nil {
			return nil, err
		}
		if !same {
			drifted = append(drifted, f.Path)
		}
	}
	slices.Sort(drifted)
	return drifted, nil
}

// checkDrift looks at the host once the configuration is applied and healthy: if its files drifted
// and the policy is to correct, it returns true, for Run to apply the configuration again (which
// writes them back, restarts the component if it reads them at start, and checks its health);
// with the policy to report, it records the drift on the Node (reason Drifted, state still
// Applied), and clears that record once the files hold the configuration again.
func (a *Agent) checkDrift(ctx context.Context) (reapply bool) {
	a.goal = a.Hash
	drifted, err := a.Drifted(ctx)
	if err != nil {
		var de *DegradedError
		if !errors.As(err, &de) && ctx.Err() == nil {
			a.Log.Error(err, "Cannot check the configuration's files for drift")
		}
		return false
	}
	report, err := a.Reporter.Read(ctx)
	if err != nil {
		a.Log.Error(err, "Cannot read the agent's state on the Node")
		return false
	}
	recorded := report.State == StateApplied && report.Reason == hotelv1alpha1.ReasonDrifted
	if len(drifted) == 0 {
		if recorded {
			report.Reason, report.Message = "", fmt.Sprintf("Configuration %s is applied and %s is healthy.", a.Hash, a.Target.Name())
			if err := a.Reporter.Write(ctx, report); err != nil {
				a.Log.Error(err, "Cannot clear the drift recorded on the Node")
			}
		}
		return false
	}
	files := strings.Join(drifted, ", ")
	if a.DriftPolicy != hotelv1alpha1.DriftPolicyReport {
		drifts.WithLabelValues(a.Target.Name(), "corrected").Inc()
		a.Log.Info("Files of the configuration changed on the host; putting them back", "files", drifted)
		a.event(ctx, corev1.EventTypeWarning, hotelv1alpha1.ReasonDrifted, EventActionCorrect, fmt.Sprintf(
			"%s: %s changed on the Node since configuration %s was applied; putting it back.", a.Target.Name(), files, a.Hash))
		return true
	}
	message := fmt.Sprintf("%s changed on the Node since configuration %s was applied; driftPolicy is Report, so it "+
		"is left so. The component runs what it last read.", files, a.Hash)
	if recorded && report.Message == message {
		return false
	}
	drifts.WithLabelValues(a.Target.Name(), "reported").Inc()
	a.Log.Info("Files of the configuration changed on the host; reporting it", "files", drifted)
	report.Reason, report.Message = hotelv1alpha1.ReasonDrifted, message
	if err := a.Reporter.Write(ctx, report); err != nil {
		a.Log.Error(err, "Cannot record the drift on the Node")
		return false
	}
	a.event(ctx, corev1.EventTypeWarning, hotelv1alpha1.ReasonDrifted, EventActionReport,
		fmt.Sprintf("%s: %s", a.Target.Name(), message))
	return false
}
