package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// localHosts writes an inventory of local-connection hosts, each with its own root dir.
func localHosts(t *testing.T, dir string, names ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("all:\n  vars:\n    connection: local\n  children:\n    g:\n      hosts:\n")
	for _, n := range names {
		root := filepath.Join(dir, "hosts", n)
		if err := os.MkdirAll(root, 0o755); err != nil {
			t.Fatal(err)
		}
		b.WriteString("        " + n + ":\n          root: " + root + "\n")
	}
	writeFiles(t, dir, map[string]string{"inv.yaml": b.String()})
	return filepath.Join(dir, "inv.yaml")
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func TestBlocksRescueAlwaysAndIgnore(t *testing.T) {
	dir := t.TempDir()
	inv := localHosts(t, dir, "a", "b")
	writeFiles(t, dir, map[string]string{"play.yaml": `
- hosts: all
  tasks:
    - block:
        - command: "false"
          when: eq .inventory_hostname "a"
        - command: touch {{ .root }}/after-fail
      rescue:
        - command: touch {{ .root }}/rescued
      always:
        - command: touch {{ .root }}/always
    - command: "false"
      ignore_errors: true
    - command: touch {{ .root }}/end
`})
	code, out, errs := cli(t, "run", filepath.Join(dir, "play.yaml"), "-i", inv)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	ra, rb := filepath.Join(dir, "hosts/a"), filepath.Join(dir, "hosts/b")
	if exists(ra+"/after-fail") || !exists(ra+"/rescued") || !exists(ra+"/always") || !exists(ra+"/end") {
		t.Errorf("host a: block/rescue/always flow wrong\n%s", out)
	}
	if !exists(rb+"/after-fail") || exists(rb+"/rescued") || !exists(rb+"/always") || !exists(rb+"/end") {
		t.Errorf("host b: block/rescue/always flow wrong\n%s", out)
	}
	rc := recap(t, out)
	if rc["a"][5] != 1 || rc["a"][3] != 0 || rc["a"][6] != 1 || rc["b"][6] != 1 {
		t.Errorf("recap rescued/failed/ignored wrong: %v\n%s", rc, out)
	}
}

func TestFailedHostDropsOutOthersGoOn(t *testing.T) {
	dir := t.TempDir()
	inv := localHosts(t, dir, "a", "b")
	writeFiles(t, dir, map[string]string{"play.yaml": `
- hosts: all
  tasks:
    - command: "false"
      when: eq .inventory_hostname "a"
    - command: touch {{ .root }}/next
- hosts: all
  tasks:
    - command: touch {{ .root }}/play2
`})
	code, out, _ := cli(t, "run", filepath.Join(dir, "play.yaml"), "-i", inv)
	if code != 2 {
		t.Fatalf("exit %d, want 2 (a host failed)\n%s", code, out)
	}
	if exists(filepath.Join(dir, "hosts/a/next")) || exists(filepath.Join(dir, "hosts/a/play2")) {
		t.Errorf("failed host a went on")
	}
	if !exists(filepath.Join(dir, "hosts/b/next")) || !exists(filepath.Join(dir, "hosts/b/play2")) {
		t.Errorf("host b did not go on")
	}
	if !strings.Contains(out, "failed: [a]") {
		t.Errorf("no failed line:\n%s", out)
	}
}

func TestAnyErrorsFatalStopsAll(t *testing.T) {
	dir := t.TempDir()
	inv := localHosts(t, dir, "a", "b")
	writeFiles(t, dir, map[string]string{"play.yaml": `
- hosts: all
  any_errors_fatal: true
  tasks:
    - command: "false"
      when: eq .inventory_hostname "a"
    - command: touch {{ .root }}/next
`})
	code, _, _ := cli(t, "run", filepath.Join(dir, "play.yaml"), "-i", inv)
	if code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if exists(filepath.Join(dir, "hosts/b/next")) {
		t.Errorf("any_errors_fatal: b went on after a failed")
	}
}

// As in Ansible, any_errors_fatal ends the run: a later play does not run,
// not even on a host the failed play did not have (site.yaml's topology
// play stops before the barman play touches the barman host).
func TestAnyErrorsFatalStopsLaterPlays(t *testing.T) {
	dir := t.TempDir()
	inv := localHosts(t, dir, "a", "b")
	writeFiles(t, dir, map[string]string{"play.yaml": `
- hosts: a
  any_errors_fatal: true
  tasks:
    - command: "false"
- hosts: b
  tasks:
    - command: touch {{ .root }}/play2
`})
	code, out, _ := cli(t, "run", filepath.Join(dir, "play.yaml"), "-i", inv)
	if code != 2 {
		t.Fatalf("exit %d, want 2\n%s", code, out)
	}
	if exists(filepath.Join(dir, "hosts/b/play2")) {
		t.Errorf("any_errors_fatal: the next play ran on b after a failed\n%s", out)
	}
}

func TestTagsSerialRunOnceLoopRegister(t *testing.T) {
	dir := t.TempDir()
	inv := localHosts(t, dir, "a", "b", "c")
	log := filepath.Join(dir, "order.log")
	writeFiles(t, dir, map[string]string{"play.yaml": `
- hosts: all
  serial: 2
  tasks:
    - shell: echo "{{ .inventory_hostname }} t1" >> ` + log + `
    - shell: echo "{{ .inventory_hostname }} t2" >> ` + log + `
    - command: touch {{ .root }}/tagged
      tags: [cfg]
    - command: touch {{ .root }}/untagged
    - command: touch ` + dir + `/once-{{ .inventory_hostname }}
      run_once: true
      tags: [cfg]
    - command: echo {{ .item.n }}
      loop:
        - {n: one}
        - {n: two}
      register: out
      tags: [cfg]
    - copy:
        content: "{{ range .out.results }}{{ .stdout }},{{ end }}"
        dest: "{{ .root }}/loop"
      tags: [cfg]
`})
	code, out, errs := cli(t, "run", filepath.Join(dir, "play.yaml"), "-i", inv, "--tags", "cfg")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	for _, h := range []string{"a", "b", "c"} {
		r := filepath.Join(dir, "hosts", h)
		if !exists(r+"/tagged") || exists(r+"/untagged") {
			t.Errorf("%s: --tags cfg ran the wrong tasks", h)
		}
		if b, _ := os.ReadFile(r + "/loop"); string(b) != "one,two," {
			t.Errorf("%s: loop results registered as %q", h, b)
		}
	}
	if exists(log) {
		t.Errorf("--tags cfg ran untagged tasks")
	}
	// run_once runs once per serial batch (as Ansible does): a, then c.
	if !exists(dir+"/once-a") || exists(dir+"/once-b") || !exists(dir+"/once-c") {
		t.Errorf("run_once: wrong hosts ran it")
	}
	// serial: 2 -> a and b do both tasks before c starts.
	code, out, _ = cli(t, "run", filepath.Join(dir, "play.yaml"), "-i", inv, "--skip-tags", "cfg")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	b, _ := os.ReadFile(log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 6 || !strings.HasPrefix(lines[4], "c t1") || !strings.HasPrefix(lines[5], "c t2") {
		t.Errorf("serial batches out of order:\n%s", b)
	}
	if exists(filepath.Join(dir, "hosts/a/untagged")) == false {
		t.Errorf("--skip-tags cfg did not run untagged tasks")
	}
}

func TestHandlersFlushListenAndDelegate(t *testing.T) {
	dir := t.TempDir()
	inv := localHosts(t, dir, "a", "b")
	writeFiles(t, dir, map[string]string{"play.yaml": `
- hosts: all
  handlers:
    - name: h1
      shell: echo h1 >> {{ .root }}/handlers
    - name: h2
      listen: topic
      shell: echo h2 >> {{ .root }}/handlers
  tasks:
    - copy: {content: "x", dest: "{{ .root }}/f"}
      notify: [h1, topic]
    - meta: flush_handlers
    - shell: echo mid >> {{ .root }}/handlers
    - command: touch ` + dir + `/delegated-{{ .inventory_hostname }}
      delegate_to: localhost
`})
	code, out, errs := cli(t, "run", filepath.Join(dir, "play.yaml"), "-i", inv)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	for _, h := range []string{"a", "b"} {
		b, _ := os.ReadFile(filepath.Join(dir, "hosts", h, "handlers"))
		if string(b) != "h1\nh2\nmid\n" {
			t.Errorf("%s: handlers ran as %q, want h1, h2 (flushed) then mid", h, b)
		}
		if !exists(filepath.Join(dir, "delegated-"+h)) {
			t.Errorf("delegate_to: %s's task did not run", h)
		}
	}
	if !strings.Contains(out, "RUNNING HANDLER [h1]") {
		t.Errorf("no handler banner:\n%s", out)
	}
}

func TestInitWritesEmbeddedContent(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := cli(t, "init", dir)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	if !strings.Contains(out, "wrote") || strings.Contains(out, "wrote 0 files") {
		t.Errorf("init wrote nothing: %s", out)
	}
	for _, f := range []string{"playbooks/site.yaml", "roles/postgres/tasks/main.yaml"} {
		if !exists(filepath.Join(dir, f)) {
			t.Errorf("init did not write %s", f)
		}
	}
	code, _, errs = cli(t, "init", dir)
	if code == 0 {
		t.Errorf("second init overwrote files without --force")
	} else if !strings.Contains(errs, "--force") {
		t.Errorf("refusal does not mention --force: %s", errs)
	}
}

func TestRoleCommandRunsOneRole(t *testing.T) {
	dir := t.TempDir()
	inv := localHosts(t, dir, "a", "b")
	writeFiles(t, dir, map[string]string{
		"roles/mark/defaults/main.yaml": "what: default\n",
		"roles/mark/tasks/main.yaml":    "- copy: {content: \"{{ .what }}\", dest: \"{{ .root }}/mark\"}\n",
	})
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	code, out, errs := cli(t, "role", "mark", "-i", inv, "-l", "b", "-e", "what=given", "--become=false")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	if exists(filepath.Join(dir, "hosts/a/mark")) {
		t.Errorf("--limit b: role ran on a")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "hosts/b/mark")); string(b) != "given" {
		t.Errorf("role wrote %q, want the -e value", b)
	}
	code, _, errs = cli(t, "role", "nosuchrole", "-i", inv)
	if code != 4 || !strings.Contains(errs, "nosuchrole") {
		t.Errorf("unknown role: exit %d, %s", code, errs)
	}
}

func TestVariableChainsAndChangedFailedWhen(t *testing.T) {
	dir := t.TempDir()
	inv := localHosts(t, dir, "a")
	writeFiles(t, dir, map[string]string{"play.yaml": `
- hosts: all
  vars:
    c: 1
    b: "x-{{ .c }}"
    a: "{{ .b }}"
    l: ["{{ .a }}", "{{ .b }}"]
    z: "{{ .y }}"
    y: "{{ .a }}-y"
  tasks:
    - copy:
        content: "{{ .a }} {{ .l }} {{ .z }}"
        dest: "{{ .root }}/chain"
    - command: "false"
      failed_when: false
      changed_when: false
      register: r
    - assert:
        that: ["not .r.changed", "not .r.failed", "eq .r.rc 1"]
`})
	for i := 0; i < 5; i++ { // map order varies from run to run
		code, out, errs := cli(t, "run", filepath.Join(dir, "play.yaml"), "-i", inv)
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, out, errs)
		}
		if rc := recap(t, out); i > 0 && rc["a"][1] != 0 {
			t.Fatalf("run %d: changed=%d: the chain rendered differently\n%s", i, rc["a"][1], out)
		}
		b, _ := os.ReadFile(filepath.Join(dir, "hosts/a/chain"))
		if string(b) != "x-1 [x-1 x-1] x-1-y" {
			t.Fatalf("run %d: chained variables rendered as %q", i, b)
		}
	}
}

// --force-handlers: a host that failed after notifying a handler still
// runs it; without the flag, the run warns that it did not.
func TestForceHandlersFlag(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"inv.yaml": "all:\n  hosts:\n    solo: {connection: local}\n",
		"play.yaml": "- hosts: all\n  tasks:\n    - command: {argv: [\"true\"]}\n      notify: mark\n    - fail: {msg: broken}\n" +
			"  handlers:\n    - name: mark\n      command: {argv: [touch, \"" + dir + "/marked\"]}\n",
	})
	code, out, errOut := cli(t, "run", filepath.Join(dir, "play.yaml"), "-i", filepath.Join(dir, "inv.yaml"))
	if _, err := os.Stat(filepath.Join(dir, "marked")); code != 2 || err == nil || !strings.Contains(out+errOut, "handlers notified but not run") || !strings.Contains(out+errOut, "mark [solo]") {
		t.Errorf("without the flag: exit %d, handler ran: %v; want 2, not run, and a warning\n%s%s", code, err == nil, out, errOut)
	}
	code, out, errOut = cli(t, "run", filepath.Join(dir, "play.yaml"), "-i", filepath.Join(dir, "inv.yaml"), "--force-handlers")
	if _, err := os.Stat(filepath.Join(dir, "marked")); code != 2 || err != nil {
		t.Errorf("--force-handlers: exit %d, marker: %v; want 2 and the handler run\n%s%s", code, err, out, errOut)
	}
}

// run_once with set_fact: the first host's facts apply to every host of
// the play (as its registered result does), as in Ansible.
func TestRunOnceSetFactAppliesToEveryHost(t *testing.T) {
	dir := t.TempDir()
	inv := localHosts(t, dir, "a", "b", "c")
	writeFiles(t, dir, map[string]string{"play.yaml": `
- hosts: all
  tasks:
    - set_fact:
        picked: "{{ .inventory_hostname }}"
        count: 3
      run_once: true
    - copy:
        content: "{{ .picked }} {{ .count }} {{ .hostvars.c.picked }}"
        dest: "{{ .root }}/picked"
`})
	code, out, errs := cli(t, "run", filepath.Join(dir, "play.yaml"), "-i", inv)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	for _, h := range []string{"a", "b", "c"} {
		if b, _ := os.ReadFile(filepath.Join(dir, "hosts", h, "picked")); string(b) != "a 3 a" {
			t.Errorf("%s: the run_once fact reads %q, want %q", h, b, "a 3 a")
		}
	}
}
