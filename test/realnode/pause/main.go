// Command pause is the sandbox process of the real nodes' pods (test/realnode), in place of
// registry.k8s.io/pause, which cannot be pulled here: it holds the pod's namespaces until it is
// told to stop, and, as a pod's PID 1 when its containers share its PID namespace, reaps their
// orphans.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	children := make(chan os.Signal, 1)
	signal.Notify(children, syscall.SIGCHLD)
	for {
		select {
		case <-stop:
			return
		case <-children:
			for {
				var status syscall.WaitStatus
				if pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil); pid <= 0 || err != nil {
					break
				}
			}
		}
	}
}
