package transport_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgplay/pgplay/internal/sshtest"
	"github.com/pgplay/pgplay/internal/transport"
)

// waitUntil polls cond every 2ms until it holds or d passes.
func waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(2 * time.Millisecond)
	}
	return false
}

// wantLost fails unless err says the connection of node1 was lost (and
// nothing else: an exit status or a channel error is a wrong verdict).
func wantLost(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, transport.ErrUnreachable) || !strings.Contains(err.Error(), "node1") ||
		!strings.Contains(err.Error(), "lost") {
		t.Fatalf("err %v, want ErrUnreachable (connection to node1 lost)", err)
	}
}

// A command whose connection is killed (the host's sshd processes for it
// die, as in a crash or an OOM kill) reports the host unreachable, never an
// ordinary failure such as a missing exit status.
func TestConnectionKilledMidCommand(t *testing.T) {
	s := sshtest.Start(t)
	p := newPool(t)
	tg := target(t, p, s.Config("node1"), "")
	started := filepath.Join(t.TempDir(), "started")
	errc := make(chan error, 1)
	go func() {
		_, err := tg.Query(testCtx(t), transport.Cmd{Argv: []string{"sh", "-c", `touch "$1"; exec sleep 30`, "sh", started}})
		errc <- err
	}()
	if !waitUntil(10*time.Second, func() bool { _, err := os.Stat(started); return err == nil }) {
		t.Fatal("the command never started")
	}
	if n := s.SignalConnections(syscall.SIGKILL); n == 0 {
		t.Fatal("no connection process to kill")
	}
	select {
	case err := <-errc:
		wantLost(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Query did not return within 5s of the connection's death")
	}
	// The next Target connects again.
	run(t, target(t, p, s.Config("node1"), ""), transport.Cmd{Argv: []string{"true"}})
}

// A write whose connection dies (sshd killed, or the TCP connection cut)
// reports the host unreachable and leaves the old file whole.
func TestConnectionKilledMidWrite(t *testing.T) {
	for _, how := range []string{"kill sshd", "cut TCP"} {
		t.Run(how, func(t *testing.T) {
			s := sshtest.Start(t)
			cfg := s.Config("node1")
			var px *tcpProxy
			if how == "cut TCP" {
				px = startProxy(t, s.Addr())
				cfg.Port = px.Port
				cfg.KnownHostsFiles = []string{filepath.Join(t.TempDir(), "kh")}
				cfg.AcceptNewHostKeys = true
			}
			p := newPool(t)
			tg := target(t, p, cfg, "")
			dir := t.TempDir()
			dest := filepath.Join(dir, "big.conf")
			old := []byte("old content\nline 2\n")
			if err := os.WriteFile(dest, old, 0o640); err != nil {
				t.Fatal(err)
			}
			data := bytes.Repeat([]byte("0123456789abcdef"), 4<<20) // 64 MiB
			errc := make(chan error, 1)
			go func() { errc <- tg.WriteFile(testCtx(t), dest, data, transport.Attrs{}) }()
			if !waitUntil(20*time.Second, func() bool { return writing(t, dir, "big.conf") }) {
				t.Fatal("the write never started")
			}
			// Stop the transfer first, so that it cannot complete while
			// the connection is being torn down.
			if px != nil {
				px.Freeze()
				px.Cut()
			} else {
				s.SignalConnections(syscall.SIGSTOP)
				if n := s.SignalConnections(syscall.SIGKILL); n == 0 {
					t.Fatal("no connection process to kill")
				}
			}
			select {
			case err := <-errc:
				wantLost(t, err)
			case <-time.After(10 * time.Second):
				t.Fatal("WriteFile did not return within 10s of the connection's death")
			}
			if b, err := os.ReadFile(dest); err != nil || !bytes.Equal(b, old) {
				t.Fatalf("destination is %d bytes (%v), want the old %d bytes intact", len(b), err, len(old))
			}

			// The temporary file could not be removed over the dead
			// connection. The next write leaves it while it is recent (it
			// could be another writer's), and removes it once stale.
			left := temps(t, dir, "big.conf")
			if len(left) != 1 {
				t.Fatalf("temporary files %q, want the one of the killed write", left)
			}
			tg = target(t, p, cfg, "")
			ctx := testCtx(t)
			if err := tg.WriteFile(ctx, dest, []byte("v2\n"), transport.Attrs{}); err != nil {
				t.Fatal(err)
			}
			if got := temps(t, dir, "big.conf"); len(got) != 1 || got[0] != left[0] {
				t.Fatalf("after a write: temporary files %q, want %q kept (recent)", got, left)
			}
			ago := time.Now().Add(-2 * time.Hour)
			if err := os.Chtimes(left[0], ago, ago); err != nil {
				t.Fatal(err)
			}
			if err := tg.WriteFile(ctx, dest, []byte("v3\n"), transport.Attrs{}); err != nil {
				t.Fatal(err)
			}
			if got := temps(t, dir, "big.conf"); len(got) != 0 {
				t.Fatalf("after a write: temporary files %q left, want the stale one removed", got)
			}
			assertFile(t, dest, "v3\n")
		})
	}
}

// writing says whether an atomic write of name into dir has written at
// least 1 MiB to its temporary file.
func writing(t *testing.T, dir, name string) bool {
	for _, f := range temps(t, dir, name) {
		if fi, err := os.Stat(f); err == nil && fi.Size() >= 1<<20 {
			return true
		}
	}
	return false
}

// sftpServers returns the PIDs of the sftp-server processes serving s.
func sftpServers(s *sshtest.Server) []int {
	var out []int
	for _, pid := range s.Connections() {
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if bytes.Contains(cmd, []byte("sftp-server")) {
			out = append(out, pid)
		}
	}
	return out
}

// When only the SFTP session dies mid-write (its sftp-server killed), the
// connection lives: the write fails as an ordinary error, the old file is
// whole, the temporary file is removed over a new session, and the next
// write works.
func TestSFTPServerKilledMidWrite(t *testing.T) {
	s := sshtest.Start(t)
	tg := target(t, newPool(t), s.Config("node1"), "")
	dir := t.TempDir()
	dest := filepath.Join(dir, "big.conf")
	old := []byte("old\n")
	if err := os.WriteFile(dest, old, 0o644); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("fedcba9876543210"), 4<<20) // 64 MiB
	errc := make(chan error, 1)
	go func() { errc <- tg.WriteFile(testCtx(t), dest, data, transport.Attrs{}) }()
	if !waitUntil(20*time.Second, func() bool { return writing(t, dir, "big.conf") }) {
		t.Fatal("the write never started")
	}
	pids := sftpServers(s)
	if len(pids) != 1 {
		t.Fatalf("sftp-server processes %v, want one", pids)
	}
	// Stop it first, so that the write cannot complete meanwhile.
	if err := syscall.Kill(pids[0], syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if len(temps(t, dir, "big.conf")) == 0 {
		t.Fatal("the write ended before sftp-server could be stopped")
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if err == nil || errors.Is(err, transport.ErrUnreachable) || !strings.Contains(err.Error(), "node1") {
			t.Fatalf("err %v, want an ordinary failure naming node1 (the connection lives)", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WriteFile did not return within 10s")
	}
	if b, err := os.ReadFile(dest); err != nil || !bytes.Equal(b, old) {
		t.Fatalf("destination is %d bytes (%v), want the old content intact", len(b), err)
	}
	if left := temps(t, dir, "big.conf"); len(left) != 0 {
		t.Fatalf("temporary files left: %q", left)
	}
	if err := tg.WriteFile(testCtx(t), dest, []byte("new\n"), transport.Attrs{}); err != nil {
		t.Fatalf("write after the SFTP session died: %v", err)
	}
	assertFile(t, dest, "new\n")
}

// Only stale leftovers of the same file, owned by the writing user, are
// removed by a later write; nothing else that looks alike.
func TestStaleTempFilesRule(t *testing.T) {
	needRoot(t)
	s := sshtest.Start(t)
	p := newPool(t)
	ctx := testCtx(t)
	dir := sharedDir(t)
	dest := filepath.Join(dir, "app.conf")
	ago := time.Now().Add(-2 * time.Hour)
	mk := func(name string, age time.Time, uid int) string {
		t.Helper()
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(f, uid, uid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(f, age, age); err != nil {
			t.Fatal(err)
		}
		return f
	}
	stale := mk(".app.conf.pgplay-Ab3dE9", ago, 0)
	staleLink := filepath.Join(dir, ".app.conf.pgplay-LiNk00")
	if err := os.Symlink("/etc/hostname", staleLink); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("touch", "-h", "-d", "3 hours ago", staleLink).Run(); err != nil {
		t.Fatal(err)
	}
	keep := []string{
		mk(".app.conf.pgplay-rEcEnt", time.Now().Add(-10*time.Minute), 0), // maybe a writer at work
		mk(".app.conf.pgplay-nobody", ago, 65534),                         // another user's
		mk(".app.conf.pgplay-abc", ago, 0),                                // not a pgplay name
		mk(".app.conf.pgplay-abcdefg", ago, 0),                            // not a pgplay name
		mk(".app.conf.pgplay-ab.def", ago, 0),                             // not a pgplay name
		mk(".other.conf.pgplay-Ab3dE9", ago, 0),                           // another file's
		mk("app.conf.pgplay-Ab3dE9", ago, 0),                              // not hidden: not ours
		mk(".app.conf.pgplay-Ab3dE9x", ago, 0),                            // not a pgplay name
	}
	d := filepath.Join(dir, ".app.conf.pgplay-DiR000")
	if err := os.Mkdir(d, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(d, ago, ago); err != nil {
		t.Fatal(err)
	}
	keep = append(keep, d)

	if err := target(t, p, s.Config("node1"), "").WriteFile(ctx, dest, []byte("x\n"), transport.Attrs{}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{stale, staleLink} {
		if _, err := os.Lstat(f); !os.IsNotExist(err) {
			t.Errorf("%s: still there (%v), want the stale leftover removed", filepath.Base(f), err)
		}
	}
	for _, f := range keep {
		if _, err := os.Lstat(f); err != nil {
			t.Errorf("%s: %v, want it kept", filepath.Base(f), err)
		}
	}
	// Writing as nobody (SFTP under sudo): nobody's stale leftover goes,
	// root's stays.
	roots := mk(".b.conf.pgplay-r00tXX", ago, 0)
	nobodys := mk(".b.conf.pgplay-n0b0dy", ago, 65534)
	if err := target(t, p, s.Config("node1"), "nobody").WriteFile(ctx, filepath.Join(dir, "b.conf"), []byte("x\n"), transport.Attrs{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(nobodys); !os.IsNotExist(err) {
		t.Errorf("nobody's stale leftover still there (%v)", err)
	}
	if _, err := os.Lstat(roots); err != nil {
		t.Errorf("root's leftover: %v, want it kept when writing as nobody", err)
	}
}

// temps lists the temporary files of atomic writes of name in dir.
func temps(t *testing.T, dir, name string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "."+name+".pgplay-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}
