package runner

import (
	"path/filepath"
	"testing"

	"github.com/pgplay/pgplay/internal/inventory"
	"github.com/pgplay/pgplay/internal/playbook"
)

// A variable whose template reads another variable that holds a template
// sees that variable rendered, whatever the order the runner meets them
// in: a role default reading a templated play var came out with the play
// var's template text in about one run in three (remove_node.yaml's
// pg_nodes kept the node it takes out).
func TestVariableReadsRenderedVariable(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"inv.yaml": "all:\n  vars: {connection: local}\n  hosts:\n    h1: {}\n",
		"site.yaml": `- hosts: all
  vars:
    a: "{{ .c }}"
    c: x
    l: '{{ list .a .b }}'
  roles: [r]
`,
		"roles/r/defaults/main.yaml": "b: '{{ without (list \"x\" \"y\") (toString .a) }}'\n",
		"roles/r/tasks/main.yaml":    "- debug: {msg: \"b={{ .b }} l={{ .l }}\"}\n",
	})
	popt := loadOptions(dir)
	pb, err := playbook.Load("site.yaml", popt)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Load(filepath.Join(dir, "inv.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 30; i++ {
		o, ev := run(t, Options{Inventory: inv, Source: popt.Source}, pb)
		if o.Failed {
			t.Fatalf("run failed: %v", ev.all)
		}
		if got, want := ev.results("h1"), "r: b=[y] l=[x [y]]"; len(got) != 1 || got[0] != want {
			t.Fatalf("run %d: %v, want %q", i, got, want)
		}
	}
}
