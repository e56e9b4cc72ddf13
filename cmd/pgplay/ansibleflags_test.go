package main

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/pgplay/pgplay/internal/sshtest"
)

// listPlay has two plays, play tags, a block, an unnamed task, a never-tagged
// task, pre_tasks, a role with a dependency, and handlers (never listed).
const listPlay = `
- name: first
  hosts: web
  tags: [setup]
  pre_tasks:
    - name: pre
      debug: {msg: hi}
  roles:
    - {role: app, tags: [app]}
  tasks:
    - name: one
      command: "true"
      tags: [a]
    - block:
        - name: in block
          command: "true"
      rescue:
        - name: rescuing
          debug: {msg: r}
      tags: [b]
    - command: "false"
    - name: never me
      debug: {msg: x}
      tags: [never]
  handlers:
    - name: a handler
      debug: {msg: h}
- name: second
  hosts: all
  tasks:
    - name: two
      debug: {msg: y}
`

var listRoles = map[string]string{
	"roles/app/meta/main.yaml":   "dependencies: [base]\n",
	"roles/app/tasks/main.yaml":  "- name: app task\n  debug: {msg: a}\n",
	"roles/base/tasks/main.yaml": "- name: base task\n  debug: {msg: b}\n  tags: [basic]\n",
}

func listDir(t *testing.T) (dir, pb string) {
	t.Helper()
	dir = t.TempDir()
	files := map[string]string{"play.yaml": listPlay}
	for k, v := range listRoles {
		files[k] = v
	}
	writeFiles(t, dir, files)
	return dir, filepath.Join(dir, "play.yaml")
}

// --list-tasks prints ansible-playbook's listing (the same lines, tabs and
// blank lines), needs no inventory, and applies --tags / --skip-tags.
func TestListTasksNeedsNoInventory(t *testing.T) {
	_, pb := listDir(t)
	code, out, errs := cli(t, "run", pb, "--list-tasks")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	want := "\nplaybook: " + pb + "\n" +
		"\n  play #1 (web): first\tTAGS: [setup]\n" +
		"    tasks:\n" +
		"      pre\tTAGS: [setup]\n" +
		"      base : base task\tTAGS: [app, basic, setup]\n" +
		"      app : app task\tTAGS: [app, setup]\n" +
		"      one\tTAGS: [a, setup]\n" +
		"      in block\tTAGS: [b, setup]\n" +
		"      rescuing\tTAGS: [b, setup]\n" +
		"      command\tTAGS: [setup]\n" +
		"\n" +
		"\n  play #2 (all): second\tTAGS: []\n" +
		"    tasks:\n" +
		"      two\tTAGS: []\n" +
		"\n"
	if out != want {
		t.Errorf("--list-tasks printed\n%q\nwant\n%q", out, want)
	}

	code, out, _ = cli(t, "run", pb, "--list-tasks", "--tags", "a,never", "--skip-tags", "b")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	for _, w := range []string{"      one\t", "      never me\t"} {
		if !strings.Contains(out, w) {
			t.Errorf("--tags a,never does not list %q:\n%s", w, out)
		}
	}
	for _, no := range []string{"pre\t", "in block", "app task", "two\t"} {
		if strings.Contains(out, no) {
			t.Errorf("--tags a,never --skip-tags b lists %q:\n%s", no, out)
		}
	}
}

// --list-tags prints each play's tags, of the tasks a run would run.
func TestListTags(t *testing.T) {
	_, pb := listDir(t)
	code, out, errs := cli(t, "run", pb, "--list-tags")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	for _, w := range []string{
		"  play #1 (web): first\tTAGS: [setup]\n      TASK TAGS: [a, app, b, basic, setup]\n",
		"  play #2 (all): second\tTAGS: []\n      TASK TAGS: []\n",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("--list-tags lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "tasks:") {
		t.Errorf("--list-tags alone lists tasks:\n%s", out)
	}
}

// --list-tasks lists the tasks a run with the same --tags/--skip-tags
// runs, no more and no fewer, in the same order: tags inherited from the
// play, roles (and the role that pulls a dependency in), blocks and
// includes, with always, never, tagged, untagged and all.
func TestListTasksIsWhatRuns(t *testing.T) {
	dir := t.TempDir()
	inv := localHosts(t, dir, "a")
	writeFiles(t, dir, map[string]string{
		"play.yaml": `
- name: first
  hosts: all
  gather_facts: false
  tags: [p]
  pre_tasks:
    - {name: pre, debug: {msg: x}, tags: [always]}
  roles:
    - {role: app, tags: [r]}
  tasks:
    - {name: plain, debug: {msg: x}}
    - {name: tagged a, debug: {msg: x}, tags: [a]}
    - block:
        - {name: in block, debug: {msg: x}}
        - {name: in block never, debug: {msg: x}, tags: [never, n]}
      always:
        - {name: block always, debug: {msg: x}}
      tags: [b]
    - import_tasks: inc.yaml
      tags: [i]
    - {debug: {msg: x}, tags: [never]}
  post_tasks:
    - {name: post, debug: {msg: x}, tags: [never, a]}
- name: second
  hosts: all
  gather_facts: false
  tasks:
    - {name: untagged, debug: {msg: x}}
    - {name: only always, debug: {msg: x}, tags: [always]}
    - block:
        - {name: nested, debug: {msg: x}, tags: [c]}
      tags: [b]
`,
		"inc.yaml":                   "- {name: included, debug: {msg: x}}\n- {name: included a, debug: {msg: x}, tags: [a]}\n",
		"roles/app/meta/main.yaml":   "dependencies: [base]\n",
		"roles/app/tasks/main.yaml":  "- {name: app task, debug: {msg: x}}\n",
		"roles/base/tasks/main.yaml": "- {name: base task, debug: {msg: x}, tags: [basic]}\n",
	})
	pb := filepath.Join(dir, "play.yaml")
	listed := func(out string) []string {
		var got []string
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "      ") && strings.Contains(l, "\tTAGS: [") {
				got = append(got, strings.TrimSpace(l[:strings.Index(l, "\t")]))
			}
		}
		return got
	}
	ran := func(out string) []string {
		var got []string
		for _, l := range strings.Split(out, "\n") {
			if rest, ok := strings.CutPrefix(l, "TASK ["); ok {
				got = append(got, rest[:strings.LastIndex(rest, "]")])
			}
		}
		return got
	}
	for _, sel := range [][]string{
		nil,
		{"--tags", "a"},
		{"--tags", "never"},
		{"--tags", "n"},
		{"--tags", "b"},
		{"--tags", "i"},
		{"--tags", "r"},
		{"--tags", "basic"},
		{"--tags", "p"},
		{"--tags", "tagged"},
		{"--tags", "untagged"},
		{"--tags", "all"},
		{"--tags", "c,a", "--skip-tags", "i"},
		{"--skip-tags", "always"},
		{"--skip-tags", "b,r"},
		{"--skip-tags", "tagged"},
		{"--skip-tags", "untagged"},
		{"--tags", "all", "--skip-tags", "p"},
	} {
		code, out, errs := cli(t, append([]string{"run", pb, "--list-tasks"}, sel...)...)
		if code != 0 {
			t.Fatalf("%v --list-tasks: exit %d\n%s%s", sel, code, out, errs)
		}
		want := listed(out)
		code, out, errs = cli(t, append([]string{"run", pb, "-i", inv}, sel...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", sel, code, out, errs)
		}
		if got := ran(out); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%v: the run ran\n  %q\n--list-tasks listed\n  %q", sel, got, want)
		}
	}
}

// --list-hosts prints each play's hosts after --limit, which may read host
// names from a file (--limit @site.retry); it does not connect.
func TestListHostsWithLimitFile(t *testing.T) {
	dir, pb := listDir(t)
	// Hosts nobody can reach: listing must not try.
	writeFiles(t, dir, map[string]string{
		"inv.yaml":   "all:\n  vars: {ssh_host: 127.0.0.1, ssh_port: 1}\n  children:\n    web:\n      hosts: {a: {}, b: {}}\n    db:\n      hosts: {c: {}}\n",
		"site.retry": "b\n\n  c  \n",
	})
	code, out, errs := cli(t, "run", pb, "-i", filepath.Join(dir, "inv.yaml"), "--list-hosts", "--limit", "@"+filepath.Join(dir, "site.retry"))
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	want := "\nplaybook: " + pb + "\n" +
		"\n  play #1 (web): first\tTAGS: [setup]\n" +
		"    pattern: ['web']\n    hosts (1):\n      b\n" +
		"\n  play #2 (all): second\tTAGS: []\n" +
		"    pattern: ['all']\n    hosts (2):\n      b\n      c\n"
	if out != want {
		t.Errorf("--list-hosts printed\n%q\nwant\n%q", out, want)
	}
	// @file mixes with other patterns.
	code, out, _ = cli(t, "run", pb, "-i", filepath.Join(dir, "inv.yaml"), "--list-hosts", "-l", "a,@"+filepath.Join(dir, "site.retry"))
	if code != 0 || !strings.Contains(out, "hosts (2):\n      a\n      b\n") || !strings.Contains(out, "hosts (3):") {
		t.Errorf("-l a,@file: exit %d\n%s", code, out)
	}
}

// --syntax-check loads the playbook, says its name, and exits 0 without an
// inventory; with one it also checks the plays' host patterns.
func TestSyntaxCheck(t *testing.T) {
	dir, pb := listDir(t)
	code, out, errs := cli(t, "run", pb, "--syntax-check")
	if code != 0 || out != "\nplaybook: "+pb+"\n" {
		t.Errorf("exit %d, printed %q\n%s", code, out, errs)
	}
	writeFiles(t, dir, map[string]string{"inv.yaml": "all:\n  vars: {ssh_host: 127.0.0.1, ssh_port: 1}\n  children:\n    web:\n      hosts: {a: {}}\n"})
	code, out, errs = cli(t, "run", pb, "--syntax-check", "-i", filepath.Join(dir, "inv.yaml"))
	if code != 0 || !strings.Contains(out, "playbook: ") {
		t.Errorf("with -i: exit %d\n%s\n%s", code, out, errs)
	}
	// `pgplay role` takes it too.
	code, out, errs = cli(t, "role", "postgres", "--syntax-check")
	if code != 0 || out != "\nplaybook: role postgres\n" {
		t.Errorf("role --syntax-check: exit %d, printed %q\n%s", code, out, errs)
	}
}

// --version (on pgplay, run and role) and `pgplay version` print the
// version and the commit the binary was built from.
func TestVersionFlag(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"run", "--version"}, {"role", "--version"}, {"version"}} {
		code, out, errs := cli(t, args...)
		if code != 0 || !strings.HasPrefix(out, "pgplay ") || !strings.Contains(out, "  commit ") || !strings.Contains(out, "  go ") {
			t.Errorf("pgplay %s: exit %d\n%s\n%s", strings.Join(args, " "), code, out, errs)
		}
	}
	info := &debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2025-01-02T03:04:05Z"},
		{Key: "vcs.modified", Value: "true"},
	}}
	got := versionTextOf("v1.2.3-4-gabcdef", info)
	for _, w := range []string{"pgplay v1.2.3-4-gabcdef\n", "commit   0123456789abcdef0123456789abcdef01234567 (2025-01-02T03:04:05Z, with uncommitted changes)", "go       go1.99 "} {
		if !strings.Contains(got, w) {
			t.Errorf("version text lacks %q:\n%s", w, got)
		}
	}
	// Without -ldflags: the module version of `go install ...@v0.4.0`.
	if got := versionTextOf("dev", &debug.BuildInfo{Main: debug.Module{Version: "v0.4.0"}}); !strings.HasPrefix(got, "pgplay v0.4.0\n") || !strings.Contains(got, "built without VCS information") {
		t.Errorf("go install's version:\n%s", got)
	}
}

// Ansible's other spellings of flags pgplay has are accepted.
func TestAnsibleFlagAliases(t *testing.T) {
	dir, pb := listDir(t)
	writeFiles(t, dir, map[string]string{"inv.yaml": "all:\n  children:\n    web:\n      hosts: {a: {}}\n", "key": "not a key\n"})
	code, out, errs := cli(t, "run", pb, "--inventory-file", filepath.Join(dir, "inv.yaml"), "--key-file", filepath.Join(dir, "key"), "--syntax-check")
	if code != 0 {
		t.Errorf("--inventory-file, --key-file: exit %d\n%s\n%s", code, out, errs)
	}
}

// Every Ansible flag in the table gets its one line, on run and on role.
func TestEveryAnsibleFlagIsMapped(t *testing.T) {
	for flag, line := range ansibleFlags {
		for _, cmd := range []string{"run", "role"} {
			code, out, errs := cli(t, cmd, "x", flag)
			if code != exitOptions || out != "" {
				t.Errorf("%s %s: exit %d, stdout %q", cmd, flag, code, out)
			}
			want := "ERROR! " + flag + " is ansible-playbook's flag; pgplay does not take it\n  hint: " + line + "\n"
			if errs != want {
				t.Errorf("%s %s: stderr\n%q\nwant\n%q", cmd, flag, errs, want)
			}
		}
	}
}

// -u and --private-key give the login user and key to hosts whose inventory
// sets none; the inventory's own ssh_user wins over -u, as ansible_user
// wins over ansible-playbook's -u.
func TestUserAndPrivateKeyFlags(t *testing.T) {
	srv := sshtest.Start(t)
	cfg := srv.Config("x")
	dir := t.TempDir()
	conn := "    ssh_host: " + cfg.Addr + "\n    ssh_port: " + fmt.Sprint(cfg.Port) + "\n    ssh_known_hosts: " + cfg.KnownHostsFiles[0] + "\n    ssh_config: none\n"
	writeFiles(t, dir, map[string]string{
		"bare.yaml":  "all:\n  vars:\n" + conn + "  hosts: {a: {}}\n",
		"owned.yaml": "all:\n  vars:\n" + conn + "    ssh_user: " + cfg.User + "\n    ssh_key: " + cfg.KeyFiles[0] + "\n  hosts: {a: {}}\n",
		"play.yaml":  "- hosts: all\n  tasks:\n    - command: id -un\n      register: who\n      changed_when: false\n    - debug: {msg: \"login={{ .who.stdout }}\"}\n",
	})
	pb := filepath.Join(dir, "play.yaml")

	code, out, errs := cli(t, "run", pb, "-i", filepath.Join(dir, "bare.yaml"), "-u", cfg.User, "--private-key", cfg.KeyFiles[0])
	if code != 0 || !strings.Contains(out, "login="+cfg.User) {
		t.Fatalf("-u %s --private-key: exit %d\n%s\n%s", cfg.User, code, out, errs)
	}
	// The inventory's user and key win: a -u and a key that would fail are
	// not used.
	bogusKey := filepath.Join(dir, "bogus")
	writeFiles(t, dir, map[string]string{"bogus": "not a key\n"})
	code, out, errs = cli(t, "run", pb, "-i", filepath.Join(dir, "owned.yaml"), "-u", "nosuchuser", "--private-key", bogusKey)
	if code != 0 || !strings.Contains(out, "login="+cfg.User) {
		t.Fatalf("inventory user and key over -u and --private-key: exit %d\n%s\n%s", code, out, errs)
	}
	// -u is used: a user the server refuses makes the host unreachable,
	// and the message names that user.
	code, out, errs = cli(t, "run", pb, "-i", filepath.Join(dir, "bare.yaml"), "-u", "nosuchuser", "--private-key", cfg.KeyFiles[0], "--connect-timeout", "5s")
	if code != exitUnreachable || !strings.Contains(out+errs, "nosuchuser") {
		t.Errorf("-u nosuchuser: exit %d, want 3 naming the user\n%s\n%s", code, out, errs)
	}
}

// -b and --become-user apply to plays that do not set become /
// become_user; a play's own `become: false` wins, as in ansible-playbook.
// `pgplay role` takes --become-user too.
func TestBecomeFlags(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("become tests need root (sudo to nobody); CI runs as root")
	}
	l := newLab(t, []string{"a"}, "")
	who := "    - command: id -un\n      register: who\n      changed_when: false\n    - debug: {msg: \"%s={{ .who.stdout }}\"}\n"
	writeFiles(t, l.dir, map[string]string{
		"play.yaml": "- hosts: all\n  tasks:\n" + strings.ReplaceAll(who, "%s", "plain") +
			"- hosts: all\n  become: false\n  tasks:\n" + strings.ReplaceAll(who, "%s", "nobecome") +
			"- hosts: all\n  become: true\n  become_user: root\n  tasks:\n" + strings.ReplaceAll(who, "%s", "asroot"),
		"roles/who/tasks/main.yaml": "- command: id -un\n  register: who\n  changed_when: false\n- debug: {msg: \"role={{ .who.stdout }}\"}\n",
	})
	code, out, errs := cli(t, "run", filepath.Join(l.dir, "play.yaml"), "-i", l.inv, "-b", "--become-user", "nobody")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	login := u.Username // sshtest logs in as the user running the tests
	for _, w := range []string{"plain=nobody", "nobecome=" + login, "asroot=root"} {
		if !strings.Contains(out, w) {
			t.Errorf("-b --become-user nobody: output lacks %q\n%s", w, out)
		}
	}
	// Without -b, --become-user alone does not become.
	code, out, _ = cli(t, "run", filepath.Join(l.dir, "play.yaml"), "-i", l.inv, "--become-user", "nobody")
	if code != 0 || !strings.Contains(out, "plain="+login) {
		t.Errorf("--become-user without -b: exit %d\n%s", code, out)
	}
	t.Chdir(l.dir) // roles/ is looked up in the working directory
	code, out, errs = cli(t, "role", "who", "-i", l.inv, "--become-user", "nobody")
	if code != 0 || !strings.Contains(out, "role=nobody") {
		t.Errorf("role --become-user nobody: exit %d\n%s\n%s", code, out, errs)
	}
}

// The PLAY RECAP's ok= counts changed results and ignored failures too, as
// ansible-playbook's does (ok >= changed), and changed= the ignored
// failure of a command (its result says changed, as Ansible's: checked
// side by side in TestRunMatchesAnsiblePlaybook); so does the JSON recap
// event.
func TestRecapOKCountsChanged(t *testing.T) {
	l := newLab(t, []string{"a"}, "")
	writeFiles(t, l.dir, map[string]string{"play.yaml": `
- hosts: all
  tasks:
    - command: "true"
    - debug: {msg: hi}
    - command: "true"
      when: eq 1 2
    - command: "false"
      ignore_errors: true
`})
	pb := filepath.Join(l.dir, "play.yaml")
	code, out, errs := cli(t, "run", pb, "-i", l.inv)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	// ok changed unreachable failed skipped rescued ignored
	if got, want := recap(t, out)["a"], [7]int{3, 2, 0, 0, 1, 0, 1}; got != want {
		t.Errorf("recap %v, want %v (ok = the ok, the changed and the ignored task; changed = the changed and the ignored failed command)\n%s", got, want, out)
	}
	code, out, errs = cli(t, "run", pb, "-i", l.inv, "--output", "json")
	if code != 0 || !strings.Contains(out, `"stats":{"a":{"ok":3,"changed":2,"unreachable":0,"failed":0,"skipped":1,"rescued":0,"ignored":1}}`) {
		t.Errorf("JSON recap: exit %d\n%s\n%s", code, out, errs)
	}
}
