package inventory

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pgplay/pgplay/internal/yamlsrc"
)

// writeTree writes files (name -> body) under a new temp dir and returns it.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestINIValues(t *testing.T) {
	cases := []struct {
		in   string
		want any
	}{
		{"22", 22}, {"-5", -5}, {"1.5", 1.5}, {"0x10", 16}, {"1_000", 1000},
		{"0644", "0644"}, {"000", 0}, {"True", true}, {"False", false}, {"None", nil},
		{"true", "true"}, {"yes", "yes"}, {"'a b'", "a b"}, {`"x\ty"`, "x\ty"},
		{"[1, 'a']", []any{1, "a"}}, {"{'k': 1}", map[string]any{"k": 1}}, {"1,2", []any{1, 2}},
		{"(1,)", []any{1}}, {"1 # comment", 1}, {"hello # c", "hello # c"}, {"", ""},
		{"a=b", "a=b"}, {"10.0.0.1", "10.0.0.1"}, {"/usr/bin/python3", "/usr/bin/python3"},
		{"'a' 'b'", "ab"}, {"1j", "1j"}, {" 1", " 1"},
	}
	for _, c := range cases {
		if got := iniValue(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("iniValue(%q) = %#v, want %#v", c.in, got, c.want)
		}
	}
}

func TestExpandHost(t *testing.T) {
	cases := []struct {
		in    string
		names []string
		port  int
	}{
		{"db1", []string{"db1"}, 0},
		{"db[01:03]", []string{"db01", "db02", "db03"}, 0},
		{"db[1:10:4]", []string{"db1", "db5", "db9"}, 0},
		{"[a:c]web", []string{"aweb", "bweb", "cweb"}, 0},
		{"n[1:2]-[x:y]", []string{"n1-x", "n1-y", "n2-x", "n2-y"}, 0},
		{"db[:2]", []string{"db0", "db1", "db2"}, 0},
		{"db1:2222", []string{"db1"}, 2222},
		{"db[1:2]:2222", []string{"db1", "db2"}, 2222},
		{"10.0.0.1:22", []string{"10.0.0.1"}, 22},
		{"[2001:db8::1]:22", []string{"2001:db8::1"}, 22},
		{"fe80::1", []string{"fe80::1"}, 0},
	}
	for _, c := range cases {
		names, port, err := expandHost(c.in)
		if err != nil || !reflect.DeepEqual(names, c.names) || port != c.port {
			t.Errorf("expandHost(%q) = %q, %d, %v; want %q, %d", c.in, names, port, err, c.names, c.port)
		}
	}
	for in, want := range map[string]string{
		"db[1:3":      "no closing ]",
		"db[1]":       "begin:end or begin:end:step",
		"db[01:100]":  "same width",
		"db[1:]":      "has no end",
		"db[c:a]":     "begin is after end",
		"db[1:3:0]":   "not a positive number",
		"db[a:9]":     "both numbers or both single letters",
		"db1:":        "ends in ':'",
		"db1:ssh":     "not a port number",
		"h[0:999999]": "more than 100000 hosts",
	} {
		if _, _, err := expandHost(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("expandHost(%q) error = %v, want %q", in, err, want)
		}
	}
}

func TestINI(t *testing.T) {
	inv, err := Parse("hosts", []byte(`# ungrouped first
lone ansible_host=10.0.0.9 ansible_port=2200

[db]
db[1:2] pg_role=standby ansible_user=admin
db1 pg_role=primary note="two words"

[db:vars]
pg_version=15
ansible_become=true

[cluster:children]
db
web

[web]
www1:8022
`))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"lone", "db1", "db2", "www1"}; !reflect.DeepEqual(inv.Order, want) {
		t.Errorf("order = %q, want %q", inv.Order, want)
	}
	want := map[string]map[string]any{
		"lone": {"ssh_host": "10.0.0.9", "ssh_port": 2200},
		"db1":  {"ssh_user": "admin", "pg_role": "primary", "note": "two words", "pg_version": 15, "ansible_become": true},
		"db2":  {"ssh_user": "admin", "pg_role": "standby", "pg_version": 15, "ansible_become": true},
		"www1": {"ssh_port": 8022},
	}
	for h, vars := range want {
		if got := inv.Hosts[h].Vars; !reflect.DeepEqual(got, vars) {
			t.Errorf("%s vars = %v, want %v", h, got, vars)
		}
	}
	if got := inv.Hosts["db1"].RawVars["ansible_user"]; got != "admin" {
		t.Errorf("db1 raw ansible_user = %v", got)
	}
	if got := inv.Hosts["db1"].Groups; !reflect.DeepEqual(got, []string{"all", "cluster", "db"}) {
		t.Errorf("db1 groups = %q", got)
	}
	if got := inv.Groups["all"].Children; !reflect.DeepEqual(got, []string{"ungrouped", "cluster"}) {
		t.Errorf("all's children = %q", got)
	}
}

// TestVarsDirs checks Ansible's precedence of group_vars/ and host_vars/
// beside the inventory and beside the playbook, with files, NAME.yml,
// NAME.json and NAME/ directories.
func TestVarsDirs(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"inv/hosts.yaml":                "all:\n  vars: {a: inv-all, b: inv-all, c: inv-all, d: inv-all}\n  children:\n    db:\n      vars: {b: inv-db}\n      hosts:\n        n1: {e: inv-host}\n        n2:\n",
		"inv/group_vars/all.yml":        "b: gv-all\nc: gv-all\n",
		"inv/group_vars/db/01.yaml":     "c: gv-db-01\nd: gv-db-01\n",
		"inv/group_vars/db/02.json":     `{"d": "gv-db-02"}`,
		"inv/host_vars/n1":              "ansible_host: 10.0.0.1\ne: hv-n1\n",
		"play/group_vars/all.yaml":      "c: play-all\nf: play-all\n",
		"play/group_vars/db.yml":        "f: play-db\n",
		"play/host_vars/n2.yml":         "ansible_user: admin\n",
		"play/group_vars/.hidden.yml":   "f: hidden\n",
		"inv/group_vars/db/notes.txt":   "not read",
		"inv/group_vars/db/backup.yml~": "d: backup\n",
	})
	inv, err := LoadSources([]string{filepath.Join(dir, "inv/hosts.yaml")}, Options{PlaybookDir: filepath.Join(dir, "play")})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]any{
		// inv group vars < inv group_vars/all < play group_vars/all <
		// inv group_vars/db < play group_vars/db < host < host_vars
		"n1": {"a": "inv-all", "b": "gv-all", "c": "gv-db-01", "d": "gv-db-02", "e": "hv-n1", "f": "play-db", "ssh_host": "10.0.0.1"},
		"n2": {"a": "inv-all", "b": "gv-all", "c": "gv-db-01", "d": "gv-db-02", "f": "play-db", "ssh_user": "admin"},
	}
	for h, vars := range want {
		if got := inv.Hosts[h].Vars; !reflect.DeepEqual(got, vars) {
			t.Errorf("%s vars = %v\nwant %v", h, got, vars)
		}
	}
	if w := strings.Join(inv.Warnings, "\n"); !strings.Contains(w, "group_vars/db/notes.txt: not read: Ansible reads only .yml, .yaml, .json") {
		t.Errorf("warnings lack notes.txt:\n%s", w)
	}
	// Without the playbook's dir only the inventory's apply.
	inv, err = Load(filepath.Join(dir, "inv/hosts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if got := inv.Hosts["n2"].Vars["f"]; got != nil {
		t.Errorf("n2 f = %v without the playbook dir", got)
	}
}

func TestSeveralSources(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"a.yaml":                   "all:\n  vars: {x: a}\n  children:\n    db:\n      hosts:\n        n1: {y: a}\n",
		"b.ini":                    "[db]\nn1 y=b\nn2\n[all:vars]\nx=b\n",
		"d/01.yaml":                "web:\n  hosts:\n    w1:\n",
		"d/02":                     "[web]\nw2\n",
		"d/skip.ini":               "[skipped]\ns1\n",
		"d/old.retry":              "n1\n",
		"d/group_vars/web.yaml":    "z: d\n",
		"d/host_vars/ghost.yaml":   "z: ghost\n",
		"d/group_vars/all":         "q: 1\n",
		"d/group_vars/all.yml":     "q: 2\n",
		"d/group_vars/nogroup.yml": "q: 3\n",
	})
	inv, err := LoadSources([]string{filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.ini"), filepath.Join(dir, "d")}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"n1", "n2", "w1", "w2"}; !reflect.DeepEqual(inv.Order, want) {
		t.Errorf("order = %q, want %q", inv.Order, want)
	}
	if v := inv.Hosts["n1"].Vars; v["x"] != "b" || v["y"] != "b" {
		t.Errorf("n1 vars = %v: the later source should win", v)
	}
	if v := inv.Hosts["w2"].Vars; v["z"] != "d" || v["q"] != 1 {
		t.Errorf("w2 vars = %v: group_vars of the directory source should apply (all, not all.yml)", v)
	}
	warnings := strings.Join(inv.Warnings, "\n")
	for _, want := range []string{
		"skip.ini: not read as an inventory: Ansible skips .ini files",
		"host_vars/ghost.yaml: not read: the inventory has no host \"ghost\"",
		"group_vars/nogroup.yml: not read: the inventory has no group \"nogroup\"",
		"group_vars/all.yml: not read: group_vars/all is read instead",
	} {
		if !strings.Contains(warnings, want) {
			t.Errorf("warnings lack %q:\n%s", want, warnings)
		}
	}
	if strings.Contains(warnings, "retry") {
		t.Errorf("a .retry file is skipped without a word, as Ansible does:\n%s", warnings)
	}
}

func TestMissingSource(t *testing.T) {
	dir := writeTree(t, map[string]string{"inv.yaml": "all:\n  hosts: {n1: }\n"})
	_, err := LoadSources([]string{filepath.Join(dir, "nope.yaml"), filepath.Join(dir, "inv.yaml")}, Options{})
	if err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "nope.yaml") {
		t.Errorf("LoadSources = %v, want the missing file named", err)
	}
	_, err = LoadSources([]string{"node1,node2,"}, Options{})
	if err == nil || !strings.Contains(err.Error(), "node1,node2,") || !strings.Contains(err.Error(), "does not read Ansible's host lists") {
		t.Errorf("host list: %v", err)
	}
}

// TestAnsibleVarsWarnings: Ansible variables that make no difference to
// pgplay are kept but named in a warning with file:line.
func TestAnsibleVarsWarnings(t *testing.T) {
	inv, err := Parse("inv.yaml", []byte("all:\n  vars:\n    ansible_python_interpreter: /usr/bin/python3\n    ansible_ssh_common_args: -o ControlPersist=60s -o ServerAliveInterval=30\n  hosts:\n    n1: {ansible_frobnicate: 1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	warnings := strings.Join(inv.Warnings, "\n")
	for _, want := range []string{
		"inv.yaml:3:5: ansible_python_interpreter (group all) has no effect: pgplay runs no Python",
		"inv.yaml:4:5: ansible_ssh_common_args (group all): -o ControlPersist has no effect",
		"inv.yaml:4:5: ansible_ssh_common_args (group all): -o ServerAliveInterval has no effect",
		"inv.yaml:6:10: ansible_frobnicate (host n1) means nothing to pgplay",
	} {
		if !strings.Contains(warnings, want) {
			t.Errorf("warnings lack %q:\n%s", want, warnings)
		}
	}
	if _, ok := inv.Hosts["n1"].RawVars["ansible_python_interpreter"]; !ok {
		t.Errorf("raw vars lack ansible_python_interpreter (ansible-inventory lists it)")
	}
}

func TestSSHArgs(t *testing.T) {
	inv, err := Parse("inv.ini", []byte(`[db]
n1 ansible_ssh_common_args='-o ProxyJump=admin@bastion:2222 -o Port=2200 -l deploy -i /k1 -o UserKnownHostsFile=/kh'
n2 ansible_port=22 ansible_ssh_extra_args='-p 2200 -J jump -oIdentityFile=/k2'
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]any{
		"n1": {"ssh_proxy_jump": "admin@bastion:2222", "ssh_port": 2200, "ssh_user": "deploy", "ssh_key": []any{"/k1"}, "ssh_known_hosts": []any{"/kh"}},
		// ansible_port given: ssh takes the first value, which is it.
		"n2": {"ssh_port": 22, "ssh_proxy_jump": "jump", "ssh_key": []any{"/k2"}},
	}
	for h, vars := range want {
		if got := inv.Hosts[h].Vars; !reflect.DeepEqual(got, vars) {
			t.Errorf("%s vars = %#v\nwant %#v", h, got, vars)
		}
	}
}

// TestSourceErrors: every refused input names file:line, what and what to
// do.
func TestSourceErrors(t *testing.T) {
	cases := []struct {
		name, file, body, where, msg, hint string
	}{
		{"password", "inv.yaml", "all:\n  hosts:\n    n1: {ansible_password: x}\n", "inv.yaml:3:10", "ansible_password (host n1) is not supported", "logs in with keys"},
		{"ssh pass ini", "inv", "n1 ansible_ssh_pass=x\n", "inv:1:1", "ansible_ssh_pass (host n1) is not supported", "logs in with keys"},
		{"become password", "inv.yaml", "all:\n  vars: {ansible_become_password: x}\n  hosts: {n1: }\n", "inv.yaml:2:10", "ansible_become_password (group all) is not supported", "passwordless sudo"},
		{"become method", "inv.ini", "[db]\nn1\n[db:vars]\nansible_become_method=su\n", "inv.ini:4:1", `ansible_become_method "su" (group db) is not supported`, "sudo only"},
		{"become not bool", "inv.yaml", "all:\n  hosts:\n    n1: {ansible_become: maybe}\n", "inv.yaml:3:10", `invalid ansible_become "maybe"`, "true or false"},
		{"host key checking", "inv.yaml", "all:\n  vars: {ansible_host_key_checking: false}\n  hosts: {n1: }\n", "inv.yaml:2:10", "ansible_host_key_checking (group all) is not supported", "--accept-new-host-keys"},
		{"proxy command", "inv.yaml", "all:\n  hosts:\n    n1: {ansible_ssh_common_args: \"-o ProxyCommand='ssh -W %h:%p b'\"}\n", "inv.yaml:3:10", "ssh option -o ProxyCommand=ssh -W %h:%p b is not supported", "ProxyJump"},
		{"unknown ssh flag", "inv", "n1 ansible_ssh_extra_args=-X\n", "inv:1:1", "ansible_ssh_extra_args (host n1): ssh option -X is not supported", "pgplay maps -o Port"},
		{"no host key checking in args", "inv", "n1 ansible_ssh_common_args='-o StrictHostKeyChecking=no'\n", "inv:1:1", "StrictHostKeyChecking=no is not supported", "always checks host keys"},
		{"ini section type", "inv.ini", "[db:hostz]\nn1\n", "inv.ini:1:1", `section [db:hostz] has unknown type "hostz"`, "[group:vars]"},
		{"ini bad section", "inv.ini", "[db servers]\nn1\n", "inv.ini:1:1", "invalid section [db servers]", "without spaces"},
		{"ini vars line", "inv.ini", "[db]\nn1\n[db:vars]\nport\n", "inv.ini:4:1", `expected key=value, got "port"`, "name=value"},
		{"ini host var", "inv.ini", "[db]\nn1 port\n", "inv.ini:2:1", `expected key=value host variable, got "port"`, "key=value"},
		{"ini undefined child", "inv.ini", "[db]\nn1\n[all2:children]\ndb\nweb\n", "inv.ini:5:1", `section [all2:children] names group "web", which is defined nowhere`, "declare the group"},
		{"ini quote", "inv.ini", "n1 x='a\n", "inv.ini:1:1", "no closing quotation", "check the quotes"},
		{"bad range yaml", "inv.yaml", "all:\n  hosts:\n    db[01:100]:\n", "inv.yaml:3:5", "same width", "db[01:03]"},
		{"bad range ini", "inv.ini", "[db]\ndb[3:1]\n", "inv.ini:2:1", "begin is after end", "db[01:03]"},
		{"port in name", "inv.ini", "[db]\ndb1:ssh\n", "inv.ini:2:1", "not a port number", "db1:2222"},
		{"become user", "inv.yaml", "all:\n  hosts:\n    n1: {ansible_become_user: [a]}\n", "inv.yaml:3:10", "invalid ansible_become_user", "name of the user"},
		{"group priority", "inv.ini", "[db]\nn1\n[db:vars]\nansible_group_priority=high\n", "inv.ini:4:1", `invalid ansible_group_priority "high" (group db)`, "whole number"},
		{"ssh args not a string", "inv.yaml", "all:\n  hosts:\n    n1: {ansible_ssh_extra_args: [-p, 22]}\n", "inv.yaml:3:10", "must be a string", "one string"},
		{"ssh option without value", "inv", "n1 ansible_ssh_extra_args=-p\n", "inv:1:1", "ssh option -p is not supported", "give the option's value"},
		{"ssh -o without =", "inv", "n1 ansible_ssh_extra_args='-o Port'\n", "inv:1:1", "ssh option -o Port is not supported", "-o Key=Value"},
		{"connection smart", "inv", "n1 ansible_connection=paramiko\n", "inv:1:1", `invalid connection "paramiko"`, "write ssh"},
		{"inventory plugin", "aws_ec2.yml", "plugin: amazon.aws.aws_ec2\nregions: [eu-west-1]\n", "aws_ec2.yml:1:1", `inventory plugin "amazon.aws.aws_ec2" is not supported`, "static inventories"},
		{"yaml dashes in ini", "inv", "---\nall: [\n", "inv:1:1", `invalid host "---"`, "name it .yaml"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := writeTree(t, map[string]string{c.file: c.body})
			_, err := Load(filepath.Join(dir, c.file))
			if err == nil {
				t.Fatalf("no error, want %q", c.msg)
			}
			var pe *yamlsrc.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is a %T, want *yamlsrc.Error", err, err)
			}
			if where := filepath.Join(dir, c.where) + ": "; !strings.HasPrefix(err.Error(), where) ||
				!strings.Contains(pe.Msg, c.msg) || !strings.Contains(pe.Hint, c.hint) {
				t.Errorf("error:\n%v\nwant at %s, message containing %q, hint containing %q", err, where, c.msg, c.hint)
			}
		})
	}
}

// TestEveryAnsibleVarIsHandled: each refused variable is an error and each
// tolerated one a warning, both naming file:line.
func TestEveryAnsibleVarIsHandled(t *testing.T) {
	for name, hint := range ansibleRefused {
		_, err := Parse("inv.yaml", []byte("all:\n  hosts:\n    n1: {"+name+": x}\n"))
		var pe *yamlsrc.Error
		if !errors.As(err, &pe) || pe.Pos.Line != 3 || !strings.Contains(pe.Msg, name+" (host n1) is not supported") || pe.Hint != hint {
			t.Errorf("%s: error %v, want at line 3 with hint %q", name, err, hint)
		}
	}
	for name, why := range ansibleTolerated {
		inv, err := Parse("inv.yaml", []byte("all:\n  hosts:\n    n1: {"+name+": x}\n"))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if w := strings.Join(inv.Warnings, "\n"); !strings.Contains(w, "inv.yaml:3:10: "+name+" (host n1) has no effect: "+why) {
			t.Errorf("%s: warnings %q", name, w)
		}
		if _, kept := inv.Hosts["n1"].Vars[name]; kept {
			t.Errorf("%s: kept in the runner's vars", name)
		}
	}
}

// TestVarsFileErrors: bad group_vars/ host_vars/ files and inventory
// directories.
func TestVarsFileErrors(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"not a mapping", map[string]string{"group_vars/all.yml": "- a\n"}, "group_vars/all.yml:1:1: vars file of group all must be a mapping, not a list"},
		{"bad yaml", map[string]string{"host_vars/n1.yml": "a: [\n"}, "host_vars/n1.yml:"},
		{"ansible vault", map[string]string{"group_vars/all.yml": "$ANSIBLE_VAULT;1.1;AES256\n3132\n"}, "group_vars/all.yml:1:1: encrypted vars files in group_vars/ and host_vars/ are not supported"},
		{"refused var", map[string]string{"host_vars/n1/conn.yaml": "ansible_ssh_pass: x\n"}, "host_vars/n1/conn.yaml:1:1: ansible_ssh_pass (host n1) is not supported"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			files := map[string]string{"inv.yaml": "all:\n  hosts: {n1: }\n"}
			for k, v := range c.files {
				files[k] = v
			}
			dir := writeTree(t, files)
			_, err := Load(filepath.Join(dir, "inv.yaml"))
			if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, c.want)) || !strings.Contains(err.Error(), "hint: ") {
				t.Errorf("error = %v\nwant %q with a hint", err, c.want)
			}
		})
	}
	dir := writeTree(t, map[string]string{"d/script": "#!/bin/sh\necho {}\n"})
	if err := os.Chmod(filepath.Join(dir, "d/script"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(filepath.Join(dir, "d")); err == nil || !strings.Contains(err.Error(), "does not run inventory scripts") {
		t.Errorf("executable in an inventory dir: %v", err)
	}
}

// Ansible reads `hosts: NAME` and `children: NAME` as one-entry mappings.
func TestYAMLScalarHostsAndChildren(t *testing.T) {
	inv, err := Parse("inv.yaml", []byte("all:\n  children:\n    db:\n      hosts: node1\n    cluster:\n      children: db\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := inv.Hosts["node1"].Groups; !reflect.DeepEqual(got, []string{"all", "cluster", "db"}) {
		t.Errorf("node1 groups = %q", got)
	}
}
