package playbook

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgplay/pgplay/internal/tmpl"
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

func TestTemplatedRetriesAndDelay(t *testing.T) {
	e := tmpl.New()
	opt := Options{CheckTemplate: e.Check}
	ts, err := ParseTasks("t.yaml", []byte(`- command: pg_isready
  until: eq .r.rc 0
  register: r
  retries: "{{ .n }}"
  delay: "{{ .d }}"
- command: pg_isready
  until: eq .r.rc 0
  register: r
  retries: "{{ .n }}"
- command: pg_isready
  until: "{{ eq .r.rc 0 }}"
  register: r
  delay: 1.5
`), opt)
	if err != nil {
		t.Fatal(err)
	}
	if a := ts[0]; a.RetriesExpr != "{{ .n }}" || a.DelayExpr != "{{ .d }}" || a.Retries != 0 || a.Delay != 0 {
		t.Errorf("templated retries/delay = %q %q %d %v", a.RetriesExpr, a.DelayExpr, a.Retries, a.Delay)
	}
	if b := ts[1]; b.RetriesExpr != "{{ .n }}" || b.DelayExpr != "" || b.Delay != 5*time.Second {
		t.Errorf("templated retries, default delay = %q %q %v", b.RetriesExpr, b.DelayExpr, b.Delay)
	}
	if c := ts[2]; c.RetriesExpr != "" || c.Retries != 3 || c.Delay != 1500*time.Millisecond || c.Until != "{{ eq .r.rc 0 }}" {
		t.Errorf("literal = %+v", c)
	}

	// A template's syntax is checked at parse time, at its position.
	_, err = ParseTasks("t.yaml", []byte("- command: ls\n  until: \"true\"\n  retries: \"{{ .n \"\n"), opt)
	wantErr(t, err, "t.yaml:3:12", "unclosed action", " ")
	// A string that is not a template must still be a number.
	_, err = ParseTasks("t.yaml", []byte("- command: ls\n  until: \"true\"\n  retries: many\n"), opt)
	wantErr(t, err, "t.yaml:3:12", `retries must be a non-negative integer, not "many"`, `"{{ .n }}"`)
	_, err = ParseTasks("t.yaml", []byte("- command: ls\n  until: \"true\"\n  delay: -1\n"), opt)
	wantErr(t, err, "t.yaml:3:10", `delay must be a duration, not "-1"`, `"500ms"`)
}

func TestParseThrottle(t *testing.T) {
	opt := Options{}
	ts, err := ParseTasks("t.yaml", []byte("- command: ls\n  throttle: 1\n"), opt)
	if err != nil || len(ts) != 1 || ts[0].Throttle != 1 {
		t.Fatalf("throttle: 1: %v %+v", err, ts)
	}
	_, err = ParseTasks("t.yaml", []byte("- command: ls\n  throttle: -2\n"), opt)
	wantErr(t, err, "t.yaml:2:13", `throttle must be a non-negative integer, not "-2"`, "such as 1")
	_, err = ParseTasks("t.yaml", []byte("- block:\n    - command: ls\n  throttle: 1\n"), opt)
	wantErr(t, err, "t.yaml:3:3", "throttle", "inside the block")
}

func TestParseRetriesAndDelay(t *testing.T) {
	for s, want := range map[string]int{"3": 3, " 0 ": 0} {
		if n, ok := ParseRetries(s); !ok || n != want {
			t.Errorf("ParseRetries(%q) = %d %v", s, n, ok)
		}
	}
	for _, s := range []string{"-1", "1.5", "x", ""} {
		if _, ok := ParseRetries(s); ok {
			t.Errorf("ParseRetries(%q) accepted", s)
		}
	}
	for s, want := range map[string]time.Duration{"5": 5 * time.Second, "0.25": 250 * time.Millisecond, "2m": 2 * time.Minute, "500ms": 500 * time.Millisecond} {
		if d, ok := ParseDelay(s); !ok || d != want {
			t.Errorf("ParseDelay(%q) = %v %v", s, d, ok)
		}
	}
	for _, s := range []string{"-1", "-2s", "soon", ""} {
		if _, ok := ParseDelay(s); ok {
			t.Errorf("ParseDelay(%q) accepted", s)
		}
	}
}
