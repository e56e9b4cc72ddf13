package inventory

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pgplay/pgplay/internal/yamlsrc"
)

// fuzzSeeds are inventories from the tests: valid ones and broken ones.
var fuzzSeeds = []string{
	sample,
	"all:\n  hosts:\n    n1:\n",
	"all:\n  hosts:\n    node1: {ssh_host: 10.0.0.1\n",
	"# nothing yet\n",
	"[db]\nnode1\nnode2\n",
	"- node1\n- node2\n",
	"all:\n  children:\n    db: node1\n",
	"all:\n  hosts:\n    n1:\n  ssh_user: x\n",
	"all:\n  hosts:\n    - node1\n",
	"all:\n  children: [db]\n",
	"all:\n  hosts: {n1: }\n  children:\n    a:\n      children:\n        b:\nb:\n  children:\n    a:\n",
	"all:\n  children:\n    db:\n      children:\n        all:\n",
	"all:\n  hosts:\n    \"fe80::1\":\n",
	"all:\n  children:\n    db:\n      hosts:\n        db:\n",
	"all:\n  hosts:\n    n1:\n      ssh_host: a\n      ansible_host: b\n",
	"all:\n  hosts:\n    n1: {ansible_port: ssh}\n",
	"all:\n  vars: {ansible_connection: winrm}\n  hosts: {n1: }\n",
	"all:\n  hosts:\n    n1: {a: 1, a: 2}\n",
	"all:\n  vars: &v {a: 1}\n  hosts:\n    n1: *v\n    n2: {<<: *v, b: 2}\n",
	"all:\n  hosts:\n    n1: {x: !!binary aGVsbG8=, y: 2001-01-01, z: .inf}\n",
	"all:\n  hosts:\n    db[01:03]:2222:\n    \"[a:c]web\":\n",
	"lone a=1\n[web]\nwww[1:2]:2222 x=\"a b\" y=True z=0644 w='[1, 2]'\n[db:children]\npg\n[pg]\nnode1\n[pg:vars]\nv=hello # c\n",
	"[db:vars]\nx=1\n[db]\nn1 ansible_ssh_common_args='-o ProxyJump=a@b:22 -p 22'\n",
	"[a:children]\nb\n[b:children]\na\n[b]\nh\n",
	"n1 d={'k': [1, (2, 3)], 2: None} s=\"\\x41\\u00e9\" r=r'\\n' t=1,2 f=-1.5e3\n",
}

// FuzzParse feeds arbitrary bytes to the inventory parser. It must not
// panic or hang; an error must be an *yamlsrc.Error at a position in the file with
// a hint; an inventory it accepts must be consistent (every host in "all",
// every group selectable by its name).
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		// As YAML (or INI when it looks like INI), then as INI.
		fuzzOne(t, "inv.yaml", data)
		fuzzOne(t, "inv.ini", data)
	})
}

func fuzzOne(t *testing.T, file string, data []byte) {
	{
		inv, err := Parse(file, data)
		if err != nil {
			var pe *yamlsrc.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error is a %T, not a positioned *yamlsrc.Error: %v", err, err)
			}
			if pe.Pos.File != file || pe.Pos.Line < 1 || pe.Pos.Col < 1 {
				t.Fatalf("error without a position: %v", err)
			}
			if pe.Msg == "" || pe.Hint == "" {
				t.Fatalf("error without a message or a hint: %q", err)
			}
			return
		}
		if len(inv.Hosts) == 0 || len(inv.Order) != len(inv.Hosts) {
			t.Fatalf("%d hosts, order %q", len(inv.Hosts), inv.Order)
		}
		for _, name := range inv.Order {
			h := inv.Hosts[name]
			if h == nil || h.Name != name || !contains(h.Groups, "all") {
				t.Fatalf("host %q: %+v", name, h)
			}
		}
		all, err := inv.Select("all")
		if err != nil || len(all) != len(inv.Hosts) {
			t.Fatalf("Select(all) = %d hosts, %v; want %d", len(all), err, len(inv.Hosts))
		}
		members := inv.GroupMembers()
		for g := range inv.Groups {
			if g == "all" || g == "ungrouped" {
				continue
			}
			hs, err := inv.Select(g)
			if err != nil {
				if len(members[g]) == 0 && strings.Contains(err.Error(), "unknown host or group") {
					continue // an empty group matches no host
				}
				t.Fatalf("Select(%q): %v", g, err)
			}
			if len(hs) != len(members[g]) {
				t.Fatalf("Select(%q) = %d hosts, GroupMembers has %d", g, len(hs), len(members[g]))
			}
		}
		if _, err := json.Marshal(inv.List()); err != nil {
			t.Fatalf("List is not JSON: %v", err)
		}
	}
}

// FuzzSelect feeds arbitrary host patterns to Select on the sample
// inventory. It must not panic; a selection holds known hosts once each,
// in inventory order; an error names the pattern.
func FuzzSelect(f *testing.F) {
	for _, p := range []string{
		"all", "*", "db", "node2", "db:!primary", "!primary:db", "db:&backup", "node*",
		"node[12]", "b*", "web,lone", "www1:node1:node1", "!db", "&backup", "~node[13]",
		"ungrouped", "db:&backup:!node3", " db , web ", "dbx", "db:!nosuch", "node9*", "",
		"db:!", "~(", "[", "\\", "~", "&", "!", ":::", "~.*:!~^n", "node[!1]",
	} {
		f.Add(p)
	}
	inv, err := Parse("inv.yaml", []byte(sample))
	if err != nil {
		f.Fatal(err)
	}
	index := map[string]int{}
	for i, h := range inv.order() {
		index[h] = i
	}
	f.Fuzz(func(t *testing.T, pattern string) {
		if len(pattern) > 1024 {
			return
		}
		hs, err := inv.Select(pattern)
		if err != nil {
			if utf8.ValidString(pattern) && !strings.Contains(err.Error(), "pattern") {
				t.Fatalf("Select(%q): error does not name the pattern: %v", pattern, err)
			}
			return
		}
		last := -1
		for _, h := range hs {
			i, ok := index[h.Name]
			if !ok || inv.Hosts[h.Name] != h {
				t.Fatalf("Select(%q) returned unknown host %q", pattern, h.Name)
			}
			if i <= last {
				t.Fatalf("Select(%q): hosts not in inventory order or repeated: %v", pattern, names(hs))
			}
			last = i
		}
	})
}

func names(hs []*Host) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.Name
	}
	return out
}
