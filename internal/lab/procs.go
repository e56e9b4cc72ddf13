package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// procStat is what the lab reads from /proc/PID/stat.
type procStat struct {
	PID   int
	Comm  string
	State byte
	PPID  int
	// Start is the start time in clock ticks since boot; with the PID it
	// identifies a process (PIDs are reused).
	Start uint64
}

// readProcStat reads /proc/PID/stat.
func readProcStat(pid int) (procStat, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(string(data))
}

// parseProcStat parses the text of /proc/PID/stat (the command name may
// hold blanks and parentheses; it ends at the last ')').
func parseProcStat(text string) (procStat, error) {
	open := strings.IndexByte(text, '(')
	end := strings.LastIndexByte(text, ')')
	if open < 0 || end < open {
		return procStat{}, fmt.Errorf("unexpected /proc stat: %.60q", text)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(text[:open]))
	if err != nil {
		return procStat{}, fmt.Errorf("unexpected /proc stat: %.60q", text)
	}
	rest := strings.Fields(text[end+1:])
	// rest[0] is field 3 (state); start time is field 22.
	if len(rest) < 20 {
		return procStat{}, fmt.Errorf("unexpected /proc stat: %.60q", text)
	}
	ppid, _ := strconv.Atoi(rest[1])
	start, err := strconv.ParseUint(rest[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("unexpected /proc stat: %.60q", text)
	}
	return procStat{PID: pid, Comm: text[open+1 : end], State: rest[0][0], PPID: ppid, Start: start}, nil
}

// alive reports whether the process pid with start time start still runs
// (a zombie does not count).
func alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	st, err := readProcStat(pid)
	return err == nil && st.Start == start && st.State != 'Z' && st.State != 'X'
}

// labProc is a process that belongs to the lab: it sits in a cgroup the lab
// created.
type labProc struct {
	procStat
	// Host is the lab host whose cgroup holds the process.
	Host string
	// Init is true for the container's PID-namespace init.
	Init bool
}

// labProcs lists the processes in the lab's cgroups (v2 or the v1 systemd
// hierarchy), found by the cgroup name prefix.
func labProcs() []labProc {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []labProc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cg, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cgroup"))
		if err != nil {
			continue
		}
		host := labCgroupHost(string(cg))
		if host == "" {
			continue
		}
		st, err := readProcStat(pid)
		if err != nil || st.State == 'Z' {
			continue
		}
		p := labProc{procStat: st, Host: host}
		if status, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status")); err == nil {
			p.Init = isNamespaceInit(string(status))
		}
		out = append(out, p)
	}
	return out
}

// labCgroupHost returns the lab host named by a /proc/PID/cgroup text when
// the process sits in a lab cgroup ("/pglab-node1/..."), or "".
func labCgroupHost(text string) string {
	for _, line := range strings.Split(text, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] != "" && parts[1] != "name=systemd" {
			continue
		}
		first, _, _ := strings.Cut(strings.TrimPrefix(parts[2], "/"), "/")
		if name, ok := strings.CutPrefix(first, Prefix); ok && name != "" {
			return name
		}
	}
	return ""
}

// isNamespaceInit reports whether a /proc/PID/status text describes PID 1
// of a nested PID namespace ("NSpid: 4242 1").
func isNamespaceInit(status string) bool {
	for _, line := range strings.Split(status, "\n") {
		if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
			f := strings.Fields(rest)
			return len(f) >= 2 && f[len(f)-1] == "1"
		}
	}
	return false
}
