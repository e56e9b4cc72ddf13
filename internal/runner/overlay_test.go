package runner

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pgplay/pgplay/internal/disktree"
	"github.com/pgplay/pgplay/internal/playbook"
	"github.com/pgplay/pgplay/internal/report"
)

// diskTree describes the tree under dir (see disktree.Describe).
func diskTree(t *testing.T, dir string) string {
	t.Helper()
	s, err := disktree.Describe(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// In a check run a task sees the files earlier tasks only simulated
// writing, creating and removing (on the host the operation targets:
// the delegate under delegate_to), and nothing reaches the disk.
func TestCheckRunSeesSimulatedFiles(t *testing.T) {
	src := writeFiles(t, map[string]string{
		"site.yaml": `- hosts: h1
  tasks:
    - name: t1
      file: {path: "{{ .d }}/conf", state: directory, mode: "0750"}
    - name: t2
      copy: {src: app.conf, dest: "{{ .d }}/conf", mode: "0640"}
      register: t2
    - name: t3
      stat: {path: "{{ .d }}/conf/app.conf"}
      register: t3
    - name: t4
      template: {src: app.conf.tmpl, dest: "{{ .d }}/conf/app.conf"}
    - name: t5
      file: {path: "{{ .d }}/conf", state: absent}
    - name: t6
      stat: {path: "{{ .d }}/conf/app.conf"}
      register: t6
    - name: remove a host directory
      file: {path: "{{ .d }}/keep", state: absent}
    - name: its file is gone
      stat: {path: "{{ .d }}/keep/old.conf"}
      register: t7
    - name: delegated write
      copy: {content: "x", dest: "{{ .d }}/delegated"}
      delegate_to: h2
    - name: seen by the delegate
      stat: {path: "{{ .d }}/delegated"}
      delegate_to: h2
      register: d2
    - name: not by the task's host
      stat: {path: "{{ .d }}/delegated"}
      register: d1
    - name: report
      debug:
        msg: "dest={{ .t2.dest }} t3={{ .t3.stat.exists }},{{ .t3.stat.size }},{{ .t3.stat.mode }},{{ .t3.stat.isdir }} t6={{ .t6.stat.exists }} t7={{ .t7.stat.exists }} d2={{ .d2.stat.exists }} d1={{ .d1.stat.exists }}"
`,
		"files/app.conf":          "from copy\n",
		"templates/app.conf.tmpl": "from template {{ .inventory_hostname }}\n",
	})
	disk := t.TempDir()
	// A host directory the run removes (in check mode) with a file in it.
	if err := os.MkdirAll(filepath.Join(disk, "keep"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(disk, "keep", "old.conf"), []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := diskTree(t, disk)

	popt := loadOptions(src)
	pb, err := playbook.Load("site.yaml", popt)
	if err != nil {
		t.Fatal(err)
	}
	inv := localInventory(t, "", "h1", "h2")
	o, ev := run(t, Options{Inventory: inv, Source: popt.Source, Check: true, Diff: true,
		ExtraVars: map[string]any{"d": disk}}, pb)
	if o.Failed {
		t.Fatalf("check run failed: %v", ev.failures())
	}

	want := fmt.Sprintf("dest=%s/conf/app.conf t3=true,10,0640,false t6=false t7=false d2=true d1=false", disk)
	if got := ev.results("h1"); len(got) == 0 || got[len(got)-1] != ": "+want {
		t.Errorf("results:\n%s\nwant last:\n%s", strings.Join(got, "\n"), want)
	}

	// The template's diff is against what the copy (simulated) wrote.
	var diffs []report.Diff
	for _, e := range ev.all {
		if e.Kind == report.HostResult && e.Task == "t4" {
			diffs = e.Diffs
			if e.Status != report.Changed {
				t.Errorf("t4 status %v, want changed", e.Status)
			}
		}
	}
	if len(diffs) != 1 || diffs[0].Before != "from copy\n" || diffs[0].After != "from template h1\n" {
		t.Errorf("t4 diffs %+v, want from copy -> from template h1", diffs)
	}

	if after := diskTree(t, disk); after != before {
		t.Fatalf("a check run changed the disk:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// A fetch task with check_mode: true in a normal run writes nothing on the
// controller, as a file task in its place would write nothing on the
// host: the task's Target decides, for the controller side too.
func TestFetchCheckModeTaskWritesNothing(t *testing.T) {
	src := writeFiles(t, map[string]string{
		"site.yaml": `- hosts: h1
  tasks:
    - name: fetch in check mode
      fetch: {src: "{{ .d }}/host/key.pub", dest: "{{ .d }}/fetched/", flat: true}
      check_mode: true
    - name: the variable
      debug: {msg: "check_mode={{ .check_mode }}"}
      check_mode: true
`,
	})
	disk := t.TempDir()
	if err := os.MkdirAll(filepath.Join(disk, "host"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(disk, "host", "key.pub"), []byte("ssh-ed25519 AAAA\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := diskTree(t, disk)
	popt := loadOptions(src)
	pb, err := playbook.Load("site.yaml", popt)
	if err != nil {
		t.Fatal(err)
	}
	o, ev := run(t, Options{Inventory: localInventory(t, "", "h1"), Source: popt.Source,
		ExtraVars: map[string]any{"d": disk}}, pb)
	if o.Failed {
		t.Fatalf("run failed: %v", ev.failures())
	}
	if after := diskTree(t, disk); after != before {
		t.Fatalf("a check_mode: true fetch changed the controller:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	r := hostResult(t, ev, "fetch in check mode", "h1")
	if r.Status != report.Changed || !strings.HasPrefix(r.Msg, "would write ") {
		t.Errorf("fetch result %v %q, want changed, would write", r.Status, r.Msg)
	}
	// As Ansible's ansible_check_mode, the variable is the run's --check.
	if got := hostResult(t, ev, "the variable", "h1").Msg; got != "check_mode=false" {
		t.Errorf("check_mode variable in a check_mode: true task of a normal run: %s", got)
	}
}

// hostResult returns the one host result event of task on host.
func hostResult(t *testing.T, ev *events, task, host string) report.Event {
	t.Helper()
	var found []report.Event
	for _, e := range ev.all {
		if e.Kind == report.HostResult && e.Task == task && e.Host == host {
			found = append(found, e)
		}
	}
	if len(found) != 1 {
		t.Fatalf("task %q on %s: %d result events, want 1", task, host, len(found))
	}
	return found[0]
}

// The changes a check-mode Target recorded are on the host's result event
// (CheckChanges), not in the registered result; a no_log task's say only
// that something would change.
func TestCheckChangesOnResultEvent(t *testing.T) {
	src := writeFiles(t, map[string]string{
		"site.yaml": `- hosts: h1
  tasks:
    - name: write
      copy: {content: "a\nb\nc\n", dest: "{{ .d }}/app.conf", mode: "0640"}
      register: w
    - name: cmd
      command: touch {{ .d }}/flag
    - name: secret
      command: touch {{ .d }}/secret
      no_log: true
    - name: real
      command: "true"
      check_mode: false
    - name: registered
      debug: {msg: "{{ if hasKey .w \"check_changes\" }}registered{{ else }}not registered{{ end }}"}
`,
	})
	disk := t.TempDir()
	if err := os.WriteFile(filepath.Join(disk, "app.conf"), []byte("a\nx\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	popt := loadOptions(src)
	pb, err := playbook.Load("site.yaml", popt)
	if err != nil {
		t.Fatal(err)
	}
	o, ev := run(t, Options{Inventory: localInventory(t, "", "h1"), Source: popt.Source, Check: true,
		ExtraVars: map[string]any{"d": disk}}, pb)
	if o.Failed {
		t.Fatalf("check run failed: %v", ev.failures())
	}
	changes := func(task string) []report.Change { return hostResult(t, ev, task, "h1").CheckChanges }
	want := []report.Change{{Op: "write", Path: disk + "/app.conf", Detail: "+2 -1 lines, 6 bytes, mode 0640"}}
	if got := changes("write"); !reflect.DeepEqual(got, want) {
		t.Errorf("write: check changes %#v\nwant %#v", got, want)
	}
	want = []report.Change{{Op: "run", Argv: []string{"touch", disk + "/flag"}}}
	if got := changes("cmd"); !reflect.DeepEqual(got, want) {
		t.Errorf("cmd: check changes %#v\nwant %#v", got, want)
	}
	want = []report.Change{{Op: report.Censored}}
	if got := changes("secret"); !reflect.DeepEqual(got, want) {
		t.Errorf("no_log task: check changes %#v, want only that something would change", got)
	}
	if got := changes("real"); got != nil {
		t.Errorf("check_mode: false task: check changes %#v", got)
	}
	if got := hostResult(t, ev, "registered", "h1").Msg; got != "not registered" {
		t.Errorf("registered result: %s", got)
	}
	for _, e := range ev.all {
		if _, ok := e.Result["check_changes"]; ok {
			t.Errorf("task %q: check_changes in the result", e.Task)
		}
	}
}
