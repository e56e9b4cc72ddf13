package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Measure is what one run of a tool cost on the controller.
type Measure struct {
	Wall time.Duration
	// CPU is user+system time of the tool's whole process tree: the tool,
	// every descendant it waited for, and the orphans it left behind (such
	// as ssh ControlPersist masters, which the driver adopts as a child
	// subreaper, stops and reaps after the run).
	CPU time.Duration
	// PeakKB is the peak memory of the controller process tree: the largest
	// sum of PSS over the tree seen by sampling /proc (every 20 ms during
	// the first second, every 100 ms after), and never less than the
	// tool's own peak RSS.
	PeakKB   int64
	ExitCode int
	TimedOut bool
}

// becomeSubreaper makes the driver adopt its orphaned descendants, so that
// daemonized helpers of a tool (ssh ControlPersist masters) stay in reach:
// their CPU is counted and the driver can stop them by PID.
func becomeSubreaper() error {
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

// runMeasured runs argv in dir with env, output to logPath, and measures
// it. keep are PIDs of the driver's own long-lived children (the sshd
// daemons), which are never counted nor stopped.
func runMeasured(ctx context.Context, argv, env []string, dir, logPath string, timeout time.Duration, keep map[int]bool) (Measure, error) {
	var m Measure
	logf, err := os.Create(logPath)
	if err != nil {
		return m, err
	}
	defer logf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return m, fmt.Errorf("start %s: %w", argv[0], err)
	}
	root := cmd.Process.Pid
	done := make(chan struct{})
	var peak int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		peak = samplePeak(root, keep, start, done)
	}()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var werr error
	select {
	case werr = <-waited:
	case <-time.After(timeout):
		m.TimedOut = true
		_ = syscall.Kill(-root, syscall.SIGKILL)
		werr = <-waited
	case <-ctx.Done():
		_ = syscall.Kill(-root, syscall.SIGKILL)
		werr = <-waited
	}
	m.Wall = time.Since(start)
	close(done)
	wg.Wait()

	var exitErr *exec.ExitError
	switch {
	case werr == nil:
	case errors.As(werr, &exitErr):
		m.ExitCode = exitErr.ExitCode()
	default:
		return m, fmt.Errorf("wait %s: %w", argv[0], werr)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.CPU = tv(ru.Utime) + tv(ru.Stime)
		if ru.Maxrss > peak {
			peak = ru.Maxrss // KiB on Linux
		}
	}
	m.CPU += reapOrphans(keep)
	m.PeakKB = peak
	if ctx.Err() != nil {
		return m, ctx.Err()
	}
	return m, nil
}

func tv(t syscall.Timeval) time.Duration {
	return time.Duration(t.Sec)*time.Second + time.Duration(t.Usec)*time.Microsecond
}

// proc is one line of the process table.
type proc struct {
	pid, ppid int
	state     byte
}

// procTable reads /proc/*/stat.
func procTable() []proc {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	out := make([]proc, 0, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 >= len(b) {
			continue
		}
		f := strings.Fields(string(b[i+2:]))
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		out = append(out, proc{pid: pid, ppid: ppid, state: f[0][0]})
	}
	return out
}

// childrenOf lists pid's children (/proc/PID/task/*/children: cheaper than
// reading the whole process table).
func childrenOf(pid int) []int {
	tasks, _ := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "task", "*", "children"))
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// controllerPIDs are root's descendants plus the driver's adopted orphans
// (children of the driver that are not in keep) and their descendants.
func controllerPIDs(root int, keep map[int]bool) []int {
	queue := []int{root}
	for _, c := range childrenOf(os.Getpid()) {
		if c != root && !keep[c] {
			queue = append(queue, c)
		}
	}
	var out []int
	seen := map[int]bool{}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		out = append(out, p)
		queue = append(queue, childrenOf(p)...)
	}
	return out
}

// pssKB returns the PSS of pid in KiB (0 when it is gone).
func pssKB(pid int) int64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "smaps_rollup"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Pss:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// samplePeak samples the controller tree's PSS until done is closed and
// returns the largest sum seen.
func samplePeak(root int, keep map[int]bool, start time.Time, done <-chan struct{}) int64 {
	var peak int64
	for {
		var sum int64
		for _, p := range controllerPIDs(root, keep) {
			sum += pssKB(p)
		}
		if sum > peak {
			peak = sum
		}
		every := 100 * time.Millisecond
		if time.Since(start) < time.Second {
			every = 20 * time.Millisecond
		}
		select {
		case <-done:
			return peak
		case <-time.After(every):
		}
	}
}

// reapOrphans stops the driver's adopted orphans (children not in keep),
// by PID: SIGTERM, SIGKILL after 2 s; it reaps them and returns the CPU
// time they (and the descendants they waited for) used.
func reapOrphans(keep map[int]bool) time.Duration {
	self := os.Getpid()
	var total time.Duration
	for round := 0; round < 3; round++ {
		var orphans []int
		for _, p := range procTable() {
			if p.ppid == self && !keep[p.pid] {
				orphans = append(orphans, p.pid)
			}
		}
		if len(orphans) == 0 {
			return total
		}
		for _, pid := range orphans {
			_ = syscall.Kill(pid, syscall.SIGTERM)
		}
		deadline := time.Now().Add(2 * time.Second)
		for _, pid := range orphans {
			for {
				var ws syscall.WaitStatus
				var ru syscall.Rusage
				got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, &ru)
				if got == pid {
					total += tv(ru.Utime) + tv(ru.Stime)
					break
				}
				if err != nil && !errors.Is(err, syscall.EINTR) {
					break // not our child (any more)
				}
				if time.Now().After(deadline) {
					_ = syscall.Kill(pid, syscall.SIGKILL)
					if got, _ := syscall.Wait4(pid, &ws, 0, &ru); got == pid {
						total += tv(ru.Utime) + tv(ru.Stime)
					}
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
	return total
}
