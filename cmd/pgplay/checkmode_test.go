package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pgplay/pgplay/internal/report"
)

// `run --check -v` says what each task would do, and --output json has
// it as the host_result's check_changes; a password in a command is
// masked, and a no_log task says only that something would change.
func TestCheckRunSaysWhatWouldChange(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"inv.yaml": "all:\n  vars:\n    db_password: Pa55-In-Argv-9\n  hosts:\n    solo: {connection: local}\n",
		"site.yaml": `- hosts: all
  tasks:
    - name: config
      copy: {content: "a\nb\nc\n", dest: "{{ .root }}/app.conf"}
    - name: clone
      command: echo clone --password {{ .db_password }} {{ .root }}/data
    - name: hidden
      copy: {content: "Hidden-Content-5\n", dest: "{{ .root }}/hidden-NoLog-Path.conf"}
      no_log: true
`,
		"root/app.conf": "a\nx\n",
	})
	root := filepath.Join(dir, "root")
	before, err := os.ReadFile(filepath.Join(root, "app.conf"))
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"run", filepath.Join(dir, "site.yaml"), "-i", filepath.Join(dir, "inv.yaml"), "--check", "-e", "root=" + root}

	code, out, errs := cli(t, append(args, "-v")...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{
		"changed: [solo] => would write " + root + "/app.conf (+2 -1 lines, 6 bytes)",
		"changed: [solo]\n  not run in check mode\n  would run: echo clone --password '********' " + root + "/data\n",
		"changed: [solo] => would change something (details hidden due to no_log: true)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("-v output lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{"Pa55-In-Argv-9", "NoLog-Path", "Hidden-Content"} {
		if strings.Contains(out+errs, secret) {
			t.Errorf("output shows %q:\n%s", secret, out)
		}
	}
	if after, _ := os.ReadFile(filepath.Join(root, "app.conf")); string(after) != string(before) {
		t.Errorf("--check wrote app.conf: %q", after)
	}

	code, out, errs = cli(t, append(args, "--output", "json")...)
	if code != 0 {
		t.Fatalf("json: exit %d\n%s\n%s", code, out, errs)
	}
	got := map[string][]report.Change{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev struct {
			Event        string          `json:"event"`
			Task         string          `json:"task"`
			Schema       int             `json:"schema"`
			Result       map[string]any  `json:"result"`
			CheckChanges []report.Change `json:"check_changes"`
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("not a JSON event: %s", l)
		}
		if ev.Event == "run_start" && ev.Schema != 2 {
			t.Errorf("schema %d, want 2 (check_changes moved out of result)", ev.Schema)
		}
		if ev.Event == "host_result" {
			got[ev.Task] = ev.CheckChanges
			if _, ok := ev.Result["check_changes"]; ok {
				t.Errorf("%s: check_changes inside result", ev.Task)
			}
		}
	}
	want := map[string][]report.Change{
		"config": {{Op: "write", Path: root + "/app.conf", Detail: "+2 -1 lines, 6 bytes"}},
		"clone":  {{Op: "run", Argv: []string{"echo", "clone", "--password", "********", root + "/data"}}},
		"hidden": {{Op: "censored"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("check_changes %+v\nwant %+v", got, want)
	}
	if strings.Contains(out, "Pa55-In-Argv-9") || strings.Contains(out, "NoLog-Path") {
		t.Errorf("JSON output shows a secret:\n%s", out)
	}
}
