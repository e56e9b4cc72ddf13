package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pgplay/pgplay/internal/sshtest"
)

// headerRE matches ansible's ad-hoc result lines: "host | CAPTION | rc=N >>",
// "host | CAPTION | rc=N | (stdout) ..." and "host | CAPTION => {".
var headerRE = regexp.MustCompile(`(?m)^\S+ \| [A-Z!]+(?: \| rc=\d+(?: >>| \| \(stdout\).*)| =>.*)$`)

// pgplay exec prints each host's result line as the ansible command does,
// run side by side on the same loopback sshd (when ansible is installed).
func TestExecMatchesAnsible(t *testing.T) {
	if _, err := exec.LookPath("ansible"); err != nil {
		t.Skip("ansible is not installed")
	}
	srv := sshtest.Start(t)
	cfg := srv.Config("a")
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"inv.ini": fmt.Sprintf("a ansible_host=%s ansible_port=%d ansible_user=%s ansible_ssh_private_key_file=%s ansible_ssh_common_args='-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes'\n",
			cfg.Addr, cfg.Port, cfg.User, cfg.KeyFiles[0], cfg.KnownHostsFiles[0]),
		"inv.yaml": fmt.Sprintf("all:\n  hosts:\n    a:\n      ssh_host: %s\n      ssh_port: %d\n      ssh_user: %s\n      ssh_key: %s\n      ssh_known_hosts: %s\n      ssh_config: none\n",
			cfg.Addr, cfg.Port, cfg.User, cfg.KeyFiles[0], cfg.KnownHostsFiles[0]),
	})
	for _, args := range [][]string{
		{"-a", "echo hi"},
		{"-m", "shell", "-a", "echo oops; exit 3"},
		{"-m", "shell", "-a", "printf 'l1\\nl2\\n'", "-o"},
	} {
		ans := exec.Command("ansible", append([]string{"a", "-i", filepath.Join(dir, "inv.ini")}, args...)...)
		ans.Env = append(os.Environ(), "ANSIBLE_NOCOLOR=1", "ANSIBLE_LOCALHOST_WARNING=0", "ANSIBLE_PYTHON_INTERPRETER=auto_silent")
		aout, _ := ans.CombinedOutput()
		want := headerRE.FindString(string(aout))
		if want == "" {
			t.Fatalf("ansible %v: no result line in:\n%s", args, aout)
		}
		_, out, errs := cli(t, append([]string{"exec", "a", "-i", filepath.Join(dir, "inv.yaml")}, args...)...)
		got := headerRE.FindString(out)
		if got != want {
			t.Errorf("%v: pgplay prints %q, ansible %q\npgplay:\n%s%s\nansible:\n%s", args, got, want, out, errs, aout)
		}
		if !strings.Contains(args[len(args)-1], "-o") {
			// The output under the line, too: the same text, except that
			// ansible glues stdout, stderr and msg together ("oopsnon-zero
			// return code") where pgplay puts each on its own line.
			ai, pi := strings.Index(string(aout), want), strings.Index(out, got)
			flat := func(s string) string { return strings.Join(strings.Fields(s), "") }
			if a, p := string(aout)[ai:], out[pi:]; flat(a) != flat(p) {
				t.Errorf("%v: pgplay's block\n%s\nansible's\n%s", args, p, a)
			}
		}
	}
}

// The same small playbook run by pgplay and by ansible-playbook (when
// installed) on one loopback sshd gives the same recap counts, and
// --list-tasks prints the same.
func TestRunMatchesAnsiblePlaybook(t *testing.T) {
	if _, err := exec.LookPath("ansible-playbook"); err != nil {
		t.Skip("ansible-playbook is not installed")
	}
	srv := sshtest.Start(t)
	cfg := srv.Config("a")
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"inv.ini": fmt.Sprintf("[web]\na ansible_host=%s ansible_port=%d ansible_user=%s ansible_ssh_private_key_file=%s ansible_ssh_common_args='-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes'\n",
			cfg.Addr, cfg.Port, cfg.User, cfg.KeyFiles[0], cfg.KnownHostsFiles[0]),
		"inv.yaml": fmt.Sprintf("all:\n  children:\n    web:\n      hosts:\n        a:\n          ssh_host: %s\n          ssh_port: %d\n          ssh_user: %s\n          ssh_key: %s\n          ssh_known_hosts: %s\n          ssh_config: none\n",
			cfg.Addr, cfg.Port, cfg.User, cfg.KeyFiles[0], cfg.KnownHostsFiles[0]),
		"play.yml": `- name: compare
  hosts: web
  gather_facts: false
  tasks:
    - name: changes
      command: "true"
      tags: [one]
    - name: reads
      command: "true"
      changed_when: false
    - name: skipped
      command: "true"
      when: false
      tags: [two, one]
    - name: fails but ignored
      command: "false"
      ignore_errors: true
    - name: says hi
      debug:
        msg: hi
`,
	})
	pb := filepath.Join(dir, "play.yml")
	ansible := func(args ...string) string {
		c := exec.Command("ansible-playbook", append([]string{"-i", filepath.Join(dir, "inv.ini"), pb}, args...)...)
		c.Env = append(os.Environ(), "ANSIBLE_NOCOLOR=1", "ANSIBLE_PYTHON_INTERPRETER=auto_silent", "ANSIBLE_RETRY_FILES_ENABLED=0")
		out, _ := c.CombinedOutput()
		return string(out)
	}
	aout := ansible()
	_, out, errs := cli(t, "run", pb, "-i", filepath.Join(dir, "inv.yaml"))
	if a, p := recap(t, aout)["a"], recap(t, out)["a"]; a != p {
		t.Errorf("recap: pgplay %v, ansible-playbook %v\npgplay:\n%s%s\nansible-playbook:\n%s", p, a, out, errs, aout)
	}
	aout = ansible("--list-tasks")
	_, out, _ = cli(t, "run", pb, "--list-tasks")
	norm := func(s string) string {
		var keep []string
		for _, l := range strings.Split(s, "\n") {
			if l = strings.TrimRight(l, " "); l != "" && !strings.HasPrefix(l, "playbook:") && !strings.HasPrefix(l, "[WARNING]") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}
	if norm(aout) != norm(out) {
		t.Errorf("--list-tasks differs\npgplay:\n%s\nansible-playbook:\n%s", out, aout)
	}
}
