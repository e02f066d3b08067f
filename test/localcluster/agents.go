package localcluster

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
	"github.com/innkeeper-dev/innkeeper/internal/agent"
	"github.com/innkeeper-dev/innkeeper/internal/pool"
	"github.com/innkeeper-dev/innkeeper/internal/render"
)

// simulatedAgentWorkers is how many Nodes the simulated agents of one component record at once: a
// wave of a large pool's pods turns Ready together, and each real agent records its own Node.
const simulatedAgentWorkers = 8

// simulatedAgentResync is how often every agent pod is looked at again, in case a record failed.
const simulatedAgentResync = 5 * time.Second

// SimulateAgents plays innkeeper's node agents on kwok Nodes, where pods run no containers: each
// time an agent pod of component is Ready on a Node, it records on the Node what the real agent
// records once it has applied the pod's configuration and found the component healthy, or, on a
// Node marked for revert, what it records once it reverted the Node. It lists the agent pods and the
// Nodes every 250 ms, so a record follows a pod's readiness by up to that and by cs's rate limit:
// the end-to-end and fault suites are written against that pace. It returns when ctx ends.
func SimulateAgents(ctx context.Context, cs kubernetes.Interface, namespace, component string) error {
	selector := fmt.Sprintf("%s=%s,%s=%s", pool.LabelManagedBy, pool.ManagedByValue, pool.LabelComponent, component)
	ticker := time.NewTicker(250 * time.Millisecond)
	defer ticker.Stop()
	for {
		pods, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
		var nodes *corev1.NodeList
		if err == nil {
			nodes, err = cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		}
		if err == nil {
			byName := map[string]*corev1.Node{}
			for i := range nodes.Items {
				byName[nodes.Items[i].Name] = &nodes.Items[i]
			}
			for i := range pods.Items {
				if node := byName[pods.Items[i].Spec.NodeName]; node != nil {
					_ = recordApplied(ctx, cs, &pods.Items[i], node, component)
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// WatchAgents plays the node agents as SimulateAgents does, without its pace: as soon as an agent
// pod of component is Ready on a Node, it records on the Node. It watches the agent pods and the
// Nodes, as the real agents watch their Node, and records with up to 8 Nodes at once, as a fleet of
// agents with a client each would; give it an unthrottled client. The fleet rollout benchmark
// (test/rolloutbench) uses it, so that the simulation does not pace a large pool's rollout. It
// returns when ctx ends.
func WatchAgents(ctx context.Context, cs kubernetes.Interface, namespace, component string) error {
	selector := fmt.Sprintf("%s=%s,%s=%s", pool.LabelManagedBy, pool.ManagedByValue, pool.LabelComponent, component)
	pods := informers.NewSharedInformerFactoryWithOptions(cs, simulatedAgentResync, informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = selector })).Core().V1().Pods()
	nodeFactory := informers.NewSharedInformerFactory(cs, 0)
	nodes := nodeFactory.Core().V1().Nodes()
	const byNode = "nodeName"
	if err := pods.Informer().AddIndexers(cache.Indexers{byNode: func(obj any) ([]string, error) {
		return []string{obj.(*corev1.Pod).Spec.NodeName}, nil
	}}); err != nil {
		return err
	}
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	enqueue := func(name string) {
		if name != "" {
			queue.Add(name)
		}
	}
	podHandler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { enqueue(obj.(*corev1.Pod).Spec.NodeName) },
		UpdateFunc: func(_, obj any) { enqueue(obj.(*corev1.Pod).Spec.NodeName) },
	}
	nodeHandler := cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj any) { enqueue(obj.(*corev1.Node).Name) },
	}
	if _, err := pods.Informer().AddEventHandler(podHandler); err != nil {
		return err
	}
	if _, err := nodes.Informer().AddEventHandler(nodeHandler); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer queue.ShutDown()
	go pods.Informer().Run(ctx.Done())
	nodeFactory.Start(ctx.Done())
	defer nodeFactory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), pods.Informer().HasSynced, nodes.Informer().HasSynced) {
		return nil // ctx ended
	}
	for range simulatedAgentWorkers {
		wg.Go(func() {
			for {
				name, shutdown := queue.Get()
				if shutdown {
					return
				}
				node, err := nodes.Lister().Get(name)
				if err == nil {
					var onNode []any
					if onNode, err = pods.Informer().GetIndexer().ByIndex(byNode, name); err == nil {
						for _, obj := range onNode {
							if err = recordApplied(ctx, cs, obj.(*corev1.Pod), node, component); err != nil {
								break
							}
						}
					}
				}
				if err != nil && ctx.Err() == nil {
					queue.AddRateLimited(name)
				} else {
					queue.Forget(name)
				}
				queue.Done(name)
			}
		})
	}
	<-ctx.Done()
	return nil
}

// recordApplied annotates a Ready agent pod's Node with the pod's configuration, if it is not yet.
func recordApplied(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, node *corev1.Node, component string) error {
	hash := pod.Annotations[pool.AnnotationHash]
	if hash == "" || pod.DeletionTimestamp != nil || !podReady(pod) {
		return nil
	}
	key := func(suffix string) string { return hotelv1alpha1.AgentAnnotation(component, suffix) }
	var annotations map[string]any
	switch agentGoal(pod, node.Labels[hotelv1alpha1.AdmittedLabel(component)]) {
	case agent.GoalWait:
		return nil
	case agent.GoalRevert:
		// Marked for revert: the agent takes the configuration off and says so.
		if node.Annotations[key(hotelv1alpha1.AgentAnnotationState)] == hotelv1alpha1.AgentStateReverted {
			return nil
		}
		annotations = map[string]any{
			key(hotelv1alpha1.AgentAnnotationConfig):  nil,
			key(hotelv1alpha1.AgentAnnotationTarget):  hotelv1alpha1.AgentTargetRevert,
			key(hotelv1alpha1.AgentAnnotationState):   hotelv1alpha1.AgentStateReverted,
			key(hotelv1alpha1.AgentAnnotationReason):  nil,
			key(hotelv1alpha1.AgentAnnotationMessage): "innkeeper's configuration is off the Node (simulated on a kwok Node).",
		}
	default:
		if node.Annotations[key(hotelv1alpha1.AgentAnnotationConfig)] == hash &&
			node.Annotations[key(hotelv1alpha1.AgentAnnotationState)] == hotelv1alpha1.AgentStateApplied {
			return nil
		}
		annotations = map[string]any{
			key(hotelv1alpha1.AgentAnnotationConfig):  hash,
			key(hotelv1alpha1.AgentAnnotationTarget):  hash,
			key(hotelv1alpha1.AgentAnnotationState):   hotelv1alpha1.AgentStateApplied,
			key(hotelv1alpha1.AgentAnnotationReason):  nil,
			key(hotelv1alpha1.AgentAnnotationMessage): "Configuration " + hash + " is applied (simulated on a kwok Node).",
		}
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": annotations}})
	if err != nil {
		return err
	}
	_, err = cs.CoreV1().Nodes().Patch(ctx, node.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// agentGoal is what the real agent of pod does on a Node whose admission label is label, as it
// decides (agent.GoalOf), from the object UID among the pod's agent flags: it applies for that UID,
// reverts for its revert value, and waits for anything else (another object's UID, or none: the
// label of a Node the manager released a moment ago, while the DaemonSet controller has not yet
// removed the pod). A pod without the flag (a DaemonSet from before reverts) applies, watching
// nothing; one whose arguments the agent refuses does nothing.
func agentGoal(pod *corev1.Pod, label string) agent.Goal {
	uid, ok := agentObjectUID(pod)
	switch {
	case !ok:
		return agent.GoalWait
	case uid == "":
		return agent.GoalApply
	}
	return agent.GoalOf(label, uid)
}

// agentObjectUID parses the agent container's arguments as the agent does; ok is false for a pod
// with no agent container, or arguments the agent refuses.
func agentObjectUID(pod *corev1.Pod) (uid string, ok bool) {
	for _, c := range pod.Spec.Containers {
		if len(c.Args) == 0 || c.Args[0] != "agent" {
			continue
		}
		// As internal/cmd.Agent parses them: the agent's flags, the logging flags, no stray argument.
		var flags render.AgentFlags
		var logging zap.Options
		fs := flag.NewFlagSet("agent", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		flags.Bind(fs)
		logging.BindFlags(fs)
		if err := fs.Parse(c.Args[1:]); err != nil || fs.NArg() > 0 {
			return "", false
		}
		return flags.ObjectUID, true
	}
	return "", false
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
