package transport_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgplay/pgplay/internal/transport"
)

func localConfig() transport.Config { return transport.Config{Name: "controller", Local: true} }

func TestQuote(t *testing.T) {
	if got, want := transport.Quote([]string{"ls", "-l", "a b", "it's", "", "x=1", "/a/b.c"}),
		`ls -l 'a b' 'it'\''s' '' 'x=1' /a/b.c`; got != want {
		t.Fatalf("Quote = %s, want %s", got, want)
	}
	// What /bin/sh makes of it is the arguments back.
	out, err := exec.Command("/bin/sh", "-c", `printf '%s\0' `+transport.Quote(awkward)).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", awkward) {
		t.Fatalf("got  %q\nwant %q", got, awkward)
	}
}

func TestLocalCommand(t *testing.T) {
	t.Setenv("LANG", "de_DE.UTF-8")
	t.Setenv("LC_CTYPE", "de_DE.UTF-8")
	tg := target(t, newPool(t), localConfig(), "")
	if tg.Host() != "controller" {
		t.Fatalf("Host() = %q", tg.Host())
	}
	res := run(t, tg, transport.Cmd{Argv: append([]string{"printf", `%s\0`}, awkward...)})
	if got := strings.Split(strings.TrimSuffix(string(res.Stdout), "\x00"), "\x00"); fmt.Sprintf("%q", got) != fmt.Sprintf("%q", awkward) {
		t.Fatalf("argv: got %q", got)
	}
	res = run(t, tg, transport.Cmd{
		Argv: []string{"sh", "-c", `printf '%s|%s|%s|%s' "$FOO" "$LC_ALL" "${LANG-unset}" "${LC_CTYPE-unset}"`},
		Env:  map[string]string{"FOO": "a $b"},
	})
	if want := "a $b|C.UTF-8|unset|unset"; string(res.Stdout) != want {
		t.Fatalf("env: got %q, want %q", res.Stdout, want)
	}
	dir := t.TempDir()
	res = run(t, tg, transport.Cmd{Argv: []string{"sh", "-c", "pwd; cat; exit 4"}, Dir: dir, Stdin: []byte("in\n")})
	if string(res.Stdout) != dir+"\nin\n" || res.RC != 4 {
		t.Fatalf("dir/stdin/rc: %q rc %d", res.Stdout, res.RC)
	}
	res = run(t, tg, transport.Cmd{Argv: []string{"no-such-program-pgplay"}})
	if res.RC != 127 || !strings.Contains(string(res.Stderr), "not found") {
		t.Fatalf("missing program: rc %d stderr %q", res.RC, res.Stderr)
	}
}

func TestLocalBecome(t *testing.T) {
	needRoot(t)
	p := newPool(t)
	ctx := testCtx(t)
	tg := target(t, p, localConfig(), "nobody")
	res := run(t, tg, transport.Cmd{Argv: []string{"id", "-un"}})
	if strings.TrimSpace(string(res.Stdout)) != "nobody" {
		t.Fatalf("id -un: %q %q", res.Stdout, res.Stderr)
	}
	res = run(t, tg, transport.Cmd{Argv: []string{"sh", "-c", `printf %s "$X|$LC_ALL"`}, Env: map[string]string{"X": "it's"}})
	if string(res.Stdout) != "it's|C.UTF-8" {
		t.Fatalf("env through sudo: %q", res.Stdout)
	}
	dir := sharedDir(t)
	f := filepath.Join(dir, "by-nobody")
	if err := tg.WriteFile(ctx, f, []byte("x"), transport.Attrs{Mode: 0o600}); err != nil {
		t.Fatal(err)
	}
	fi, err := tg.Stat(ctx, f)
	if err != nil || fi.Owner != "nobody" || fi.Mode != 0o600 {
		t.Fatalf("stat %+v %v", fi, err)
	}
	if b, err := tg.ReadFile(ctx, f); err != nil || string(b) != "x" {
		t.Fatalf("read %q %v", b, err)
	}
	if err := tg.WriteFile(ctx, "/root/pgplay-denied", []byte("x"), transport.Attrs{}); err == nil {
		t.Fatal("nobody wrote to /root")
	}
	if st := p.Stats(); st.SFTPSessions != 1 {
		t.Fatalf("SFTP sessions %d, want 1 (local sftp-server as nobody)", st.SFTPSessions)
	}
	// become the current user: no sudo, direct file access.
	me := target(t, p, localConfig(), "root")
	if err := me.WriteFile(ctx, filepath.Join(dir, "mine"), []byte("y"), transport.Attrs{}); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.SFTPSessions != 1 {
		t.Fatalf("SFTP sessions %d, want still 1", st.SFTPSessions)
	}
}

func TestLocalFiles(t *testing.T) {
	needRoot(t)
	ctx := testCtx(t)
	tg := target(t, newPool(t), localConfig(), "")
	dir := sharedDir(t)
	f := filepath.Join(dir, "f")
	if err := tg.WriteFile(ctx, f, []byte("v1"), transport.Attrs{Mode: 0o4750, Owner: "nobody", Group: "nogroup"}); err != nil {
		t.Fatal(err)
	}
	fi, err := tg.Stat(ctx, f)
	if err != nil || fi.Mode != 0o4750 || fi.Owner != "nobody" || fi.Group != "nogroup" || fi.Size != 2 {
		t.Fatalf("stat %+v %v", fi, err)
	}
	if err := tg.WriteFile(ctx, f, []byte("v2"), transport.Attrs{}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := tg.Stat(ctx, f); fi.Mode != 0o4750 || fi.Owner != "nobody" {
		t.Fatalf("replace did not keep mode and owner: %+v", fi)
	}
	err = tg.WriteFile(ctx, f, []byte("v3"), transport.Attrs{Group: "no-such-group-pgplay"})
	if err == nil || !strings.Contains(err.Error(), `no group "no-such-group-pgplay"`) {
		t.Fatalf("err %v", err)
	}
	assertFile(t, f, "v2")
	assertNoTemp(t, dir)
	if err := tg.Mkdir(ctx, filepath.Join(dir, "x/y"), transport.Attrs{Owner: "nobody"}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := tg.Stat(ctx, filepath.Join(dir, "x")); !fi.IsDir || fi.Mode != 0o755 || fi.Owner != "nobody" {
		t.Fatalf("mkdir: %+v", fi)
	}
	if err := tg.Symlink(ctx, "f", filepath.Join(dir, "x/y/l")); err != nil {
		t.Fatal(err)
	}
	if fi, _ := tg.Stat(ctx, filepath.Join(dir, "x/y/l")); !fi.IsLink || fi.LinkTarget != "f" {
		t.Fatalf("symlink: %+v", fi)
	}
	if err := tg.SetAttrs(ctx, f, transport.Attrs{Mode: 0o644, Owner: "root"}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := tg.Stat(ctx, f); fi.Mode != 0o644 || fi.Owner != "root" || fi.Group != "nogroup" {
		t.Fatalf("set attrs: %+v", fi)
	}
	if err := tg.Remove(ctx, filepath.Join(dir, "x")); err != nil {
		t.Fatal(err)
	}
	if fi, _ := tg.Stat(ctx, filepath.Join(dir, "x")); fi.Exists {
		t.Fatal("x still there")
	}
	if _, err := tg.ReadFile(ctx, filepath.Join(dir, "absent")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("read absent: %v", err)
	}
}

// fakeSudo puts a sudo first in PATH that answers like sudo -n does when
// a password is needed, after the warning sudo prints when the host's
// name does not resolve.
func fakeSudo(t *testing.T) {
	t.Helper()
	bin := t.TempDir()
	script := "#!/bin/sh\necho 'sudo: unable to resolve host ctl: Name or service not known' >&2\necho 'sudo: a password is required' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(bin, "sudo"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
}

func TestLocalSudoPasswordRequired(t *testing.T) {
	fakeSudo(t)
	ctx := testCtx(t)
	tg := target(t, newPool(t), localConfig(), "postgres-pgplay")
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	want := `host controller: become user postgres-pgplay: sudo asks for a password ("sudo: a password is required") and pgplay cannot type one; ` +
		`give the login user ` + me.Username + ` passwordless sudo in sudoers (NOPASSWD, e.g. "` + me.Username + ` ALL=(ALL:ALL) NOPASSWD: ALL" in /etc/sudoers.d/` + me.Username + `) or drop become`
	if _, err := tg.Query(ctx, transport.Cmd{Argv: []string{"true"}}); err == nil || err.Error() != want {
		t.Fatalf("Query: %v\nwant: %s", err, want)
	}
	if _, err := tg.Stat(ctx, "/etc"); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Stat: %v\nwant it to contain: %s", err, want)
	}
}

func TestLocalCancel(t *testing.T) {
	needRoot(t)
	p := newPool(t)
	for _, tc := range []struct{ become, sleep string }{{"", "32.7"}, {"nobody", "32.8"}} {
		tg := target(t, p, localConfig(), tc.become)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		start := time.Now()
		_, err := tg.Query(ctx, transport.Cmd{Argv: []string{"sleep", tc.sleep}})
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("become %q: err %v, want DeadlineExceeded", tc.become, err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("become %q: returned after %s", tc.become, d)
		}
		out, _ := exec.Command("ps", "-eo", "args").Output()
		if bytes.Contains(out, []byte("sleep "+tc.sleep)) {
			t.Fatalf("become %q: sleep %s still running", tc.become, tc.sleep)
		}
	}
}

func TestCheckTarget(t *testing.T) {
	ctx := testCtx(t)
	lt := target(t, newPool(t), localConfig(), "")
	var changes []transport.Change
	tg := transport.NewCheckTarget(lt, func(c transport.Change) { changes = append(changes, c) })
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	if err := os.WriteFile(f, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}

	if tg.Host() != "controller" {
		t.Fatalf("Host %q", tg.Host())
	}
	res, err := tg.Query(ctx, transport.Cmd{Argv: []string{"echo", "read"}})
	if err != nil || string(res.Stdout) != "read\n" || res.Simulated {
		t.Fatalf("Query in check mode must run: %+v %v", res, err)
	}
	res, err = tg.Change(ctx, transport.Cmd{Argv: []string{"touch", filepath.Join(dir, "touched")}, Dir: dir,
		Env: map[string]string{"PGPASSWORD": "secret"}, Stdin: []byte("abc")})
	if err != nil || !res.Simulated {
		t.Fatalf("Change: %+v %v", res, err)
	}
	if fi, err := tg.Stat(ctx, f); err != nil || !fi.Exists || fi.Size != 3 {
		t.Fatalf("Stat in check mode must read: %+v %v", fi, err)
	}
	if b, err := tg.ReadFile(ctx, f); err != nil || string(b) != "old" {
		t.Fatalf("ReadFile: %q %v", b, err)
	}
	steps := []error{
		tg.WriteFile(ctx, f, []byte("new"), transport.Attrs{Mode: 0o600, Owner: "root"}),
		tg.WriteFile(ctx, filepath.Join(dir, "g"), []byte("new"), transport.Attrs{}),
		tg.SetAttrs(ctx, f, transport.Attrs{Mode: 0o600, Group: "root"}),
		tg.Mkdir(ctx, filepath.Join(dir, "d"), transport.Attrs{}),
		tg.Remove(ctx, f),
		tg.Symlink(ctx, "f", filepath.Join(dir, "l")),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	// Nothing changed on disk.
	assertFile(t, f, "old")
	des, _ := os.ReadDir(dir)
	if len(des) != 1 {
		t.Fatalf("dir holds %d entries, want only f", len(des))
	}
	if fi, _ := os.Stat(f); fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode changed: %v", fi.Mode())
	}
	var got []string
	for _, c := range changes {
		got = append(got, fmt.Sprintf("%s %s %q %s", c.Op, filepath.Base(c.Path), c.Argv, c.Detail))
	}
	want := []string{
		fmt.Sprintf(`run . ["touch" %q] dir %s; env PGPASSWORD; stdin 3 bytes`, filepath.Join(dir, "touched"), dir),
		`write f [] 3 bytes, mode 0600, owner root`,
		`write g [] 3 bytes`,
		`chown f [] group root`,
		`chmod f [] mode 0600`,
		`mkdir d [] `,
		`remove f [] `,
		`symlink l [] -> f`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, c := range changes {
		if strings.Contains(c.Detail, "secret") {
			t.Fatal("an environment value leaked into a recorded change")
		}
	}
}
