package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestVariablePrecedence sets the same variable at every level, lowest
// first, and checks that each level overrides all the ones below it. The
// inventory is in inv/, the playbook in the test's directory: each has its
// own group_vars/ and host_vars/.
func TestVariablePrecedence(t *testing.T) {
	levels := []string{
		"role defaults", "inventory all vars", "parent group vars", "child group vars",
		"inventory group_vars/all", "playbook group_vars/all",
		"inventory group_vars/child", "playbook group_vars/child",
		"host vars", "inventory host_vars", "playbook host_vars",
		"play vars", "vars_files", "role vars", "role params", "block vars",
		"task vars", "set_fact", "extra vars",
	}
	for top := range levels {
		t.Run(levels[top], func(t *testing.T) {
			dir := t.TempDir()
			at := func(name string) int {
				for i, l := range levels {
					if l == name {
						return i
					}
				}
				panic(name)
			}
			def := func(name string) bool { return at(name) <= top }
			val := func(name string) string { return fmt.Sprintf("L%d", at(name)) }
			set := func(name, indent string) string {
				if !def(name) {
					return ""
				}
				return indent + "v: " + val(name) + "\n"
			}
			inv := "all:\n  vars:\n    connection: local\n" + set("inventory all vars", "    ") +
				"  children:\n    parent:\n      vars:\n        x: 1\n" + set("parent group vars", "        ") +
				"      children:\n        child:\n          vars:\n            x: 2\n" + set("child group vars", "            ") +
				"          hosts:\n            h1:\n              x: 3\n" + set("host vars", "              ")
			play := "- hosts: all\n  vars:\n    y: 0\n" + set("play vars", "    ") +
				"  vars_files: [vars.yaml]\n  roles:\n    - role: r\n"
			if def("role params") {
				play += "      v: " + val("role params") + "\n"
			}
			roleTasks := ""
			if def("set_fact") {
				roleTasks += "- set_fact:\n    v: " + val("set_fact") + "\n"
			}
			roleTasks += "- block:\n  - name: show\n    debug:\n      msg: \"value={{ .v }}\"\n    vars:\n      z: 1\n" + set("task vars", "      ") +
				"  vars:\n    w: 1\n" + set("block vars", "    ")
			files := map[string]string{
				"inv/inv.yaml": inv, "play.yaml": play,
				"vars.yaml":                      "u: 1\n" + set("vars_files", ""),
				"inv/group_vars/all.yml":         "a: 1\n" + set("inventory group_vars/all", ""),
				"group_vars/all.yml":             "a: 1\n" + set("playbook group_vars/all", ""),
				"inv/group_vars/child/main.yaml": "a: 1\n" + set("inventory group_vars/child", ""),
				"group_vars/child.yaml":          "a: 1\n" + set("playbook group_vars/child", ""),
				"inv/host_vars/h1.json":          fmt.Sprintf(`{"a": 1%s}`, map[bool]string{true: `, "v": "` + val("inventory host_vars") + `"`}[def("inventory host_vars")]),
				"host_vars/h1":                   "a: 1\n" + set("playbook host_vars", ""),
				"roles/r/tasks/main.yaml":        roleTasks,
				"roles/r/defaults/main.yaml":     "q: 1\n" + set("role defaults", ""),
				"roles/r/vars/main.yml":          "q: 1\n" + set("role vars", ""),
			}
			writeFiles(t, dir, files)
			args := []string{"run", filepath.Join(dir, "play.yaml"), "-i", filepath.Join(dir, "inv/inv.yaml")}
			if def("extra vars") {
				args = append(args, "-e", "v="+val("extra vars"))
			}
			code, out, errs := cli(t, args...)
			if code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, out, errs)
			}
			want := "value=" + val(levels[top])
			if !strings.Contains(out, want) {
				t.Errorf("%s should win: want %q in\n%s", levels[top], want, out)
			}
		})
	}
}
