package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/manager"
	"github.com/innkeeper-dev/innkeeper/internal/render/kubelet"
	"github.com/innkeeper-dev/innkeeper/test/localcluster"
)

// poolName is the one pool of every size, and its FloorManager's name.
const poolName = "fleet"

// bareName is the bare DaemonSet's name and its pods' app label.
const bareName = "bare-fleet"

// revisionAnnotation is the pod template annotation the benchmark changes to roll the bare DaemonSet.
const revisionAnnotation = "rolloutbench.innkeeper.dev/revision"

// bareHostPortOffset moves the bare DaemonSet's host ports away from innkeeper's agents'.
const bareHostPortOffset = 10000

// poll is how often the benchmark reads the FloorManager and the bare DaemonSet while it waits:
// the resolution of the rollout times.
const poll = 50 * time.Millisecond

// bench is one pool size's local cluster and what the benchmark reads it with.
type bench struct {
	o      options
	n      int
	client client.Client
	cs     kubernetes.Interface
	nodes  *arrivals // Nodes recording a configuration other than the one before the change
	pods   *arrivals // the bare DaemonSet's pods of the new template generation, Ready
}

// measureSize starts a local cluster with one pool of n kwok Nodes, installs innkeeper with its
// chart, creates a FloorManager over the pool and a bare DaemonSet of the same pod template, and
// rolls each o.runs times.
func measureSize(ctx context.Context, o options, n int) (Size, error) {
	logw := io.Discard
	if o.verbose {
		logw = os.Stderr
	}
	cluster, err := localcluster.Start(ctx, localcluster.Options{BinDir: o.binDir, PodReadyDelay: o.applyTime, WatchAgents: true, Log: logw,
		Pools: []localcluster.Pool{{Name: poolName, Nodes: n}}})
	if err != nil {
		return Size{}, err
	}
	defer cluster.Stop()
	ik, err := cluster.InstallChart(ctx, o.root)
	if err != nil {
		return Size{}, err
	}
	defer ik.Stop()
	b := &bench{o: o, n: n, nodes: newArrivals(), pods: newArrivals()}
	// Polled every 50 ms: not throttled (client-go's default is 5 requests a second).
	cfg := rest.CopyConfig(cluster.Config)
	cfg.QPS = -1
	if b.client, err = client.New(cfg, client.Options{Scheme: manager.Scheme()}); err != nil {
		return Size{}, err
	}
	if b.cs, err = kubernetes.NewForConfig(cfg); err != nil {
		return Size{}, err
	}
	if err := b.watch(ctx); err != nil {
		return Size{}, err
	}

	size := Size{Nodes: n}
	mu := intstr.Parse(o.maxUnavailable)
	if size.MaxChanging, err = intstr.GetScaledValueFromIntOrPercent(&mu, n, true); err != nil {
		return Size{}, fmt.Errorf("-max-unavailable: %w", err)
	}
	fm := &hotelv1alpha1.FloorManager{
		ObjectMeta: metav1.ObjectMeta{Name: poolName},
		Spec: hotelv1alpha1.FloorManagerSpec{
			PoolSpec: hotelv1alpha1.PoolSpec{
				NodeSelector: hotelv1alpha1.NodeSelector{MatchLabels: map[string]hotelv1alpha1.LabelValue{localcluster.PoolLabel: poolName}},
				Rollout:      hotelv1alpha1.RolloutSpec{MaxUnavailable: &mu},
			},
			Kubelet: hotelv1alpha1.KubeletSpec{MaxPods: ptr.To[int32](110)},
		},
	}
	start := time.Now()
	if err := b.client.Create(ctx, fm); err != nil {
		return Size{}, fmt.Errorf("create the FloorManager: %w", err)
	}
	if _, err := b.waitFloorManagerReady(ctx, fm.Generation); err != nil {
		return Size{}, fmt.Errorf("first rollout: %w", err)
	}
	size.FirstRolloutSeconds = time.Since(start).Seconds()
	fmt.Printf("   first rollout of the FloorManager: %.1f s\n", size.FirstRolloutSeconds)

	if err := b.createBare(ctx); err != nil {
		return Size{}, err
	}
	for i := range o.runs {
		var r Run
		if r.BareSeconds, r.BareLastPodSeconds, err = b.rollBare(ctx, i+1); err != nil {
			return Size{}, fmt.Errorf("run %d, bare DaemonSet: %w", i+1, err)
		}
		if r.InnkeeperSeconds, r.LastNodeSeconds, err = b.rollFloorManager(ctx, int32(100-i)); err != nil {
			return Size{}, fmt.Errorf("run %d, FloorManager: %w", i+1, err)
		}
		fmt.Printf("   run %d: bare DaemonSet %.1f s (last pod Ready %.1f s); innkeeper %.1f s (last Node %.1f s): %.2f×\n",
			i+1, r.BareSeconds, r.BareLastPodSeconds, r.InnkeeperSeconds, r.LastNodeSeconds, r.Ratio())
		size.Rollouts = append(size.Rollouts, r)
	}
	size.Median = medianRun(size.Rollouts)
	return size, nil
}

// watch starts the informers that time each Node's and each bare pod's arrival at the new
// configuration, as seen from this process.
func (b *bench) watch(ctx context.Context) error {
	nodeInformer := informers.NewSharedInformerFactoryWithOptions(b.cs, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = localcluster.PoolLabel + "=" + poolName }),
	).Core().V1().Nodes().Informer()
	configKey := hotelv1alpha1.AgentAnnotation(kubelet.Name, hotelv1alpha1.AgentAnnotationConfig)
	stateKey := hotelv1alpha1.AgentAnnotation(kubelet.Name, hotelv1alpha1.AgentAnnotationState)
	onNode := func(obj any) {
		n, ok := obj.(*corev1.Node)
		if !ok || n.Annotations[stateKey] != hotelv1alpha1.AgentStateApplied {
			return
		}
		b.nodes.observe(n.Name, n.Annotations[configKey])
	}
	if _, err := nodeInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onNode, UpdateFunc: func(_, obj any) { onNode(obj) },
	}); err != nil {
		return err
	}
	podInformer := informers.NewSharedInformerFactoryWithOptions(b.cs, 0, informers.WithNamespace(localcluster.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = "app=" + bareName }),
	).Core().V1().Pods().Informer()
	onPod := func(obj any) {
		p, ok := obj.(*corev1.Pod)
		if !ok || p.DeletionTimestamp != nil || !podReady(p) {
			return
		}
		b.pods.observe(p.Name, p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey])
	}
	if _, err := podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onPod, UpdateFunc: func(_, obj any) { onPod(obj) },
	}); err != nil {
		return err
	}
	go nodeInformer.Run(ctx.Done())
	go podInformer.Run(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), nodeInformer.HasSynced, podInformer.HasSynced) {
		return ctx.Err()
	}
	return nil
}

// createBare creates the bare DaemonSet: the pod template of the FloorManager's DaemonSet, with its
// own labels (so that no simulated agent takes its pods for innkeeper's), on the pool's Nodes, with
// the same update strategy and minReadySeconds; and waits until it is rolled out.
func (b *bench) createBare(ctx context.Context) error {
	ds := &appsv1.DaemonSet{}
	if err := b.client.Get(ctx, client.ObjectKey{Namespace: localcluster.Namespace, Name: poolName + "-" + kubelet.Name}, ds); err != nil {
		return fmt.Errorf("read the FloorManager's DaemonSet: %w", err)
	}
	labels := map[string]string{"app": bareName}
	template := *ds.Spec.Template.DeepCopy()
	template.Labels = labels
	// Both DaemonSets' pods run on each Node: the bare one's host ports move out of the way.
	for i := range template.Spec.Containers {
		for j := range template.Spec.Containers[i].Ports {
			p := &template.Spec.Containers[i].Ports[j]
			// On the host's network, a container port is a host port (the API server defaults
			// hostPort to it).
			if p.HostPort != 0 || template.Spec.HostNetwork {
				p.ContainerPort += bareHostPortOffset
				if p.HostPort != 0 {
					p.HostPort += bareHostPortOffset
				}
			}
		}
	}
	template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: localcluster.PoolLabel, Operator: corev1.NodeSelectorOpIn, Values: []string{poolName}}},
		}}},
	}}
	bare := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: bareName, Namespace: localcluster.Namespace},
		Spec: appsv1.DaemonSetSpec{
			Selector:        &metav1.LabelSelector{MatchLabels: labels},
			Template:        template,
			UpdateStrategy:  *ds.Spec.UpdateStrategy.DeepCopy(),
			MinReadySeconds: ds.Spec.MinReadySeconds,
		},
	}
	if err := b.client.Create(ctx, bare); err != nil {
		return fmt.Errorf("create the bare DaemonSet: %w", err)
	}
	_, err := b.waitBareRolledOut(ctx, bare.Generation)
	return err
}

// rollBare changes the bare DaemonSet's template and returns the time to its status saying rolled
// out, and to its last new pod Ready.
func (b *bench) rollBare(ctx context.Context, revision int) (total, lastPod float64, err error) {
	ds := &appsv1.DaemonSet{}
	if err := b.client.Get(ctx, client.ObjectKey{Namespace: localcluster.Namespace, Name: bareName}, ds); err != nil {
		return 0, 0, err
	}
	// The DaemonSet controller labels each pod with its template's hash; the new one is not
	// known before the change, so every Ready pod with another hash than the current one counts.
	old, err := b.bareTemplateHash(ctx)
	if err != nil {
		return 0, 0, err
	}
	patch := fmt.Appendf(nil, `{"spec":{"template":{"metadata":{"annotations":{%q:%q}}}}}`, revisionAnnotation, strconv.Itoa(revision))
	start := b.pods.arm(old)
	if err := b.client.Patch(ctx, ds, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return 0, 0, fmt.Errorf("change the bare DaemonSet: %w", err)
	}
	done, err := b.waitBareRolledOut(ctx, ds.Generation)
	if err != nil {
		return 0, 0, err
	}
	last, ok := b.pods.last(b.n)
	if !ok {
		return 0, 0, fmt.Errorf("the bare DaemonSet is rolled out, but only %d of %d new pods were seen Ready", b.pods.count(), b.n)
	}
	return done.Sub(start).Seconds(), last.Sub(start).Seconds(), nil
}

// bareTemplateHash returns the template hash of the bare DaemonSet's pods, which must all have
// the same.
func (b *bench) bareTemplateHash(ctx context.Context) (string, error) {
	pods, err := b.cs.CoreV1().Pods(localcluster.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=" + bareName})
	if err != nil {
		return "", err
	}
	hashes := map[string]bool{}
	for _, p := range pods.Items {
		hashes[p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]] = true
	}
	if len(hashes) != 1 || len(pods.Items) != b.n {
		return "", fmt.Errorf("the bare DaemonSet has %d pods of %d templates before the change, not %d of one", len(pods.Items), len(hashes), b.n)
	}
	for h := range hashes {
		return h, nil
	}
	return "", nil
}

// rollFloorManager changes the FloorManager's maxPods and returns the time to the pool reported
// Ready, and to its last Node recording the new configuration.
func (b *bench) rollFloorManager(ctx context.Context, maxPods int32) (total, lastNode float64, err error) {
	fm := &hotelv1alpha1.FloorManager{}
	if err := b.client.Get(ctx, client.ObjectKey{Name: poolName}, fm); err != nil {
		return 0, 0, err
	}
	old, err := b.nodesConfig(ctx)
	if err != nil {
		return 0, 0, err
	}
	fm.Spec.Kubelet.MaxPods = ptr.To(maxPods)
	start := b.nodes.arm(old)
	if err := b.client.Update(ctx, fm); err != nil {
		return 0, 0, fmt.Errorf("change the FloorManager: %w", err)
	}
	done, err := b.waitFloorManagerReady(ctx, fm.Generation)
	if err != nil {
		return 0, 0, err
	}
	last, ok := b.nodes.last(b.n)
	if !ok {
		return 0, 0, fmt.Errorf("the pool is Ready, but only %d of %d Nodes were seen with the new configuration", b.nodes.count(), b.n)
	}
	return done.Sub(start).Seconds(), last.Sub(start).Seconds(), nil
}

// nodesConfig returns the configuration the pool's Nodes record, which must all record the same.
func (b *bench) nodesConfig(ctx context.Context) (string, error) {
	nodes, err := b.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: localcluster.PoolLabel + "=" + poolName})
	if err != nil {
		return "", err
	}
	configs := map[string]bool{}
	for _, n := range nodes.Items {
		configs[n.Annotations[hotelv1alpha1.AgentAnnotation(kubelet.Name, hotelv1alpha1.AgentAnnotationConfig)]] = true
	}
	if len(configs) != 1 || len(nodes.Items) != b.n || configs[""] {
		return "", fmt.Errorf("the pool's %d Nodes record %d configurations before the change, not one", len(nodes.Items), len(configs))
	}
	for c := range configs {
		return c, nil
	}
	return "", errors.New("no Node")
}

// waitFloorManagerReady waits until the FloorManager is Ready for generation, every Node of the
// pool updated, and returns when it saw that.
func (b *bench) waitFloorManagerReady(ctx context.Context, generation int64) (time.Time, error) {
	return b.waitFor(ctx, "the FloorManager Ready", func() (bool, string, error) {
		fm := &hotelv1alpha1.FloorManager{}
		if err := b.client.Get(ctx, client.ObjectKey{Name: poolName}, fm); err != nil {
			return false, "", err
		}
		ready := meta.FindStatusCondition(fm.Status.Conditions, hotelv1alpha1.ConditionReady)
		ok := ready != nil && ready.Status == metav1.ConditionTrue && ready.ObservedGeneration == generation &&
			fm.Status.ObservedGeneration == generation && int(fm.Status.Nodes.Updated) == b.n
		state := fmt.Sprintf("%d of %d Nodes updated", fm.Status.Nodes.Updated, b.n)
		if ready != nil {
			state += fmt.Sprintf("; Ready %s (%s): %s", ready.Status, ready.Reason, ready.Message)
		}
		return ok, state, nil
	})
}

// waitBareRolledOut waits until the bare DaemonSet's status says its generation is rolled out, as
// `kubectl rollout status` reads it, and returns when it saw that.
func (b *bench) waitBareRolledOut(ctx context.Context, generation int64) (time.Time, error) {
	return b.waitFor(ctx, "the bare DaemonSet rolled out", func() (bool, string, error) {
		ds := &appsv1.DaemonSet{}
		if err := b.client.Get(ctx, client.ObjectKey{Namespace: localcluster.Namespace, Name: bareName}, ds); err != nil {
			return false, "", err
		}
		s := ds.Status
		ok := s.ObservedGeneration >= generation && int(s.DesiredNumberScheduled) == b.n &&
			s.UpdatedNumberScheduled == s.DesiredNumberScheduled && s.NumberAvailable == s.DesiredNumberScheduled
		return ok, fmt.Sprintf("%d of %d updated, %d available", s.UpdatedNumberScheduled, s.DesiredNumberScheduled, s.NumberAvailable), nil
	})
}

// waitFor polls cond every poll until it holds, or the rollout's bound passes.
func (b *bench) waitFor(ctx context.Context, what string, cond func() (bool, string, error)) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, b.o.rollTimeout)
	defer cancel()
	state := ""
	for {
		ok, s, err := cond()
		if ok {
			return time.Now(), nil
		}
		if s != "" {
			state = s
		}
		if err != nil && ctx.Err() == nil {
			state = err.Error()
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("waiting for %s: %w (last: %s)", what, ctx.Err(), state)
		case <-time.After(poll):
		}
	}
}

// arrivals times when each of a set of objects is first seen with a value other than the one it
// had before a change.
type arrivals struct {
	mu    sync.Mutex
	now   func() time.Time
	old   string
	armed bool
	seen  map[string]time.Time
}

func newArrivals() *arrivals { return &arrivals{now: time.Now, seen: map[string]time.Time{}} }

// arm forgets every arrival and times those of values other than old from now on; it returns now.
func (a *arrivals) arm(old string) time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.old, a.armed, a.seen = old, true, map[string]time.Time{}
	return a.now()
}

// observe records that name has value now.
func (a *arrivals) observe(name, value string) {
	a.mu.Lock()
	now := a.now()
	defer a.mu.Unlock()
	if !a.armed || value == "" || value == a.old {
		return
	}
	if _, ok := a.seen[name]; !ok {
		a.seen[name] = now
	}
}

// count returns how many objects have arrived.
func (a *arrivals) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.seen)
}

// last returns the latest arrival, once n objects have arrived.
func (a *arrivals) last(n int) (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.seen) < n {
		return time.Time{}, false
	}
	var last time.Time
	for _, t := range a.seen {
		if t.After(last) {
			last = t
		}
	}
	return last, true
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
