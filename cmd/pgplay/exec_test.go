package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pgplay exec runs one module on a pattern's hosts and prints each host's
// result as the ansible command does; command is the default module.
func TestExecCommandOutput(t *testing.T) {
	l := newLab(t, []string{"a", "b"}, "        down:\n          root: /nonexistent\n          ssh_port: 1\n")

	code, out, errs := cli(t, "exec", "web:!down", "-i", l.inv, "-a", "echo hi {{ .inventory_hostname }}")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	for _, h := range []string{"a", "b"} {
		if !strings.Contains(out, h+" | CHANGED | rc=0 >>\nhi "+h+"\n") {
			t.Errorf("no ansible-style block for %s:\n%s", h, out)
		}
	}
	if strings.Contains(out, "PLAY RECAP") || strings.Contains(out, "TASK [") {
		t.Errorf("ad-hoc output has playbook banners:\n%s", out)
	}

	// Leading key=value words of a free-form command are arguments
	// (chdir=), the rest is the command; shell takes pipes.
	code, out, errs = cli(t, "exec", "a", "-i", l.inv, "-a", "chdir={{ .root }} pwd")
	if code != 0 || !strings.Contains(out, "a | CHANGED | rc=0 >>\n"+l.roots["a"]+"\n") {
		t.Errorf("chdir= pwd: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = cli(t, "exec", "a", "-i", l.inv, "-m", "shell", "-a", "printf 'x\\ny\\n' | wc -l", "--one-line")
	if code != 0 || !strings.Contains(out, "a | CHANGED | rc=0 | (stdout) 2\n") {
		t.Errorf("shell --one-line: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, _ = cli(t, "exec", "web:!down", "-i", l.inv, "-a", "printf 'l1\\nl2'", "-o")
	if code != 0 || !strings.Contains(out, `a | CHANGED | rc=0 | (stdout) l1\nl2`) {
		t.Errorf("-o: output lines not joined with \\n:\n%s", out)
	}

	// A failed command: FAILED with its rc and stderr, exit 2 as run's.
	code, out, _ = cli(t, "exec", "a", "-i", l.inv, "-m", "shell", "-a", "echo oops >&2; exit 3")
	if code != exitHostFailed || !strings.Contains(out, "a | FAILED | rc=3 >>\noops") {
		t.Errorf("failing command: exit %d, want 2 and a FAILED block\n%s", code, out)
	}
	// An unreachable host: UNREACHABLE!, exit 3; --limit narrows.
	code, out, _ = cli(t, "exec", "web", "-i", l.inv, "-a", "true", "--limit", "a,down", "--connect-timeout", "5s")
	if code != exitUnreachable || !strings.Contains(out, "down | UNREACHABLE! =>") || !strings.Contains(out, "a | CHANGED | rc=0") || strings.Contains(out, "b |") {
		t.Errorf("unreachable host with --limit a,down: exit %d, want 3\n%s", code, out)
	}
}

// Other modules print SUCCESS/CHANGED => JSON; -a takes key=value pairs or
// a JSON mapping; --check changes nothing; -e and --output json work.
func TestExecModules(t *testing.T) {
	l := newLab(t, []string{"a"}, "")
	target := filepath.Join(l.roots["a"], "touched")

	code, out, errs := cli(t, "exec", "a", "-i", l.inv, "-m", "file", "-a", "path={{ .root }}/touched state=touch", "--check")
	if code != 0 || !strings.Contains(out, "a | CHANGED =>") {
		t.Errorf("file --check: exit %d\n%s\n%s", code, out, errs)
	}
	if exists(target) {
		t.Errorf("--check created %s", target)
	}
	// A command in check mode does not run: the block says what would.
	code, out, errs = cli(t, "exec", "a", "-i", l.inv, "-a", "touch {{ .root }}/touched", "--check")
	if code != 0 || !strings.Contains(out, "a | CHANGED | rc=0 >>\nwould run: touch "+target+"\n") || exists(target) {
		t.Errorf("command --check: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = cli(t, "exec", "a", "-i", l.inv, "-m", "file", "-a", `{"path": "{{ .root }}/{{ .name }}", "state": "touch"}`, "-e", "name=touched")
	if code != 0 || !strings.Contains(out, "a | CHANGED => {\n") || !exists(target) {
		t.Errorf("file with a JSON -a and -e: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = cli(t, "exec", "a", "-i", l.inv, "-m", "stat", "-a", "path="+target)
	if code != 0 || !strings.Contains(out, "a | SUCCESS => {") || !strings.Contains(out, `"exists": true`) {
		t.Errorf("stat: exit %d\n%s\n%s", code, out, errs)
	}

	// --diff shows the change of a file, as in a run.
	code, out, errs = cli(t, "exec", "a", "-i", l.inv, "-m", "copy", "-a", "content='new\n' dest={{ .root }}/conf", "--diff")
	if code != 0 || !strings.Contains(out, "+new") || !strings.Contains(out, "a | CHANGED =>") {
		t.Errorf("copy --diff: exit %d\n%s\n%s", code, out, errs)
	}

	code, out, errs = cli(t, "exec", "a", "-i", l.inv, "-a", "echo {{ .db_password }}", "--output", "json")
	if code != 0 {
		t.Fatalf("json: exit %d\n%s\n%s", code, out, errs)
	}
	if strings.Contains(out, "s3cr3t-Pa55") {
		t.Errorf("a secret reached the JSON output:\n%s", out)
	}
	var results int
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		if ev["event"] == "host_result" && ev["host"] == "a" {
			results++
		}
	}
	if results != 1 {
		t.Errorf("want one host_result for a, got %d\n%s", results, out)
	}
}

// Bad input to exec is refused before any host is contacted, saying where
// (-m/-a), what and what to do.
func TestExecBadInput(t *testing.T) {
	w := newWatchedHosts(t)
	before := w.srv.AcceptedLogins()
	cases := []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"-m", "systemd", "-a", "name=x state=started"}, exitParse, []string{"-m systemd -a 'name=x state=started': unknown module \"systemd\"", "use `service`"}},
		{[]string{"-m", "ansible.posix.authorized_key", "-a", "user=x key=y"}, exitParse, []string{"unknown module", "write `authorized_key`"}},
		{[]string{"-m", "fiel", "-a", "path=/x"}, exitParse, []string{`did you mean "file"`}},
		{[]string{"-m", "file", "-a", "pth=/x state=touch"}, exitParse, []string{"-m file -a 'pth=/x state=touch'", `unknown argument "pth"`, `did you mean "path"`}},
		{[]string{"-m", "command"}, exitParse, []string{"no command given", "-a 'uptime'"}},
		{[]string{"-m", "file", "-a", "{path: [}"}, exitParse, []string{"-a is not a YAML or JSON mapping"}},
		{[]string{"-a", "echo {{ .nosuchvar }}"}, exitParse, []string{"nosuchvar"}},
		{[]string{"-a", "{{ .nosuchvar }} x"}, exitParse, []string{"nosuchvar"}},
	}
	for _, c := range cases {
		args := append([]string{"exec", "all", "-i", w.inv}, c.args...)
		code, out, errs := cli(t, args...)
		if code != c.code {
			t.Errorf("%v: exit %d, want %d\n%s\n%s", c.args, code, c.code, out, errs)
		}
		for _, s := range c.want {
			if !strings.Contains(errs, s) {
				t.Errorf("%v: stderr lacks %q:\n%s", c.args, s, errs)
			}
		}
	}
	code, _, errs := cli(t, "exec", "-i", w.inv, "-a", "true")
	if code != exitOptions || !strings.Contains(errs, "exec takes one host pattern") {
		t.Errorf("no pattern: exit %d\n%s", code, errs)
	}
	code, _, errs = cli(t, "exec", "nosuchhost", "-i", w.inv, "-a", "true")
	if code == 0 || !strings.Contains(errs, "host pattern nosuchhost") {
		t.Errorf("unknown pattern: exit %d\n%s", code, errs)
	}
	w.untouched(t, before)
}

// An Ansible module pgplay spells differently, or does not have, is
// refused at its file:line:col with the pgplay module to use.
func TestAnsibleModuleNamesPointAtPgplays(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ module, args, want string }{
		{"systemd", "{name: x, state: started}", "use `service`"},
		{"systemd_service", "{name: x, state: started}", "use `service`"},
		{"package", "{name: x}", "use `apt`"},
		{"replace", "{path: /x, regexp: a, replace: b}", "use `lineinfile`"},
		{"get_url", "{url: http://x, dest: /x}", "command: curl"},
		{"ansible.posix.sysctl", "{name: x, value: 1}", "write `sysctl`: pgplay's modules have no collection prefix"},
		{"ansible.builtin.systemd", "{name: x}", "use `service`"},
		{"community.postgresql.postgresql_db", "{name: x}", "use `pg_database`"},
		{"templte", "{src: a, dest: b}", `did you mean "template"`},
	}
	for _, c := range cases {
		pb := filepath.Join(dir, "play.yaml")
		writeFiles(t, dir, map[string]string{"play.yaml": "- hosts: all\n  tasks:\n    - name: t\n      " + c.module + ": " + c.args + "\n"})
		code, out, errs := cli(t, "run", pb, "--syntax-check")
		if code != exitParse {
			t.Errorf("%s: exit %d, want 4\n%s%s", c.module, code, out, errs)
		}
		for _, w := range []string{pb + ":4:7: unknown module \"" + c.module + "\"", c.want} {
			if !strings.Contains(errs, w) {
				t.Errorf("%s: stderr lacks %q:\n%s", c.module, w, errs)
			}
		}
	}
}

// -b and --become-user run the module as another user, as ansible's.
func TestExecBecome(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("become tests need root (sudo to nobody); CI runs as root")
	}
	l := newLab(t, []string{"a"}, "")
	code, out, errs := cli(t, "exec", "a", "-i", l.inv, "-a", "id -un", "-b", "--become-user", "nobody")
	if code != 0 || !strings.Contains(out, "a | CHANGED | rc=0 >>\nnobody\n") {
		t.Errorf("-b --become-user nobody: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = cli(t, "exec", "a", "-i", l.inv, "-a", "id -un", "--become-user", "nobody")
	if code != 0 || strings.Contains(out, "nobody") {
		t.Errorf("--become-user without -b became: exit %d\n%s\n%s", code, out, errs)
	}
}
