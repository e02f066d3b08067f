//go:build !linux

package main

import (
	"syscall"
	"time"
)

// childProcAttr returns no special attributes: only Linux kills children with their parent.
func childProcAttr() *syscall.SysProcAttr { return nil }

// residentMemory is measured on Linux only; elsewhere it reports 0.
func residentMemory() (rss, peak uint64) { return 0, 0 }

// cpuTime is measured on Linux only; elsewhere it reports 0.
func cpuTime() time.Duration { return 0 }
