package runner

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/pgplay/pgplay/internal/content"
	"github.com/pgplay/pgplay/internal/inventory"
	"github.com/pgplay/pgplay/internal/playbook"
	"github.com/pgplay/pgplay/internal/report"
	"github.com/pgplay/pgplay/modules"
)

// events collects what a run reports.
type events struct {
	mu  sync.Mutex
	all []report.Event
}

func (e *events) Emit(ev report.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, ev)
}

// results returns "role: msg" of every debug result of host, in order.
func (e *events) results(host string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.all {
		if ev.Kind == report.HostResult && ev.Host == host {
			out = append(out, ev.Role+": "+ev.Msg)
		}
	}
	return out
}

// writeFiles writes files (slash paths) under a new temp dir, returned.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// localInventory is hosts with connection: local; body is appended to
// each host's mapping ("" for none).
func localInventory(t *testing.T, body string, hosts ...string) *inventory.Inventory {
	t.Helper()
	var sb strings.Builder
	sb.WriteString("all:\n  children:\n    pg:\n      hosts:\n")
	for _, h := range hosts {
		sb.WriteString("        " + h + ": {connection: local" + body + "}\n")
	}
	inv, err := inventory.Parse("inventory.yaml", []byte(sb.String()))
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func loadOptions(dir string) playbook.Options {
	opt := benchOptions()
	opt.Source = &content.Source{Dirs: []string{dir}}
	return opt
}

// run prepares and runs pb; it fails the test when Prepare does.
func run(t *testing.T, opt Options, pb *playbook.Playbook) (*Outcome, *events) {
	t.Helper()
	ev := &events{}
	opt.Sink = ev
	r := New(opt)
	if err := r.Prepare(pb); err != nil {
		t.Fatal(err)
	}
	return r.Run(context.Background(), pb), ev
}

func roleDepsTree() map[string]string {
	return map[string]string{
		"site.yaml":                       "- hosts: pg\n  roles: [app]\n",
		"roles/app/meta/main.yaml":        "dependencies:\n  - common\n  - {role: db, db_port: 5433}\n",
		"roles/app/defaults/main.yaml":    "app_dir: \"/srv/{{ .common_base }}\"\n",
		"roles/app/tasks/main.yaml":       "- debug: {msg: \"app {{ .app_dir }} {{ .db_port }} {{ .shared }}\"}\n",
		"roles/common/defaults/main.yaml": "common_base: base\nshared: from-common\n",
		"roles/common/tasks/main.yaml":    "- debug: {msg: \"common {{ .role_name }} {{ .shared }}\"}\n",
		"roles/db/defaults/main.yaml":     "db_port: 5432\nshared: from-db\n",
		"roles/db/meta/main.yaml":         "dependencies: [common]\n",
		"roles/db/tasks/main.yaml":        "- debug: {msg: \"db {{ .db_port }} {{ .shared }}\"}\n",
	}
}

// Dependencies run first, once; their defaults are role defaults of the
// roles that depend on them; a role's own defaults and params are on top.
func TestRoleDependenciesRun(t *testing.T) {
	dir := writeFiles(t, roleDepsTree())
	popt := loadOptions(dir)
	pb, err := playbook.Load("site.yaml", popt)
	if err != nil {
		t.Fatal(err)
	}
	inv := localInventory(t, "", "h1", "h2")
	want := []string{
		"common: common common from-common",
		"db: db 5433 from-db",
		"app: app /srv/base 5432 from-db",
	}
	o, ev := run(t, Options{Inventory: inv, Source: popt.Source}, pb)
	if o.Failed {
		t.Fatalf("run failed: %v", ev.all)
	}
	for _, h := range []string{"h1", "h2"} {
		if got := ev.results(h); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s ran:\n%s\nwant:\n%s", h, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}

	// `pgplay role app`: a play built around one role reference; Prepare
	// puts the dependencies in.
	ref, err := playbook.RoleRefFor("app", nil, popt)
	if err != nil {
		t.Fatal(err)
	}
	pb2 := &playbook.Playbook{Plays: []*playbook.Play{{Name: "role app", Hosts: "h1", Roles: []*playbook.RoleRef{ref}}}}
	o, ev = run(t, Options{Inventory: inv, Source: popt.Source}, pb2)
	if got := ev.results("h1"); o.Failed || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("pgplay role app ran:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// failures returns host -> message of the failed results.
func (e *events) failures() map[string]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]string{}
	for _, ev := range e.all {
		if ev.Kind == report.HostResult && ev.Status == report.Failed {
			out[ev.Host] = ev.Msg
		}
	}
	return out
}

// retries: and delay: given as templates are rendered on each host.
func TestTemplatedRetriesAndDelay(t *testing.T) {
	inv, err := inventory.Parse("inventory.yaml", []byte(`all:
  hosts:
    h1: {connection: local, n: 1, d: 0.05}
    h2: {connection: local, n: "3", d: 10ms}
    h3: {connection: local, n: many, d: 1}
    h4: {connection: local, n: 1, d: soon}
`))
	if err != nil {
		t.Fatal(err)
	}
	play := `- hosts: all
  tasks:
    - name: wait
      debug: {msg: waiting}
      register: r
      until: eq .r.msg "never"
      retries: "{{ .n }}"
      delay: "{{ .d }}"
`
	pb, err := playbook.Parse("play.yaml", []byte(play), benchOptions())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	o, ev := run(t, Options{Inventory: inv}, pb)
	took := time.Since(start)
	if !o.Failed {
		t.Fatal("the run did not fail")
	}
	got := ev.failures()
	want := map[string]string{
		"h1": "retries exhausted (1) waiting for until",
		"h2": "retries exhausted (3) waiting for until",
		"h3": `play.yaml:7:16: task "wait": host h3: retries must be a non-negative whole number, not "many" (rendered from "{{ .n }}"); hint: `,
		"h4": `play.yaml:8:14: task "wait": host h4: delay must be a duration, not "soon" (rendered from "{{ .d }}"); hint: `,
	}
	for h, w := range want {
		if !strings.Contains(got[h], w) {
			t.Errorf("%s: %q, want it to contain %q", h, got[h], w)
		}
	}
	// h1 waits 50ms once, h2 10ms three times; the default (5s) is not used.
	if took < 50*time.Millisecond || took > 4*time.Second {
		t.Errorf("run took %v", took)
	}

	// A variable defined nowhere is reported before the run.
	pb, err = playbook.Parse("play.yaml", []byte(strings.Replace(play, ".d }}", ".dd }}", 1)), benchOptions())
	if err != nil {
		t.Fatal(err)
	}
	err = New(Options{Inventory: inv, Sink: &events{}}).Prepare(pb)
	if err == nil || !strings.Contains(err.Error(), `play.yaml:8:7: task "wait" delay uses undefined variable "dd"`) {
		t.Errorf("Prepare: %v", err)
	}
}

// The variables a task sees: built from levels merged once per play, host
// and role, with the levels that change (task vars, registered results)
// on top and .hostvars as it was when the task started.
func TestVariablesAcrossTasks(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"inv.yaml": `all:
  vars: {connection: local}
  children:
    pg:
      hosts:
        h1: {facts: {inv: 1}}
        h2: {}
    other:
      hosts:
        h3: {o: 3}
`,
		"site.yaml": `- hosts: pg
  vars:
    p: "p={{ .w }}"
  roles: [a, b]
  tasks:
    - debug: {msg: "play d={{ .d }} {{ .p }} facts={{ hasKey .facts \"inv\" }}"}
    - debug: {msg: "{{ .p }}"}
      vars: {w: task}
    - debug: {msg: "{{ .p }}"}
    - set_fact: {n: "{{ .inventory_hostname }}-1"}
    - set_fact:
        n: "{{ .inventory_hostname }}-2"
        seen: "{{ .hostvars.h1.n }}"
    - debug: {msg: "n={{ .n }} seen={{ .seen }} h1={{ .hostvars.h1.n }} h2={{ .hostvars.h2.n }} h3={{ .hostvars.h3.o }} {{ len .hostvars.h3.facts }} {{ .play_hosts }} {{ .group_names }}"}
- hosts: pg
  vars:
    facts: {play: 1}
  tasks:
    - debug: {msg: "n={{ .n }} facts={{ .facts }} {{ .play_hosts }}"}
      when: eq .inventory_hostname "h2"
`,
		"roles/a/defaults/main.yaml": "d: A\nw: default\n",
		"roles/a/tasks/main.yaml":    "- debug: {msg: \"a d={{ .d }} {{ .role_name }} {{ .p }}\"}\n",
		"roles/b/defaults/main.yaml": "d: B\n",
		"roles/b/tasks/main.yaml":    "- debug: {msg: \"b d={{ .d }} {{ .role_name }}\"}\n",
	})
	popt := loadOptions(dir)
	pb, err := playbook.Load("site.yaml", popt)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Load(filepath.Join(dir, "inv.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	o, ev := run(t, Options{Inventory: inv, Source: popt.Source}, pb)
	if o.Failed {
		t.Fatalf("run failed: %v", ev.all)
	}
	want := map[string][]string{
		"h1": {
			"a: a d=A a p=default", // the task's own role's defaults on top
			"b: b d=B b",
			": play d=B p=default facts=false", // host var "facts" is hidden by the facts level
			": p=task",                         // a task var under a play var's template
			": p=default",                      // ... only for that task
			": ", ": ",                         // set_fact (no message)
			// The set_fact task saw .hostvars as the task began (h1-1).
			": n=h1-2 seen=h1-1 h1=h1-2 h2=h2-2 h3=3 0 [h1 h2] [pg]",
			": ", // skipped in play 2
		},
		"h2": {
			"a: a d=A a p=default", "b: b d=B b", ": play d=B p=default facts=false", ": p=task", ": p=default", ": ", ": ",
			": n=h2-2 seen=h1-1 h1=h1-2 h2=h2-2 h3=3 0 [h1 h2] [pg]",
			// Play vars over facts; set_fact lasts for the run.
			": n=h2-2 facts=map[play:1] [h1 h2]",
		},
	}
	for h, w := range want {
		if got := ev.results(h); strings.Join(got, "\n") != strings.Join(w, "\n") {
			t.Errorf("%s:\n%s\nwant:\n%s", h, strings.Join(got, "\n"), strings.Join(w, "\n"))
		}
	}
}

// countFS counts the reads of each file of an embedded file system.
type countFS struct {
	fs.FS
	mu    sync.Mutex
	reads map[string]int
}

func (c *countFS) ReadFile(name string) ([]byte, error) {
	c.mu.Lock()
	c.reads[name]++
	c.mu.Unlock()
	return fs.ReadFile(c.FS, name)
}

// A task's hosts share its content lookups: a template is read once per
// task (and once per task by Prepare), not once per host.
func TestTemplateReadOncePerTask(t *testing.T) {
	out := t.TempDir()
	emb := &countFS{FS: fstest.MapFS{
		"templates/a.conf.tmpl": {Data: []byte("host={{ .inventory_hostname }}\n")},
	}, reads: map[string]int{}}
	src := &content.Source{Dirs: []string{t.TempDir()}, Embedded: emb}
	popt := benchOptions()
	popt.Source = src
	pb, err := playbook.Parse("play.yaml", []byte(`- hosts: pg
  tasks:
    - template: {src: a.conf.tmpl, dest: "{{ .out }}/{{ .inventory_hostname }}.conf"}
    - template: {src: a.conf.tmpl, dest: "{{ .out }}/{{ .inventory_hostname }}.conf"}
`), popt)
	if err != nil {
		t.Fatal(err)
	}
	inv := localInventory(t, ", out: "+out, "h1", "h2", "h3", "h4", "h5")
	o, ev := run(t, Options{Inventory: inv, Source: src}, pb)
	if o.Failed {
		t.Fatalf("run failed: %v", ev.all)
	}
	for _, h := range []string{"h1", "h5"} {
		if b, err := os.ReadFile(filepath.Join(out, h+".conf")); err != nil || string(b) != "host="+h+"\n" {
			t.Errorf("%s: %q %v", h, b, err)
		}
	}
	if n := emb.reads["templates/a.conf.tmpl"]; n != 4 {
		t.Errorf("the template was read %d times, want 4 (by Prepare and by the run, once per task)", n)
	}
}

// .hostvars is copied only when a host's variables changed.
func TestHostvarsSnapshot(t *testing.T) {
	inv := localInventory(t, ", x: 1", "h1", "h2")
	r := New(Options{Inventory: inv})
	h1 := r.state(inv.Hosts["h1"])
	hv1, groups := r.hostvarsSnapshot()
	hv2, _ := r.hostvarsSnapshot()
	if reflect.ValueOf(hv1).Pointer() != reflect.ValueOf(hv2).Pointer() {
		t.Error("unchanged hosts: a new .hostvars")
	}
	if !reflect.DeepEqual(groups["pg"], []any{"h1", "h2"}) {
		t.Errorf("groups = %v", groups)
	}
	h1.mu.Lock()
	h1.setVar("r", map[string]any{"rc": 0})
	r.hostChanged(h1, []string{"r"}, false)
	h1.mu.Unlock()
	hv3, _ := r.hostvarsSnapshot()
	e1, e3 := hv1["h1"].(map[string]any), hv3["h1"].(map[string]any)
	if _, ok := e1["r"]; ok || e3["x"] != 1 || !reflect.DeepEqual(e3["r"], map[string]any{"rc": 0}) || e3["inventory_hostname"] != "h1" {
		t.Errorf("before: %v, after: %v", e1, e3)
	}
	if reflect.ValueOf(hv1["h2"]).Pointer() != reflect.ValueOf(hv3["h2"]).Pointer() {
		t.Error("h2's entry was copied though h2 did not change")
	}
}

func TestIsSecretName(t *testing.T) {
	r := New(Options{Inventory: localInventory(t, "", "h1")})
	r.secretVars = map[string]bool{"listed": true}
	for name, want := range map[string]bool{
		"db_password": true, "PGPASSWD": true, "api_Token": true, "my_secret_x": true, "listed": true,
		"pa\u017f\u017fword": true, "to\u212aen": true, // Unicode case folding, as the regexp does
		"pass": false, "tok": false, "user": false,
	} {
		if got := r.isSecretName(name); got != want {
			t.Errorf("isSecretName(%q) = %v, want %v", name, got, want)
		}
	}
}

// Workers run every job, at most max at once, on at most max goroutines.
func TestWorkers(t *testing.T) {
	w := newWorkers(3)
	var mu sync.Mutex
	running, most, ran := 0, 0, 0
	var wg sync.WaitGroup
	for round := 0; round < 4; round++ {
		for i := 0; i < 10; i++ {
			wg.Add(1)
			w.do(func() {
				defer wg.Done()
				mu.Lock()
				running++
				most = max(most, running)
				mu.Unlock()
				time.Sleep(time.Millisecond)
				mu.Lock()
				running--
				ran++
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	w.close()
	if ran != 40 || most > 3 || most < 2 || w.n != 3 {
		t.Errorf("ran %d jobs, at most %d at once, on %d workers; want 40, 3, 3", ran, most, w.n)
	}
}

// notifyThenFailPlay is a play on group pg whose first task notifies the
// handler "apply" (a debug "applied") on every host and whose second fails
// on h2; playKeys are extra lines of the play (indented two spaces).
func notifyThenFailPlay(t *testing.T, playKeys string) *playbook.Playbook {
	t.Helper()
	play := "- hosts: pg\n" + playKeys + `  tasks:
    - name: change
      command: {argv: ["true"]}
      notify: apply
    - name: break h2
      fail: {msg: broken}
      when: eq .inventory_hostname "h2"
  handlers:
    - name: apply
      debug: {msg: applied}
`
	pb, err := playbook.Parse("play.yaml", []byte(play), benchOptions())
	if err != nil {
		t.Fatal(err)
	}
	return pb
}

// A host that fails after notifying a handler does not run it, and the
// run says so, naming the handler and the host; the other host runs it.
func TestUnrunHandlersAreReported(t *testing.T) {
	o, ev := run(t, Options{Inventory: localInventory(t, "", "h1", "h2")}, notifyThenFailPlay(t, ""))
	if !o.Failed {
		t.Fatal("the run did not fail")
	}
	if got := strings.Join(ev.results("h1"), "|"); !strings.Contains(got, "applied") {
		t.Errorf("h1 did not run the handler: %s", got)
	}
	if got := strings.Join(ev.results("h2"), "|"); strings.Contains(got, "applied") {
		t.Errorf("h2 ran the handler after failing: %s", got)
	}
	var warn string
	for _, e := range ev.all {
		if e.Kind == report.Warning && strings.Contains(e.Msg, "handlers notified but not run") {
			warn = e.Msg
		}
	}
	if !strings.Contains(warn, "apply [h2]") || strings.Contains(warn, "h1") {
		t.Errorf("warning %q, want the handler apply named with h2 only", warn)
	}
}

// throttle: 1 runs the task on one host at a time; without it the hosts
// overlap. Each host's command records its start and end in a shared
// directory; overlapping intervals mean two ran at once.
func TestThrottle(t *testing.T) {
	for _, tc := range []struct {
		throttle string
		overlap  bool
	}{{"", true}, {"\n      throttle: 1", false}} {
		dir := t.TempDir()
		inv := localInventory(t, "", "h1", "h2", "h3")
		play := `- hosts: pg
  tasks:
    - name: slow
      shell: "date +%s%N > ` + dir + `/{{ .inventory_hostname }}.start; sleep 0.3; date +%s%N > ` + dir + `/{{ .inventory_hostname }}.end"` + tc.throttle + "\n"
		pb, err := playbook.Parse("play.yaml", []byte(play), benchOptions())
		if err != nil {
			t.Fatal(err)
		}
		if o, _ := run(t, Options{Inventory: inv, Forks: 5}, pb); o.Failed {
			t.Fatalf("throttle %q: the run failed", tc.throttle)
		}
		type span struct{ start, end int64 }
		var spans []span
		for _, h := range []string{"h1", "h2", "h3"} {
			var s span
			for _, f := range []struct {
				ext string
				v   *int64
			}{{"start", &s.start}, {"end", &s.end}} {
				b, err := os.ReadFile(filepath.Join(dir, h+"."+f.ext))
				if err != nil {
					t.Fatal(err)
				}
				fmt.Sscan(string(b), f.v)
			}
			spans = append(spans, s)
		}
		overlap := false
		for i := range spans {
			for j := range spans {
				if i != j && spans[i].start < spans[j].end && spans[j].start < spans[i].end {
					overlap = true
				}
			}
		}
		if overlap != tc.overlap {
			t.Errorf("throttle %q: hosts overlapped = %v, want %v", tc.throttle, overlap, tc.overlap)
		}
	}
}

// --force-handlers (or a play's force_handlers: true) runs the handler on
// the host that failed after notifying it; nothing is left unrun.
func TestForceHandlers(t *testing.T) {
	for _, tc := range []struct {
		name, playKey string
		opt           bool
	}{{"option", "", true}, {"play keyword", "  force_handlers: true\n", false}} {
		o, ev := run(t, Options{Inventory: localInventory(t, "", "h1", "h2"), ForceHandlers: tc.opt}, notifyThenFailPlay(t, tc.playKey))
		if !o.Failed {
			t.Fatalf("%s: the run did not fail", tc.name)
		}
		for _, h := range []string{"h1", "h2"} {
			if got := strings.Join(ev.results(h), "|"); !strings.Contains(got, "applied") {
				t.Errorf("%s: %s did not run the handler: %s", tc.name, h, got)
			}
		}
		for _, e := range ev.all {
			if e.Kind == report.Warning && strings.Contains(e.Msg, "handlers notified but not run") {
				t.Errorf("%s: warning %q although every handler ran", tc.name, e.Msg)
			}
		}
	}
}

// meta: end_play ends the play for all its hosts when its condition holds:
// no later task, rescue/always, handler or batch of the play runs, the
// hosts have not failed and run the next play. meta: noop does nothing.
func TestMetaEndPlayAndNoop(t *testing.T) {
	dir := writeFiles(t, map[string]string{"site.yaml": `- hosts: pg
  serial: 1
  tasks:
    - name: a
      debug: {msg: a}
      changed_when: true
      notify: h
    - meta: noop
    - meta: end_play
      when: eq 1 2
    - block:
        - meta: end_play
          when: eq .inventory_hostname "h1"
      always:
        - debug: {msg: always}
    - name: b
      debug: {msg: b}
  handlers:
    - name: h
      debug: {msg: handler}
- hosts: pg
  tasks:
    - name: c
      debug: {msg: c}
`})
	popt := loadOptions(dir)
	pb, err := playbook.Load("site.yaml", popt)
	if err != nil {
		t.Fatal(err)
	}
	o, ev := run(t, Options{Inventory: localInventory(t, "", "h1", "h2"), Source: popt.Source}, pb)
	if o.Failed {
		t.Fatalf("run failed: %v", ev.failures())
	}
	if got, want := ev.results("h1"), []string{": a", ": c"}; !reflect.DeepEqual(got, want) {
		t.Errorf("h1 results %q, want %q", got, want)
	}
	if got, want := ev.results("h2"), []string{": c"}; !reflect.DeepEqual(got, want) {
		t.Errorf("h2 results %q, want %q (its batch of the ended play does not run)", got, want)
	}
	unrun := false
	for _, e := range ev.all {
		if e.Kind == report.Warning && strings.Contains(e.Msg, "handlers notified but not run") && strings.Contains(e.Msg, "h [h1]") {
			unrun = true
		}
	}
	if !unrun {
		t.Error("no warning that handler h did not run on h1")
	}
}

// Prepare accepts every meta action (modules.MetaActions, the choices
// `pgplay doc meta` shows) and refuses any other, a template included
// (meta's action is never rendered), at the action's position.
func TestMetaActionsChecked(t *testing.T) {
	for _, a := range modules.MetaActions {
		dir := writeFiles(t, map[string]string{"site.yaml": "- hosts: all\n  tasks:\n    - meta: " + a + "\n"})
		pb, err := playbook.Load("site.yaml", loadOptions(dir))
		if err != nil {
			t.Fatalf("meta: %s: %v", a, err)
		}
		if err := New(Options{Inventory: localInventory(t, "", "h1")}).Prepare(pb); err != nil {
			t.Errorf("meta: %s: %v", a, err)
		}
	}
	for _, a := range []string{"end_host", `"{{ .x }}"`} {
		dir := writeFiles(t, map[string]string{"site.yaml": "- hosts: all\n  vars: {x: noop}\n  tasks:\n    - meta: " + a + "\n"})
		pb, err := playbook.Load("site.yaml", loadOptions(dir))
		if err != nil {
			t.Fatalf("meta: %s: %v", a, err)
		}
		err = New(Options{Inventory: localInventory(t, "", "h1")}).Prepare(pb)
		if err == nil || !strings.Contains(err.Error(), "site.yaml:4:13") || !strings.Contains(err.Error(), "is not one of: flush_handlers, end_play, noop") {
			t.Errorf("meta: %s: Prepare says %v, want site.yaml:4:13 ... is not one of: flush_handlers, end_play, noop", a, err)
		}
	}
}
