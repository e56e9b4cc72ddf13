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

const sample = `all:
  vars:
    ssh_user: admin
    pg_version: 15
    level: all
  hosts:
    lone:
  children:
    db:
      vars:
        level: db
        ansible_user: postgres
      hosts:
        node1:
          ansible_host: 10.0.0.11
          ansible_port: "2222"
        node2: {ssh_host: 10.0.0.12, level: host}
        node3:
      children:
        primary:
          hosts:
            node1:
          vars: {level: primary, role: primary}
    backup:
      hosts:
        node3:
        barman: {connection: local, mode: 0644}
      vars: {level: backup}
web:
  hosts:
    www1:
  vars: {level: web}
`

func load(t *testing.T) *Inventory {
	t.Helper()
	p := filepath.Join(t.TempDir(), "inv.yaml")
	if err := os.WriteFile(p, []byte(sample), 0o644); err != nil {
		t.Fatal(err)
	}
	inv, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func TestParse(t *testing.T) {
	inv := load(t)
	if want := []string{"lone", "node1", "node2", "node3", "barman", "www1"}; !reflect.DeepEqual(inv.Order, want) {
		t.Errorf("order = %q, want %q", inv.Order, want)
	}
	cases := []struct {
		host   string
		groups []string
		vars   map[string]any
	}{
		{"node1", []string{"all", "db", "primary"}, map[string]any{
			"ssh_user": "postgres", "pg_version": 15, "level": "primary", "role": "primary",
			"ssh_host": "10.0.0.11", "ssh_port": 2222}},
		{"node2", []string{"all", "db"}, map[string]any{
			"ssh_user": "postgres", "pg_version": 15, "level": "host", "ssh_host": "10.0.0.12"}},
		// backup and db are siblings at the same depth: db comes later
		// alphabetically and wins.
		{"node3", []string{"all", "backup", "db"}, map[string]any{
			"ssh_user": "postgres", "pg_version": 15, "level": "db"}},
		{"barman", []string{"all", "backup"}, map[string]any{
			"ssh_user": "admin", "pg_version": 15, "level": "backup", "connection": "local", "mode": "0644"}},
		{"lone", []string{"all", "ungrouped"}, map[string]any{
			"ssh_user": "admin", "pg_version": 15, "level": "all"}},
		{"www1", []string{"all", "web"}, map[string]any{
			"ssh_user": "admin", "pg_version": 15, "level": "web"}},
	}
	for _, c := range cases {
		h := inv.Hosts[c.host]
		if h == nil {
			t.Errorf("no host %s", c.host)
			continue
		}
		if !reflect.DeepEqual(h.Groups, c.groups) {
			t.Errorf("%s groups = %q, want %q", c.host, h.Groups, c.groups)
		}
		if !reflect.DeepEqual(h.Vars, c.vars) {
			t.Errorf("%s vars = %v, want %v", c.host, h.Vars, c.vars)
		}
	}
	db := inv.Groups["db"]
	if !reflect.DeepEqual(db.Hosts, []string{"node1", "node2", "node3"}) || !reflect.DeepEqual(db.Children, []string{"primary"}) ||
		!reflect.DeepEqual(db.Parents, []string{"all"}) || !reflect.DeepEqual(inv.Groups["web"].Parents, []string{"all"}) {
		t.Errorf("db = %+v, web = %+v", db, inv.Groups["web"])
	}
}

func TestHostVarsAreCopies(t *testing.T) {
	inv, err := Parse("i.yaml", []byte("all:\n  vars: {pkgs: [a], conf: {k: v}}\n  hosts: {n1: , n2: }\n"))
	if err != nil {
		t.Fatal(err)
	}
	inv.Hosts["n1"].Vars["pkgs"].([]any)[0] = "changed"
	inv.Hosts["n1"].Vars["conf"].(map[string]any)["k"] = "changed"
	if inv.Hosts["n2"].Vars["pkgs"].([]any)[0] != "a" || inv.Hosts["n2"].Vars["conf"].(map[string]any)["k"] != "v" {
		t.Errorf("n2 vars changed with n1's: %v", inv.Hosts["n2"].Vars)
	}
}

func TestGroupMembers(t *testing.T) {
	got := load(t).GroupMembers()
	want := map[string][]string{
		"all":       {"lone", "node1", "node2", "node3", "barman", "www1"},
		"ungrouped": {"lone"},
		"db":        {"node1", "node2", "node3"},
		"primary":   {"node1"},
		"backup":    {"node3", "barman"},
		"web":       {"www1"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GroupMembers = %v\nwant %v", got, want)
	}
}

func TestSelect(t *testing.T) {
	inv := load(t)
	cases := []struct {
		pattern string
		want    []string
	}{
		{"all", []string{"lone", "node1", "node2", "node3", "barman", "www1"}},
		{"*", []string{"lone", "node1", "node2", "node3", "barman", "www1"}},
		{"db", []string{"node1", "node2", "node3"}},
		{"node2", []string{"node2"}},
		{"db:!primary", []string{"node2", "node3"}},
		{"!primary:db", []string{"node2", "node3"}}, // exclusions apply last
		{"db:&backup", []string{"node3"}},
		{"node*", []string{"node1", "node2", "node3"}},
		{"node[12]", []string{"node1", "node2"}},
		{"b*", []string{"node3", "barman"}}, // group backup and host barman
		{"web,lone", []string{"lone", "www1"}},
		{"www1:node1:node1", []string{"node1", "www1"}},
		{"!db", []string{"lone", "barman", "www1"}},
		{"&backup", []string{"node3", "barman"}},
		{"primary:node2", []string{"node1", "node2"}},
		{"~node[13]", []string{"node1", "node3"}},
		{"ungrouped", []string{"lone"}},
		{"db:&backup:!node3", []string{}},
		{" db , web ", []string{"node1", "node2", "node3", "www1"}},
	}
	for _, c := range cases {
		hs, err := inv.Select(c.pattern)
		if err != nil {
			t.Errorf("Select(%q): %v", c.pattern, err)
			continue
		}
		got := []string{}
		for _, h := range hs {
			got = append(got, h.Name)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Select(%q) = %q, want %q", c.pattern, got, c.want)
		}
	}
}

func TestSelectErrors(t *testing.T) {
	inv := load(t)
	cases := []struct{ pattern, want string }{
		{"dbx", `unknown host or group "dbx" in pattern "dbx" (known groups: all, backup, db, primary, ungrouped, web); did you mean "db"?`},
		{"db:!nosuch", `unknown host or group "nosuch" in pattern "db:!nosuch" (known groups: all, backup, db, primary, ungrouped, web)`},
		{"node9*", `unknown host or group "node9*" in pattern "node9*"`},
		{"", `empty host pattern ""`},
		{"db:!", `empty name after ! or & in host pattern "db:!"`},
		{"~(", `bad regular expression`},
	}
	for _, c := range cases {
		_, err := inv.Select(c.pattern)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Select(%q) error = %v, want %q", c.pattern, err, c.want)
		}
	}
}

func TestSelectHandBuilt(t *testing.T) {
	// An inventory made in code (tests of other packages) selects too.
	inv := &Inventory{
		Hosts:  map[string]*Host{"b": {Name: "b"}, "a": {Name: "a"}},
		Groups: map[string]*Group{"all": {Name: "all", Children: []string{"g"}}, "g": {Name: "g", Hosts: []string{"b"}}},
	}
	hs, err := inv.Select("all:!g")
	if err != nil || len(hs) != 1 || hs[0].Name != "a" {
		t.Errorf("Select = %v, %v", hs, err)
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name, yaml, where, msg, hint string
	}{
		{"malformed", "all:\n  hosts:\n    node1: {ssh_host: 10.0.0.1\n", "inv.yaml:", "invalid YAML", "not closed"},
		{"empty", "# nothing yet\n", "inv.yaml:1:1", "inventory is empty", "an inventory looks like"},
		{"top list", "- node1\n- node2\n", "inv.yaml:1:1", "an inventory must be a mapping of groups, not a list", "usually just `all:`"},
		{"group scalar", "all:\n  children:\n    db: node1\n", "inv.yaml:3:9", `group "db" must be a mapping`, "vars:, hosts: and children:"},
		{"unknown group key", "all:\n  hosts:\n    n1:\n  ssh_user: x\n", "inv.yaml:4:3", `unknown key "ssh_user" in group "all"`, "a group has only vars, hosts, children"},
		{"misspelled key", "all:\n  host:\n    n1:\n", "inv.yaml:2:3", `unknown key "host" in group "all"`, `did you mean "hosts"?`},
		{"hosts list", "all:\n  hosts:\n    - node1\n", "inv.yaml:3:5", `hosts of group "all" must be a mapping, not a list`, "write `node1:` instead of `- node1`"},
		{"host scalar", "all:\n  hosts:\n    node1: 10.0.0.1\n", "inv.yaml:3:12", `vars of host "node1" must be a mapping`, "`node1: {ssh_host: 10.0.0.1}`"},
		{"children list", "all:\n  children: [db]\n", "inv.yaml:2:13", `children of "all" must be a mapping`, "`children: {db: , web: }`"},
		{"vars list", "all:\n  vars: [a]\n  hosts: {n1: }\n", "inv.yaml:2:9", "group all vars must be a mapping of variables", "`name: value`"},
		{"cycle", "all:\n  hosts: {n1: }\n  children:\n    a:\n      children:\n        b:\nb:\n  children:\n    a:\n", "inv.yaml:9:5", "group cycle: a -> b -> a", "remove one of these children"},
		{"all as child", "all:\n  children:\n    db:\n      children:\n        all:\n", "inv.yaml:5:9", `group all cannot be a child of "db"`, "already in all"},
		{"host with space", "all:\n  hosts:\n    node 1:\n", "inv.yaml:3:5", `invalid host name "node 1": it contains a space`, "node_1"},
		{"host with colon", "all:\n  hosts:\n    \"fe80::1\":\n", "inv.yaml:3:5", `invalid host name "fe80::1"`, "set its address with ssh_host"},
		{"group with star", "all:\n  children:\n    \"db*\":\n      hosts: {n1: }\n", "inv.yaml:3:5", `invalid group name "db*"`, "meaning in host patterns"},
		{"empty host name", "all:\n  hosts:\n    \"\":\n", "inv.yaml:3:5", "empty host name", "give the host a name"},
		{"group then host", "all:\n  children:\n    db:\n      hosts:\n        db:\n", "inv.yaml:5:9", `"db" is a group (line 3) and a host`, "a name is either a host or a group"},
		{"host then group", "all:\n  hosts:\n    pg:\n  children:\n    pg:\n", "inv.yaml:5:5", `"pg" is a host (line 3) and a group`, "a name is either a host or a group"},
		{"alias conflict", "all:\n  hosts:\n    n1:\n      ssh_host: a\n      ansible_host: b\n", "inv.yaml:5:7", "ansible_host (b) conflicts with ssh_host (a)", "give the value once, as ssh_host"},
		{"bad port", "all:\n  hosts:\n    n1: {ansible_port: ssh}\n", "inv.yaml:3:10", `invalid ssh_port "ssh"`, "1 to 65535"},
		{"bad connection", "all:\n  vars: {ansible_connection: winrm}\n  hosts: {n1: }\n", "inv.yaml:2:10", `invalid connection "winrm"`, "ssh (the default) or local"},
		{"no hosts", "all:\n  children:\n    db:\n", "inv.yaml:1:1", "inventory has no hosts", "an inventory looks like"},
		{"duplicate host", "all:\n  hosts:\n    n1:\n    n1:\n", "inv.yaml:4:5", `"n1" is given twice here (first at line 3)`, "write each name once"},
		{"duplicate var", "all:\n  hosts:\n    n1: {a: 1, a: 2}\n", "inv.yaml:3:16", `key "a" is given twice`, "remove one"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "inv.yaml")
			if err := os.WriteFile(p, []byte(c.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(p)
			if err == nil {
				t.Fatalf("no error, want %q", c.msg)
			}
			t.Log(err)
			var pe *yamlsrc.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is a %T, want *yamlsrc.Error", err, err)
			}
			where := filepath.Join(dir, c.where)
			if !strings.HasSuffix(c.where, ":") {
				where += ": "
			}
			if !strings.HasPrefix(err.Error(), where) || pe.Pos.Line < 1 || pe.Pos.Col < 1 ||
				!strings.Contains(pe.Msg, c.msg) || !strings.Contains(pe.Hint, c.hint) {
				t.Errorf("error:\n%v\nwant at %s, message containing %q, hint containing %q", err, where, c.msg, c.hint)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "nope.yaml") {
		t.Errorf("Load missing = %v", err)
	}
}
