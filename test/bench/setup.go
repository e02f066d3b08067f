package main

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Setup describes the cluster the benchmark created.
type Setup struct {
	Nodes             int     `json:"nodes"`
	Pools             int     `json:"pools"`
	ImagesPerNode     int     `json:"imagesPerNode"`
	Writers           int     `json:"writers"`
	NodeCreateSeconds float64 `json:"nodeCreateSeconds"`
	// AddOnDaemonSets are the DaemonSets of other node agents in kube-system.
	AddOnDaemonSets int `json:"addOnDaemonSets"`
}

// seedCluster creates the Nodes (with their status and Lease), the add-on DaemonSets and, per pool,
// one object of each kind: a FloorManager, a Concierge and a RoomService. The i-th Node goes to pool
// i mod pools.
func (b *bench) seedCluster(ctx context.Context) (Setup, error) {
	setup := Setup{Nodes: b.opts.nodes, Pools: b.opts.pools, ImagesPerNode: b.opts.images, Writers: b.opts.writers,
		AddOnDaemonSets: b.opts.addOnDaemonSets}
	b.nodes = make([]nodeRef, b.opts.nodes)
	for i := range b.nodes {
		pool := poolName(i % b.opts.pools)
		b.nodes[i] = nodeRef{name: nodeName(pool, i/b.opts.pools), pool: pool}
		b.poolSizes[pool]++
	}
	progress("creating %d Nodes with %d images each, and their Leases, with %d writers", b.opts.nodes, b.opts.images, b.opts.writers)
	start := time.Now()
	err := forEach(ctx, len(b.nodes), b.opts.writers, func(ctx context.Context, i int) error {
		n := b.nodes[i]
		return b.createNode(ctx, b.factory.node(n.pool, i/b.opts.pools, i))
	})
	if err != nil {
		return setup, err
	}
	setup.NodeCreateSeconds = time.Since(start).Seconds()
	progress("created %d Nodes in %.1fs", len(b.nodes), setup.NodeCreateSeconds)
	for i := range b.opts.addOnDaemonSets {
		ds := addOnDaemonSet(i)
		if err := b.cp.client.Create(ctx, ds); err != nil {
			return setup, fmt.Errorf("create DaemonSet %s/%s: %w", ds.Namespace, ds.Name, err)
		}
	}
	for i := range b.opts.pools {
		if err := b.createPoolObjects(ctx, poolName(i)); err != nil {
			return setup, err
		}
	}
	return setup, nil
}

// createPoolObjects creates a pool's FloorManager, Concierge and RoomService.
func (b *bench) createPoolObjects(ctx context.Context, pool string) error {
	objs := []client.Object{floorManager(pool), concierge(pool), roomService(pool)}
	if b.opts.floorManagersOnly {
		objs = objs[:1]
	}
	for _, obj := range objs {
		if err := b.cp.client.Create(ctx, obj); err != nil {
			return fmt.Errorf("create %T %s: %w", obj, pool, err)
		}
	}
	return nil
}

// createNode creates a Node, its status and its Lease.
func (b *bench) createNode(ctx context.Context, node *corev1.Node) error {
	status := node.Status
	if err := b.cp.client.Create(ctx, node); err != nil {
		return fmt.Errorf("create Node %s: %w", node.Name, err)
	}
	// An API server that drops status on create gets it in a second request, as from a kubelet.
	if len(node.Status.Conditions) == 0 {
		// A patch, not an update: the manager may label the Node (admitting it to a rollout) meanwhile.
		base := node.DeepCopy()
		node.Status = status
		if err := b.cp.client.Status().Patch(ctx, node, client.MergeFrom(base)); err != nil {
			return fmt.Errorf("write the status of Node %s: %w", node.Name, err)
		}
	}
	if err := b.cp.client.Create(ctx, nodeLease(node, b.factory.now)); err != nil {
		return fmt.Errorf("create the Lease of Node %s: %w", node.Name, err)
	}
	return nil
}
