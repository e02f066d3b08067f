package localcluster

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// kwokNodeAnnotation marks the Nodes kwok plays the kubelet of.
const kwokNodeAnnotation = "kwok.x-k8s.io/node"

// PoolLabel is the label that puts a Node into a pool, as the samples in config/samples select it.
const PoolLabel = "node.kubernetes.io/pool"

// Pool is a group of fake Nodes with the same labels.
type Pool struct {
	// Name is the pool's PoolLabel value; Nodes are named <name>-<i>.
	Name string
	// Nodes is how many Nodes the pool has.
	Nodes int
	// Labels are added to each Node of the pool.
	Labels map[string]string
}

// DefaultPools are the pools the samples in config/samples select: 4 general Nodes and 2 GPU Nodes.
func DefaultPools() []Pool {
	return []Pool{
		{Name: "general", Nodes: 4},
		{Name: "gpu", Nodes: 2, Labels: map[string]string{"node.kubernetes.io/instance-type": "g5.12xlarge"}},
	}
}

// NodeFor returns a fake Node of a pool, with the capacity of a 16-CPU, 64 GiB machine.
func NodeFor(pool Pool, i int) *corev1.Node {
	name := fmt.Sprintf("%s-%d", pool.Name, i)
	labels := map[string]string{
		"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
		"type": "kwok", PoolLabel: pool.Name, "topology.kubernetes.io/zone": fmt.Sprintf("zone-%c", 'a'+i%3),
	}
	for k, v := range pool.Labels {
		labels[k] = v
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Annotations: map[string]string{kwokNodeAnnotation: "fake"}},
		Status: corev1.NodeStatus{
			Capacity: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("16"), corev1.ResourceMemory: resource.MustParse("64Gi"),
				corev1.ResourcePods: resource.MustParse("110"), corev1.ResourceEphemeralStorage: resource.MustParse("200Gi"),
			},
			Allocatable: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("15500m"), corev1.ResourceMemory: resource.MustParse("62Gi"),
				corev1.ResourcePods: resource.MustParse("110"), corev1.ResourceEphemeralStorage: resource.MustParse("180Gi"),
			},
		},
	}
}

// AddNode registers a fake Node and waits until kwok reports it Ready.
func (c *Cluster) AddNode(ctx context.Context, node *corev1.Node) error {
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create Node %s: %w", node.Name, err)
	}
	return c.waitNodesReady(ctx, cs, []string{node.Name})
}

func (c *Cluster) registerNodes(ctx context.Context, pools []Pool) error {
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	var names []string
	for _, pool := range pools {
		for i := range pool.Nodes {
			node := NodeFor(pool, i)
			if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
				return fmt.Errorf("create Node %s: %w", node.Name, err)
			}
			names = append(names, node.Name)
		}
	}
	c.logf("registered %d fake Nodes; waiting for them to be Ready", len(names))
	return c.waitNodesReady(ctx, cs, names)
}

// waitNodesReady waits for kwok to report the Nodes Ready: up to a minute, and longer for many.
func (c *Cluster) waitNodesReady(ctx context.Context, cs kubernetes.Interface, names []string) error {
	timeout := max(time.Minute, time.Duration(len(names))*100*time.Millisecond)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		notReady := len(names)
		if nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err == nil {
			ready := map[string]bool{}
			for i := range nodes.Items {
				ready[nodes.Items[i].Name] = nodeReady(&nodes.Items[i])
			}
			notReady = 0
			for _, name := range names {
				if !ready[name] {
					notReady++
				}
			}
		}
		if notReady == 0 {
			return nil
		}
		if p := c.process("kwok"); p != nil {
			select {
			case <-p.exited:
				return fmt.Errorf("kwok exited: %s", c.logTail(p))
			default:
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d Nodes are not Ready after %s", notReady, len(names), timeout)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
