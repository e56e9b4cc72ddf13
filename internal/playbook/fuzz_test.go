package playbook

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/pgplay/pgplay/internal/content"
	"github.com/pgplay/pgplay/internal/yamlsrc"
)

// FuzzParse feeds arbitrary bytes to the playbook parser, as the playbook
// site.yaml of an in-memory tree holding vars files, task files and roles
// (siteTree). It must not panic or hang; an error must be a *yamlsrc.Error at a
// position in a file, with a message and a hint; every task of a playbook
// it accepts must have a position.
func FuzzParse(f *testing.F) {
	tree := fstest.MapFS{}
	for name, body := range siteTree() {
		if name != "site.yaml" {
			tree[name] = &fstest.MapFile{Data: []byte(body)}
		}
	}
	tree["a.yaml"] = &fstest.MapFile{Data: []byte("- include_tasks: b.yaml\n")}
	tree["b.yaml"] = &fstest.MapFile{Data: []byte("- name: back\n  include_tasks: a.yaml\n")}
	opt := Options{Source: &content.Source{Embedded: tree}, KnownModule: known, ModuleNames: testModules}

	f.Add([]byte(sitePlaybook))
	for _, s := range []string{
		"- hosts: all\n  tasks:\n    - name: x\n\tcommand: ls\n",
		"- hosts: all\n  name: \"oops\n",
		"hosts: all\ntasks: []\n",
		"- hosts: a\n---\n- hosts: b\n",
		"- hosts: [a, b]\n",
		"- hosts: all\n  tasks:\n    - copy: {dest: /a}\n      args: {dest: /b}\n",
		"- hosts: all\n  tasks:\n    - command: ls\n      when: a\n      when: b\n",
		"- hosts: all\n  tasks:\n    - command: ls\n      loop: [1]\n      loop_control: {loopvar: x}\n",
		"- hosts: all\n  tasks:\n    - block: []\n      rescue:\n        - debug: {msg: x}\n      always: [{meta: flush_handlers}]\n",
		"- hosts: all\n  tasks:\n    - import_tasks: a.yaml\n",
		"- hosts: all\n  tasks:\n    - include_tasks: tasks/extra.yaml\n      when: x\n",
		"- hosts: all\n  serial: [2, 150%]\n",
		"- hosts: all\n  vars_files: [vars/common.yaml, nope.yaml]\n",
		"- hosts: all\n  roles:\n    - {role: common, x: 1, vars: {x: 2}}\n",
		"- import_playbook: site.yaml\n",
		"- hosts: all\n  vars: &v {a: [&l [1, 2], *l]}\n  tasks:\n    - debug: {msg: \"{{ .a }}\"}\n      vars: *v\n",
		"- hosts: all\n  tasks:\n    - command: ls\n      notify: restart\n  handlers:\n    - name: restart\n      listen: [r]\n      command: x\n",
		"- hosts: all\n  tasks:\n    - shell: x\n      until: eq .rc 0\n      retries: 3\n      delay: 2m\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		pb, err := Parse("embedded:site.yaml", data, opt)
		if err != nil {
			var pe *yamlsrc.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error is a %T, not a positioned *yamlsrc.Error: %v", err, err)
			}
			if pe.Pos.File == "" || pe.Pos.Line < 1 || pe.Pos.Col < 1 {
				t.Fatalf("error without a position: %v", err)
			}
			if strings.TrimSpace(pe.Msg) == "" || strings.TrimSpace(pe.Hint) == "" {
				t.Fatalf("error without a message or a hint: %q", err)
			}
			return
		}
		for _, p := range pb.Plays {
			if p.Pos.Line < 1 {
				t.Fatalf("play without a position: %+v", p)
			}
			lists := [][]*Task{p.PreTasks, p.Tasks, p.PostTasks, p.Handlers}
			for _, r := range p.Roles {
				lists = append(lists, r.Role.Tasks, r.Role.Handlers)
			}
			for _, l := range lists {
				walk(l, func(task *Task) {
					if task.Pos.File == "" || task.Pos.Line < 1 || task.Pos.Col < 1 {
						t.Fatalf("task without a position: %+v", task)
					}
					if !task.IsBlock() && task.Module == "" {
						t.Fatalf("task without a module: %+v", task)
					}
				})
			}
		}
	})
}

// Found by FuzzParse: from an embedded playbook, a role whose tasks file is
// main.yml (not main.yaml) was reported as unreadable, because the "not
// found" of main.yaml lost its ErrNotFound on the way.
func TestEmbeddedPlaybookRoleYml(t *testing.T) {
	tree := fstest.MapFS{
		"site.yaml":                   {Data: []byte("- hosts: all\n  roles: [r]\n")},
		"roles/r/tasks/main.yml":      {Data: []byte("- name: t\n  debug: {msg: hi}\n")},
		"roles/r/handlers/main.yml":   {Data: []byte("- name: h\n  debug: {msg: h}\n")},
		"roles/r/defaults/main.yml":   {Data: []byte("d: 1\n")},
		"roles/other/tasks/main.yaml": {Data: []byte("[]\n")},
	}
	pb, err := Load("site.yaml", Options{Source: &content.Source{Embedded: tree}, KnownModule: known})
	if err != nil {
		t.Fatal(err)
	}
	r := pb.Plays[0].Roles[0].Role
	if len(r.Tasks) != 1 || len(r.Handlers) != 1 || r.Defaults["d"] != 1 {
		t.Errorf("role = %+v", r)
	}
	_, err = Load("site.yaml", Options{Source: &content.Source{Embedded: fstest.MapFS{"site.yaml": {Data: []byte("- hosts: all\n  roles: [nope]\n")}}}})
	if err == nil || !strings.Contains(err.Error(), `role "nope" not found`) || strings.Count(err.Error(), "embedded:roles/nope/tasks/main.yaml") > 1 {
		t.Errorf("missing role: %v", err)
	}
}
