package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pgplay/pgplay/internal/sshtest"
)

// cli runs pgplay with args and returns its exit code, stdout and stderr.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Never the test's own stdin: prompts must find no terminal.
	code := runWithInput(ctx, args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// lab is a set of inventory hosts served by one real sshd on loopback; each
// host works under its own directory.
type sshHosts struct {
	dir   string
	inv   string
	roots map[string]string
}

func newLab(t *testing.T, hosts []string, extraInv string) *sshHosts {
	t.Helper()
	srv := sshtest.Start(t)
	cfg := srv.Config("x")
	dir := t.TempDir()
	l := &sshHosts{dir: dir, inv: filepath.Join(dir, "inventory.yaml"), roots: map[string]string{}}
	var b strings.Builder
	fmt.Fprintf(&b, "all:\n  vars:\n    ssh_host: %s\n    ssh_port: %d\n    ssh_user: %s\n    ssh_key: %s\n    ssh_known_hosts: %s\n    ssh_config: none\n    db_password: \"s3cr3t-Pa55\"\n",
		cfg.Addr, cfg.Port, cfg.User, cfg.KeyFiles[0], cfg.KnownHostsFiles[0])
	b.WriteString("  children:\n    web:\n      hosts:\n")
	for _, h := range hosts {
		root := filepath.Join(dir, "hosts", h)
		if err := os.MkdirAll(root, 0o755); err != nil {
			t.Fatal(err)
		}
		l.roots[h] = root
		fmt.Fprintf(&b, "        %s:\n          root: %s\n", h, root)
	}
	b.WriteString(extraInv)
	writeFiles(t, dir, map[string]string{"inventory.yaml": b.String()})
	return l
}

var recapLine = regexp.MustCompile(`(?m)^(\S+)\s*: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)\s+rescued=(\d+)\s+ignored=(\d+)`)

// recap parses PLAY RECAP lines: host -> [ok changed unreachable failed skipped rescued ignored].
func recap(t *testing.T, out string) map[string][7]int {
	t.Helper()
	res := map[string][7]int{}
	for _, m := range recapLine.FindAllStringSubmatch(out, -1) {
		var v [7]int
		for i := 0; i < 7; i++ {
			fmt.Sscan(m[i+2], &v[i])
		}
		res[m[1]] = v
	}
	if len(res) == 0 {
		t.Fatalf("no PLAY RECAP in output:\n%s", out)
	}
	return res
}

const convergePlay = `
- name: converge
  hosts: web
  vars:
    greeting: hello
  handlers:
    - name: restart app
      command: touch {{ .root }}/restarted
  tasks:
    - name: dirs
      file:
        path: "{{ .root }}/{{ .item }}"
        state: directory
        mode: "0755"
      loop: [etc, data]
    - name: config
      copy:
        content: "greeting={{ .greeting }}\n"
        dest: "{{ .root }}/etc/app.conf"
        mode: "0640"
      notify: restart app
    - name: template
      template:
        src: app.tmpl
        dest: "{{ .root }}/etc/app2.conf"
    - name: line
      lineinfile:
        path: "{{ .root }}/etc/app.ini"
        create: true
        regexp: '^port='
        line: port=5432
    - name: read it back
      command: cat {{ .root }}/etc/app.conf
      register: out
      changed_when: false
      check_mode: false
    - name: show
      debug:
        msg: "got {{ .out.stdout }} pw={{ .db_password }}"
    - name: only on a
      command: touch {{ .root }}/only-a
      args:
        creates: "{{ .root }}/only-a"
      when: eq .inventory_hostname "a"
    - name: count until three
      shell: n=$(cat {{ .root }}/counter 2>/dev/null || echo 0); echo $((n+1)) > {{ .root }}/counter; cat {{ .root }}/counter
      register: c
      until: ge (atoi .c.stdout) 3
      retries: 5
      delay: 0
      changed_when: false
      check_mode: false
`

func TestConvergeIdempotentCheckAndHandlers(t *testing.T) {
	l := newLab(t, []string{"a", "b"}, "")
	writeFiles(t, l.dir, map[string]string{
		"play.yaml":          convergePlay,
		"templates/app.tmpl": "host={{ .inventory_hostname }}\n",
	})
	pb := filepath.Join(l.dir, "play.yaml")

	code, out, errs := cli(t, "run", pb, "-i", l.inv)
	if code != 0 {
		t.Fatalf("first run exit %d\n%s\n%s", code, out, errs)
	}
	rc := recap(t, out)
	// a: dirs, config, template, line, handler, only-a changed = 6; b: 5.
	if rc["a"][1] != 6 || rc["b"][1] != 5 {
		t.Errorf("first run changed counts: a=%d b=%d, want 6 and 5\n%s", rc["a"][1], rc["b"][1], out)
	}
	for h, root := range l.roots {
		b, err := os.ReadFile(filepath.Join(root, "etc/app.conf"))
		if err != nil || string(b) != "greeting=hello\n" {
			t.Errorf("%s: app.conf = %q, %v", h, b, err)
		}
		if st, err := os.Stat(filepath.Join(root, "etc/app.conf")); err != nil || st.Mode().Perm() != 0o640 {
			t.Errorf("%s: app.conf mode %v %v, want 0640", h, st.Mode().Perm(), err)
		}
		if b, _ := os.ReadFile(filepath.Join(root, "etc/app2.conf")); string(b) != "host="+h+"\n" {
			t.Errorf("%s: template rendered %q", h, b)
		}
		if _, err := os.Stat(filepath.Join(root, "restarted")); err != nil {
			t.Errorf("%s: handler did not run on change: %v", h, err)
		}
		if b, _ := os.ReadFile(filepath.Join(root, "counter")); strings.TrimSpace(string(b)) != "3" {
			t.Errorf("%s: until loop ran to %q, want 3", h, b)
		}
	}
	if _, err := os.Stat(filepath.Join(l.roots["b"], "only-a")); err == nil {
		t.Errorf("when: task ran on b")
	}
	if !strings.Contains(out, "got greeting=hello") {
		t.Errorf("debug message missing:\n%s", out)
	}
	if strings.Contains(out, "s3cr3t-Pa55") || strings.Contains(errs, "s3cr3t-Pa55") {
		t.Errorf("secret leaked into output:\n%s", out)
	}

	// Second run: nothing changes, the handler does not fire.
	for _, root := range l.roots {
		os.Remove(filepath.Join(root, "restarted"))
	}
	code, out, errs = cli(t, "run", pb, "-i", l.inv)
	if code != 0 {
		t.Fatalf("second run exit %d\n%s\n%s", code, out, errs)
	}
	for h, v := range recap(t, out) {
		if v[1] != 0 {
			t.Errorf("second run: %s changed=%d, want 0\n%s", h, v[1], out)
		}
	}
	for h, root := range l.roots {
		if _, err := os.Stat(filepath.Join(root, "restarted")); err == nil {
			t.Errorf("%s: handler ran without a change", h)
		}
	}

	// Drift on a; --check --diff reports it and changes nothing.
	conf := filepath.Join(l.roots["a"], "etc/app.conf")
	if err := os.WriteFile(conf, []byte("greeting=tampered\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	code, out, errs = cli(t, "run", pb, "-i", l.inv, "--check", "--diff")
	if code != 0 {
		t.Fatalf("check run exit %d\n%s\n%s", code, out, errs)
	}
	rc = recap(t, out)
	if rc["a"][1] != 2 { // config + handler
		t.Errorf("check: a changed=%d, want 2 (config and its handler)\n%s", rc["a"][1], out)
	}
	if rc["b"][1] != 0 {
		t.Errorf("check: b changed=%d, want 0", rc["b"][1])
	}
	if !strings.Contains(out, "-greeting=tampered") || !strings.Contains(out, "+greeting=hello") {
		t.Errorf("--diff did not show the change:\n%s", out)
	}
	if b, _ := os.ReadFile(conf); string(b) != "greeting=tampered\n" {
		t.Errorf("--check changed the file: %q", b)
	}
	if _, err := os.Stat(filepath.Join(l.roots["a"], "restarted")); err == nil {
		t.Errorf("--check ran the handler's command")
	}

	// JSON output: one object per line, a host_result per host and task, no secret.
	code, out, _ = cli(t, "run", pb, "-i", l.inv, "--output", "json")
	if code != 0 {
		t.Fatalf("json run exit %d", code)
	}
	if strings.Contains(out, "s3cr3t-Pa55") {
		t.Errorf("secret leaked into JSON output")
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	kinds := map[string]int{}
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("not a JSON line: %q: %v", sc.Text(), err)
		}
		kinds[fmt.Sprint(ev["event"])]++
	}
	if kinds["host_result"] < 10 || kinds["recap"] != 1 || kinds["play_start"] != 1 {
		t.Errorf("JSON events: %v", kinds)
	}
}

// sharedDir is a directory every user may write to, for become tests
// (t.TempDir's parents are 0700: nobody cannot reach it).
func sharedDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "pgplay-become-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	if err := os.Chmod(d, 0o777); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestBecomeCommandAndFile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("become tests need root (sudo to nobody); CI runs as root")
	}
	l := newLab(t, []string{"a"}, "")
	shared := sharedDir(t)
	writeFiles(t, l.dir, map[string]string{"play.yaml": `
- hosts: all
  become: true
  become_user: nobody
  tasks:
    - command: id -un
      register: who
      changed_when: false
    - assert:
        that: [eq .who.stdout "nobody"]
    - copy:
        content: "x\n"
        dest: ` + shared + `/by-nobody
`})
	code, out, errs := cli(t, "run", filepath.Join(l.dir, "play.yaml"), "-i", l.inv)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	st, err := os.Stat(filepath.Join(shared, "by-nobody"))
	if err != nil {
		t.Fatal(err)
	}
	if uid := statUID(st); uid != 65534 {
		t.Errorf("file written with become is owned by uid %d, want nobody (65534)", uid)
	}
}

// become_user may be a template (as in Ansible): rendered per host, an
// error in it names the keyword.
func TestBecomeUserTemplate(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("become tests need root (sudo to nobody); CI runs as root")
	}
	l := newLab(t, []string{"a"}, "")
	writeFiles(t, l.dir, map[string]string{"play.yaml": `
- hosts: all
  vars:
    runner: nobody
  tasks:
    - command: id -un
      become: true
      become_user: "{{ .runner }}"
      register: who
      changed_when: false
    - assert:
        that: [eq .who.stdout "nobody"]
`, "bad.yaml": `
- hosts: all
  tasks:
    - command: id -un
      become: true
      become_user: "{{ .nosuchuser }}"
`})
	if code, out, errs := cli(t, "run", filepath.Join(l.dir, "play.yaml"), "-i", l.inv); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs := cli(t, "run", filepath.Join(l.dir, "bad.yaml"), "-i", l.inv)
	if code == 0 || !strings.Contains(out+errs, "become_user") || !strings.Contains(out+errs, "nosuchuser") {
		t.Errorf("an undefined variable in become_user: exit %d, want an error naming become_user and the variable:\n%s\n%s", code, out, errs)
	}
}

// A role entry's become_user applies to the role's handlers as to its
// tasks.
func TestRoleBecomeAppliesToItsHandlers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("become tests need root (sudo to nobody); CI runs as root")
	}
	l := newLab(t, []string{"a"}, "")
	shared := sharedDir(t)
	writeFiles(t, l.dir, map[string]string{
		"play.yaml":                  "- hosts: all\n  roles:\n    - {role: r, become: true, become_user: nobody}\n",
		"roles/r/tasks/main.yaml":    "- command: {argv: [\"true\"]}\n  notify: who\n",
		"roles/r/handlers/main.yaml": "- name: who\n  shell: id -un > " + shared + "/handler-user\n",
	})
	code, out, errs := cli(t, "run", filepath.Join(l.dir, "play.yaml"), "-i", l.inv)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	if b, err := os.ReadFile(filepath.Join(shared, "handler-user")); err != nil || string(b) != "nobody\n" {
		t.Errorf("the role's handler ran as %q (%v), want nobody", b, err)
	}
}

func TestUnreachableHostOthersFinish(t *testing.T) {
	l := newLab(t, []string{"a"}, "        down:\n          root: /nonexistent\n          ssh_port: 1\n")
	writeFiles(t, l.dir, map[string]string{"play.yaml": `
- hosts: web
  tasks:
    - command: touch {{ .root }}/one
    - command: touch {{ .root }}/two
`})
	code, out, errs := cli(t, "run", filepath.Join(l.dir, "play.yaml"), "-i", l.inv, "--connect-timeout", "3s")
	if code != 3 {
		t.Fatalf("exit %d, want 3 (unreachable)\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(out, "unreachable: [down]") {
		t.Errorf("no unreachable line for down:\n%s", out)
	}
	rc := recap(t, out)
	if rc["down"][2] != 1 || rc["a"][1] != 2 {
		t.Errorf("recap: %v\n%s", rc, out)
	}
	for _, f := range []string{"one", "two"} {
		if _, err := os.Stat(filepath.Join(l.roots["a"], f)); err != nil {
			t.Errorf("reachable host did not finish: %v", err)
		}
	}
}

func TestChangedHostKeyRefused(t *testing.T) {
	srv := sshtest.Start(t)
	cfg := srv.Config("x")
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"inv.yaml": fmt.Sprintf("all:\n  hosts:\n    h:\n      ssh_host: %s\n      ssh_port: %d\n      ssh_user: %s\n      ssh_key: %s\n      ssh_known_hosts: %s\n      ssh_config: none\n",
			cfg.Addr, cfg.Port, cfg.User, cfg.KeyFiles[0], cfg.KnownHostsFiles[0]),
		"play.yaml": "- hosts: all\n  tasks:\n    - command: touch " + dir + "/touched\n",
	})
	srv.RotateHostKey(t)
	for _, extra := range [][]string{nil, {"--accept-new-host-keys"}} {
		args := append([]string{"run", filepath.Join(dir, "play.yaml"), "-i", filepath.Join(dir, "inv.yaml")}, extra...)
		code, out, errs := cli(t, args...)
		if code != 3 {
			t.Fatalf("%v: exit %d, want 3\n%s\n%s", extra, code, out, errs)
		}
		if !strings.Contains(strings.ToLower(out), "host key") {
			t.Errorf("%v: message does not mention the host key:\n%s", extra, out)
		}
		if _, err := os.Stat(filepath.Join(dir, "touched")); err == nil {
			t.Fatalf("%v: command ran on a host with a changed key", extra)
		}
	}
}

func TestBadInputsTouchNothing(t *testing.T) {
	l := newLab(t, []string{"a"}, "")
	marker := filepath.Join(l.roots["a"], "touched")
	first := "    - command: touch " + marker + "\n"
	cases := []struct {
		name, play string
		args       []string
		code       int
		want       []string
	}{
		{"malformed yaml", "- hosts: all\n  tasks:\n" + first + "    - command: [unclosed\n", nil, 4, []string{"play.yaml:"}},
		{"playbook is a mapping", "hosts: all\n", nil, 4, []string{"play.yaml:1", "list of plays"}},
		{"unknown module", "- hosts: all\n  tasks:\n" + first + "    - copyy: {dest: /tmp/x}\n", nil, 4, []string{"play.yaml:4", "copyy"}},
		{"unknown argument", "- hosts: all\n  tasks:\n" + first + "    - copy: {dest: /tmp/x, contnt: y}\n", nil, 4, []string{"play.yaml:", "contnt", "content"}},
		{"wrong type", "- hosts: all\n  tasks:\n" + first + "    - copy: {dest: /tmp/x, content: y, backup: maybe}\n", nil, 4, []string{"play.yaml:", "backup"}},
		{"unknown group", "- hosts: nosuch\n  tasks:\n" + first, nil, 4, []string{"play.yaml:1", "nosuch"}},
		{"unknown host in limit", "- hosts: all\n  tasks:\n" + first, []string{"--limit", "ghost"}, 5, []string{"ghost"}},
		{"bad extra vars", "- hosts: all\n  tasks:\n" + first, []string{"-e", "novalue"}, 5, []string{"key=value"}},
		{"tag both run and skipped", "- hosts: all\n  tasks:\n" + first, []string{"-t", "cfg", "--skip-tags", "cfg"}, 5, []string{"cfg", "--skip-tags", "hint:"}},
		{"undefined variable", "- hosts: all\n  tasks:\n    - command: touch {{ .nosuchvar }}\n" + first, nil, 4, []string{"play.yaml:3", "nosuchvar", "hint:"}},
		{"undefined nested key at run time", "- hosts: all\n  vars:\n    m: {a: 1}\n  tasks:\n    - command: touch {{ .m.nosuchkey }}\n" + first, nil, 2, []string{"play.yaml:5", "nosuchkey"}},
		{"run-time template error at its argument's line", "- hosts: all\n  vars:\n    m: {a: 1}\n  tasks:\n    - name: write it\n      copy:\n        dest: /tmp/x\n        content: \"{{ .m.nosuchkey }}\"\n" + first,
			nil, 2, []string{"failed: [a]", `play.yaml:8:9: task "write it" (argument "content"): .m has no key "nosuchkey"`, "hint:"}},
		{"run-time template error in a list argument", "- hosts: all\n  tasks:\n    - name: echo it\n      command:\n        argv:\n          - echo\n          - \"{{ div 1 0 }}\"\n" + first,
			nil, 2, []string{"failed: [a]", `play.yaml:5:9: task "echo it" (argument "argv[1]")`, "divide by zero", `hint: fix the template of argument "argv"`}},
		{"run-time template error in delegate_to at its line", "- hosts: all\n  vars:\n    m: {a: 1}\n  tasks:\n    - name: touch it\n      command: touch " + marker + "\n      delegate_to: \"{{ .m.nosuchkey }}\"\n" + first,
			nil, 2, []string{"failed: [a]", `play.yaml:7:20: task "touch it" (delegate_to): .m has no key "nosuchkey"`, "hint:"}},
		{"run-time template error in the play's become_user at its line", "- hosts: all\n  become: true\n  become_user: \"{{ .m.nosuchkey }}\"\n  vars:\n    m: {a: 1}\n  tasks:\n    - name: touch it\n      command: touch " + marker + "\n" + first,
			nil, 2, []string{"failed: [a]", `play.yaml:3:16: task "touch it" (become_user): .m has no key "nosuchkey"`, "hint:"}},
		{"run-time template error in become_user at its line", "- hosts: all\n  vars:\n    m: {a: 1}\n  tasks:\n    - name: touch it\n      command: touch " + marker + "\n      become: true\n      become_user: \"{{ .m.nosuchkey }}\"\n" + first,
			nil, 2, []string{"failed: [a]", `play.yaml:8:20: task "touch it" (become_user): .m has no key "nosuchkey"`, "hint:"}},
		{"missing template", "- hosts: all\n  tasks:\n    - template: {src: nope.tmpl, dest: /tmp/x}\n" + first, nil, 4, []string{"play.yaml:3", "nope.tmpl", "hint:"}},
		{"template file with a typo", "- hosts: all\n  tasks:\n    - template: {src: bad.tmpl, dest: /tmp/x}\n" + first, nil, 4, []string{"play.yaml:3", "bad.tmpl", "greting"}},
		{"template file with bad syntax", "- hosts: all\n  tasks:\n    - template: {src: syntax.tmpl, dest: /tmp/x}\n" + first, nil, 4, []string{"play.yaml:3", "syntax.tmpl"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(l.dir, "play.yaml")
			writeFiles(t, l.dir, map[string]string{"play.yaml": c.play,
				"templates/bad.tmpl": "hello {{ .greting }}\n", "templates/syntax.tmpl": "hello {{ .x \n"})
			args := append([]string{"run", p, "-i", l.inv}, c.args...)
			code, out, errs := cli(t, args...)
			all := out + errs
			if code != c.code {
				t.Errorf("exit %d, want %d\n%s", code, c.code, all)
			}
			for _, w := range c.want {
				if !strings.Contains(all, w) {
					t.Errorf("message lacks %q:\n%s", w, all)
				}
			}
			if _, err := os.Stat(marker); err == nil {
				os.Remove(marker)
				t.Errorf("a host was touched")
			}
		})
	}
}
