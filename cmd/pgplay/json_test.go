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

// In JSON mode an error that ends pgplay is one JSON event on stdout
// (msg, hint, exit_code, schema) with the exit code, and no text.
func TestJSONModeErrors(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"inv.yaml": "all:\n  hosts:\n    a:\n      ssh_host: 127.0.0.1\n      ssh_port: 1\n",
		"bad.yaml": "- hosts: all\n  tasks:\n    - systemd: {name: x}\n",
	})
	inv := filepath.Join(dir, "inv.yaml")
	cases := []struct {
		args []string
		code int
		msg  string
		hint string
	}{
		{[]string{"run", filepath.Join(dir, "nope.yaml"), "-i", inv, "--output", "json"}, exitOptions, "not found", "pgplay init"},
		{[]string{"run", filepath.Join(dir, "bad.yaml"), "-i", inv, "--output=json"}, exitParse, "bad.yaml:3:7: unknown module \"systemd\"", "use `service`"},
		{[]string{"run", filepath.Join(dir, "bad.yaml"), "--output", "json", "--chek"}, exitOptions, "unknown flag: --chek", "did you mean --check?"},
		{[]string{"exec", "nosuch", "-i", inv, "-a", "true", "--output", "json"}, exitParse, "unknown host or group \"nosuch\"", "a host or group defined in the inventory"},
	}
	for _, c := range cases {
		code, out, errs := cli(t, c.args...)
		if code != c.code || errs != "" {
			t.Errorf("%v: exit %d (want %d), stderr %q", c.args, code, c.code, errs)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		var ev map[string]any
		if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &ev) != nil {
			t.Errorf("%v: stdout is not one JSON event:\n%s", c.args, out)
			continue
		}
		if ev["event"] != "error" || ev["exit_code"] != float64(c.code) || ev["schema"] != float64(report.SchemaVersion) ||
			!strings.Contains(ev["msg"].(string), c.msg) || !strings.Contains(ev["hint"].(string), c.hint) {
			t.Errorf("%v: event %v; want error, exit_code %d, msg with %q, hint with %q", c.args, ev, c.code, c.msg, c.hint)
		}
	}
}

// docs/json-events.md documents every event kind and every field.
func TestJSONEventsDoc(t *testing.T) {
	b, err := os.ReadFile("../../docs/json-events.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, k := range []report.Kind{report.RunStart, report.PlayStart, report.TaskStart, report.HostResult, report.HandlerRun,
		report.Warning, report.Progress, report.Recap, report.RunEnd, report.ErrorReport} {
		if !strings.Contains(doc, "`"+string(k)+"`") {
			t.Errorf("docs/json-events.md lacks the event %q", k)
		}
	}
	et := reflect.TypeOf(report.Event{})
	for i := 0; i < et.NumField(); i++ {
		name, _, _ := strings.Cut(et.Field(i).Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		if !strings.Contains(doc, "`"+name+"`") {
			t.Errorf("docs/json-events.md lacks the field %q", name)
		}
	}
}
