package runner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgplay/pgplay/internal/playbook"
	"github.com/pgplay/pgplay/internal/report"
)

// A keyword rendered or evaluated on each host that fails there (a
// template reading a key a map lacks, a delegate_to host not in the
// inventory) fails the host's task at the file:line:col of the keyword's
// value (of the list item, for a list), wherever the task got it from: its
// own, its block's, its role entry's (through a role dependency too) or
// its play's. The message names the task and the keyword, with a hint.
// delegate_to and become_user fail before anything is done on the host.
func TestKeywordErrorsNameTheKeyword(t *testing.T) {
	const head = "- hosts: pg\n  vars:\n    m: {a: 1}\n  tasks:\n"
	touch := func(indent int) string { return strings.Repeat(" ", indent) + "file: {path: \"MARK\", state: touch}\n" }
	cases := []struct {
		name  string
		files map[string]string
		want  string // the failure (or warning) on h1 contains it
		warn  bool   // a warning, not a failure
		mark  bool   // the task would touch MARK: it must not exist
	}{
		{"when of the block, second condition", map[string]string{"site.yaml": head +
			"    - block:\n        - name: greet\n" + touch(10) + "      when:\n        - true\n        - .m.nokey\n"},
			`site.yaml:10:11: task "greet" (when): .m has no key "nokey"`, false, true},
		{"loop item", map[string]string{"site.yaml": head +
			"    - name: greet\n      debug: {msg: \"{{ .item }}\"}\n      loop:\n        - a\n        - \"{{ .m.nokey }}\"\n"},
			`site.yaml:9:11: task "greet" (loop[1]): .m has no key "nokey"`, false, false},
		{"loop not a list", map[string]string{"site.yaml": head +
			"    - name: greet\n      debug: {msg: \"{{ .item }}\"}\n      loop: \"{{ .m }}\"\n"},
			`site.yaml:7:13: task "greet" (loop): want a list`, false, false},
		{"until", map[string]string{"site.yaml": head +
			"    - name: wait\n      debug: {msg: hi}\n      register: r\n      until: .m.nokey\n      retries: 0\n      delay: 0\n"},
			`site.yaml:8:14: task "wait" (until): .m has no key "nokey"`, false, false},
		{"changed_when, second condition", map[string]string{"site.yaml": head +
			"    - name: greet\n      debug: {msg: hi}\n      changed_when: [false, .m.nokey]\n"},
			`site.yaml:7:29: task "greet" (changed_when): .m has no key "nokey"`, false, false},
		{"failed_when", map[string]string{"site.yaml": head +
			"    - name: greet\n      debug: {msg: hi}\n      failed_when: .m.nokey\n"},
			`site.yaml:7:20: task "greet" (failed_when): .m has no key "nokey"`, false, false},
		{"retries", map[string]string{"site.yaml": head +
			"    - name: wait\n      debug: {msg: hi}\n      register: r\n      until: false\n      retries: \"{{ .m.nokey }}\"\n      delay: 0\n"},
			`site.yaml:9:16: task "wait" (retries): .m has no key "nokey"`, false, false},
		{"delay", map[string]string{"site.yaml": head +
			"    - name: wait\n      debug: {msg: hi}\n      register: r\n      until: false\n      retries: 0\n      delay: \"{{ .m.nokey }}\"\n"},
			`site.yaml:10:14: task "wait" (delay): .m has no key "nokey"`, false, false},
		{"delegate_to of the block", map[string]string{"site.yaml": head +
			"    - block:\n        - name: greet\n" + touch(10) + "      delegate_to: \"{{ .m.nokey }}\"\n"},
			`site.yaml:8:20: task "greet" (delegate_to): .m has no key "nokey"`, false, true},
		{"delegate_to not in the inventory", map[string]string{"site.yaml": head +
			"    - name: greet\n" + touch(6) + "      delegate_to: \"{{ .m.a }}x\"\n"},
			`site.yaml:7:20: task "greet" (delegate_to): host "1x" (rendered from "{{ .m.a }}x") is not in the inventory`, false, true},
		{"become_user of the play", map[string]string{"site.yaml": "- hosts: pg\n  become_user: \"{{ .m.nokey }}\"\n  vars:\n    m: {a: 1}\n  tasks:\n" +
			"    - name: greet\n" + touch(6)},
			`site.yaml:2:16: task "greet" (become_user): .m has no key "nokey"`, false, true},
		{"become_user of the role a dependency inherits", map[string]string{
			"site.yaml":                 "- hosts: pg\n  vars:\n    m: {a: 1}\n  roles:\n    - role: app\n      become_user: \"{{ .m.nokey }}\"\n",
			"roles/app/meta/main.yaml":  "dependencies: [db]\n",
			"roles/app/tasks/main.yaml": "- debug: {msg: app}\n",
			"roles/db/tasks/main.yaml":  "- name: db task\n" + touch(2)},
			`site.yaml:6:20: task "db task" (become_user): .m has no key "nokey"`, false, true},
		{"when of the role a dependency inherits", map[string]string{
			"site.yaml":                 "- hosts: pg\n  vars:\n    m: {a: 1}\n  roles:\n    - role: app\n      when: [true, .m.nokey]\n",
			"roles/app/meta/main.yaml":  "dependencies: [{role: db, when: true}]\n",
			"roles/app/tasks/main.yaml": "- debug: {msg: app}\n",
			"roles/db/tasks/main.yaml":  "- name: db task\n" + touch(2)},
			`site.yaml:6:20: task "db task" (when): .m has no key "nokey"`, false, true},
		{"notify (a warning: the task has run)", map[string]string{"site.yaml": head +
			"    - name: greet\n      command: echo hi\n      notify: [\"{{ .m.nokey }}\"]\n"},
			`site.yaml:7:16: task "greet" (notify): .m has no key "nokey"`, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mark := filepath.Join(t.TempDir(), "touched")
			files := map[string]string{}
			for k, v := range c.files {
				files[k] = strings.ReplaceAll(v, "MARK", mark)
			}
			dir := writeFiles(t, files)
			popt := loadOptions(dir)
			pb, err := playbook.Load("site.yaml", popt)
			if err != nil {
				t.Fatal(err)
			}
			o, ev := run(t, Options{Inventory: localInventory(t, "", "h1"), Source: popt.Source}, pb)
			got := ev.failures()["h1"]
			if c.warn {
				got = ""
				for _, e := range ev.all {
					if e.Kind == report.Warning && e.Host == "h1" {
						got += e.Msg + "\n"
					}
				}
			} else if !o.Failed {
				t.Errorf("the run did not fail")
			}
			if !strings.Contains(got, c.want) || !strings.Contains(got, "hint: ") {
				t.Errorf("h1: %q\nwant it to contain %q and a hint", got, c.want)
			}
			if _, err := os.Stat(mark); c.mark && err == nil {
				t.Errorf("the task ran on h1: %s exists", mark)
			}
		})
	}
}
