package modules

import (
	"crypto/sha1"
	"encoding/hex"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func modeOf(t *testing.T, p string) Mode {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return Mode(unixBits(fi.Mode()))
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func currentIDs(t *testing.T) (string, string) {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		t.Fatal(err)
	}
	return u.Username, g.Name
}

func TestCopyContentIdempotentWithDiff(t *testing.T) {
	h := newHarness(t, nil)
	dir := t.TempDir()
	dest := filepath.Join(dir, "pg_ident.conf")
	owner, group := currentIDs(t)
	args := map[string]any{"content": "map1 root postgres\n", "dest": dest, "mode": "0640", "owner": owner, "group": group}

	// Check mode first: reports the change and the diff, touches nothing.
	r, changes := h.check("copy", args)
	if !r.Changed || exists(dest) || len(changes) != 1 || changes[0].Op != "write" {
		t.Fatalf("check mode: changed=%v exists=%v changes=%v", r.Changed, exists(dest), changes)
	}
	if len(r.Diffs) != 1 || r.Diffs[0].Before != "" || r.Diffs[0].After != "map1 root postgres\n" {
		t.Errorf("check-mode diff: %+v", r.Diffs)
	}

	r = h.run("copy", args)
	if !r.Changed || readFile(t, dest) != "map1 root postgres\n" || modeOf(t, dest) != 0o640 {
		t.Fatalf("first run: changed=%v content=%q mode=%v", r.Changed, readFile(t, dest), modeOf(t, dest))
	}
	if r.Data["dest"] != dest || r.Data["checksum"] != sha1Hex([]byte("map1 root postgres\n")) {
		t.Errorf("data: %v", r.Data)
	}
	if len(r.Diffs) != 1 || r.Diffs[0].Path != dest || r.Diffs[0].Before != "" {
		t.Errorf("new-file diff: %+v", r.Diffs)
	}

	h.local.roundTrips()
	r = h.run("copy", args)
	if r.Changed || len(r.Diffs) != 0 {
		t.Errorf("second run: changed=%v diffs=%v", r.Changed, r.Diffs)
	}
	if n := h.local.roundTrips(); n > 2 {
		t.Errorf("an unchanged copy took %d round trips, want at most 2", n)
	}

	// Check mode on an unchanged file records nothing.
	if r, changes := h.check("copy", args); r.Changed || len(changes) != 0 {
		t.Errorf("check mode, unchanged: changed=%v changes=%v", r.Changed, changes)
	}

	// A content change: diff before/after, mode kept.
	args["content"] = "map1 root postgres\nmap1 barman postgres\n"
	delete(args, "mode")
	r = h.run("copy", args)
	if !r.Changed || len(r.Diffs) != 1 || r.Diffs[0].Before != "map1 root postgres\n" || r.Diffs[0].After != "map1 root postgres\nmap1 barman postgres\n" {
		t.Errorf("change: changed=%v diffs=%+v", r.Changed, r.Diffs)
	}
	if modeOf(t, dest) != 0o640 {
		t.Errorf("mode not kept on rewrite: %v", modeOf(t, dest))
	}

	// Only the mode differs: changed, content untouched; the diff says
	// why (the old and the new mode).
	args["mode"] = "u=rw,g=,o="
	r = h.run("copy", args)
	if !r.Changed || modeOf(t, dest) != 0o600 {
		t.Errorf("mode change: changed=%v mode=%v", r.Changed, modeOf(t, dest))
	}
	if len(r.Diffs) != 1 || r.Diffs[0].Path != dest+" (attributes)" || r.Diffs[0].Before != "mode: 0640\n" || r.Diffs[0].After != "mode: 0600\n" {
		t.Errorf("mode change: diffs=%+v, want the old and new mode", r.Diffs)
	}
	if r := h.run("copy", args); r.Changed {
		t.Error("mode change not idempotent")
	}
}

func TestCopyBackup(t *testing.T) {
	h := newHarness(t, nil)
	dir := t.TempDir()
	dest := filepath.Join(dir, "hba.conf")
	if err := os.WriteFile(dest, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := h.run("copy", map[string]any{"content": "new\n", "dest": dest, "backup": "yes"})
	if !r.Changed || readFile(t, dest) != "new\n" {
		t.Fatalf("changed=%v content=%q", r.Changed, readFile(t, dest))
	}
	backup, _ := r.Data["backup_file"].(string)
	if !regexp.MustCompile(`^` + regexp.QuoteMeta(dest) + `\.\d{8}T\d{6}~$`).MatchString(backup) {
		t.Fatalf("backup_file = %q, want DEST.YYYYmmddTHHMMSS~", backup)
	}
	if readFile(t, backup) != "old\n" || modeOf(t, backup) != 0o600 {
		t.Errorf("backup content %q mode %v", readFile(t, backup), modeOf(t, backup))
	}
	// No change, no new backup.
	r = h.run("copy", map[string]any{"content": "new\n", "dest": dest, "backup": true})
	if r.Changed || r.Data["backup_file"] != nil {
		t.Errorf("unchanged run made a backup: %v", r.Data)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("directory holds %d entries, want the file and one backup", len(entries))
	}
}

func TestCopySrcIntoDirectoryAndBinary(t *testing.T) {
	h := newHarness(t, nil)
	h.addContent("files", "logrotate-postgresql", "/var/log/postgresql/*.log {\n  weekly\n}\n")
	h.addContent("files", "blob.bin", "\x00\x01\x02binary")
	dir := t.TempDir()

	r := h.run("copy", map[string]any{"src": "logrotate-postgresql", "dest": dir})
	want := filepath.Join(dir, "logrotate-postgresql")
	if !r.Changed || r.Data["dest"] != want || readFile(t, want) != "/var/log/postgresql/*.log {\n  weekly\n}\n" {
		t.Fatalf("copy into dir: %v %v", r.Changed, r.Data)
	}
	if r := h.run("copy", map[string]any{"src": "logrotate-postgresql", "dest": dir + "/"}); r.Changed {
		t.Error("second copy into dir changed")
	}

	bin := filepath.Join(dir, "blob")
	r = h.run("copy", map[string]any{"src": "blob.bin", "dest": bin})
	if !r.Changed || len(r.Diffs) != 0 || readFile(t, bin) != "\x00\x01\x02binary" {
		t.Errorf("binary copy: changed=%v diffs=%d", r.Changed, len(r.Diffs))
	}

	_, err := h.try("copy", map[string]any{"src": "nope", "dest": bin})
	if err == nil || !strings.Contains(err.Error(), `src "nope"`) {
		t.Errorf("missing src: %v", err)
	}
	_, err = h.try("copy", map[string]any{"content": "x", "dest": filepath.Join(dir, "no/such/dir/f")})
	if err == nil || !strings.Contains(err.Error(), "does not exist") || !strings.Contains(err.Error(), "state: directory") {
		t.Errorf("missing parent: %v", err)
	}
	_, err = h.try("copy", map[string]any{"content": "x", "src": "a", "dest": bin})
	if err == nil || !strings.Contains(err.Error(), `give either "src" or "content"`) {
		t.Errorf("src and content: %v", err)
	}
	// An empty content is a wanted empty file, not a missing argument.
	empty := filepath.Join(dir, "empty")
	if r := h.run("copy", map[string]any{"content": "", "dest": empty}); !r.Changed || readFile(t, empty) != "" {
		t.Errorf("empty content: %v", r.Changed)
	}
	// force: false keeps an existing file.
	if r := h.run("copy", map[string]any{"content": "other", "dest": bin, "force": false}); r.Changed || readFile(t, bin) != "\x00\x01\x02binary" {
		t.Error("force: false replaced the file")
	}
}

func TestTemplate(t *testing.T) {
	vars := map[string]any{"pg_port": 5432, "listen": "*", "settings": map[string]any{"work_mem": "64MB", "shared_buffers": "1GB"}}
	h := newHarness(t, vars)
	h.addContent("templates", "pg/postgresql.conf.tmpl",
		"port = {{ .pg_port }}\nlisten_addresses = {{ sqlLiteral .listen }}\n{{ range $k, $v := .settings }}{{ $k }} = {{ sqlLiteral $v }}\n{{ end }}")
	dest := filepath.Join(t.TempDir(), "postgresql.conf")
	args := map[string]any{"src": "pg/postgresql.conf.tmpl", "dest": dest, "mode": 644}

	want := "port = 5432\nlisten_addresses = '*'\nshared_buffers = '1GB'\nwork_mem = '64MB'\n"
	r, _ := h.check("template", args)
	if !r.Changed || exists(dest) || len(r.Diffs) != 1 || r.Diffs[0].After != want {
		t.Fatalf("check mode: changed=%v exists=%v diffs=%+v", r.Changed, exists(dest), r.Diffs)
	}
	r = h.run("template", map[string]any{"src": "pg/postgresql.conf.tmpl", "dest": dest, "mode": "0644"})
	if !r.Changed || readFile(t, dest) != want {
		t.Fatalf("first run: %v %q", r.Changed, readFile(t, dest))
	}
	h.local.roundTrips()
	if r := h.run("template", args); r.Changed {
		t.Error("second run changed")
	}
	if n := h.local.roundTrips(); n > 2 {
		t.Errorf("an unchanged template took %d round trips, want at most 2", n)
	}
	vars["pg_port"] = 5433
	r = h.run("template", args)
	if !r.Changed || !strings.Contains(r.Diffs[0].Before, "port = 5432") || !strings.Contains(r.Diffs[0].After, "port = 5433") {
		t.Errorf("changed var: %v %+v", r.Changed, r.Diffs)
	}

	h.addContent("templates", "bad.tmpl", "a\nport = {{ .pg_prot }}\n")
	_, err := h.try("template", map[string]any{"src": "bad.tmpl", "dest": dest})
	if err == nil || !strings.Contains(err.Error(), "bad.tmpl") || !strings.Contains(err.Error(), `undefined variable "pg_prot"`) || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("template error: %v", err)
	}
	if readFile(t, dest) != strings.Replace(want, "5432", "5433", 1) {
		t.Error("a failed render changed the file")
	}
}

func TestFileStates(t *testing.T) {
	h := newHarness(t, nil)
	dir := t.TempDir()
	d := filepath.Join(dir, "a/b/archive")

	// directory, with parents, in check mode first.
	r, changes := h.check("file", map[string]any{"path": d, "state": "directory", "mode": "0700"})
	if !r.Changed || exists(d) || len(changes) != 1 || changes[0].Op != "mkdir" {
		t.Fatalf("check mode mkdir: %v %v %v", r.Changed, exists(d), changes)
	}
	r = h.run("file", map[string]any{"path": d, "state": "directory", "mode": "0700"})
	if !r.Changed || modeOf(t, d) != 0o700 || r.Data["path"] != d {
		t.Fatalf("mkdir: %v mode %v", r.Changed, modeOf(t, d))
	}
	if r := h.run("file", map[string]any{"path": d, "state": "directory", "mode": "0700"}); r.Changed {
		t.Error("mkdir not idempotent")
	}
	if r := h.run("file", map[string]any{"dest": d, "state": "directory", "mode": "0750"}); !r.Changed || modeOf(t, d) != 0o750 {
		t.Error("directory mode change")
	}

	// touch: creates, then only attributes.
	f := filepath.Join(dir, "standby.signal")
	if r := h.run("file", map[string]any{"path": f, "state": "touch", "mode": "0600"}); !r.Changed || readFile(t, f) != "" || modeOf(t, f) != 0o600 {
		t.Error("touch create")
	}
	if r := h.run("file", map[string]any{"path": f, "state": "touch", "mode": "0600"}); r.Changed {
		t.Error("touch of an existing file reported changed")
	}

	// file: attributes of an existing file; a missing one fails.
	if r := h.run("file", map[string]any{"path": f, "mode": "0644"}); !r.Changed || modeOf(t, f) != 0o644 {
		t.Error("state file mode change")
	}
	r = h.run("file", map[string]any{"path": filepath.Join(dir, "missing")})
	if !r.Failed || !strings.Contains(r.Msg, "does not exist") || !strings.Contains(r.Msg, "state: touch") {
		t.Errorf("state file on a missing path: %+v", r)
	}
	// No state: an existing directory stays a directory (its attributes
	// set), as in Ansible; a missing path is a file that must exist.
	if r := h.run("file", map[string]any{"path": d, "mode": "0711"}); r.Failed || !r.Changed || modeOf(t, d) != 0o711 || r.Data["state"] != "directory" {
		t.Errorf("no state on a directory: %+v, mode %v", r, modeOf(t, d))
	}
	if r := h.run("file", map[string]any{"path": d, "mode": "0711"}); r.Failed || r.Changed {
		t.Errorf("no state on a directory, again: %+v", r)
	}
	if r := h.run("file", map[string]any{"path": f, "state": "directory"}); !r.Failed || !strings.Contains(r.Msg, "not a directory") {
		t.Errorf("directory over a file: %+v", r)
	}

	// link: create, idempotent, retarget, refuse a file without force.
	l := filepath.Join(dir, "current")
	if r := h.run("file", map[string]any{"path": l, "state": "link", "src": d}); !r.Changed {
		t.Error("link create")
	}
	if target, _ := os.Readlink(l); target != d {
		t.Errorf("link points to %q", target)
	}
	if r := h.run("file", map[string]any{"path": l, "state": "link", "src": d}); r.Changed {
		t.Error("link not idempotent")
	}
	if r := h.run("file", map[string]any{"path": l, "state": "link", "src": f}); !r.Changed {
		t.Error("link retarget")
	}
	if target, _ := os.Readlink(l); target != f {
		t.Errorf("retargeted link points to %q", target)
	}
	if r := h.run("file", map[string]any{"path": f, "state": "link", "src": d}); !r.Failed || !strings.Contains(r.Msg, "force: true") {
		t.Errorf("link over a file: %+v", r)
	}
	if _, err := h.try("file", map[string]any{"path": l, "state": "link"}); err == nil || !strings.Contains(err.Error(), `needs "src"`) {
		t.Errorf("link without src: %v", err)
	}

	// absent: check mode keeps it; then removed recursively; then ok.
	top := filepath.Join(dir, "a")
	if r, ch := h.check("file", map[string]any{"path": top, "state": "absent"}); !r.Changed || !exists(top) || len(ch) != 1 {
		t.Error("check-mode remove")
	}
	if r := h.run("file", map[string]any{"path": top, "state": "absent"}); !r.Changed || exists(top) {
		t.Error("remove")
	}
	if r := h.run("file", map[string]any{"path": top, "state": "absent"}); r.Changed {
		t.Error("remove not idempotent")
	}
	if _, err := h.try("file", map[string]any{"path": top, "state": "gone"}); err == nil || !strings.Contains(err.Error(), `"gone" is not one of: file, directory, absent, link, touch`) {
		t.Errorf("bad state: %v", err)
	}
}

func TestLineInFileSemantics(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		args    map[string]any
		want    string
		changed bool
	}{
		{"regexp replaces the last match", "#listen_addresses = 'localhost'\nport = 5432\n#listen_addresses = 'x'\n",
			map[string]any{"regexp": `^#?listen_addresses\s*=`, "line": "listen_addresses = '*'"},
			"#listen_addresses = 'localhost'\nport = 5432\nlisten_addresses = '*'\n", true},
		{"firstmatch replaces the first", "a=1\na=2\n", map[string]any{"regexp": "^a=", "line": "a=9", "firstmatch": true}, "a=9\na=2\n", true},
		{"regexp without match appends", "port = 5432\n", map[string]any{"regexp": "^wal_level", "line": "wal_level = replica"}, "port = 5432\nwal_level = replica\n", true},
		{"regexp without match but line present", "wal_level = replica\nport = 5432\n", map[string]any{"regexp": "^#wal_level", "line": "wal_level = replica"}, "wal_level = replica\nport = 5432\n", false},
		{"already right", "a\nlisten = '*'\n", map[string]any{"regexp": "^listen", "line": "listen = '*'"}, "a\nlisten = '*'\n", false},
		{"line without regexp present", "x\ny\n", map[string]any{"line": "x"}, "x\ny\n", false},
		{"line without regexp appended", "x\ny", map[string]any{"line": "z"}, "x\ny\nz\n", true},
		{"insertafter regexp", "[main]\na=1\n[other]\nb=2\n", map[string]any{"line": "c=3", "insertafter": `^\[main\]`}, "[main]\nc=3\na=1\n[other]\nb=2\n", true},
		{"insertafter at end of file", "a\n[main]\n", map[string]any{"line": "c=3", "insertafter": `^\[main\]`}, "a\n[main]\nc=3\n", true},
		{"insertafter no match goes to EOF", "a\n", map[string]any{"line": "c", "insertafter": "^zzz"}, "a\nc\n", true},
		{"insertbefore regexp", "local all all peer\nhost all all 0.0.0.0/0 md5\n", map[string]any{"line": "local replication repmgr trust", "insertbefore": "^host"}, "local all all peer\nlocal replication repmgr trust\nhost all all 0.0.0.0/0 md5\n", true},
		{"insertbefore BOF", "b\n", map[string]any{"line": "a", "insertbefore": "BOF"}, "a\nb\n", true},
		{"insertafter EOF with regexp match replaces", "a=1\nb\n", map[string]any{"regexp": "^a=", "line": "a=2", "insertafter": "EOF"}, "a=2\nb\n", true},
		{"backrefs", "shared_buffers = 128MB # default\n", map[string]any{"regexp": `^shared_buffers = (\S+) (#.*)$`, "line": `shared_buffers = 1GB \2 (was \1, cost $5)`, "backrefs": true}, "shared_buffers = 1GB # default (was 128MB, cost $5)\n", true},
		{"backrefs without match leaves file", "x\n", map[string]any{"regexp": "^y(.*)", "line": `z\1`, "backrefs": true}, "x\n", false},
		{"absent by regexp", "a=1\nb\na=2\n", map[string]any{"regexp": "^a=", "state": "absent"}, "b\n", true},
		{"absent by line", "a\nb\na\n", map[string]any{"line": "a", "state": "absent"}, "b\n", true},
		{"absent nothing to remove", "b\n", map[string]any{"line": "a", "state": "absent"}, "b\n", false},
		{"special characters kept", "x\n", map[string]any{"line": `pw = 'it''s $ecret "q" \n'`}, "x\npw = 'it''s $ecret \"q\" \\n'\n", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, nil)
			p := filepath.Join(t.TempDir(), "f.conf")
			if err := os.WriteFile(p, []byte(c.in), 0o644); err != nil {
				t.Fatal(err)
			}
			args := map[string]any{"path": p}
			for k, v := range c.args {
				args[k] = v
			}
			cr, _ := h.check("lineinfile", args)
			if cr.Changed != c.changed || readFile(t, p) != c.in {
				t.Errorf("check mode: changed=%v (want %v), file changed=%v", cr.Changed, c.changed, readFile(t, p) != c.in)
			}
			r := h.run("lineinfile", args)
			if r.Changed != c.changed {
				t.Errorf("changed = %v, want %v (msg %q)", r.Changed, c.changed, r.Msg)
			}
			if got := readFile(t, p); got != c.want {
				t.Errorf("file is\n%q\nwant\n%q", got, c.want)
			}
			if c.changed && (len(r.Diffs) != 1 || r.Diffs[0].Before != c.in || r.Diffs[0].After != c.want) {
				t.Errorf("diff: %+v", r.Diffs)
			}
			if !c.changed && len(r.Diffs) != 0 {
				t.Errorf("diff without change: %+v", r.Diffs)
			}
			// (A backrefs line that its own regexp matches again grows each run, as in Ansible.)
			if backrefs, _ := c.args["backrefs"].(bool); !backrefs {
				if r2 := h.run("lineinfile", args); r2.Changed {
					t.Errorf("second run changed (msg %q)", r2.Msg)
				}
			}
		})
	}
}

func TestLineInFileCreateBackupErrors(t *testing.T) {
	h := newHarness(t, nil)
	dir := t.TempDir()
	p := filepath.Join(dir, "conf.d", "new.conf")
	r := h.run("lineinfile", map[string]any{"path": p, "line": "a = 1"})
	if !r.Failed || !strings.Contains(r.Msg, "does not exist") || !strings.Contains(r.Msg, "create: true") {
		t.Errorf("missing file: %+v", r)
	}
	if r, _ := h.check("lineinfile", map[string]any{"path": p, "line": "a = 1", "create": true}); !r.Changed || exists(p) {
		t.Error("check-mode create")
	}
	r = h.run("lineinfile", map[string]any{"path": p, "line": "a = 1", "create": true, "mode": "0600"})
	if !r.Changed || readFile(t, p) != "a = 1\n" || modeOf(t, p) != 0o600 {
		t.Errorf("create: %v %q", r.Changed, readFile(t, p))
	}
	if r := h.run("lineinfile", map[string]any{"path": filepath.Join(dir, "none"), "line": "x", "state": "absent"}); r.Changed || r.Failed {
		t.Error("absent on a missing file")
	}

	r = h.run("lineinfile", map[string]any{"path": p, "regexp": "^a", "line": "a = 2", "backup": true})
	b, _ := r.Data["backup_file"].(string)
	if !r.Changed || b == "" || readFile(t, b) != "a = 1\n" || readFile(t, p) != "a = 2\n" {
		t.Errorf("backup: %v %v", r.Changed, r.Data)
	}
	// Attributes only: the diff shows them.
	if r := h.run("lineinfile", map[string]any{"path": p, "line": "a = 2", "mode": "0640"}); !r.Changed || modeOf(t, p) != 0o640 || len(r.Diffs) != 1 || r.Diffs[0].After != "mode: 0640\n" {
		t.Errorf("attribute change: %+v", r)
	}

	for args, want := range map[string]map[string]any{
		`state: present needs "line"`:            {"path": p, "regexp": "x"},
		`not both`:                               {"path": p, "line": "x", "insertafter": "a", "insertbefore": "b"},
		`backrefs: true needs "regexp"`:          {"path": p, "line": "x", "backrefs": true},
		"Go's RE2":                               {"path": p, "line": "x", "regexp": `(?<=a)b`},
		`state: absent needs "regexp" or "line"`: {"path": p, "state": "absent"},
	} {
		if _, err := h.try("lineinfile", want); err == nil || !strings.Contains(err.Error(), args) {
			t.Errorf("%v: error %v, want %q", want, err, args)
		}
	}
}

func TestStat(t *testing.T) {
	h := newHarness(t, nil)
	dir := t.TempDir()
	f := filepath.Join(dir, "PG_VERSION")
	if err := os.WriteFile(f, []byte("15\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(f, 0o640); err != nil {
		t.Fatal(err)
	}
	l := filepath.Join(dir, "link")
	if err := os.Symlink("PG_VERSION", l); err != nil {
		t.Fatal(err)
	}
	owner, group := currentIDs(t)
	sum := sha1.Sum([]byte("15\n"))

	st := h.run("stat", map[string]any{"path": f}).Data["stat"].(map[string]any)
	want := map[string]any{"exists": true, "isreg": true, "isdir": false, "islnk": false, "mode": "0640",
		"size": 3, "pw_name": owner, "gr_name": group, "checksum": hex.EncodeToString(sum[:])}
	for k, v := range want {
		if st[k] != v {
			t.Errorf("stat[%s] = %#v, want %#v", k, st[k], v)
		}
	}
	if mt, _ := st["mtime"].(float64); mt < 1e9 {
		t.Errorf("mtime = %v", st["mtime"])
	}
	if _, ok := st["uid"].(int); !ok {
		t.Errorf("uid = %#v", st["uid"])
	}

	st = h.run("stat", map[string]any{"path": l}).Data["stat"].(map[string]any)
	if st["islnk"] != true || st["lnk_target"] != "PG_VERSION" || st["checksum"] != nil {
		t.Errorf("link stat: %v", st)
	}
	st = h.run("stat", map[string]any{"path": l, "follow": true}).Data["stat"].(map[string]any)
	if st["islnk"] != false || st["isreg"] != true || st["checksum"] != hex.EncodeToString(sum[:]) {
		t.Errorf("followed link stat: %v", st)
	}
	st = h.run("stat", map[string]any{"path": dir}).Data["stat"].(map[string]any)
	if st["isdir"] != true || st["isreg"] != false {
		t.Errorf("dir stat: %v", st)
	}
	r := h.run("stat", map[string]any{"path": filepath.Join(dir, "nope")})
	if r.Changed || len(r.Data["stat"].(map[string]any)) != 1 || r.Data["stat"].(map[string]any)["exists"] != false {
		t.Errorf("missing: %v", r.Data)
	}
	st = h.run("stat", map[string]any{"path": f, "get_checksum": false}).Data["stat"].(map[string]any)
	if _, ok := st["checksum"]; ok {
		t.Error("checksum with get_checksum: false")
	}

	// stat only reads: in check mode it still reports the truth.
	r, ch := h.check("stat", map[string]any{"path": f})
	if r.Data["stat"].(map[string]any)["exists"] != true || len(ch) != 0 {
		t.Error("stat in check mode")
	}

	// A large file is hashed on the host with sha1sum.
	big := filepath.Join(dir, "big")
	data := []byte(strings.Repeat("x", maxLocalHash+10))
	if err := os.WriteFile(big, data, 0o644); err != nil {
		t.Fatal(err)
	}
	bsum := sha1.Sum(data)
	h.local.roundTrips()
	st = h.run("stat", map[string]any{"path": big}).Data["stat"].(map[string]any)
	if st["checksum"] != hex.EncodeToString(bsum[:]) || h.local.calls["query"] != 1 {
		t.Errorf("big file checksum %v (queries %d)", st["checksum"], h.local.calls["query"])
	}
}
