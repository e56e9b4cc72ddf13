package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// Jinja habits and Ansible facts in a playbook are refused before any
// connection, at their file:line, with pgplay's spelling.
func TestJinjaAndFactHints(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"inv.yaml": "all:\n  hosts:\n    a:\n      ssh_host: 127.0.0.1\n      ssh_port: 1\n"})
	inv := filepath.Join(dir, "inv.yaml")
	cases := []struct{ task, line, want string }{
		{`debug: {msg: "{{ .cfg | to_yaml }}"}`, ":4:", "write {{ .cfg | toYaml }}"},
		{`debug: {msg: "{{ .names | length }}"}`, ":4:", "write {{ .names | len }}"},
		{`debug: {msg: "{{ .names[0] }}"}`, ":4:", "write {{ (index .names 0) }}"},
		{"debug: {msg: hi}\n      when: x is defined", ":5:", `write hasKey . "x"`},
		{"debug: {msg: hi}\n      when: eq .ansible_os_family \"Debian\"", ":4:", "use .facts.os.id"},
		{`debug: {msg: "{{ .ansible_hostname }}"}`, ":4:", "use .facts.hostname, with gather_facts: true"},
	}
	for _, c := range cases {
		pb := filepath.Join(dir, "play.yaml")
		writeFiles(t, dir, map[string]string{"play.yaml": "- hosts: all\n  vars: {cfg: {a: 1}, names: [a]}\n  tasks:\n    - " + c.task + "\n"})
		code, out, errs := cli(t, "run", pb, "-i", inv)
		if code != exitParse {
			t.Errorf("%s: exit %d, want 4\n%s%s", c.task, code, out, errs)
		}
		if !strings.Contains(errs, pb+c.line) || !strings.Contains(errs, c.want) {
			t.Errorf("%s: want %s%s and %q in:\n%s", c.task, pb, c.line, c.want, errs)
		}
	}
}
