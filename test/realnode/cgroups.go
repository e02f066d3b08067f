package realnode

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cgroupRoot is the cgroup, in every hierarchy, below which each node gets one of its own. A node's
// processes (systemd-nspawn, the node's systemd, containerd, the kubelet and the pods, whose
// kubepods cgroups the kubelet creates below the node's) stay inside it, so a node is stopped by
// killing what is in its cgroups, and leaves nothing at the machine's top level.
const cgroupRoot = "innkeeper-realnode"

// hierarchies returns the mount points of the machine's cgroup hierarchies (v1 controllers, the
// name=systemd hierarchy and the v2 unified one, as this machine's hybrid layout mounts them).
func hierarchies() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	return cgroupMounts(f)
}

// cgroupMounts returns the mount points of the cgroup and cgroup2 file systems in a mountinfo.
func cgroupMounts(mountinfo io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(mountinfo)
	for sc.Scan() {
		// ID parent major:minor root mountpoint options [optional fields...] - fstype source superoptions
		fields := strings.Fields(sc.Text())
		sep := slices.Index(fields, "-")
		if sep < 5 || sep+1 >= len(fields) {
			continue
		}
		if fstype := fields[sep+1]; fstype == "cgroup" || fstype == "cgroup2" {
			out = append(out, fields[4])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("no cgroup hierarchy is mounted")
	}
	return out, nil
}

// cgroupSet is one cgroup in every hierarchy.
type cgroupSet struct {
	// dirs are the cgroup's directories, one per hierarchy.
	dirs []string
}

// newCgroupSet creates the cgroup rel (such as innkeeper-realnode/1234/node-1) in every hierarchy.
func newCgroupSet(rel string) (*cgroupSet, error) {
	roots, err := hierarchies()
	if err != nil {
		return nil, err
	}
	s := &cgroupSet{}
	for _, root := range roots {
		dir := filepath.Join(root, rel)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			_ = s.remove() // the error that matters is the one returned
			return nil, fmt.Errorf("create cgroup %s: %w", dir, err)
		}
		s.dirs = append(s.dirs, dir)
	}
	return s, nil
}

// procsFiles returns the cgroup.procs file of the cgroup in every hierarchy: a process writes its
// PID to each to move itself in.
func (s *cgroupSet) procsFiles() []string {
	files := make([]string, len(s.dirs))
	for i, d := range s.dirs {
		files[i] = filepath.Join(d, "cgroup.procs")
	}
	return files
}

// pids returns every process in the cgroup or below it, in any hierarchy.
func (s *cgroupSet) pids() []int {
	seen := map[int]bool{}
	for _, d := range s.dirs {
		_ = filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err != nil || e.IsDir() || e.Name() != "cgroup.procs" {
				return nil
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return nil
			}
			for _, f := range strings.Fields(string(data)) {
				if pid, err := strconv.Atoi(f); err == nil {
					seen[pid] = true
				}
			}
			return nil
		})
	}
	out := make([]int, 0, len(seen))
	for pid := range seen {
		out = append(out, pid)
	}
	return out
}

// kill kills every process in the cgroup and below it, until none is left or timeout passes.
// Processes that fork while they are killed are caught by the next round.
func (s *cgroupSet) kill(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		pids := s.pids()
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d processes are left in %s: %v", len(pids), s.dirs[0], pids)
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// remove removes the cgroup and every cgroup below it, deepest first, in every hierarchy. Only
// empty cgroups can be removed: kill first.
func (s *cgroupSet) remove() error {
	var errs []error
	for _, d := range s.dirs {
		errs = append(errs, removeCgroupTree(d))
	}
	return errors.Join(errs...)
}

// removeCgroupTree removes a cgroup directory and its children, deepest first. A cgroup's files
// cannot be removed, only the directory itself, once it has no child.
func removeCgroupTree(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if e.IsDir() {
			errs = append(errs, removeCgroupTree(filepath.Join(dir, e.Name())))
		}
	}
	if err := syscall.Rmdir(dir); err != nil && !errors.Is(err, syscall.ENOENT) {
		errs = append(errs, fmt.Errorf("remove cgroup %s: %w", dir, err))
	}
	return errors.Join(errs...)
}

// reapStaleRuns kills what earlier runs left in their cgroups, when they died without stopping
// their nodes (SIGKILL, a machine-wide OOM), and removes those cgroups: every run but those whose
// process is still alive.
func reapStaleRuns() error {
	roots, err := hierarchies()
	if err != nil {
		return err
	}
	stale := map[string]bool{}
	for _, root := range roots {
		entries, err := os.ReadDir(filepath.Join(root, cgroupRoot))
		if err != nil {
			continue
		}
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || !e.IsDir() {
				continue
			}
			if syscall.Kill(pid, 0) == nil && pid != os.Getpid() {
				continue // a run still going
			}
			stale[e.Name()] = true
		}
	}
	var errs []error
	for run := range stale {
		s := &cgroupSet{}
		for _, root := range roots {
			s.dirs = append(s.dirs, filepath.Join(root, cgroupRoot, run))
		}
		if err := s.kill(30 * time.Second); err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, s.remove())
	}
	return errors.Join(errs...)
}
