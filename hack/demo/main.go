// Command demo shows innkeeper at work on a local cluster with fake nodes (make demo): it starts the
// cluster, installs innkeeper with its Helm chart (the manager running as a process of this machine
// with the chart's ServiceAccount, since kwok Nodes run no containers), applies config/samples with kubectl, and prints the objects' status
// until every one is Ready. With DEMO_WAIT=1 it keeps the cluster running until Ctrl-C, so that you
// can try kubectl against it.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/manager"
	"github.com/innkeeper-dev/innkeeper/test/localcluster"
)

// readyTimeout bounds how long the demo waits for every sample to be Ready.
const readyTimeout = 3 * time.Minute

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	// The manager runs in this process: only its errors, so that the status table stays readable.
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	klog.SetLogger(ctrl.Log)
	binDir := os.Getenv("LOCALCLUSTER_BIN")
	if binDir == "" {
		return fmt.Errorf("LOCALCLUSTER_BIN is not set: run make demo")
	}
	root, err := repoRoot()
	if err != nil {
		return err
	}
	start := time.Now()
	cluster, err := localcluster.Start(ctx, localcluster.Options{BinDir: binDir, Pools: localcluster.DefaultPools(), Log: out})
	if err != nil {
		return err
	}
	defer cluster.Stop()
	ik, err := cluster.InstallChart(ctx, root)
	if err != nil {
		return err
	}
	defer ik.Stop()
	fmt.Fprintf(out, "demo: cluster and innkeeper up in %s; applying config/samples with kubectl\n\n", time.Since(start).Round(time.Millisecond))
	b, err := cluster.KubectlOutput(ctx, "apply", "-k", filepath.Join(root, "config", "samples"))
	if err != nil {
		return fmt.Errorf("kubectl apply -k config/samples: %w: %s", err, b)
	}
	fmt.Fprintf(out, "%s\n", b)

	c, err := client.New(cluster.Config, client.Options{Scheme: manager.Scheme()})
	if err != nil {
		return err
	}
	if err := watchUntilReady(ctx, c, out); err != nil {
		return err
	}
	fmt.Fprintf(out, "\ndemo: every sample is Ready, %s after start.\n", time.Since(start).Round(time.Second))
	if os.Getenv("DEMO_WAIT") != "1" {
		return nil
	}
	fmt.Fprintf(out, "demo: the cluster keeps running; in another shell:\n"+
		"  export KUBECONFIG=%s\n  %s get innkeeper\n  %s get pods -n %s -o wide\n"+
		"Press Ctrl-C to stop it.\n", cluster.Kubeconfig, cluster.Kubectl, cluster.Kubectl, localcluster.Namespace)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(5 * time.Second):
			if err := printTable(ctx, c, io.Discard); err != nil {
				return err
			}
		}
	}
}

// watchUntilReady prints the status table whenever it changes, until every object is Ready.
func watchUntilReady(ctx context.Context, c client.Client, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	last := ""
	for {
		var b strings.Builder
		allReady, err := table(ctx, c, &b)
		if err != nil && ctx.Err() == nil {
			return err
		}
		if b.String() != last {
			fmt.Fprintf(out, "%s\n%s\n", time.Now().Format("15:04:05.000"), b.String())
			last = b.String()
		}
		if allReady {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not every sample was Ready within %s", readyTimeout)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func printTable(ctx context.Context, c client.Client, out io.Writer) error {
	_, err := table(ctx, c, out)
	return err
}

// row is one innkeeper object in the status table.
type row struct {
	kind, name string
	status     *hotelv1alpha1.PoolStatus
}

// rows lists every innkeeper object, kind by kind.
func rows(ctx context.Context, c client.Client) ([]row, error) {
	fms := &hotelv1alpha1.FloorManagerList{}
	cgs := &hotelv1alpha1.ConciergeList{}
	rss := &hotelv1alpha1.RoomServiceList{}
	for _, list := range []client.ObjectList{fms, cgs, rss} {
		if err := c.List(ctx, list); err != nil {
			return nil, err
		}
	}
	var out []row
	for i := range fms.Items {
		out = append(out, row{"FloorManager", fms.Items[i].Name, fms.Items[i].PoolStatus()})
	}
	for i := range cgs.Items {
		out = append(out, row{"Concierge", cgs.Items[i].Name, cgs.Items[i].PoolStatus()})
	}
	for i := range rss.Items {
		out = append(out, row{"RoomService", rss.Items[i].Name, rss.Items[i].PoolStatus()})
	}
	return out, nil
}

// table writes every innkeeper object's status as a table and reports whether all are Ready.
func table(ctx context.Context, c client.Client, out io.Writer) (bool, error) {
	objs, err := rows(ctx, c)
	if err != nil {
		return false, err
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "KIND\tNAME\tREADY\tSELECTED\tUPDATED\tREADY NODES\tDEGRADED\tCONFIG\tWHY")
	allReady := len(objs) > 0
	for _, o := range objs {
		st := o.status
		ready, why := "-", "waiting for the first status"
		if cond := meta.FindStatusCondition(st.Conditions, hotelv1alpha1.ConditionReady); cond != nil {
			ready, why = string(cond.Status), cond.Reason
		}
		allReady = allReady && ready == "True"
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n", o.kind, o.name, ready,
			st.Nodes.Selected, st.Nodes.Updated, st.Nodes.Ready, st.Nodes.Degraded, st.ConfigHash, why)
	}
	return allReady, w.Flush()
}

// repoRoot finds the repository root: the nearest directory above the working directory with a go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}
