package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

func TestAChangeThatNeedsADrainWaitsForTheManager(t *testing.T) {
	g := NewWithT(t)
	h := newFakeHost(t)
	h.install(oldConfig, "old") // maxPods 110
	a := h.agent(newConfig, "new")
	a.Drain = true // maxPods 80: fewer pods fit, so the Node is drained first

	var wait *DrainWaitError
	for range 2 {
		err := a.Apply(context.Background())
		g.Expect(errors.As(err, &wait)).To(BeTrue(), "%v", err)
		g.Expect(wait.Fields).To(Equal([]string{"maxPods"}))
	}
	g.Expect(h.fileContent()).To(Equal(oldConfig), "nothing is written before the drain")
	g.Expect(h.restarts.Load()).To(BeZero())
	g.Expect(a.Ready()).To(BeFalse())
	g.Expect(h.writes).To(HaveLen(1), "Draining is recorded once")
	r := h.report()
	g.Expect(r.State).To(Equal(StateDraining))
	g.Expect(r.Target).To(Equal("new"))
	g.Expect(r.Config).To(Equal("old"))
	g.Expect(r.Message).To(ContainSubstring("changes maxPods, which needs the Node drained first"))

	// Drained for another configuration: it still waits.
	h.mu.Lock()
	h.annotations[hotelv1alpha1.DrainedAnnotation("kubelet")] = "older"
	h.mu.Unlock()
	g.Expect(errors.As(a.Apply(context.Background()), &wait)).To(BeTrue())

	// Drained for this one: applied.
	h.mu.Lock()
	h.annotations[hotelv1alpha1.DrainedAnnotation("kubelet")] = "new"
	h.mu.Unlock()
	g.Expect(a.Apply(context.Background())).To(Succeed())
	g.Expect(h.fileContent()).To(Equal(newConfig))
	g.Expect(h.restarts.Load()).To(Equal(int32(1)))
	g.Expect(h.report().State).To(Equal(StateApplied))
}

func TestAChangeThatNeedsNoDrainDoesNotWait(t *testing.T) {
	for _, tt := range []struct {
		name     string
		from, to []byte
		drain    bool
	}{
		{name: "more room for pods", from: newConfig, to: oldConfig, drain: true},
		{name: "drains skipped (policy Skip)", from: oldConfig, to: newConfig, drain: false},
		{name: "a first configuration that needs none", to: oldConfig, drain: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			h := newFakeHost(t)
			if tt.from != nil {
				h.install(tt.from, "before")
			}
			a := h.agent(tt.to, "after")
			a.Drain = tt.drain
			g.Expect(a.Apply(context.Background())).To(Succeed())
			g.Expect(h.fileContent()).To(Equal(tt.to))
		})
	}
}

func TestPuttingBackADriftedDropInDrainsNothing(t *testing.T) {
	g := NewWithT(t)
	h := newFakeHost(t)
	h.install(newConfig, "new")
	// Edited by hand to what would need a drain to apply: the kubelet still runs newConfig.
	g.Expect(writeFileAtomic(h.dropIn(), oldConfig, 0o644)).To(Succeed())
	a := h.agent(newConfig, "new")
	a.Drain, a.correcting = true, true
	g.Expect(a.Apply(context.Background())).To(Succeed())
	g.Expect(h.fileContent()).To(Equal(newConfig))
}

func TestRunPollsWhileWaitingForADrain(t *testing.T) {
	g := NewWithT(t)
	h := newFakeHost(t)
	h.install(oldConfig, "old")
	a := h.agent(newConfig, "new")
	a.Drain = true
	backoff := 4 * time.Second
	delay, done, ok := a.pursue(context.Background(), GoalApply, &rechecks{}, time.Minute, &backoff)
	g.Expect([]any{delay, done, ok}).To(Equal([]any{drainPoll, false, false}))
	g.Expect(backoff).To(Equal(time.Second))
}

func TestBeforeRestartRemovesACheckpointOfAnotherCPUManagerPolicy(t *testing.T) {
	static := "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncpuManagerPolicy: static\n"
	plain := "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nmaxPods: 90\n"
	tests := []struct {
		name               string
		base, dropIn       string // "" for none
		checkpointPolicy   string
		rootDir            string // --root-dir; "" for the default
		wantCheckpointGone bool
	}{
		{name: "the drop-in turns static on", dropIn: static, checkpointPolicy: "none", wantCheckpointGone: true},
		{name: "static already", dropIn: static, checkpointPolicy: "static"},
		{name: "static from the configuration file", base: static, dropIn: plain, checkpointPolicy: "static"},
		{name: "the drop-in's static gone: back to none", base: plain, dropIn: plain, checkpointPolicy: "static", wantCheckpointGone: true},
		{name: "another root directory", dropIn: static, checkpointPolicy: "none", rootDir: "/data/kubelet", wantCheckpointGone: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			hostFS := t.TempDir()
			write := func(path, content string) {
				g.Expect(os.MkdirAll(filepath.Dir(filepath.Join(hostFS, path)), 0o755)).To(Succeed())
				g.Expect(os.WriteFile(filepath.Join(hostFS, path), []byte(content), 0o644)).To(Succeed())
			}
			args := []string{"/usr/bin/kubelet", "--config=/var/lib/kubelet/config.yaml", "--config-dir", dropInDir}
			rootDir := "/var/lib/kubelet"
			if tt.rootDir != "" {
				rootDir = tt.rootDir
				args = append(args, "--root-dir="+tt.rootDir)
			}
			if tt.base != "" {
				write("/var/lib/kubelet/config.yaml", tt.base)
			}
			if tt.dropIn != "" {
				write(filepath.Join(dropInDir, "50-innkeeper.conf"), tt.dropIn)
			}
			checkpoint := filepath.Join(rootDir, "cpu_manager_state")
			write(checkpoint, `{"policyName":"`+tt.checkpointPolicy+`","defaultCpuSet":"0-3","checksum":1}`)
			k := &Kubelet{DropInDir: dropInDir, HostFS: hostFS, Args: func() ([]string, error) { return args, nil }}
			// The pod mounts the drop-in directory at the host root; here the two are one.
			g.Expect(k.BeforeRestart(context.Background(), hostFS)).To(Succeed())
			_, err := os.Stat(filepath.Join(hostFS, checkpoint))
			g.Expect(os.IsNotExist(err)).To(Equal(tt.wantCheckpointGone), "%v", err)
		})
	}
}
