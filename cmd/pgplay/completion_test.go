package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// Shell completion offers modules, roles, the inventory's hosts and
// groups, and the playbook's tags.
func TestCompletion(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"inv.yaml":  "all:\n  children:\n    db:\n      hosts:\n        node1: {}\n        node2: {}\n",
		"play.yaml": "- hosts: all\n  tags: [deploy]\n  tasks:\n    - command: ls\n      tags: [alpha, beta]\n    - block:\n        - command: ls\n          tags: [inblock]\n",
	})
	inv, pb := filepath.Join(dir, "inv.yaml"), filepath.Join(dir, "play.yaml")
	cases := []struct {
		args []string
		want []string
		not  []string
	}{
		{[]string{"doc", "te"}, []string{"template"}, []string{"copy"}},
		{[]string{"exec", "all", "-m", "pg_q"}, []string{"pg_query"}, []string{"pg_user"}},
		{[]string{"role", "rep"}, []string{"repmgr"}, []string{"postgres"}},
		{[]string{"exec", "-i", inv, "no"}, []string{"node1", "node2"}, []string{"db"}},
		{[]string{"run", pb, "-i", inv, "--limit", "db:!n"}, []string{"db:!node1", "db:!node2"}, nil},
		{[]string{"run", pb, "--tags", "alpha,"}, []string{"alpha,beta", "alpha,inblock", "alpha,deploy", "alpha,always"}, nil},
		{[]string{"run", pb, "--skip-tags", "b"}, []string{"beta"}, []string{"alpha"}},
	}
	for _, c := range cases {
		code, out, errs := cli(t, append([]string{"__complete"}, c.args...)...)
		if code != 0 {
			t.Errorf("%v: exit %d\n%s", c.args, code, errs)
		}
		lines := map[string]bool{}
		for _, l := range strings.Split(out, "\n") {
			lines[l] = true
		}
		for _, w := range c.want {
			if !lines[w] {
				t.Errorf("%v: no %q in:\n%s", c.args, w, out)
			}
		}
		for _, w := range c.not {
			if lines[w] {
				t.Errorf("%v: %q offered:\n%s", c.args, w, out)
			}
		}
	}
}
