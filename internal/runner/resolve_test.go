package runner

import (
	"reflect"
	"strings"
	"testing"

	"github.com/pgplay/pgplay/internal/playbook"
	"github.com/pgplay/pgplay/internal/report"
)

// parsePlay parses a playbook given as text (file play.yaml).
func parsePlay(t *testing.T, text string) *playbook.Playbook {
	t.Helper()
	pb, err := playbook.Parse("play.yaml", []byte(text), benchOptions())
	if err != nil {
		t.Fatal(err)
	}
	return pb
}

// hostResults returns "task: status msg" of every host result of host.
func (e *events) hostResults(host string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.all {
		if ev.Kind == report.HostResult && ev.Host == host {
			out = append(out, ev.Task+": "+string(ev.Status)+" "+ev.Msg)
		}
	}
	return out
}

// A task's own ignore_errors, no_log and run_once win over its block's,
// false included, as in Ansible (ansible-playbook 2.x, checked by hand:
// a failing `ignore_errors: false` task inside an `ignore_errors: true`
// block fails the host). The runner used to take a block's true over
// the task's false.
func TestTaskKeywordWinsOverBlock(t *testing.T) {
	pb := parsePlay(t, `- hosts: pg
  tasks:
    - block:
        - name: shown
          debug: {msg: visible}
          no_log: false
        - name: hidden
          debug: {msg: secret-ish}
      no_log: true
    - block:
        - name: everywhere
          debug: {msg: "on {{ .inventory_hostname }}"}
          run_once: false
        - name: once
          debug: {msg: "once {{ .inventory_hostname }}"}
      run_once: true
    - block:
        - name: ignored
          fail: {msg: ignored failure}
        - name: fails
          fail: {msg: real failure}
          ignore_errors: false
        - name: after
          debug: {msg: after}
      ignore_errors: true
`)
	o, ev := run(t, Options{Inventory: localInventory(t, "", "h1", "h2")}, pb)
	want := map[string][]string{
		"h1": {
			"shown: ok visible",
			"hidden: ok ",
			"everywhere: ok on h1",
			"once: ok once h1",
			"ignored: failed ignored failure",
			"fails: failed real failure",
		},
		"h2": {
			"shown: ok visible",
			"hidden: ok ",
			"everywhere: ok on h2",
			"ignored: failed ignored failure",
			"fails: failed real failure",
		},
	}
	for h, w := range want {
		if got := ev.hostResults(h); !reflect.DeepEqual(got, w) {
			t.Errorf("%s results:\n  %q\nwant\n  %q", h, got, w)
		}
	}
	if !o.Failed || o.Stats["h1"].Failed != 1 || o.Stats["h1"].Ignored != 1 {
		t.Errorf("outcome failed=%v, h1 stats %+v; want the run failed, h1 failed=1 ignored=1", o.Failed, o.Stats["h1"])
	}
}

// An untagged play's facts are gathered under --tags (Ansible tags its
// implicit fact gathering `always`); a tagged play's gathering has the
// play's tags. The runner used to give it no tags, so --tags skipped it
// and a selected task reading .facts failed.
func TestGatherFactsUnderTags(t *testing.T) {
	pb := parsePlay(t, `- hosts: pg
  gather_facts: true
  tasks:
    - name: uses facts
      debug: {msg: "kernel {{ .facts.kernel }}"}
      tags: [x]
- hosts: pg
  gather_facts: true
  tags: [other]
  tasks:
    - name: tagged play
      debug: {msg: "tagged"}
      tags: [x]
`)
	o, ev := run(t, Options{Inventory: localInventory(t, "", "h1"), Tags: []string{"x"}}, pb)
	if o.Failed {
		t.Fatalf("the run failed: %q", ev.hostResults("h1"))
	}
	got := ev.hostResults("h1")
	if len(got) != 3 || got[0] != "Gathering Facts: ok " || !strings.HasPrefix(got[1], "uses facts: ok kernel ") || got[2] != "tagged play: ok tagged" {
		t.Errorf("results %q; want the first play's facts gathered, the second's not (its tags are not selected)", got)
	}
}

// An argument that is wrong only once rendered fails the host's task with
// the argument's file:line:col (not only the task's), the task and the
// module named; an unknown argument name beside a template is refused
// before the run with the same did-you-mean as a static one.
func TestArgumentErrorsNameTheArgument(t *testing.T) {
	pb := parsePlay(t, `- hosts: pg
  vars:
    st: bogus
  tasks:
    - name: touch it
      file:
        path: /nonexistent/x
        state: "{{ .st }}"
`)
	o, ev := run(t, Options{Inventory: localInventory(t, "", "h1")}, pb)
	got := ev.hostResults("h1")
	if !o.Failed || len(got) != 1 {
		t.Fatalf("results %q: want one failure", got)
	}
	for _, want := range []string{`touch it: failed play.yaml:8:9: task "touch it": module "file": argument "state"`, "bogus", "pgplay doc file"} {
		if !strings.Contains(got[0], want) {
			t.Errorf("result %q does not say %q", got[0], want)
		}
	}

	pb = parsePlay(t, `- hosts: pg
  vars:
    p: /tmp/x
  tasks:
    - name: touch it
      file:
        path: "{{ .p }}"
        stat: touch
`)
	err := New(Options{Inventory: localInventory(t, "", "h1")}).Prepare(pb)
	if err == nil {
		t.Fatal("Prepare accepted the unknown argument stat")
	}
	for _, want := range []string{`play.yaml:8:9: task "touch it": module "file": unknown argument "stat"`, `did you mean "state"?`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Prepare says %q, want %q in it", err, want)
		}
	}
}
