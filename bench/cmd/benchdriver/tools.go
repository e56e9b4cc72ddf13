package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Tool is one way of running workload A.
type Tool struct {
	Name string
	// Argv returns the command line for n hosts.
	Argv func(inv Inventories, n int) []string
	// Env is added to the driver's environment.
	Env []string
}

// Recap is the per-host outcome a tool printed.
type Recap struct {
	OK, Changed, Unreachable, Failed int
}

// recapLine matches the recap lines of ansible-playbook, pgplay and the
// minimal Go client: "pg001 : ok=21 changed=0 unreachable=0 failed=0 ...".
var recapLine = regexp.MustCompile(`^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)`)

// parseRecap reads the recap lines of a tool's output.
func parseRecap(logPath string) (map[string]Recap, error) {
	f, err := os.Open(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]Recap{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := recapLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
		out[m[1]] = Recap{OK: n(2), Changed: n(3), Unreachable: n(4), Failed: n(5)}
	}
	return out, sc.Err()
}

// checkRecap says what is wrong with a recap of n hosts that should each
// report `changed` changed tasks and no failure.
func checkRecap(rc map[string]Recap, n, changed int) error {
	var problems []string
	for i := 0; i < n; i++ {
		h := HostName(i)
		r, ok := rc[h]
		switch {
		case !ok:
			problems = append(problems, h+": no recap line")
		case r.Failed > 0 || r.Unreachable > 0:
			problems = append(problems, fmt.Sprintf("%s: failed=%d unreachable=%d", h, r.Failed, r.Unreachable))
		case r.Changed != changed:
			problems = append(problems, fmt.Sprintf("%s: changed=%d, want %d", h, r.Changed, changed))
		}
		if len(problems) >= 5 {
			problems = append(problems, "...")
			break
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// tools returns the tools the driver knows, by name.
func tools(pgplayBin, self, workload, state string) map[string]Tool {
	ansible := func(cfg string) Tool {
		name := "ansible-" + strings.TrimSuffix(cfg, ".cfg")
		return Tool{
			Name: name,
			Argv: func(inv Inventories, n int) []string {
				return []string{"ansible-playbook", "-i", inv.Ansible, "-f", strconv.Itoa(n), "site.yml"}
			},
			Env: []string{
				"ANSIBLE_CONFIG=" + filepath.Join(workload, "ansible-"+cfg),
				"ANSIBLE_SSH_CONTROL_PATH_DIR=" + filepath.Join(state, "ansible-cp", name),
				"ANSIBLE_LOCAL_TEMP=" + filepath.Join(state, "ansible-tmp"),
				"ANSIBLE_NOCOLOR=1",
				"ANSIBLE_FORCE_COLOR=0",
				"ANSIBLE_DEPRECATION_WARNINGS=0",
			},
		}
	}
	return map[string]Tool{
		"pgplay": {
			Name: "pgplay",
			Argv: func(inv Inventories, n int) []string {
				return []string{pgplayBin, "run", "site.yaml", "-i", inv.PGPlay, "-f", strconv.Itoa(n)}
			},
			Env: []string{"NO_COLOR=1"},
		},
		"gomin": {
			Name: "gomin",
			Argv: func(inv Inventories, n int) []string {
				return []string{self, "gomin", "-hosts", inv.GoMin, "-workload", workload}
			},
		},
		"ansible-tuned":    ansible("tuned.cfg"),
		"ansible-defaults": ansible("defaults.cfg"),
	}
}

// toolEnv is the environment a tool runs with: the driver's, without an
// ssh-agent, plus the tool's own.
func toolEnv(t Tool) []string {
	var env []string
	for _, e := range os.Environ() {
		if strings.HasPrefix(e, "SSH_AUTH_SOCK=") {
			continue
		}
		env = append(env, e)
	}
	return append(env, t.Env...)
}
