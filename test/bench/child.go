package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"time"
)

// childStartTimeout bounds how long a child takes to announce its stats address.
const childStartTimeout = 30 * time.Second

// childProcess is a child of the benchmark: its own binary re-executed in a role, so that the
// memory and requests measured are the manager's alone, not the benchmark's.
type childProcess struct {
	role  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	log   *os.File
	// url is where the child serves its stats and heap profile.
	url  string
	http *http.Client
	done chan error
}

// startChild starts a child in role against the API server of kubeconfig, its log in logPath and
// flags (such as -leader-elect) passed on, and returns once it serves its stats.
func startChild(role, kubeconfig, logPath string, flags ...string) (*childProcess, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the benchmark's binary: %w", err)
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", logPath, err)
	}
	cmd := exec.Command(exe, append([]string{"-child=" + role, "-kubeconfig=" + kubeconfig}, flags...)...)
	cmd.Stderr = logFile
	cmd.SysProcAttr = childProcAttr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start the %s process: %w", role, err)
	}
	c := &childProcess{role: role, cmd: cmd, stdin: stdin, log: logFile,
		http: &http.Client{Timeout: 30 * time.Second}, done: make(chan error, 1)}
	hello, err := readHello(stdout)
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logFile.Close()
		return nil, fmt.Errorf("the %s process did not start (log: %s): %w", role, logPath, err)
	}
	c.url = "http://" + hello.Addr
	go func() {
		_, _ = io.Copy(io.Discard, stdout)
		c.done <- cmd.Wait()
	}()
	return c, nil
}

// readHello reads a child's first line, in which it announces its stats address.
func readHello(stdout io.Reader) (childHello, error) {
	lines := make(chan childHello, 1)
	errs := make(chan error, 1)
	go func() {
		var hello childHello
		line, err := bufio.NewReader(stdout).ReadBytes('\n')
		if err == nil {
			err = json.Unmarshal(line, &hello)
		}
		if err != nil {
			errs <- err
			return
		}
		lines <- hello
	}()
	select {
	case hello := <-lines:
		return hello, nil
	case err := <-errs:
		return childHello{}, err
	case <-time.After(childStartTimeout):
		return childHello{}, errors.New("no stats address announced in time")
	}
}

// stats reads the child's stats; with gc the child collects garbage first.
func (c *childProcess) stats(ctx context.Context, gc bool) (processStats, error) {
	url := c.url + "/stats"
	if gc {
		url += "?gc=true"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return processStats{}, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return processStats{}, fmt.Errorf("read the %s process's stats: %w", c.role, err)
	}
	defer resp.Body.Close()
	var s processStats
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return processStats{}, fmt.Errorf("decode the %s process's stats: %w", c.role, err)
	}
	return s, nil
}

// saveProfile writes one of the child's profiles (go tool pprof reads them) to path: "heap", or
// "profile?seconds=N" for its CPU profile over the next N seconds.
func (c *childProcess) saveProfile(ctx context.Context, profile, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url+"/debug/pprof/"+profile, nil)
	if err != nil {
		return err
	}
	// A CPU profile takes as long as it profiles.
	client := &http.Client{}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("read the %s process's profile: %w", c.role, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("read the %s process's profile: %s", c.role, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// stop closes the child's stdin, which makes it stop, and kills it if it has not exited within
// the grace period.
func (c *childProcess) stop() error {
	defer c.log.Close()
	_ = c.stdin.Close()
	select {
	case err := <-c.done:
		return err
	case <-time.After(15 * time.Second):
		_ = c.cmd.Process.Kill()
		if err := <-c.done; err != nil {
			return fmt.Errorf("the %s process did not stop in time and was killed: %w", c.role, err)
		}
		return fmt.Errorf("the %s process did not stop in time and was killed", c.role)
	}
}
