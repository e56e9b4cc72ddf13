package playbook

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckTemplate(t *testing.T) {
	var seen []string
	check := func(text string, cond bool) (string, string) {
		seen = append(seen, text)
		if strings.Contains(text, "BAD") {
			return "bad template: " + text, "fix it"
		}
		return "", ""
	}
	play := func(tasks string) string { return "- hosts: all\n  tasks:\n" + tasks }
	cases := []struct {
		name, site, where string
	}{
		{"module arg", play("    - copy: {dest: /x, content: \"{{ BAD }}\"}\n"), "site.yaml:3:33"},
		{"nested arg", play("    - command:\n        cmd: ls\n        argv: [a, \"{{ BAD }}\"]\n"), "site.yaml:5:19"},
		{"free form", play("    - command: echo {{ BAD }}\n"), "site.yaml:3:16"},
		{"args", play("    - command: ls\n      args: {chdir: \"{{ BAD }}\"}\n"), "site.yaml:4:21"},
		{"when", play("    - command: ls\n      when: [true, BAD]\n"), "site.yaml:4:20"},
		{"until", play("    - command: ls\n      until: BAD\n"), "site.yaml:4:14"},
		{"loop", play("    - command: ls\n      loop: \"{{ BAD }}\"\n"), "site.yaml:4:13"},
		{"delegate_to", play("    - command: ls\n      delegate_to: \"{{ BAD }}\"\n"), "site.yaml:4:20"},
		{"block when", play("    - block: [{command: ls}]\n      when: BAD\n"), "site.yaml:4:13"},
		{"inside block", play("    - block:\n        - command: \"{{ BAD }}\"\n"), "site.yaml:4:20"},
		{"role when", "- hosts: all\n  roles: [{role: r, when: BAD}]\n", "site.yaml:2:27"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := writeTree(t, map[string]string{"site.yaml": c.site, "roles/r/tasks/main.yaml": "[]\n"})
			opt := testOpts(dir)
			opt.CheckTemplate = check
			_, err := Load("site.yaml", opt)
			wantErr(t, err, filepath.Join(dir, c.where), "bad template: ", "fix it")
		})
	}

	// Names, notify, vars and become_user are rendered leniently (or not
	// at all): they are not checked; nor are strings without a template.
	seen = nil
	dir := writeTree(t, map[string]string{"site.yaml": play(`    - name: "{{ BAD }}"
      command: ls -l
      notify: "{{ BAD }}"
      vars: {x: "{{ BAD }}"}
      become_user: "{{ BAD }}"
      when: ok
  handlers:
    - name: h
      command: ls
`)})
	opt := testOpts(dir)
	opt.CheckTemplate = check
	if _, err := Load("site.yaml", opt); err != nil {
		t.Fatal(err)
	}
	if strings.Join(seen, "|") != "ok" {
		t.Errorf("checked %q, want only the condition", seen)
	}
}
