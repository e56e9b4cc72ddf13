package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pgplay/pgplay/internal/sshtest"
	"github.com/pgplay/pgplay/internal/vault"
)

// watchedHosts is a one-host inventory served by a real sshd whose log
// tells whether pgplay logged in at all.
type watchedHosts struct {
	srv    *sshtest.Server
	inv    string // inventory file
	marker string // a file the playbooks' first task creates on the host
}

func newWatchedHosts(t *testing.T) *watchedHosts {
	t.Helper()
	srv := sshtest.Start(t)
	cfg := srv.Config("a")
	dir := t.TempDir()
	w := &watchedHosts{srv: srv, inv: filepath.Join(dir, "inventory.yaml"), marker: filepath.Join(dir, "touched")}
	writeFiles(t, dir, map[string]string{"inventory.yaml": fmt.Sprintf(
		"all:\n  hosts:\n    a:\n      ssh_host: %s\n      ssh_port: %d\n      ssh_user: %s\n      ssh_key: %s\n      ssh_known_hosts: %s\n      ssh_config: none\n",
		cfg.Addr, cfg.Port, cfg.User, cfg.KeyFiles[0], cfg.KnownHostsFiles[0])})
	return w
}

// untouched fails the test if the host was logged into or the marker
// file exists.
func (w *watchedHosts) untouched(t *testing.T, loginsBefore int) {
	t.Helper()
	if n := w.srv.AcceptedLogins(); n != loginsBefore {
		t.Errorf("pgplay logged into the host (%d logins); a bad input must be refused before any connection", n-loginsBefore)
	}
	if _, err := os.Stat(w.marker); err == nil {
		os.Remove(w.marker)
		t.Errorf("the host was changed (marker file created)")
	}
}

// positionRE matches file:line:col.
var positionRE = regexp.MustCompile(`\.(ya?ml|json|ini):\d+:\d+`)

// TestBadInputs feeds bad inventories, playbooks, roles, templates, -e
// values and flags. Each must give a short error (one screen) saying where
// (file:line:col when the problem is in a file), what, and a hint; exit
// with the documented code (4 parse error, 5 bad options); and not touch
// the host: no SSH login at all.
func TestBadInputs(t *testing.T) {
	w := newWatchedHosts(t)
	const first = "    - command: touch {marker}\n"
	play := func(tasks string) string { return "- hosts: all\n  tasks:\n" + first + tasks }
	okPlay := play("")

	// A vault file for the key in key.txt, and another key.
	id, err := vault.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := vault.GenerateIdentity()
	key, _ := vault.IdentityKey(writeTemp(t, "key.txt", id.File), "test")
	sealed, err := key.Encrypt([]byte("db_password: s3cr3t\n"))
	if err != nil {
		t.Fatal(err)
	}
	binary := string(append([]byte("- hosts: all\n"), 0x7f, 'E', 'L', 'F', 0, 0, 0, 1, 0xff, 0xfe))
	huge := "# " + strings.Repeat("x", 9<<20) + "\n"

	cases := []struct {
		name  string
		files map[string]string // written in the case's directory {d}
		args  []string          // default: run {d}/play.yaml -i {inv}
		code  int
		want  []string // in the output; {d} is the case's directory
		noPos bool     // the problem is not in a file (flags, paths)
	}{
		// Inventory.
		{name: "inventory: malformed YAML", files: map[string]string{"inv.yaml": "all:\n  hosts:\n    a: {ssh_host: x\n", "play.yaml": okPlay},
			args: []string{"run", "{d}/play.yaml", "-i", "{d}/inv.yaml"}, code: 4, want: []string{"inv.yaml:", "invalid YAML", "not closed"}},
		{name: "inventory: INI vars of an undefined group", files: map[string]string{"inv.ini": "[db]\nnode1\n[web:vars]\nport=80\n", "play.yaml": okPlay},
			args: []string{"run", "{d}/play.yaml", "-i", "{d}/inv.ini"}, code: 4, want: []string{"inv.ini:3:1", "section [web:vars] is for a group that is defined nowhere", "declare the group"}},
		{name: "inventory: missing file before a good one", files: map[string]string{"play.yaml": okPlay},
			args: []string{"run", "{d}/play.yaml", "-i", "{d}/nope.yaml", "-i", "{inv}"}, code: 5, want: []string{"{d}/nope.yaml", "no such file"}, noPos: true},
		{name: "inventory: unknown key", files: map[string]string{"inv.yaml": "all:\n  hosts:\n    a:\n  ssh_user: x\n", "play.yaml": okPlay},
			args: []string{"run", "{d}/play.yaml", "-i", "{d}/inv.yaml"}, code: 4, want: []string{"inv.yaml:4:3", `unknown key "ssh_user"`}},
		{name: "inventory: host vars of the wrong type", files: map[string]string{"inv.yaml": "all:\n  hosts:\n    a: 10.0.0.1\n", "play.yaml": okPlay},
			args: []string{"run", "{d}/play.yaml", "-i", "{d}/inv.yaml"}, code: 4, want: []string{"inv.yaml:3:8", `vars of host "a" must be a mapping`, "{ssh_host: 10.0.0.1}"}},
		{name: "inventory: group cycle", files: map[string]string{"inv.yaml": "all:\n  hosts: {n1: }\n  children:\n    a:\n      children:\n        b:\nb:\n  children:\n    a:\n", "play.yaml": okPlay},
			args: []string{"run", "{d}/play.yaml", "-i", "{d}/inv.yaml"}, code: 4, want: []string{"inv.yaml:9:5", "group cycle: a -> b -> a"}},
		{name: "inventory: bad port", files: map[string]string{"inv.yaml": "all:\n  hosts:\n    a: {ansible_port: ssh}\n", "play.yaml": okPlay},
			args: []string{"run", "{d}/play.yaml", "-i", "{d}/inv.yaml"}, code: 4, want: []string{"inv.yaml:3:", `invalid ssh_port "ssh"`}},
		{name: "inventory: missing file", files: map[string]string{"play.yaml": okPlay},
			args: []string{"run", "{d}/play.yaml", "-i", "{d}/nope.yaml"}, code: 5, want: []string{"{d}/nope.yaml", "no such file"}, noPos: true},
		{name: "inventory: a directory without inventories", files: map[string]string{"play.yaml": okPlay, "inv/notes.txt": "x"},
			args: []string{"run", "{d}/play.yaml", "-i", "{d}/inv"}, code: 5, want: []string{"{d}/inv holds no inventory file", "Ansible skips"}, noPos: true},
		{name: "inventory: binary file", files: map[string]string{"inv.yaml": binary, "play.yaml": okPlay},
			args: []string{"run", "{d}/play.yaml", "-i", "{d}/inv.yaml"}, code: 4, want: []string{"inv.yaml:2:", "not a text file"}},
		{name: "inventory: huge file", files: map[string]string{"inv.yaml": huge, "play.yaml": okPlay},
			args: []string{"run", "{d}/play.yaml", "-i", "{d}/inv.yaml"}, code: 4, want: []string{"inv.yaml:1:1", "too large"}},

		// Playbooks.
		{name: "playbook: malformed YAML", files: map[string]string{"play.yaml": play("    - command: [unclosed\n")}, code: 4, want: []string{"play.yaml:", "invalid YAML"}},
		{name: "playbook: tab indentation", files: map[string]string{"play.yaml": play("    - name: x\n\tcommand: ls\n")}, code: 4, want: []string{"play.yaml:5:1", "spaces, not tabs"}},
		{name: "playbook: a mapping, not a list", files: map[string]string{"play.yaml": "hosts: all\ntasks: []\n"}, code: 4, want: []string{"play.yaml:1:1", "list of plays"}},
		{name: "playbook: two documents", files: map[string]string{"play.yaml": okPlay + "---\n" + okPlay}, code: 4, want: []string{"play.yaml:4:1", "more than one YAML document"}},
		{name: "playbook: unknown module", files: map[string]string{"play.yaml": play("    - copyy: {dest: /tmp/x}\n")}, code: 4, want: []string{"play.yaml:4:7", `unknown module "copyy"`, `did you mean "copy"?`}},
		{name: "playbook: unknown argument", files: map[string]string{"play.yaml": play("    - copy: {dest: /tmp/x, contnt: y}\n")}, code: 4, want: []string{"play.yaml:4:", "contnt", "content"}},
		{name: "playbook: argument of the wrong type", files: map[string]string{"play.yaml": play("    - copy: {dest: /tmp/x, content: y, backup: maybe}\n")}, code: 4, want: []string{"play.yaml:4:", "backup"}},
		{name: "playbook: keyword of the wrong type", files: map[string]string{"play.yaml": play("    - command: ls\n      when: {a: 1}\n")}, code: 4, want: []string{"play.yaml:5:13", "when must be a condition"}},
		{name: "playbook: unknown play key", files: map[string]string{"play.yaml": "- hosts: all\n  taks:\n" + first}, code: 4, want: []string{"play.yaml:2:3", `unknown play key "taks"`, `"tasks"?`}},
		{name: "playbook: duplicate key", files: map[string]string{"play.yaml": play("    - command: ls\n      when: a\n      when: b\n")}, code: 4, want: []string{"play.yaml:6:7", `key "when" is given twice`}},
		{name: "playbook: unknown group", files: map[string]string{"play.yaml": "- hosts: nosuch\n  tasks:\n" + first}, code: 4, want: []string{"play.yaml:1:3", "nosuch"}},
		{name: "playbook: notify names no handler", files: map[string]string{"play.yaml": play("    - command: ls\n      notify: restart pg\n") + "  handlers:\n    - name: restart postgres\n      command: x\n"},
			code: 4, want: []string{"play.yaml:5:7", `no handler named "restart pg"`, "restart postgres"}},
		{name: "playbook: include cycle", files: map[string]string{"play.yaml": play("    - import_tasks: a.yaml\n"), "a.yaml": "- include_tasks: b.yaml\n", "b.yaml": "- name: back\n  include_tasks: a.yaml\n"},
			code: 4, want: []string{"b.yaml:2:18", "include cycle: "}},
		{name: "playbook: missing include", files: map[string]string{"play.yaml": play("    - include_tasks: nope.yaml\n")}, code: 4, want: []string{"play.yaml:4:22", `"nope.yaml"`}},
		{name: "playbook: import_playbook cycle", files: map[string]string{"play.yaml": "- import_playbook: other.yaml\n", "other.yaml": "- import_playbook: play.yaml\n"},
			code: 4, want: []string{"other.yaml:1:20", "include cycle"}},
		{name: "playbook: missing vars file", files: map[string]string{"play.yaml": "- hosts: all\n  vars_files: [nope.yaml]\n  tasks:\n" + first}, code: 4, want: []string{"play.yaml:2:16", `vars file "nope.yaml" not found`}},
		{name: "playbook: vars file not a mapping", files: map[string]string{"play.yaml": "- hosts: all\n  vars_files: [v.yaml]\n  tasks:\n" + first, "v.yaml": "- a\n"},
			code: 4, want: []string{"v.yaml:1:1", "must be a mapping of variables"}},
		{name: "playbook: vault file without a key", files: map[string]string{"play.yaml": "- hosts: all\n  vars_files: [vault.yaml]\n  tasks:\n" + first, "vault.yaml": string(sealed)},
			code: 4, want: []string{"play.yaml:2:16", "is a vault file and no key was given", "--vault-identity"}},
		{name: "playbook: vault file with the wrong key", files: map[string]string{"play.yaml": "- hosts: all\n  vars_files: [vault.yaml]\n  tasks:\n" + first, "vault.yaml": string(sealed), "other.txt": other.File},
			args: []string{"run", "{d}/play.yaml", "-i", "{inv}", "--vault-identity", "{d}/other.txt"}, code: 4, want: []string{"play.yaml:2:16", "does not open this file"}},
		{name: "playbook: binary file", files: map[string]string{"play.yaml": binary}, code: 4, want: []string{"play.yaml:2:5", "not a text file"}},
		{name: "playbook: huge file", files: map[string]string{"play.yaml": huge}, code: 4, want: []string{"play.yaml:1:1", "too large"}},
		{name: "playbook: not found", args: []string{"run", "{d}/nope.yaml", "-i", "{inv}"}, code: 5, want: []string{"nope.yaml not found"}, noPos: true},

		// Roles.
		{name: "role: not found", files: map[string]string{"play.yaml": "- hosts: all\n  roles:\n    - postgress\n"}, code: 4, want: []string{"play.yaml:3:7", `role "postgress" not found`, `did you mean "postgres"?`}},
		{name: "role: unknown module in its tasks", files: map[string]string{"play.yaml": "- hosts: all\n  tasks:\n" + first + "  roles: [r]\n", "roles/r/tasks/main.yaml": "- name: x\n  comand: ls\n"},
			code: 4, want: []string{"roles/r/tasks/main.yaml:2:3", `unknown module "comand"`, `did you mean "command"?`}},
		{name: "role: malformed defaults", files: map[string]string{"play.yaml": "- hosts: all\n  roles: [r]\n", "roles/r/tasks/main.yaml": first, "roles/r/defaults/main.yaml": "a: [1\n"},
			code: 4, want: []string{"roles/r/defaults/main.yaml:", "invalid YAML"}},
		{name: "role: invalid name", files: map[string]string{"play.yaml": "- hosts: all\n  roles: [\"../etc\"]\n"}, code: 4, want: []string{"play.yaml:2:11", `invalid role name "../etc"`}},
		{name: "role command: unknown role", args: []string{"role", "nosuchrole", "-i", "{inv}"}, code: 4, want: []string{`role "nosuchrole" not found`, "roles found: barman, barman_check, cluster,"}, noPos: true},
		{name: "role command: misspelt role", args: []string{"role", "sync_standbi", "-i", "{inv}"}, code: 4, want: []string{`role "sync_standbi" not found`, `did you mean "sync_standby"?`}, noPos: true},

		// Templates.
		{name: "template: syntax error in a later task", files: map[string]string{"play.yaml": play("    - command: echo {{ .x }\n")}, code: 4, want: []string{"play.yaml:4:16", "template syntax error", "in: echo {{ .x }"}},
		{name: "template: Jinja filter syntax", files: map[string]string{"play.yaml": play("    - debug: {msg: \"{{ x | default(1) }}\"}\n")}, code: 4, want: []string{"play.yaml:4:20", "write {{ .x | default 1 }}"}},
		{name: "template: Jinja statement", files: map[string]string{"play.yaml": play("    - copy:\n        dest: /tmp/x\n        content: |\n          {% if x %}y{% endif %}\n")}, code: 4, want: []string{"play.yaml:6:18", "Jinja statement", "{{ if .x }}"}},
		{name: "template: Jinja condition", files: map[string]string{"play.yaml": play("    - command: ls\n      when: pg_role == 'primary'\n")}, code: 4, want: []string{"play.yaml:5:13", `write eq .pg_role "primary"`}},
		{name: "template: unknown function in a role's loop", files: map[string]string{"play.yaml": "- hosts: all\n  tasks:\n" + first + "  roles: [r]\n", "roles/r/tasks/main.yaml": "- command: ls\n  loop: \"{{ nosuch .x }}\"\n"},
			code: 4, want: []string{"roles/r/tasks/main.yaml:2:9", `function "nosuch" not defined`}},
		{name: "template: unquoted braces", files: map[string]string{"play.yaml": play("    - debug:\n        msg: {{ .x }}\n")}, code: 4, want: []string{"play.yaml:", "must be quoted"}},

		// -e values.
		{name: "-e without =", files: map[string]string{"play.yaml": okPlay}, args: []string{"run", "{d}/play.yaml", "-i", "{inv}", "-e", "novalue"}, code: 5, want: []string{"key=value"}, noPos: true},
		{name: "-e @missing file", files: map[string]string{"play.yaml": okPlay}, args: []string{"run", "{d}/play.yaml", "-i", "{inv}", "-e", "@{d}/nope.yaml"}, code: 5, want: []string{"nope.yaml", "no such file"}, noPos: true},
		{name: "-e bad JSON", files: map[string]string{"play.yaml": okPlay}, args: []string{"run", "{d}/play.yaml", "-i", "{inv}", "-e", `{"a": [1, }`}, code: 5, want: []string{"not valid JSON or YAML"}, noPos: true},
		{name: "-e @file not a mapping", files: map[string]string{"play.yaml": okPlay, "list.yaml": "- a\n- b\n"}, args: []string{"run", "{d}/play.yaml", "-i", "{inv}", "-e", "@{d}/list.yaml"}, code: 5, want: []string{"list.yaml:1:1", "must be a mapping"}},
		{name: "-e @file malformed", files: map[string]string{"play.yaml": okPlay, "bad.yaml": "a: 1\nb: [2\n"}, args: []string{"run", "{d}/play.yaml", "-i", "{inv}", "-e", "@{d}/bad.yaml"}, code: 5, want: []string{"bad.yaml:", "invalid YAML"}},
		{name: "-e @file binary", files: map[string]string{"play.yaml": okPlay, "bin.yaml": binary}, args: []string{"run", "{d}/play.yaml", "-i", "{inv}", "-e", "@{d}/bin.yaml"}, code: 5, want: []string{"bin.yaml:2:5", "not a text file"}},
		{name: "-e @vault file without a key", files: map[string]string{"play.yaml": okPlay, "vault.yaml": string(sealed)}, args: []string{"run", "{d}/play.yaml", "-i", "{inv}", "-e", "@{d}/vault.yaml"},
			code: 5, want: []string{"vault.yaml: it is a vault file and no key was given"}, noPos: true},

		// Flags.
		{name: "flag: unknown output format", files: map[string]string{"play.yaml": okPlay}, args: []string{"run", "{d}/play.yaml", "-i", "{inv}", "--output", "xml"}, code: 5, want: []string{`--output "xml"`}, noPos: true},
		{name: "flag: zero forks", files: map[string]string{"play.yaml": okPlay}, args: []string{"run", "{d}/play.yaml", "-i", "{inv}", "-f", "0"}, code: 5, want: []string{"--forks 0"}, noPos: true},
		{name: "flag: unknown host in --limit", files: map[string]string{"play.yaml": okPlay}, args: []string{"run", "{d}/play.yaml", "-i", "{inv}", "--limit", "ghost"}, code: 5, want: []string{`"ghost"`}, noPos: true},
		{name: "flag: unknown flag", files: map[string]string{"play.yaml": okPlay}, args: []string{"run", "{d}/play.yaml", "-i", "{inv}", "--chek"}, code: 5, want: []string{"unknown flag: --chek", "did you mean --check?"}, noPos: true},
		{name: "flag: misspelled long flag", files: map[string]string{"play.yaml": okPlay}, args: []string{"run", "{d}/play.yaml", "-i", "{inv}", "--limt", "a"}, code: 5, want: []string{"unknown flag: --limt", "did you mean --limit?"}, noPos: true},
		{name: "flag: unknown, nothing close", files: map[string]string{"play.yaml": okPlay}, args: []string{"run", "{d}/play.yaml", "-i", "{inv}", "--frobnicate"}, code: 5, want: []string{"unknown flag: --frobnicate", "`pgplay run --help` lists the flags"}, noPos: true},
		{name: "flag: Ansible's --ask-vault-pass", files: map[string]string{"play.yaml": okPlay}, args: []string{"run", "{d}/play.yaml", "-i", "{inv}", "--ask-vault-pass"}, code: 5, want: []string{"--ask-vault-pass is ansible-playbook's flag", "--vault-identity FILE"}, noPos: true},
		{name: "flag: -K among shorthands, no terminal", files: map[string]string{"play.yaml": okPlay}, args: []string{"run", "{d}/play.yaml", "-i", "{inv}", "-bK"}, code: 5, want: []string{"-K asks for the sudo password on a terminal", "NOPASSWD"}, noPos: true},
		{name: "flag: Ansible's -k among shorthands", files: map[string]string{"play.yaml": okPlay}, args: []string{"run", "{d}/play.yaml", "-i", "{inv}", "-bk"}, code: 5, want: []string{"-k is ansible-playbook's flag", "SSH keys only"}, noPos: true},
		{name: "flag: Ansible's -T", files: map[string]string{"play.yaml": okPlay}, args: []string{"run", "{d}/play.yaml", "-i", "{inv}", "-T", "30"}, code: 5, want: []string{"-T is ansible-playbook's flag", "--connect-timeout 30s"}, noPos: true},
		{name: "flag: --limit @missing file", files: map[string]string{"play.yaml": okPlay}, args: []string{"run", "{d}/play.yaml", "-i", "{inv}", "--limit", "@{d}/site.retry"}, code: 5, want: []string{"--limit @{d}/site.retry", "no such file", "one a line"}, noPos: true},
		{name: "flag: --limit @empty file", files: map[string]string{"play.yaml": okPlay, "site.retry": "\n\n"}, args: []string{"run", "{d}/play.yaml", "-i", "{inv}", "--limit", "@{d}/site.retry"}, code: 5, want: []string{"the file names no host"}, noPos: true},
		{name: "flag: --limit @file with an unknown host", files: map[string]string{"play.yaml": okPlay, "site.retry": "ghost\n"}, args: []string{"run", "{d}/play.yaml", "-i", "{inv}", "--limit", "@{d}/site.retry"}, code: 5, want: []string{`"ghost"`}, noPos: true},
		{name: "flag: --private-key missing", files: map[string]string{"play.yaml": okPlay}, args: []string{"run", "{d}/play.yaml", "-i", "{inv}", "--private-key", "{d}/id_nope"}, code: 5, want: []string{"--private-key {d}/id_nope", "no such file"}, noPos: true},
		{name: "flag: --list-hosts without inventory", files: map[string]string{"play.yaml": okPlay}, args: []string{"run", "{d}/play.yaml", "--list-hosts"}, code: 5, want: []string{"--list-hosts needs an inventory", "-i inventory.yaml"}, noPos: true},
		{name: "flag: --syntax-check of bad YAML", files: map[string]string{"play.yaml": "- hosts: all\n  tasks: [\n"}, args: []string{"run", "{d}/play.yaml", "--syntax-check"}, code: 4, want: []string{"play.yaml:"}},
		{name: "flag: --syntax-check with -i, unknown group", files: map[string]string{"play.yaml": "- hosts: nosuchgroup\n  tasks:\n    - debug: {msg: x}\n"}, args: []string{"run", "{d}/play.yaml", "-i", "{inv}", "--syntax-check"}, code: 4, want: []string{"play.yaml:1:3", "nosuchgroup"}},
		{name: "flag: no inventory", files: map[string]string{"play.yaml": okPlay}, args: []string{"run", "{d}/play.yaml"}, code: 5, want: []string{"no inventory given", "-i inventory.yaml"}, noPos: true},
		{name: "flag: two playbooks", files: map[string]string{"play.yaml": okPlay}, args: []string{"run", "{d}/play.yaml", "{d}/play.yaml", "-i", "{inv}"}, code: 5, want: []string{"one playbook file"}, noPos: true},
		{name: "flag: bad duration", files: map[string]string{"play.yaml": okPlay}, args: []string{"run", "{d}/play.yaml", "-i", "{inv}", "--connect-timeout", "soon"}, code: 5, want: []string{"connect-timeout"}, noPos: true},
		{name: "flag: vault identity missing", files: map[string]string{"play.yaml": okPlay}, args: []string{"run", "{d}/play.yaml", "-i", "{inv}", "--vault-identity", "{d}/nokey.txt"}, code: 5, want: []string{"nokey.txt", "no such file"}, noPos: true},
		{name: "flag: vault identity not a key", files: map[string]string{"play.yaml": okPlay, "pass.txt": "hunter2\n"}, args: []string{"run", "{d}/play.yaml", "-i", "{inv}", "--vault-identity", "{d}/pass.txt"},
			code: 5, want: []string{"not an age identity file"}, noPos: true},
	}
	if len(cases) < 30 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := t.TempDir()
			sub := strings.NewReplacer("{d}", d, "{inv}", w.inv, "{marker}", w.marker)
			files := map[string]string{}
			for name, body := range c.files {
				files[name] = sub.Replace(body)
			}
			writeFiles(t, d, files)
			args := c.args
			if args == nil {
				args = []string{"run", "{d}/play.yaml", "-i", "{inv}"}
			}
			for i := range args {
				args = append([]string(nil), args...)
				args[i] = sub.Replace(args[i])
			}
			before := w.srv.AcceptedLogins()
			code, out, errs := cli(t, args...)
			all := out + errs
			if code != c.code {
				t.Errorf("exit %d, want %d\n%s", code, c.code, all)
			}
			for _, want := range c.want {
				if want = sub.Replace(want); !strings.Contains(all, want) {
					t.Errorf("message lacks %q:\n%s", want, all)
				}
			}
			if !strings.Contains(all, "hint: ") {
				t.Errorf("no hint:\n%s", all)
			}
			if !c.noPos && !positionRE.MatchString(all) {
				t.Errorf("no file:line:col:\n%s", all)
			}
			if n := strings.Count(strings.TrimSpace(all), "\n") + 1; n > 20 {
				t.Errorf("the error takes %d lines, more than a screen:\n%s", n, all)
			}
			for _, l := range strings.Split(all, "\n") {
				if len(l) > 400 {
					t.Errorf("a line of %d characters:\n%.400s...", len(l), l)
				}
			}
			if bytes.ContainsAny([]byte(all), "\x00\x7f") {
				t.Errorf("control characters from the input in the message")
			}
			t.Log(all)
			w.untouched(t, before)
		})
	}
}

func writeTemp(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
