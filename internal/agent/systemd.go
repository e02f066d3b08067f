package agent

import (
	"context"
	"fmt"

	"github.com/coreos/go-systemd/v22/dbus"
)

// SystemdRestarter restarts units through systemd's D-Bus API on the host's system bus, whose socket
// is mounted into the agent's pod (set DBUS_SYSTEM_BUS_ADDRESS if it is not at the default path).
type SystemdRestarter struct{}

var _ Restarter = SystemdRestarter{}

// RestartUnit restarts unit and waits for systemd's restart job to finish.
func (SystemdRestarter) RestartUnit(ctx context.Context, unit string) error {
	conn, err := dbus.NewSystemConnectionContext(ctx)
	if err != nil {
		return fmt.Errorf("connect to systemd over D-Bus: %w", err)
	}
	defer conn.Close()
	done := make(chan string, 1)
	if _, err := conn.RestartUnitContext(ctx, unit, "replace", done); err != nil {
		return fmt.Errorf("restart %s: %w", unit, err)
	}
	select {
	case result := <-done:
		if result != "done" {
			return fmt.Errorf("restart %s: systemd job ended %q", unit, result)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
