package modules

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pgplay/pgplay/internal/transport"
)

// dpkgOut is dpkg-query -W -f='${Package} ${Status} ${Version}\n' for an
// installed package, a removed one with its configuration left, and two
// architectures of one library.
const dpkgOut = "postgresql-15 install ok installed 15.18-0+deb12u1\n" +
	"keepalived deinstall ok config-files 1:2.2.7-1+b2\n" +
	"libfoo install ok installed 1.0\nlibfoo unknown ok not-installed \n"

func TestParseDpkgQuery(t *testing.T) {
	st := parseDpkgQuery(dpkgOut)
	if !st["postgresql-15"].installed() || st["postgresql-15"].Version != "15.18-0+deb12u1" {
		t.Errorf("postgresql-15 = %+v", st["postgresql-15"])
	}
	if st["keepalived"].installed() || st["keepalived"].Status != "deinstall ok config-files" {
		t.Errorf("keepalived = %+v", st["keepalived"])
	}
	if !st["libfoo"].installed() {
		t.Errorf("libfoo: an installed architecture must win: %+v", st["libfoo"])
	}
	if got := pkgName("libc6:amd64=2.36"); got != "libc6" {
		t.Errorf("pkgName = %s", got)
	}
	acts := simulatedActions("NOTE: simulation\nInst barman (3.4.0-1 Debian:12) []\nConf barman (3.4.0-1)\nRemv foo [1]\n")
	if !reflect.DeepEqual(acts, []string{"install barman", "remove foo"}) {
		t.Errorf("actions = %v", acts)
	}
}

func TestApt(t *testing.T) {
	h := newFakeHost()
	h.on("dpkg-query", 1, "postgresql-15 install ok installed 15.18\n", "dpkg-query: no packages found matching barman\n")
	h.on("apt-get -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold -o DPkg::Lock::Timeout=120 -s install barman", 0, "Inst barman (3.4.0-1 Debian:12)\n", "")
	h.on("apt-get -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold -o DPkg::Lock::Timeout=120 install barman", 0, "", "")
	m := newModule(t, "apt", map[string]any{"name": []any{"postgresql-15", "barman"}})

	cres, rec := checkRun(t, m, h)
	if !cres.Changed || len(rec) != 1 || !strings.Contains(cres.Msg, "install barman") {
		t.Fatalf("check mode: %+v %+v", cres, rec)
	}
	// After the install dpkg shows barman installed.
	installed := false
	h.onFunc(func(c fakeCall) bool {
		if c.Op == "change" && strings.Contains(c.cmdline(), "install barman") {
			installed = true
		}
		return false
	}, nil)
	h.onFunc(func(c fakeCall) bool {
		return strings.HasPrefix(c.cmdline(), "dpkg-query") && installed
	}, func(fakeCall) transport.Result {
		return transport.Result{Stdout: []byte("postgresql-15 install ok installed 15.18\nbarman install ok installed 3.4.0-1\n")}
	})
	res := runOn(t, m, h)
	ch := h.log("change")
	if !res.Changed || res.Failed || len(ch) != 1 || ch[0].Env["DEBIAN_FRONTEND"] != "noninteractive" {
		t.Fatalf("install: %+v %+v", res, ch)
	}
	if !containsStr(ch[0].Argv, "Dpkg::Options::=--force-confold") || containsStr(ch[0].Argv, "postgresql-15") {
		t.Errorf("argv = %v", ch[0].Argv)
	}
	// Second run: everything installed, nothing run.
	h.reset()
	if res := runOn(t, m, h); res.Changed || len(h.log("change")) != 0 {
		t.Errorf("second run: %+v %+v", res, h.log())
	}
	// latest with nothing to upgrade: the simulation says so, no change.
	h = newFakeHost().on("dpkg-query", 0, "postgresql-15 install ok installed 15.18\n", "")
	h.onFunc(func(c fakeCall) bool { return containsStr(c.Argv, "-s") }, func(fakeCall) transport.Result {
		return transport.Result{Stdout: []byte("postgresql-15 is already the newest version (15.18).\n0 upgraded, 0 newly installed\n")}
	})
	if res := runOn(t, newModule(t, "apt", map[string]any{"name": "postgresql-15", "state": "latest"}), h); res.Changed || len(h.log("change")) != 0 {
		t.Errorf("latest, up to date: %+v", res)
	}
	// Unknown package: a clear failure with a hint.
	h = newFakeHost().on("dpkg-query", 1, "", "dpkg-query: no packages found matching nosuch\n")
	h.onFunc(func(c fakeCall) bool { return containsStr(c.Argv, "-s") }, func(fakeCall) transport.Result {
		return transport.Result{RC: 100, Stderr: []byte("E: Unable to locate package nosuch\n")}
	})
	res = runOn(t, newModule(t, "apt", map[string]any{"name": "nosuch"}), h)
	if !res.Failed || !strings.Contains(res.Msg, "update_cache: true") {
		t.Errorf("unknown package: %+v", res)
	}
	wantArgError(t, "apt", map[string]any{"state": "present"}, "update_cache")
	wantArgError(t, "apt", map[string]any{"name": "Bad_Name"}, "not a Debian package name")
	// cache_valid_time without update_cache: no update (a role may turn
	// update_cache off through a variable and keep cache_valid_time).
	h = newFakeHost().on("dpkg-query", 0, "xy install ok installed 1\n", "")
	if res := runOn(t, newModule(t, "apt", map[string]any{"name": "xy", "update_cache": false, "cache_valid_time": 60}), h); res.Changed || len(h.log("change")) != 0 {
		t.Errorf("cache_valid_time alone updated: %+v", h.log())
	}
}

func TestAptCacheValidTime(t *testing.T) {
	h := newFakeHost().on("apt-get", 0, "", "")
	h.file("/var/cache/apt/pkgcache.bin", "x", 0o644, "root")
	m := newModule(t, "apt", map[string]any{"update_cache": true, "cache_valid_time": 3600})
	if res := runOn(t, m, h); res.Changed || len(h.log("change")) != 0 {
		t.Errorf("fresh cache: %+v %+v", res, h.log())
	}
	h.files["/var/cache/apt/pkgcache.bin"].mtime = time.Now().Add(-2 * time.Hour)
	res := runOn(t, m, h)
	if res.Changed || res.Data["cache_updated"] != true || len(h.log("change")) != 1 {
		t.Errorf("old cache: %+v %+v", res, h.log())
	}
	if _, ok := h.content(aptStamp); !ok {
		t.Error("no update stamp written")
	}
}

const showActive = "LoadState=loaded\nActiveState=active\nSubState=running\nUnitFileState=enabled\n"
const showInactive = "LoadState=loaded\nActiveState=inactive\nSubState=dead\nUnitFileState=disabled\n"

func TestService(t *testing.T) {
	h := newFakeHost()
	res := runOn(t, newModule(t, "service", map[string]any{"name": "keepalived", "state": "started"}), h)
	if !res.Failed || !strings.Contains(res.Msg, "/run/systemd/system") {
		t.Fatalf("no systemd: %+v", res)
	}
	h.dir("/run/systemd/system").on("systemctl show", 0, showInactive, "").on("systemctl start", 0, "", "").on("systemctl enable", 0, "", "")
	m := newModule(t, "service", map[string]any{"name": "keepalived", "state": "started", "enabled": true})
	cres, rec := checkRun(t, m, h)
	if !cres.Changed || len(rec) != 2 {
		t.Fatalf("check mode: %+v %+v", cres, rec)
	}
	res = runOn(t, m, h)
	var got []string
	for _, c := range h.log("change") {
		got = append(got, c.cmdline())
	}
	if !res.Changed || !reflect.DeepEqual(got, []string{"systemctl enable keepalived", "systemctl start keepalived"}) || res.Msg != "enabled, started" {
		t.Fatalf("start+enable: %+v %v", res, got)
	}
	h.on("systemctl show", 0, showActive, "")
	h.reset()
	if res := runOn(t, m, h); res.Changed || len(h.log("change")) != 0 {
		t.Errorf("already started and enabled: %+v", res)
	}
	h.on("systemctl restart", 0, "", "")
	if res := runOn(t, newModule(t, "service", map[string]any{"name": "keepalived", "state": "restarted"}), h); !res.Changed {
		t.Errorf("restarted must act: %+v", res)
	}
	h.on("systemctl show", 0, "LoadState=loaded\nActiveState=active\nUnitFileState=generated\n", "")
	if res := runOn(t, newModule(t, "service", map[string]any{"name": "postgresql@15-main", "enabled": false}), h); !res.Failed || !strings.Contains(res.Msg, "start.conf") {
		t.Errorf("disabling a generated unit: %+v", res)
	}
	h.on("systemctl show", 0, "LoadState=not-found\nActiveState=inactive\n", "")
	if res := runOn(t, newModule(t, "service", map[string]any{"name": "nosuch", "state": "started"}), h); !res.Failed || !strings.Contains(res.Msg, "not found") {
		t.Errorf("missing unit: %+v", res)
	}
	h.on("systemctl show", 0, showInactive, "").on("systemctl start", 1, "", "Job for x.service failed because the control process exited with error code.")
	if res := runOn(t, newModule(t, "service", map[string]any{"name": "x", "state": "started"}), h); !res.Failed || !strings.Contains(res.Msg, "journalctl -u x") {
		t.Errorf("failed start: %+v", res)
	}
	wantArgError(t, "service", map[string]any{"name": "x"}, "at least one")
	wantArgError(t, "service", map[string]any{"name": "x", "state": "running"}, "not one of")
	wantArgError(t, "service", map[string]any{"name": "x", "masked": true, "state": "started"}, "masked")
}

func TestUserAndGroup(t *testing.T) {
	info, err := parseUserInfo("barman:x:120:127:Backup,,,:/var/lib/barman:/bin/bash\nbarman\nbarman ssl-cert tape\n")
	if err != nil || info.UID != 120 || info.Home != "/var/lib/barman" || !reflect.DeepEqual(info.Supplementary, []string{"ssl-cert", "tape"}) {
		t.Fatalf("parseUserInfo = %+v, %v", info, err)
	}
	h := newFakeHost().on("/bin/sh -c", 2, "", "").on("useradd", 0, "", "")
	m := newModule(t, "user", map[string]any{"name": "barman", "system": true, "home": "/var/lib/barman", "shell": "/bin/bash", "groups": "ssl-cert", "comment": "Backup $user"})
	res := runOn(t, m, h)
	want := "useradd --groups ssl-cert --home-dir /var/lib/barman --create-home --shell /bin/bash --comment Backup $user --system barman"
	if !res.Changed || h.log("change")[0].cmdline() != want {
		t.Fatalf("useradd: %+v %v", res, h.log("change"))
	}
	// Existing user: only the differences.
	h = newFakeHost().on("/bin/sh -c", 0, "barman:x:120:127:Backup $user:/var/lib/barman:/bin/sh\nbarman\nbarman tape\n", "").on("usermod", 0, "", "")
	res = runOn(t, m, h)
	if got := h.log("change")[0].cmdline(); !res.Changed || got != "usermod --groups ssl-cert --shell /bin/bash barman" {
		t.Errorf("usermod: %+v %q", res, got)
	}
	h.reset()
	app := newModule(t, "user", map[string]any{"name": "barman", "groups": []any{"tape"}, "append": true, "shell": "/bin/sh"})
	if res := runOn(t, app, h); res.Changed || len(h.log("change")) != 0 {
		t.Errorf("append of a group it has: %+v", res)
	}
	h.on("usermod", 6, "", "usermod: group 'nosuch' does not exist\n")
	if res := runOn(t, newModule(t, "user", map[string]any{"name": "barman", "groups": "nosuch", "append": true}), h); !res.Failed || !strings.Contains(res.Msg, "group module") {
		t.Errorf("missing group: %+v", res)
	}
	wantArgError(t, "user", map[string]any{"name": "Bad User"}, "not a valid user")
	wantArgError(t, "user", map[string]any{"name": "x", "state": "absent", "shell": "/bin/sh"}, "absent")

	h = newFakeHost().on("getent group", 2, "", "").on("groupadd", 0, "", "")
	g := newModule(t, "group", map[string]any{"name": "pgadmins", "gid": 2001})
	if res := runOn(t, g, h); !res.Changed || h.log("change")[0].cmdline() != "groupadd --gid 2001 pgadmins" {
		t.Errorf("groupadd: %+v", h.log())
	}
	h = newFakeHost().on("getent group", 0, "pgadmins:x:2001:\n", "")
	if res := runOn(t, g, h); res.Changed || res.Data["gid"] != 2001 {
		t.Errorf("existing group: %+v", res)
	}
}

func TestBlockInFile(t *testing.T) {
	h := newFakeHost().file("/etc/x.conf", "# head\nlisten 1\n", 0o640, "postgres")
	m := newModule(t, "blockinfile", map[string]any{"path": "/etc/x.conf", "block": "a $x\nb 'y'\n", "insertbefore": "^listen"})
	res := runOn(t, m, h)
	want := "# head\n# BEGIN MANAGED BY PGPLAY\na $x\nb 'y'\n# END MANAGED BY PGPLAY\nlisten 1\n"
	if got, _ := h.content("/etc/x.conf"); !res.Changed || got != want {
		t.Fatalf("insert: %+v\n%q", res, got)
	}
	if res := runOn(t, m, h); res.Changed {
		t.Errorf("second run changed: %+v", res)
	}
	upd := newModule(t, "blockinfile", map[string]any{"path": "/etc/x.conf", "block": "c"})
	runOn(t, upd, h)
	if got, _ := h.content("/etc/x.conf"); got != "# head\n# BEGIN MANAGED BY PGPLAY\nc\n# END MANAGED BY PGPLAY\nlisten 1\n" {
		t.Errorf("update in place: %q", got)
	}
	other := newModule(t, "blockinfile", map[string]any{"path": "/etc/x.conf", "block": "d", "marker": "## {mark} hba", "insertafter": "EOF"})
	runOn(t, other, h)
	rm := newModule(t, "blockinfile", map[string]any{"path": "/etc/x.conf", "state": "absent"})
	runOn(t, rm, h)
	if got, _ := h.content("/etc/x.conf"); got != "# head\nlisten 1\n## BEGIN hba\nd\n## END hba\n" {
		t.Errorf("two blocks, one removed: %q", got)
	}
	if f := h.files["/etc/x.conf"]; f.mode != 0o640 || f.owner != "postgres" {
		t.Errorf("attributes not kept: %+v", f)
	}
	cres, rec := checkRun(t, newModule(t, "blockinfile", map[string]any{"path": "/etc/new.conf", "block": "x", "create": true}), h)
	if !cres.Changed || len(rec) == 0 {
		t.Errorf("check mode create: %+v %+v", cres, rec)
	}
	if res := runOn(t, newModule(t, "blockinfile", map[string]any{"path": "/etc/none.conf", "block": "x"}), h); !res.Failed || !strings.Contains(res.Msg, "create: true") {
		t.Errorf("missing file: %+v", res)
	}
	wantArgError(t, "blockinfile", map[string]any{"path": "/x", "marker": "# managed"}, "{mark}")
	wantArgError(t, "blockinfile", map[string]any{"path": "/x", "insertafter": "a", "insertbefore": "b"}, "not both")
	wantArgError(t, "blockinfile", map[string]any{"path": "/x", "insertafter": "(unclosed"}, "insertafter")
}

const (
	keyA = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFdd4pYbtwiA6+IFOKHNY9vzWyk3POcydVbKKF3NIVMF barman@backup1"
	keyB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl other"
)

func TestAuthorizedKey(t *testing.T) {
	h := newFakeHost().on("/bin/sh -c", 0, "postgres:x:101:104:PostgreSQL:/var/lib/postgresql:/bin/bash\npostgres\npostgres\n", "")
	h.dir("/var/lib/postgresql")
	m := newModule(t, "authorized_key", map[string]any{"user": "postgres", "key": keyA})
	res := runOn(t, m, h)
	f := h.files["/var/lib/postgresql/.ssh/authorized_keys"]
	d := h.files["/var/lib/postgresql/.ssh"]
	if !res.Changed || f == nil || string(f.data) != keyA+"\n" || f.mode != 0o600 || f.owner != "postgres" || d.mode != 0o700 || d.owner != "postgres" {
		t.Fatalf("add: %+v file %+v dir %+v", res, f, d)
	}
	if res := runOn(t, m, h); res.Changed {
		t.Errorf("second run: %+v", res)
	}
	// The same key with another comment is the same key: replaced, not added.
	newComment := strings.Replace(keyA, "barman@backup1", "renamed", 1)
	h.file("/var/lib/postgresql/.ssh/authorized_keys", keyB+"\n"+keyA+"\n", 0o600, "postgres")
	runOn(t, newModule(t, "authorized_key", map[string]any{"user": "postgres", "key": newComment}), h)
	if got, _ := h.content("/var/lib/postgresql/.ssh/authorized_keys"); got != keyB+"\n"+newComment+"\n" {
		t.Errorf("comment change: %q", got)
	}
	runOn(t, newModule(t, "authorized_key", map[string]any{"user": "postgres", "key": keyA, "exclusive": true}), h)
	if got, _ := h.content("/var/lib/postgresql/.ssh/authorized_keys"); got != keyA+"\n" {
		t.Errorf("exclusive: %q", got)
	}
	runOn(t, newModule(t, "authorized_key", map[string]any{"user": "postgres", "key": keyA, "state": "absent"}), h)
	if got, _ := h.content("/var/lib/postgresql/.ssh/authorized_keys"); got != "" {
		t.Errorf("absent: %q", got)
	}
	h.files["/var/lib/postgresql/.ssh/authorized_keys"].mode = 0o644
	if res := runOn(t, newModule(t, "authorized_key", map[string]any{"user": "postgres", "key": keyB, "state": "absent"}), h); !res.Changed || h.files["/var/lib/postgresql/.ssh/authorized_keys"].mode != 0o600 {
		t.Errorf("mode not repaired: %+v", res)
	}
	wantArgError(t, "authorized_key", map[string]any{"user": "postgres", "key": "ssh-ed25519 notbase64"}, "not a public key")
	wantArgError(t, "authorized_key", map[string]any{"user": "postgres", "key": keyA, "exclusive": true, "state": "absent"}, "exclusive")
}

func TestFetch(t *testing.T) {
	dir := t.TempDir()
	h := newFakeHost().file("/var/lib/barman/.ssh/id_ed25519.pub", keyA+"\n", 0o644, "barman")
	m := newModule(t, "fetch", map[string]any{"src": "/var/lib/barman/.ssh/id_ed25519.pub", "dest": "fetched"})
	env := &Env{Host: "backup1", Controller: dir}
	// A check-mode Target decides: the controller file is not written, its
	// write is recorded with the Target's changes.
	var rec []transport.Change
	res := runEnv(t, m, transport.NewCheckTarget(h, func(c transport.Change) { rec = append(rec, c) }), env)
	dest := filepath.Join(dir, "fetched", "backup1", "var", "lib", "barman", ".ssh", "id_ed25519.pub")
	if _, err := os.Stat(dest); !res.Changed || err == nil || res.Msg != "would write "+dest {
		t.Fatalf("check mode wrote the controller file or reported no change: %+v %v", res, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "fetched")); err == nil {
		t.Errorf("check mode made the controller directory")
	}
	if len(rec) != 2 || rec[0].Op != "mkdir" || rec[1].Op != "write" || rec[1].Path != dest || !strings.Contains(rec[1].Detail, "on the controller") {
		t.Errorf("recorded changes: %+v", rec)
	}
	res = runEnv(t, m, h, env)
	b, err := os.ReadFile(dest)
	if !res.Changed || err != nil || string(b) != keyA+"\n" || res.Data["dest"] != dest {
		t.Fatalf("fetch: %+v %q %v", res, b, err)
	}
	if res := runEnv(t, m, h, env); res.Changed {
		t.Errorf("second fetch changed: %+v", res)
	}
	flat := newModule(t, "fetch", map[string]any{"src": "/var/lib/barman/.ssh/id_ed25519.pub", "dest": dir + "/keys/", "flat": true})
	runEnv(t, flat, h, env)
	if b, err := os.ReadFile(filepath.Join(dir, "keys", "id_ed25519.pub")); err != nil || string(b) != keyA+"\n" {
		t.Errorf("flat: %q %v", b, err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "keys"))
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	missing := newModule(t, "fetch", map[string]any{"src": "/nope", "dest": "x"})
	if res := runEnv(t, missing, h, env); !res.Failed || !strings.Contains(res.Msg, "fail_on_missing") {
		t.Errorf("missing: %+v", res)
	}
	wantArgError(t, "fetch", map[string]any{"src": "relative", "dest": "x"}, "absolute")
}

func TestSysctl(t *testing.T) {
	lines, ch := editSysctl(splitKeepEnds("# tuned\nvm.swappiness=60\nnet.core.somaxconn = 1024\n"), "vm.swappiness", "10", true)
	if !ch || strings.Join(lines, "") != "# tuned\nvm.swappiness = 10\nnet.core.somaxconn = 1024\n" {
		t.Errorf("edit: %q", strings.Join(lines, ""))
	}
	if _, ch := editSysctl(splitKeepEnds("vm/swappiness = 10\n"), "vm.swappiness", "10", true); ch {
		t.Error("slash form not recognized")
	}
	h := newFakeHost().on("sysctl -n -e net.ipv4.tcp_rmem", 0, "4096\t131072\t6291456\n", "").on("sysctl -w", 0, "", "")
	m := newModule(t, "sysctl", map[string]any{"name": "net.ipv4.tcp_rmem", "value": "4096 131072  6291456"})
	res := runOn(t, m, h)
	if !res.Changed || len(h.log("change")) != 0 {
		t.Fatalf("same live value must not run sysctl -w: %+v %+v", res, h.log("change"))
	}
	if got, _ := h.content("/etc/sysctl.d/99-pgplay.conf"); got != "net.ipv4.tcp_rmem = 4096 131072 6291456\n" {
		t.Errorf("file: %q", got)
	}
	if res := runOn(t, m, h); res.Changed {
		t.Errorf("second run: %+v", res)
	}
	h.on("sysctl -n -e vm.swappiness", 0, "60\n", "")
	res = runOn(t, newModule(t, "sysctl", map[string]any{"name": "vm.swappiness", "value": 10}), h)
	if !res.Changed || len(h.log("change")) != 1 || h.log("change")[0].cmdline() != "sysctl -w vm.swappiness=10" {
		t.Errorf("live change: %+v %+v", res, h.log("change"))
	}
	h.on("sysctl -n -e nosuch.key", 0, "", "")
	if res := runOn(t, newModule(t, "sysctl", map[string]any{"name": "nosuch.key", "value": 1}), h); !res.Failed || !strings.Contains(res.Msg, "unknown") {
		t.Errorf("unknown key: %+v", res)
	}
	wantArgError(t, "sysctl", map[string]any{"name": "vm.swappiness"}, "value")
	wantArgError(t, "sysctl", map[string]any{"name": "vm swappiness", "value": 1}, "not a sysctl name")
}
