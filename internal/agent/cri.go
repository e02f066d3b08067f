package agent

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// status returns the conditions containerd reports over the CRI, true or false by type.
func (c *Containerd) status(ctx context.Context) (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := c.CRI.Status(ctx, &runtimeapi.StatusRequest{})
	if err != nil {
		return nil, fmt.Errorf("containerd's CRI status: %w", err)
	}
	conditions := map[string]bool{}
	for _, cond := range resp.GetStatus().GetConditions() {
		conditions[cond.Type] = cond.Status
	}
	return conditions, nil
}

// DialCRI connects to a CRI runtime service on a unix socket, such as
// /run/containerd/containerd.sock. The connection is made lazily and re-made after a restart.
func DialCRI(socket string) (runtimeapi.RuntimeServiceClient, func() error, error) {
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, fmt.Errorf("connect to the CRI at %s: %w", socket, err)
	}
	return runtimeapi.NewRuntimeServiceClient(conn), conn.Close, nil
}
