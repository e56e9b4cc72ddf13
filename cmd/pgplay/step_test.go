package main

import (
	"path/filepath"
	"strings"
	"testing"
)

const stepPlay = `
- hosts: all
  tasks:
    - name: first
      command: touch {{ .root }}/first
    - name: second
      command: touch {{ .root }}/second
    - name: third
      command: touch {{ .root }}/third
    - name: fourth
      command: touch {{ .root }}/fourth
`

// --start-at-task leaves out the tasks before the one it names (a glob
// works); a name no task has is refused before connecting, with the
// closest name.
func TestStartAtTask(t *testing.T) {
	l := newLab(t, []string{"a"}, "")
	writeFiles(t, l.dir, map[string]string{"play.yaml": stepPlay})
	pb := filepath.Join(l.dir, "play.yaml")
	code, out, errs := cli(t, "run", pb, "-i", l.inv, "--start-at-task", "thi*")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	root := l.roots["a"]
	for name, want := range map[string]bool{"first": false, "second": false, "third": true, "fourth": true} {
		if exists(filepath.Join(root, name)) != want {
			t.Errorf("--start-at-task thi*: task %s ran=%v, want %v\n%s", name, !want, want, out)
		}
	}
	code, out, errs = cli(t, "run", pb, "-i", l.inv, "--start-at-task", "secnd")
	if code != exitOptions || !strings.Contains(errs, `--start-at-task "secnd": no task of`) || !strings.Contains(errs, `did you mean "second"?`) {
		t.Errorf("unknown --start-at-task: exit %d\n%s\n%s", code, out, errs)
	}
}

// --step asks before each task on the terminal: n skips it, y runs it, c
// runs it and the rest without asking. Without a terminal it says what to
// do instead.
func TestStep(t *testing.T) {
	l := newLab(t, []string{"a"}, "")
	writeFiles(t, l.dir, map[string]string{"play.yaml": stepPlay})
	pb := filepath.Join(l.dir, "play.yaml")
	code, out, errs := cliTTY(t, "n\ny\nc\n", "run", pb, "-i", l.inv, "--step")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	root := l.roots["a"]
	for name, want := range map[string]bool{"first": false, "second": true, "third": true, "fourth": true} {
		if exists(filepath.Join(root, name)) != want {
			t.Errorf("--step n,y,c: task %s ran=%v, want %v\n%s\n%s", name, !want, want, out, errs)
		}
	}
	if n := strings.Count(errs, "Perform task: TASK: "); n != 3 {
		t.Errorf("--step asked %d times, want 3 (not after c)\n%s", n, errs)
	}
	code, _, errs = cli(t, "run", pb, "-i", l.inv, "--step")
	if code != exitOptions || !strings.Contains(errs, "--step asks before each task on a terminal") || !strings.Contains(errs, "--start-at-task") {
		t.Errorf("--step without a terminal: exit %d\n%s", code, errs)
	}
}
