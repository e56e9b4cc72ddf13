package playbook

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/pgplay/pgplay/internal/content"
	"github.com/pgplay/pgplay/internal/yamlsrc"
)

var testModules = []string{"command", "copy", "debug", "file", "ping", "service", "set_fact", "shell", "template"}

func known(name string) bool {
	for _, m := range testModules {
		if m == name {
			return true
		}
	}
	return false
}

// writeTree writes files (slash paths relative to a new temp dir) and
// returns the dir.
func writeTree(t *testing.T, files map[string]string) string {
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

func testOpts(dir string) Options {
	return Options{
		Source:      &content.Source{Dirs: []string{dir}},
		KnownModule: known,
		ModuleNames: testModules,
	}
}

func pos(dir, rel string, line, col int) yamlsrc.Pos {
	return yamlsrc.Pos{File: filepath.Join(dir, filepath.FromSlash(rel)), Line: line, Col: col}
}

const sitePlaybook = `- name: Deploy
  hosts: db:&prod
  become: yes
  gather_facts: true
  serial: [1, "50%"]
  vars:
    mode: 0644
  vars_files:
    - vars/common.yaml
    - vars/override.yaml
  secret_vars: [db_password]
  tags: deploy
  roles:
    - common
    - role: postgres
      pg_version: 15
      vars: {pg_port: 5432}
      when: eq .x "y"
      tags: [pg]
      become_user: postgres
  pre_tasks:
    - name: ping
      ping:
  tasks:
    - name: list
      command: ls -l
      args:
        chdir: /tmp
      register: out
      changed_when: false
      notify: restart
    - name: guarded
      block:
        - include_tasks: tasks/extra.yaml
          when: true
          tags: [x]
      rescue:
        - debug: {msg: failed}
      always: []
      become_user: postgres
    - meta: flush_handlers
    - name: retry
      ansible.builtin.shell: "pg_isready"
      until: eq .rc 0
    - name: looped
      file:
        path: "/tmp/{{ .f }}"
        mode: 0755
      with_items: [a, b]
      loop_control: {loop_var: f, label: "{{ .f }}"}
      delay: 2m
      retries: 7
  handlers:
    - name: restart
      service: {name: postgresql, state: restarted}
    - name: reload
      listen: [reload things]
      service: {name: postgresql, state: reloaded}
`

func siteTree() map[string]string {
	return map[string]string{
		"site.yaml":          sitePlaybook,
		"vars/common.yaml":   "a: 1\nb: 2\n",
		"vars/override.yaml": "b: 3\n",
		"tasks/extra.yaml":   "- name: extra\n  copy: {src: a, dest: b}\n",
		"roles/common/tasks/main.yaml": `- name: common task
  debug:
    msg: hi
- include_tasks: more.yaml
`,
		"roles/common/tasks/more.yaml":    "- name: more\n  command: echo more\n  notify: common handler\n",
		"roles/common/handlers/main.yaml": "- name: common handler\n  command: echo h\n",
		"roles/common/defaults/main.yaml": "x: 1\nmode: 0600\n",
		"roles/postgres/tasks/main.yml":   "- set_fact: {a: 1}\n",
	}
}

func TestLoadPlaybook(t *testing.T) {
	dir := writeTree(t, siteTree())
	pb, err := Load("site.yaml", testOpts(dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(pb.Plays) != 1 {
		t.Fatalf("plays = %d, want 1", len(pb.Plays))
	}
	p := pb.Plays[0]
	if p.Pos != pos(dir, "site.yaml", 1, 3) {
		t.Errorf("play pos = %v", p.Pos)
	}
	if p.Name != "Deploy" || p.Hosts != "db:&prod" || p.Become == nil || !*p.Become || !p.GatherFacts {
		t.Errorf("play header = %+v", p)
	}
	if !reflect.DeepEqual(p.Serial, []string{"1", "50%"}) {
		t.Errorf("serial = %q", p.Serial)
	}
	if p.Vars["mode"] != "0644" {
		t.Errorf("mode = %#v, want the string 0644", p.Vars["mode"])
	}
	if !reflect.DeepEqual(p.VarsFiles, []string{"vars/common.yaml", "vars/override.yaml"}) ||
		!reflect.DeepEqual(p.VarsFromFiles, map[string]any{"a": 1, "b": 3}) {
		t.Errorf("vars files = %q %v", p.VarsFiles, p.VarsFromFiles)
	}
	if !reflect.DeepEqual(p.SecretVars, []string{"db_password"}) || !reflect.DeepEqual(p.Tags, []string{"deploy"}) {
		t.Errorf("secret_vars/tags = %q %q", p.SecretVars, p.Tags)
	}

	// Roles.
	if len(p.Roles) != 2 {
		t.Fatalf("roles = %d", len(p.Roles))
	}
	common, pg := p.Roles[0], p.Roles[1]
	if common.Name != "common" || common.Pos != pos(dir, "site.yaml", 14, 7) {
		t.Errorf("common ref = %+v", common)
	}
	if pg.Name != "postgres" || !reflect.DeepEqual(pg.Params, map[string]any{"pg_version": 15, "pg_port": 5432}) ||
		!reflect.DeepEqual(pg.When, []string{`eq .x "y"`}) || !reflect.DeepEqual(pg.Tags, []string{"pg"}) || pg.BecomeUser != "postgres" {
		t.Errorf("postgres ref = %+v", pg)
	}
	if pg.Role.Dir != filepath.Join(dir, "roles/postgres") || pg.Role.Tasks[0].Pos != pos(dir, "roles/postgres/tasks/main.yml", 1, 3) {
		t.Errorf("postgres role (.yml) = %+v", pg.Role)
	}
	r := common.Role
	if r.Dir != filepath.Join(dir, "roles/common") || !reflect.DeepEqual(r.Defaults, map[string]any{"x": 1, "mode": "0600"}) {
		t.Errorf("common role = %q %v", r.Dir, r.Defaults)
	}
	if len(r.Tasks) != 2 || r.Tasks[0].Pos != pos(dir, "roles/common/tasks/main.yaml", 1, 3) || r.Tasks[0].Role != r {
		t.Fatalf("common tasks = %+v", r.Tasks)
	}
	inc := r.Tasks[1]
	if !inc.IsBlock() || len(inc.Block) != 1 || inc.Included != filepath.Join(dir, "roles/common/tasks/more.yaml") {
		t.Fatalf("role include = %+v", inc)
	}
	more := inc.Block[0]
	if more.Pos != pos(dir, "roles/common/tasks/more.yaml", 1, 3) || more.Role != r || more.Module != "command" ||
		!reflect.DeepEqual(more.Notify, []string{"common handler"}) {
		t.Errorf("included role task = %+v", more)
	}
	if len(r.Handlers) != 1 || r.Handlers[0].Name != "common handler" || r.Handlers[0].Role != r ||
		r.Handlers[0].Pos != pos(dir, "roles/common/handlers/main.yaml", 1, 3) {
		t.Errorf("role handlers = %+v", r.Handlers)
	}

	// Tasks.
	if len(p.PreTasks) != 1 || p.PreTasks[0].Module != "ping" || len(p.PreTasks[0].Args) != 0 {
		t.Errorf("pre_tasks = %+v", p.PreTasks)
	}
	if len(p.Tasks) != 5 {
		t.Fatalf("tasks = %d", len(p.Tasks))
	}
	list := p.Tasks[0]
	if list.Pos != pos(dir, "site.yaml", 25, 7) || list.Module != "command" ||
		!reflect.DeepEqual(list.Args, map[string]any{"_raw": "ls -l", "chdir": "/tmp"}) ||
		list.ArgPos["_raw"] != pos(dir, "site.yaml", 26, 16) || list.ArgPos["chdir"] != pos(dir, "site.yaml", 28, 9) ||
		list.Register != "out" || !reflect.DeepEqual(list.ChangedWhen, []string{"false"}) ||
		!reflect.DeepEqual(list.Notify, []string{"restart"}) || list.KeyPos["notify"] != pos(dir, "site.yaml", 31, 7) {
		t.Errorf("list task = %+v", list)
	}
	g := p.Tasks[1]
	if !g.IsBlock() || g.BecomeUser != "postgres" || len(g.Block) != 1 || len(g.Rescue) != 1 || g.Always == nil || len(g.Always) != 0 {
		t.Fatalf("block = %+v", g)
	}
	extra := g.Block[0]
	if !extra.IsBlock() || !reflect.DeepEqual(extra.When, []string{"true"}) || !reflect.DeepEqual(extra.Tags, []string{"x"}) ||
		extra.Included != filepath.Join(dir, "tasks/extra.yaml") || extra.Pos != pos(dir, "site.yaml", 34, 11) {
		t.Errorf("include = %+v", extra)
	}
	if e := extra.Block[0]; e.Name != "extra" || e.Pos != pos(dir, "tasks/extra.yaml", 1, 3) || e.Role != nil {
		t.Errorf("included task = %+v", e)
	}
	if d := g.Rescue[0]; d.Module != "debug" || d.Args["msg"] != "failed" {
		t.Errorf("rescue = %+v", d)
	}
	if m := p.Tasks[2]; m.Module != "meta" || !reflect.DeepEqual(m.Args, map[string]any{"_raw": "flush_handlers"}) {
		t.Errorf("meta = %+v", m)
	}
	if rt := p.Tasks[3]; rt.Module != "shell" || rt.Until != "eq .rc 0" || rt.Retries != 3 || rt.Delay != 5*time.Second {
		t.Errorf("retry = %+v", rt)
	}
	lp := p.Tasks[4]
	if !reflect.DeepEqual(lp.Loop, []any{"a", "b"}) || lp.LoopVar != "f" || lp.LoopLabel != "{{ .f }}" ||
		lp.Args["mode"] != "0755" || lp.Delay != 2*time.Minute || lp.Retries != 7 {
		t.Errorf("looped = %+v", lp)
	}
	// Where keyword values (and list items) were written, for the
	// runner's errors about a keyword that fails on a host.
	if at, _ := lp.ValPos.Find("with_items[1].x"); at != pos(dir, "site.yaml", 49, 23) ||
		list.ValPos["notify"] != pos(dir, "site.yaml", 31, 15) || g.ValPos["become_user"] != pos(dir, "site.yaml", 40, 20) {
		t.Errorf("value positions: looped %v, list %v, block %v", lp.ValPos, list.ValPos, g.ValPos)
	}
	if at, _ := pg.ValPos.Find("when[0]"); at != pos(dir, "site.yaml", 18, 13) || pg.ValPos["become_user"] != pos(dir, "site.yaml", 20, 20) {
		t.Errorf("postgres ref value positions: %v", pg.ValPos)
	}
	if len(p.Handlers) != 2 || !reflect.DeepEqual(p.Handlers[1].Listen, []string{"reload things"}) {
		t.Errorf("handlers = %+v", p.Handlers)
	}
}

func TestScalarDecoding(t *testing.T) {
	ts, err := ParseTasks("t.yaml", []byte(`- set_fact:
    mode: 0644
    octal: 0o755
    quoted: "0644"
    zero: 0
    n: 12
    neg: -3
    hex: 0x10
    f: 1.5
    f0: 0.25
    yes_: true
    no_: False
    ansible_yes: yes
    off: off
    null_: ~
    empty:
    date: 2024-01-01
    str: hello
    list: [1, "2", x]
    map: {a: {b: [true]}}
    base: &b {k: 1, j: 2}
    merged: {<<: *b, j: 3}
`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"mode": "0644", "octal": "0o755", "quoted": "0644", "zero": 0, "n": 12, "neg": -3, "hex": 16,
		"f": 1.5, "f0": 0.25, "yes_": true, "no_": false, "ansible_yes": "yes", "off": "off",
		"null_": nil, "empty": nil, "date": "2024-01-01", "str": "hello",
		"list": []any{1, "2", "x"}, "map": map[string]any{"a": map[string]any{"b": []any{true}}},
		"base": map[string]any{"k": 1, "j": 2}, "merged": map[string]any{"k": 1, "j": 3},
	}
	if got := ts[0].Args; !reflect.DeepEqual(got, want) {
		for k := range want {
			if !reflect.DeepEqual(got[k], want[k]) {
				t.Errorf("%s = %#v, want %#v", k, got[k], want[k])
			}
		}
	}
}

func TestRoleOnDisk(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"roles/pg/defaults/main.yaml":  "pg_port: 5432\n",
		"roles/pg/handlers/main.yaml":  "- name: restart pg\n  service: {name: postgresql, state: restarted}\n",
		"roles/pg/tasks/main.yaml":     "- import_tasks: install.yaml\n  tags: install\n- name: conf\n  template: {src: pg.conf, dest: /etc/pg.conf}\n  notify: restart pg\n",
		"roles/pg/tasks/install.yaml":  "- name: pkgs\n  command: apt-get install -y postgresql\n- include_tasks: sub/deep.yaml\n",
		"roles/pg/tasks/sub/deep.yaml": "- name: deep\n  command: 'true'\n",
	})
	ref, err := RoleRefFor("pg", map[string]any{"pg_port": 6432}, testOpts(dir))
	if err != nil {
		t.Fatal(err)
	}
	r := ref.Role
	if ref.Name != "pg" || ref.Params["pg_port"] != 6432 || r.Defaults["pg_port"] != 5432 {
		t.Errorf("ref = %+v, defaults %v", ref, r.Defaults)
	}
	install := r.Tasks[0]
	if !install.IsBlock() || !reflect.DeepEqual(install.Tags, []string{"install"}) || len(install.Block) != 2 {
		t.Fatalf("import = %+v", install)
	}
	// Nested includes in a role resolve against the role's tasks/ dir.
	deep := install.Block[1]
	if deep.Included != filepath.Join(dir, "roles/pg/tasks/sub/deep.yaml") || deep.Block[0].Pos != pos(dir, "roles/pg/tasks/sub/deep.yaml", 1, 3) || deep.Block[0].Role != r {
		t.Errorf("deep = %+v", deep)
	}
	if r.Tasks[1].Module != "template" || r.Tasks[1].ArgPos["dest"] != pos(dir, "roles/pg/tasks/main.yaml", 4, 28) {
		t.Errorf("conf = %+v", r.Tasks[1])
	}

	// A role whose task notifies a handler it does not have.
	dir2 := writeTree(t, map[string]string{"roles/x/tasks/main.yaml": "- command: ls\n  notify: nope\n"})
	_, err = RoleRefFor("x", nil, testOpts(dir2))
	wantErr(t, err, pos(dir2, "roles/x/tasks/main.yaml", 2, 3).String(), `no handler named "nope"`, "add a handler")

	_, err = LoadRole("missing", testOpts(dir2))
	if !errors.Is(err, content.ErrNotFound) || !strings.Contains(err.Error(), "roles/missing/tasks/main.yaml") {
		t.Errorf("missing role: %v", err)
	}
}

func TestEmbedded(t *testing.T) {
	emb := fstest.MapFS{
		"playbooks/site.yaml":        {Data: []byte("- hosts: all\n  vars_files: [vars.yaml]\n  roles: [r]\n  tasks:\n    - include_tasks: inc/t.yaml\n")},
		"playbooks/vars.yaml":        {Data: []byte("v: 1\n")},
		"playbooks/inc/t.yaml":       {Data: []byte("- include_tasks: u.yaml\n")},
		"playbooks/inc/u.yaml":       {Data: []byte("- name: u\n  debug: {msg: u}\n")},
		"roles/r/tasks/main.yaml":    {Data: []byte("- include_tasks: inc.yaml\n")},
		"roles/r/tasks/inc.yaml":     {Data: []byte("- name: from embedded\n  debug: {msg: hi}\n")},
		"roles/r/defaults/main.yml":  {Data: []byte("d: 0644\n")},
		"roles/r/handlers/main.yaml": {Data: []byte("- name: h\n  debug: {msg: h}\n")},
	}
	empty := t.TempDir()
	opt := testOpts(empty)
	opt.Source.Embedded = emb
	pb, err := Load("playbooks/site.yaml", opt)
	if err != nil {
		t.Fatal(err)
	}
	p := pb.Plays[0]
	if pb.File != "embedded:playbooks/site.yaml" || p.Pos != (yamlsrc.Pos{File: "embedded:playbooks/site.yaml", Line: 1, Col: 3}) || p.VarsFromFiles["v"] != 1 {
		t.Errorf("playbook = %+v %+v", pb, p)
	}
	r := p.Roles[0].Role
	if r.Dir != "embedded:roles/r" || r.Defaults["d"] != "0644" || len(r.Handlers) != 1 {
		t.Errorf("role = %+v", r)
	}
	if got := r.Tasks[0].Block[0].Pos; got != (yamlsrc.Pos{File: "embedded:roles/r/tasks/inc.yaml", Line: 1, Col: 3}) {
		t.Errorf("role include pos = %v", got)
	}
	u := p.Tasks[0].Block[0].Block[0]
	if u.Pos != (yamlsrc.Pos{File: "embedded:playbooks/inc/u.yaml", Line: 1, Col: 3}) {
		t.Errorf("nested include pos = %v", u.Pos)
	}

	// A role on disk wins over the embedded one.
	writeFile(t, filepath.Join(empty, "roles/r/tasks/main.yaml"), "- name: from disk\n  debug: {msg: disk}\n")
	pb, err = Load("playbooks/site.yaml", opt)
	if err != nil {
		t.Fatal(err)
	}
	if r := pb.Plays[0].Roles[0].Role; r.Dir != filepath.Join(empty, "roles/r") || r.Tasks[0].Name != "from disk" || len(r.Handlers) != 0 {
		t.Errorf("disk role = %+v", r)
	}
}

func writeFile(t *testing.T, p, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestImportPlaybookAndSiblingRoles(t *testing.T) {
	// playbooks/ and roles/ side by side, run from elsewhere.
	dir := writeTree(t, map[string]string{
		"playbooks/site.yaml":     "- import_playbook: db.yaml\n- hosts: web\n  tasks: []\n",
		"playbooks/db.yaml":       "- hosts: db\n  roles: [r]\n",
		"roles/r/tasks/main.yaml": "- ping:\n",
	})
	pb, err := Load(filepath.Join(dir, "playbooks/site.yaml"), Options{KnownModule: known})
	if err != nil {
		t.Fatal(err)
	}
	if len(pb.Plays) != 2 || pb.Plays[0].Hosts != "db" || pb.Plays[1].Hosts != "web" {
		t.Fatalf("plays = %+v", pb.Plays)
	}
	if pb.Plays[0].Pos != pos(dir, "playbooks/db.yaml", 1, 3) || pb.Plays[0].Roles[0].Role.Dir != filepath.Join(dir, "roles/r") {
		t.Errorf("imported play = %+v", pb.Plays[0])
	}
}

func TestTaskForms(t *testing.T) {
	ts, err := ParseTasks("t.yaml", []byte(`- command: echo
  when: [a, true]
  failed_when: true
  loop: "{{ .list }}"
  loop_var: host
  delay: 1.5
  check_mode: false
  vars: {a: 1}
  ignore_errors: yes
  run_once: true
  no_log: true
  delegate_to: node1
- block: []
- debug:
  become: false
`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := ts[0]
	if !reflect.DeepEqual(a.When, []string{"a", "true"}) || !reflect.DeepEqual(a.FailedWhen, []string{"true"}) ||
		a.Loop != "{{ .list }}" || a.LoopVar != "host" || a.Delay != 1500*time.Millisecond || a.CheckMode == nil || *a.CheckMode ||
		a.Vars["a"] != 1 || !a.IgnoreErrors || !a.RunOnce || !a.NoLog || a.DelegateTo != "node1" || a.Retries != 0 {
		t.Errorf("task = %+v", a)
	}
	if !ts[1].IsBlock() || len(ts[1].Block) != 0 {
		t.Errorf("empty block = %+v", ts[1])
	}
	if ts[2].Become == nil || *ts[2].Become || ts[2].Args == nil {
		t.Errorf("become false = %+v", ts[2])
	}
}

func wantErr(t *testing.T, err error, where, msg, hint string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s: %s", where, msg)
	}
	var pe *yamlsrc.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %q is a %T, not *yamlsrc.Error", err, err)
	}
	s := err.Error()
	if !strings.HasPrefix(s, where+": ") || !strings.Contains(pe.Msg, msg) || !strings.Contains(pe.Hint, hint) || hint == "" {
		t.Errorf("error:\n%s\nwant at %s, message containing %q, hint containing %q", s, where, msg, hint)
	}
}

func TestErrors(t *testing.T) {
	play := func(tasks string) string { return "- hosts: all\n  tasks:\n" + tasks }
	cases := []struct {
		name  string
		files map[string]string // site.yaml is loaded
		where string            // rel:line:col
		msg   string
		hint  string
	}{
		{"malformed yaml", map[string]string{"site.yaml": "- hosts: all\n  tasks:\n    - name: x\n\tcommand: ls\n"},
			"site.yaml:4:1", "invalid YAML: found a tab character", "spaces, not tabs"},
		{"unclosed quote", map[string]string{"site.yaml": "- hosts: all\n  name: \"oops\n"},
			"site.yaml:", "invalid YAML", ""},
		{"mapping not list", map[string]string{"site.yaml": "hosts: all\ntasks: []\n"},
			"site.yaml:1:1", "must be a list of plays", "a playbook is a list of plays: start with `- name: ...`"},
		{"empty playbook", map[string]string{"site.yaml": "# nothing\n"},
			"site.yaml:1:1", "playbook is empty", "list of plays"},
		{"two documents", map[string]string{"site.yaml": "- hosts: a\n---\n- hosts: b\n"},
			"site.yaml:2:1", "more than one YAML document", "second `---`"},
		{"hosts list", map[string]string{"site.yaml": "- hosts: [a, b]\n"},
			"site.yaml:1:10", "hosts must be a string", `hosts: "web:db"`},
		{"no hosts", map[string]string{"site.yaml": "- name: x\n  tasks: []\n"},
			"site.yaml:1:3", `play "x" has no hosts`, "hosts: all"},
		{"unknown play key", map[string]string{"site.yaml": "- hosts: all\n  taks: []\n"},
			"site.yaml:2:3", `unknown play key "taks"`, `"tasks"`},
		{"unsupported play key", map[string]string{"site.yaml": "- hosts: all\n  remote_user: root\n"},
			"site.yaml:2:3", `play key "remote_user" is not supported`, "ssh_user in the inventory"},
		{"task at play level", map[string]string{"site.yaml": "- hosts: all\n  command: ls\n"},
			"site.yaml:2:3", `unknown play key "command"`, "tasks go in a list under `tasks:`"},
		{"tasks mapping", map[string]string{"site.yaml": "- hosts: all\n  tasks: {}\n"},
			"site.yaml:2:10", "tasks must be a list of tasks, not a mapping", "each starts with `- name: ...`"},
		{"task is string", map[string]string{"site.yaml": play("    - install postgres\n")},
			"site.yaml:3:7", "a task must be a mapping", "`- name: install postgres`"},
		{"unknown module", map[string]string{"site.yaml": play("    - name: x\n      comand: ls\n")},
			"site.yaml:4:7", `unknown module "comand"`, `did you mean "command"?`},
		{"two modules", map[string]string{"site.yaml": play("    - shell: ls\n      command: ls\n")},
			"site.yaml:4:7", `two module keys: "shell" and "command"`, "split it into two tasks"},
		{"misspelled keyword", map[string]string{"site.yaml": play("    - shell: ls\n      whne: x\n")},
			"site.yaml:4:7", `two module keys: "shell" and "whne"`, `did you mean "when"?`},
		{"no module", map[string]string{"site.yaml": play("    - name: only a name\n      when: x\n")},
			"site.yaml:3:7", `task "only a name" has no module`, "pgplay doc"},
		{"unsupported keyword", map[string]string{"site.yaml": play("    - command: ls\n      environment: {A: b}\n")},
			"site.yaml:4:7", `"environment" is not supported`, "env NAME=value"},
		{"module args list", map[string]string{"site.yaml": play("    - command: [ls, -l]\n")},
			"site.yaml:3:16", "arguments of command must be a mapping or a string, not a list", "key: value"},
		{"arg given twice", map[string]string{"site.yaml": play("    - copy: {dest: /a}\n      args: {dest: /b}\n")},
			"site.yaml:4:14", `argument "dest" is given twice`, "give the argument once"},
		{"duplicate key", map[string]string{"site.yaml": play("    - command: ls\n      when: a\n      when: b\n")},
			"site.yaml:5:7", `key "when" is given twice (first at line 4)`, "remove one"},
		{"when mapping", map[string]string{"site.yaml": play("    - command: ls\n      when: {a: 1}\n")},
			"site.yaml:4:13", "when must be a condition", "pipeline"},
		{"become maybe", map[string]string{"site.yaml": play("    - command: ls\n      become: maybe\n")},
			"site.yaml:4:15", `become must be true or false, not "maybe"`, "true or false"},
		{"become template", map[string]string{"site.yaml": "- hosts: all\n  become: \"{{ .b }}\"\n"},
			"site.yaml:2:11", "become must be true or false", "use `when:`"},
		{"bad register", map[string]string{"site.yaml": play("    - command: ls\n      register: my-out\n")},
			"site.yaml:4:17", `register "my-out" is not a valid variable name`, "letters, digits and _"},
		{"bad delay", map[string]string{"site.yaml": play("    - command: ls\n      until: x\n      delay: soon\n")},
			"site.yaml:5:14", `delay must be a duration, not "soon"`, `"500ms"`},
		{"loop mapping", map[string]string{"site.yaml": play("    - command: ls\n      loop: {a: 1}\n")},
			"site.yaml:4:13", "loop must be a list or a template", "renders a list"},
		{"loop_var without loop", map[string]string{"site.yaml": play("    - command: ls\n      loop_var: x\n")},
			"site.yaml:4:7", "loop_var without loop", "add `loop:`"},
		{"bad loop_control", map[string]string{"site.yaml": play("    - command: ls\n      loop: [1]\n      loop_control: {loopvar: x}\n")},
			"site.yaml:5:22", `unknown loop_control key "loopvar"`, `did you mean "loop_var"?`},
		{"rescue without block", map[string]string{"site.yaml": play("    - rescue: []\n")},
			"site.yaml:3:7", "rescue without block", "add `block:`"},
		{"block with module", map[string]string{"site.yaml": play("    - block: []\n      command: ls\n")},
			"site.yaml:4:7", "a block cannot also run a module (command)", "move the module"},
		{"loop on block", map[string]string{"site.yaml": play("    - block: []\n      loop: [1]\n")},
			"site.yaml:4:7", "loop is not allowed on a block", "inside the block"},
		{"listen outside handlers", map[string]string{"site.yaml": play("    - command: ls\n      listen: x\n")},
			"site.yaml:4:7", "listen is only allowed on handlers", "under `handlers:`"},
		{"handler without name", map[string]string{"site.yaml": "- hosts: all\n  handlers:\n    - command: ls\n"},
			"site.yaml:3:7", "handler has no name", "add `name:`"},
		{"handler block", map[string]string{"site.yaml": "- hosts: all\n  handlers:\n    - name: h\n      block:\n        - command: ls\n"},
			"site.yaml:3:7", "a handler cannot be a block", "give each step its own handler"},
		{"handler include", map[string]string{"site.yaml": "- hosts: all\n  handlers:\n    - name: h\n      include_tasks: x.yaml\n", "x.yaml": "- command: ls\n"},
			"site.yaml:4:7", "a handler cannot be an include (include_tasks)", "give each step its own handler"},
		{"unknown handler", map[string]string{"site.yaml": play("    - command: ls\n      notify: restart pg\n") + "  handlers:\n    - name: restart postgres\n      command: x\n"},
			"site.yaml:4:7", `no handler named "restart pg"`, "handlers here: restart postgres"},
		{"bad serial", map[string]string{"site.yaml": "- hosts: all\n  serial: [2, 150%]\n"},
			"site.yaml:2:15", `serial must be a batch size, not "150%"`, "percentage"},
		{"vars not mapping", map[string]string{"site.yaml": "- hosts: all\n  vars: [a, b]\n"},
			"site.yaml:2:9", "play vars must be a mapping of variables, not a list", "`name: value`"},
		{"missing vars file", map[string]string{"site.yaml": "- hosts: all\n  vars_files:\n    - a.yaml\n    - nope.yaml\n", "a.yaml": "x: 1\n"},
			"site.yaml:4:7", `vars file "nope.yaml" not found`, "relative to the playbook's directory"},
		{"vars file not mapping", map[string]string{"site.yaml": "- hosts: all\n  vars_files: [v.yaml]\n", "v.yaml": "- a\n"},
			"v.yaml:1:1", "a vars file must be a mapping of variables", "`name: value`"},
		{"templated vars file", map[string]string{"site.yaml": "- hosts: all\n  vars_files: [\"{{ .env }}.yaml\"]\n"},
			"site.yaml:2:16", "vars_files with a template", "name the file literally"},
		{"encrypted vars file", map[string]string{"site.yaml": "- hosts: all\n  vars_files: [s.yaml]\n", "s.yaml": "-----BEGIN AGE ENCRYPTED FILE-----\nxx\n-----END AGE ENCRYPTED FILE-----\n"},
			"site.yaml:2:16", "is encrypted", "vault"},
		{"include missing", map[string]string{"site.yaml": play("    - include_tasks: nope.yaml\n")},
			"site.yaml:3:22", `cannot find include_tasks file "nope.yaml"`, "relative to the including file's directory"},
		{"include cycle", map[string]string{"site.yaml": play("    - import_tasks: a.yaml\n"), "a.yaml": "- include_tasks: b.yaml\n", "b.yaml": "- name: back\n  include_tasks: a.yaml\n"},
			"b.yaml:2:18", "include cycle: ", "remove one of the includes"},
		{"dynamic include", map[string]string{"site.yaml": play("    - include_tasks: \"{{ .os }}.yaml\"\n")},
			"site.yaml:3:22", "dynamic include not supported", "its own `when:`"},
		{"loop on include", map[string]string{"site.yaml": play("    - include_tasks: a.yaml\n      loop: [1, 2]\n"), "a.yaml": "[]\n"},
			"site.yaml:4:7", "loop on include_tasks is not supported yet", "put the loop on the tasks"},
		{"register on include", map[string]string{"site.yaml": play("    - include_tasks: a.yaml\n      register: r\n"), "a.yaml": "[]\n"},
			"site.yaml:4:7", "register is not allowed on include_tasks", "an include takes only"},
		{"error inside included file", map[string]string{"site.yaml": play("    - include_tasks: a.yaml\n"), "a.yaml": "- name: bad\n  shell: ls\n  shell2: x\n"},
			"a.yaml:3:3", `two module keys: "shell" and "shell2"`, `"shell2" is not a module`},
		{"role not found", map[string]string{"site.yaml": "- hosts: all\n  roles:\n    - postgress\n"},
			"site.yaml:3:7", `role "postgress" not found`, "roles/postgress/tasks/main.yaml"},
		{"role without tasks", map[string]string{"site.yaml": "- hosts: all\n  roles:\n    - role: r\n", "roles/r/defaults/main.yaml": "a: 1\n"},
			"site.yaml:3:13", `role "r" not found`, "looked for roles/r/tasks/main.yaml or roles/r/tasks/main.yml in"},
		{"role name and role", map[string]string{"site.yaml": "- hosts: all\n  roles:\n    - {role: a, name: b}\n"},
			"site.yaml:3:17", "both role: and name:", "with `role:`"},
		{"roles mapping", map[string]string{"site.yaml": "- hosts: all\n  roles: {a: 1}\n"},
			"site.yaml:2:10", "roles must be a list", "`- role: postgres`"},
		{"error in role task", map[string]string{"site.yaml": "- hosts: all\n  roles: [r]\n", "roles/r/tasks/main.yaml": "- name: x\n  debug: {msg: 1}\n  tags: {a: 1}\n"},
			"roles/r/tasks/main.yaml:3:9", "tags must be a string or a list of strings", "list of strings"},
		{"error in role defaults", map[string]string{"site.yaml": "- hosts: all\n  roles: [r]\n", "roles/r/tasks/main.yaml": "[]\n", "roles/r/defaults/main.yaml": "a: [1\n"},
			"roles/r/defaults/main.yaml:", "invalid YAML", "not closed"},
		{"import_playbook missing", map[string]string{"site.yaml": "- import_playbook: other.yaml\n"},
			"site.yaml:1:20", `cannot find playbook "other.yaml"`, "relative to the importing playbook"},
		{"import_playbook cycle", map[string]string{"site.yaml": "- import_playbook: site.yaml\n"},
			"site.yaml:1:20", "include cycle", "remove one"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := writeTree(t, c.files)
			_, err := Load("site.yaml", testOpts(dir))
			t.Log(err)
			hint := c.hint
			if hint == "" {
				hint = " " // any hint, but there must be one
			}
			where := filepath.Join(dir, c.where)
			if strings.HasSuffix(c.where, ":") {
				// line from the YAML parser: check the file only.
				where = strings.TrimSuffix(filepath.Join(dir, strings.TrimSuffix(c.where, ":")), "/") + ":"
				if err == nil || !strings.HasPrefix(err.Error(), where) {
					t.Fatalf("error %v, want it at %s", err, where)
				}
				var pe *yamlsrc.Error
				if !errors.As(err, &pe) || pe.Pos.Line < 1 || pe.Pos.Col < 1 || !strings.Contains(pe.Msg, c.msg) || !strings.Contains(pe.Hint, hint) {
					t.Errorf("error %q, want %q and hint %q", err, c.msg, hint)
				}
				return
			}
			wantErr(t, err, where, c.msg, hint)
		})
	}
}

func TestErrorString(t *testing.T) {
	_, err := Parse("play.yaml", []byte("web: {}\n"), Options{})
	want := "play.yaml:1:1: a playbook must be a list of plays, not a mapping\n  hint: a playbook is a list of plays: start with `- name: ...`"
	if err == nil || err.Error() != want {
		t.Errorf("got %q\nwant %q", err, want)
	}
}
