package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestVariablePrecedence sets the same variable at every level, lowest
// first, and checks that each level overrides all the ones below it.
func TestVariablePrecedence(t *testing.T) {
	levels := []string{
		"role defaults", "inventory all vars", "parent group vars", "child group vars",
		"host vars", "play vars", "vars_files", "role params", "block vars",
		"task vars", "set_fact", "extra vars",
	}
	for top := range levels {
		t.Run(levels[top], func(t *testing.T) {
			dir := t.TempDir()
			def := func(level int) bool { return level <= top }
			val := func(level int) string { return fmt.Sprintf("L%d", level) }
			set := func(level int, indent string) string {
				if !def(level) {
					return ""
				}
				return indent + "v: " + val(level) + "\n"
			}
			inv := "all:\n  vars:\n    connection: local\n" + set(1, "    ") +
				"  children:\n    parent:\n      vars:\n        x: 1\n" + set(2, "        ") +
				"      children:\n        child:\n          vars:\n            x: 2\n" + set(3, "            ") +
				"          hosts:\n            h1:\n              x: 3\n" + set(4, "              ")
			play := "- hosts: all\n  vars:\n    y: 0\n" + set(5, "    ") +
				"  vars_files: [vars.yaml]\n  roles:\n    - role: r\n"
			if def(7) {
				play += "      v: " + val(7) + "\n"
			}
			roleTasks := ""
			if def(10) {
				roleTasks += "- set_fact:\n    v: " + val(10) + "\n"
			}
			roleTasks += "- block:\n  - name: show\n    debug:\n      msg: \"value={{ .v }}\"\n    vars:\n      z: 1\n" + set(9, "      ") +
				"  vars:\n    w: 1\n" + set(8, "    ")
			varsFile := "u: 1\n" + set(6, "")
			files := map[string]string{
				"inv.yaml": inv, "play.yaml": play, "vars.yaml": varsFile,
				"roles/r/tasks/main.yaml":    roleTasks,
				"roles/r/defaults/main.yaml": "q: 1\n" + set(0, ""),
			}
			writeFiles(t, dir, files)
			args := []string{"run", filepath.Join(dir, "play.yaml"), "-i", filepath.Join(dir, "inv.yaml")}
			if def(11) {
				args = append(args, "-e", "v="+val(11))
			}
			code, out, errs := cli(t, args...)
			if code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, out, errs)
			}
			want := "value=" + val(top)
			if !strings.Contains(out, want) {
				t.Errorf("%s should win: want %q in\n%s", levels[top], want, out)
			}
		})
	}
}
