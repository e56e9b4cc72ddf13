package transport_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgplay/pgplay/internal/sshtest"
	"github.com/pgplay/pgplay/internal/transport"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// awkward are arguments a shell would mangle if quoting were wrong.
var awkward = []string{
	"plain", "two words", "", "it's", `"double"`, "$HOME", "${PATH}", "$(id)", "`id`",
	"back\\slash", "trailing\\", "new\nline", "tab\there", "*", "~", "a=b", "--", "-n",
	"semi;colon", "pipe|amp&", "<in>", "#hash", "!bang", "ünïcödé", "'", "''", `\'`,
}

func TestSSHArgvSurvivesQuoting(t *testing.T) {
	s := sshtest.Start(t)
	tg := target(t, newPool(t), s.Config("node1"), "")
	argv := append([]string{"printf", `%s\0`}, awkward...)
	res := run(t, tg, transport.Cmd{Argv: argv})
	got := strings.Split(strings.TrimSuffix(string(res.Stdout), "\x00"), "\x00")
	if res.RC != 0 || fmt.Sprintf("%q", got) != fmt.Sprintf("%q", awkward) {
		t.Fatalf("rc %d stderr %q\ngot  %q\nwant %q", res.RC, res.Stderr, got, awkward)
	}
}

func TestSSHCommand(t *testing.T) {
	s := sshtest.Start(t)
	t.Setenv("LANG", "de_DE.UTF-8")
	t.Setenv("LC_MESSAGES", "de_DE.UTF-8")
	tg := target(t, newPool(t), s.Config("node1"), "")

	t.Run("stdin", func(t *testing.T) {
		in := []byte("line 1\n$x 'y'\n\x00binary\xff")
		res := run(t, tg, transport.Cmd{Argv: []string{"cat"}, Stdin: in})
		if !bytes.Equal(res.Stdout, in) {
			t.Fatalf("stdout %q, want %q", res.Stdout, in)
		}
	})
	t.Run("rc and stderr", func(t *testing.T) {
		res := run(t, tg, transport.Cmd{Argv: []string{"sh", "-c", "echo oops >&2; exit 3"}})
		if res.RC != 3 || string(res.Stderr) != "oops\n" {
			t.Fatalf("rc %d stderr %q, want 3 and oops", res.RC, res.Stderr)
		}
	})
	t.Run("env", func(t *testing.T) {
		res := run(t, tg, transport.Cmd{
			Argv: []string{"sh", "-c", `printf '%s|%s|%s|%s' "$FOO" "$LC_ALL" "${LANG-unset}" "${LC_MESSAGES-unset}"`},
			Env:  map[string]string{"FOO": "a b $c 'd'\n"},
		})
		if want := "a b $c 'd'\n|C.UTF-8|unset|unset"; string(res.Stdout) != want {
			t.Fatalf("got %q, want %q", res.Stdout, want)
		}
		res = run(t, tg, transport.Cmd{Argv: []string{"printenv", "LC_ALL"}, Env: map[string]string{"LC_ALL": "C"}})
		if string(res.Stdout) != "C\n" {
			t.Fatalf("Cmd.Env LC_ALL: got %q", res.Stdout)
		}
	})
	t.Run("dir", func(t *testing.T) {
		dir := t.TempDir() + "/with space $x"
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		res := run(t, tg, transport.Cmd{Argv: []string{"pwd"}, Dir: dir})
		if strings.TrimSpace(string(res.Stdout)) != dir {
			t.Fatalf("pwd %q, want %q", res.Stdout, dir)
		}
		res = run(t, tg, transport.Cmd{Argv: []string{"pwd"}, Dir: dir + "/absent"})
		if res.RC == 0 {
			t.Fatal("missing Dir: want a non-zero rc")
		}
	})
	t.Run("bad env name", func(t *testing.T) {
		_, err := tg.Query(testCtx(t), transport.Cmd{Argv: []string{"true"}, Env: map[string]string{"A B": "x"}})
		if err == nil || !strings.Contains(err.Error(), `"A B"`) {
			t.Fatalf("err %v, want one naming the variable", err)
		}
	})
}

func TestSSHBecome(t *testing.T) {
	needRoot(t)
	s := sshtest.Start(t)
	p := newPool(t)
	ctx := testCtx(t)
	tg := target(t, p, s.Config("node1"), "nobody")
	res := run(t, tg, transport.Cmd{Argv: []string{"id", "-un"}})
	if strings.TrimSpace(string(res.Stdout)) != "nobody" {
		t.Fatalf("id -un as become nobody: %q %q", res.Stdout, res.Stderr)
	}
	res = run(t, tg, transport.Cmd{Argv: []string{"sh", "-c", `printf %s "$X|$LC_ALL"`}, Env: map[string]string{"X": "it's $y"}})
	if string(res.Stdout) != "it's $y|C.UTF-8" {
		t.Fatalf("env through sudo: %q", res.Stdout)
	}
	dir := sharedDir(t)
	f := filepath.Join(dir, "by-nobody")
	if err := tg.WriteFile(ctx, f, []byte("x"), transport.Attrs{}); err != nil {
		t.Fatal(err)
	}
	fi, err := tg.Stat(ctx, f)
	if err != nil || fi.Owner != "nobody" || fi.Mode != 0o644 {
		t.Fatalf("file written as nobody: %+v %v", fi, err)
	}
	if err := tg.Mkdir(ctx, filepath.Join(dir, "d/e"), transport.Attrs{}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := tg.Stat(ctx, filepath.Join(dir, "d/e")); fi.Owner != "nobody" || !fi.IsDir || fi.Mode != 0o755 {
		t.Fatalf("dir made as nobody: %+v", fi)
	}
	// nobody may not write where root owns the directory.
	err = tg.WriteFile(ctx, "/root/pgplay-test-denied", []byte("x"), transport.Attrs{})
	if err == nil || !strings.Contains(err.Error(), "as nobody") {
		t.Fatalf("write to /root as nobody: %v", err)
	}
	// become root when logged in as root: no sudo, same connection.
	rt := target(t, p, s.Config("node1"), "root")
	res = run(t, rt, transport.Cmd{Argv: []string{"id", "-un"}})
	if strings.TrimSpace(string(res.Stdout)) != "root" {
		t.Fatalf("become root: %q", res.Stdout)
	}
	if st := p.Stats(); st.Dials != 1 {
		t.Fatalf("dials %d, want 1", st.Dials)
	}
}

func TestSSHBecomeUnknownUser(t *testing.T) {
	needRoot(t)
	s := sshtest.Start(t)
	tg := target(t, newPool(t), s.Config("node1"), "no-such-user-pgplay")
	want := "host node1: become user no-such-user-pgplay: no such user on the host"
	_, err := tg.Query(testCtx(t), transport.Cmd{Argv: []string{"true"}})
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Query: %v", err)
	}
	// The SFTP session as that user fails the same way.
	_, err = tg.Stat(testCtx(t), "/")
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Stat: %v", err)
	}
}

func TestSSHFiles(t *testing.T) {
	needRoot(t)
	s := sshtest.Start(t)
	p := newPool(t)
	ctx := testCtx(t)
	tg := target(t, p, s.Config("node1"), "")
	dir := sharedDir(t)
	f := filepath.Join(dir, "conf")

	t.Run("stat absent", func(t *testing.T) {
		fi, err := tg.Stat(ctx, filepath.Join(dir, "absent"))
		if err != nil || fi.Exists {
			t.Fatalf("%+v %v", fi, err)
		}
	})
	t.Run("new file", func(t *testing.T) {
		data := []byte("a = 'b'\n$x\n")
		if err := tg.WriteFile(ctx, f, data, transport.Attrs{}); err != nil {
			t.Fatal(err)
		}
		got, err := tg.ReadFile(ctx, f)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read back %q %v", got, err)
		}
		fi, err := tg.Stat(ctx, f)
		if err != nil || !fi.Exists || fi.IsDir || fi.Mode != 0o644 || fi.Size != int64(len(data)) ||
			fi.Owner != "root" || fi.Group != "root" || fi.UID != 0 {
			t.Fatalf("stat %+v %v", fi, err)
		}
	})
	t.Run("large file", func(t *testing.T) {
		data := make([]byte, 3<<20+17)
		if _, err := rand.Read(data); err != nil {
			t.Fatal(err)
		}
		g := filepath.Join(dir, "large")
		if err := tg.WriteFile(ctx, g, data, transport.Attrs{}); err != nil {
			t.Fatal(err)
		}
		got, err := tg.ReadFile(ctx, g)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read back %d bytes (%v), want the %d written", len(got), err, len(data))
		}
		if b, _ := os.ReadFile(g); !bytes.Equal(b, data) {
			t.Fatal("file on disk differs")
		}
	})
	t.Run("mode and owner", func(t *testing.T) {
		if err := tg.WriteFile(ctx, f, []byte("v2"), transport.Attrs{Mode: 0o640, Owner: "nobody", Group: "nogroup"}); err != nil {
			t.Fatal(err)
		}
		fi, _ := tg.Stat(ctx, f)
		if fi.Mode != 0o640 || fi.Owner != "nobody" || fi.Group != "nogroup" || fi.UID != 65534 {
			t.Fatalf("stat %+v", fi)
		}
	})
	t.Run("replace keeps mode and owner", func(t *testing.T) {
		if err := tg.WriteFile(ctx, f, []byte("v3"), transport.Attrs{}); err != nil {
			t.Fatal(err)
		}
		fi, _ := tg.Stat(ctx, f)
		if fi.Mode != 0o640 || fi.Owner != "nobody" || fi.Group != "nogroup" {
			t.Fatalf("stat %+v", fi)
		}
	})
	t.Run("setuid bits", func(t *testing.T) {
		g := filepath.Join(dir, "suid")
		if err := tg.WriteFile(ctx, g, []byte("#!/bin/sh\n"), transport.Attrs{Mode: 0o4755}); err != nil {
			t.Fatal(err)
		}
		if fi, _ := tg.Stat(ctx, g); fi.Mode != 0o4755 {
			t.Fatalf("mode %o", fi.Mode)
		}
	})
	t.Run("unknown owner leaves old file", func(t *testing.T) {
		err := tg.WriteFile(ctx, f, []byte("v4"), transport.Attrs{Owner: "no-such-user-pgplay"})
		if err == nil || !strings.Contains(err.Error(), `no user "no-such-user-pgplay"`) {
			t.Fatalf("err %v", err)
		}
		assertFile(t, f, "v3")
		assertNoTemp(t, dir)
	})
	t.Run("failed chown removes temp file", func(t *testing.T) {
		// nobody may not give a file to root: chown fails after the
		// temporary file was written.
		nb := target(t, p, s.Config("node1"), "nobody")
		g := filepath.Join(dir, "nobodys")
		if err := nb.WriteFile(ctx, g, []byte("old"), transport.Attrs{}); err != nil {
			t.Fatal(err)
		}
		err := nb.WriteFile(ctx, g, []byte("new"), transport.Attrs{Owner: "root"})
		if err == nil || !strings.Contains(err.Error(), "chown") {
			t.Fatalf("err %v, want a chown failure", err)
		}
		assertFile(t, g, "old")
		assertNoTemp(t, dir)
	})
	t.Run("write over directory", func(t *testing.T) {
		err := tg.WriteFile(ctx, dir, []byte("x"), transport.Attrs{})
		if err == nil || !strings.Contains(err.Error(), "is a directory") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("relative path", func(t *testing.T) {
		if _, err := tg.Stat(ctx, "etc/passwd"); err == nil || !strings.Contains(err.Error(), "not absolute") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("set attrs", func(t *testing.T) {
		if err := tg.SetAttrs(ctx, f, transport.Attrs{Mode: 0o600, Owner: "root"}); err != nil {
			t.Fatal(err)
		}
		fi, _ := tg.Stat(ctx, f)
		if fi.Mode != 0o600 || fi.Owner != "root" || fi.Group != "nogroup" {
			t.Fatalf("stat %+v", fi)
		}
		if err := tg.SetAttrs(ctx, filepath.Join(dir, "absent"), transport.Attrs{Mode: 0o600}); err == nil {
			t.Fatal("SetAttrs of an absent path: want an error")
		}
	})
	t.Run("mkdir", func(t *testing.T) {
		d := filepath.Join(dir, "a/b/c")
		if err := tg.Mkdir(ctx, d, transport.Attrs{Mode: 0o2750, Group: "nogroup"}); err != nil {
			t.Fatal(err)
		}
		for _, x := range []string{"a", "a/b", "a/b/c"} {
			fi, _ := tg.Stat(ctx, filepath.Join(dir, x))
			if !fi.IsDir || fi.Mode != 0o2750 || fi.Group != "nogroup" {
				t.Fatalf("%s: %+v", x, fi)
			}
		}
		if err := tg.Mkdir(ctx, d, transport.Attrs{}); err != nil {
			t.Fatalf("mkdir of an existing dir: %v", err)
		}
		if err := tg.Mkdir(ctx, f+"/sub", transport.Attrs{}); err == nil || !strings.Contains(err.Error(), "not a directory") {
			t.Fatalf("mkdir under a file: %v", err)
		}
	})
	t.Run("symlink", func(t *testing.T) {
		l := filepath.Join(dir, "link")
		if err := tg.Symlink(ctx, "conf", l); err != nil {
			t.Fatal(err)
		}
		if err := tg.Symlink(ctx, "/etc/hostname", l); err != nil {
			t.Fatalf("replace link: %v", err)
		}
		fi, err := tg.Stat(ctx, l)
		if err != nil || !fi.IsLink || fi.LinkTarget != "/etc/hostname" {
			t.Fatalf("stat %+v %v", fi, err)
		}
		assertNoTemp(t, dir)
	})
	t.Run("remove", func(t *testing.T) {
		if err := tg.Remove(ctx, filepath.Join(dir, "a")); err != nil {
			t.Fatal(err)
		}
		if err := tg.Remove(ctx, filepath.Join(dir, "link")); err != nil {
			t.Fatal(err)
		}
		if err := tg.Remove(ctx, filepath.Join(dir, "absent")); err != nil {
			t.Fatalf("remove absent: %v", err)
		}
		for _, x := range []string{"a", "link"} {
			if _, err := os.Lstat(filepath.Join(dir, x)); !os.IsNotExist(err) {
				t.Fatalf("%s still there: %v", x, err)
			}
		}
		if _, err := os.Stat("/etc/hostname"); err != nil {
			t.Fatalf("link target removed: %v", err)
		}
	})
	t.Run("read absent", func(t *testing.T) {
		_, err := tg.ReadFile(ctx, filepath.Join(dir, "absent"))
		if !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("err %v, want ErrNotExist", err)
		}
	})
}

func assertFile(t *testing.T, path, want string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || string(b) != want {
		t.Fatalf("%s: %q %v, want %q", path, b, err, want)
	}
}

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range des {
		if strings.Contains(d.Name(), ".pgplay-") {
			t.Fatalf("temporary file left behind: %s", d.Name())
		}
	}
}

func TestHostKeyUnknownRefused(t *testing.T) {
	s := sshtest.Start(t, sshtest.EmptyKnownHosts())
	_, err := newPool(t).Target(testCtx(t), s.Config("node1"), "")
	if !errors.Is(err, transport.ErrUnreachable) {
		t.Fatalf("err %v, want ErrUnreachable", err)
	}
	msg := err.Error()
	for _, want := range []string{"node1", "unknown host key", ssh.FingerprintSHA256(s.HostKey), "ssh-ed25519",
		fmt.Sprintf("ssh-keyscan -p %d 127.0.0.1 >> %s", s.Port, s.KnownHostsFile), "--accept-new-host-keys"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
}

// The host has an ECDSA and an ed25519 key; known_hosts knows only the
// ed25519 one. Go's x/crypto prefers ECDSA, so without HostKeyAlgorithms
// set from known_hosts the client would report a changed key (LAB.md).
func TestHostKeyAlgorithmsFromKnownHosts(t *testing.T) {
	s := sshtest.Start(t, sshtest.ExtraECDSAHostKey())
	run(t, target(t, newPool(t), s.Config("node1"), ""), transport.Cmd{Argv: []string{"true"}})
}

func TestHostKeyAcceptNew(t *testing.T) {
	s := sshtest.Start(t)
	cfg := s.Config("node1")
	kh := filepath.Join(t.TempDir(), "sub", "known_hosts") // absent: created
	cfg.KnownHostsFiles = []string{kh}
	cfg.AcceptNewHostKeys = true
	run(t, target(t, newPool(t), cfg, ""), transport.Cmd{Argv: []string{"true"}})
	fi, err := os.Stat(kh)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("known_hosts: %v %v", fi, err)
	}
	b, _ := os.ReadFile(kh)
	if !strings.Contains(string(b), fmt.Sprintf("[127.0.0.1]:%d ssh-ed25519 ", s.Port)) {
		t.Fatalf("known_hosts holds %q", b)
	}
	// Now known: a strict connection works.
	cfg.AcceptNewHostKeys = false
	run(t, target(t, newPool(t), cfg, ""), transport.Cmd{Argv: []string{"true"}})
	if b2, _ := os.ReadFile(kh); !bytes.Equal(b, b2) {
		t.Fatalf("known_hosts changed on the second connection: %q", b2)
	}
}

func TestHostKeyChangedRefused(t *testing.T) {
	s := sshtest.Start(t)
	old := s.HostKey
	newKey := s.RotateHostKey(t)
	cfg := s.Config("node1")
	cfg.AcceptNewHostKeys = true
	_, err := newPool(t).Target(testCtx(t), cfg, "")
	if !errors.Is(err, transport.ErrUnreachable) {
		t.Fatalf("err %v, want ErrUnreachable", err)
	}
	msg := err.Error()
	for _, want := range []string{"HOST KEY", "CHANGED", "man-in-the-middle", ssh.FingerprintSHA256(newKey),
		ssh.FingerprintSHA256(old), "even with --accept-new-host-keys", "ssh-keygen -R"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if b, _ := os.ReadFile(s.KnownHostsFile); strings.Contains(string(b), string(ssh.MarshalAuthorizedKey(newKey))[:40]) {
		t.Fatal("the changed key was written to known_hosts")
	}
}

func TestUnreachablePort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cfg := transport.Config{Name: "node9", Addr: "127.0.0.1", Port: port, SSHConfigFile: "none",
		KnownHostsFiles: []string{filepath.Join(t.TempDir(), "kh")}}
	start := time.Now()
	_, err = newPool(t).Target(testCtx(t), cfg, "")
	if !errors.Is(err, transport.ErrUnreachable) {
		t.Fatalf("err %v, want ErrUnreachable", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %s", d)
	}
	if msg := err.Error(); !strings.Contains(msg, "node9") || !strings.Contains(msg, fmt.Sprintf("127.0.0.1:%d", port)) ||
		!strings.Contains(msg, "refused") {
		t.Fatalf("message: %s", msg)
	}
}

func TestHandshakeTimeout(t *testing.T) {
	// Accepts connections and never speaks.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	cfg := transport.Config{Name: "node9", Addr: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, SSHConfigFile: "none",
		KnownHostsFiles: []string{filepath.Join(t.TempDir(), "kh")}, ConnectTimeout: 300 * time.Millisecond}
	start := time.Now()
	_, err = newPool(t).Target(testCtx(t), cfg, "")
	if !errors.Is(err, transport.ErrUnreachable) || !strings.Contains(err.Error(), "timed out after 300ms") {
		t.Fatalf("err %v, want a timeout wrapping ErrUnreachable", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %s", d)
	}

	// Canceling the context stops the dial; that is not an unreachable host.
	cfg.ConnectTimeout = 10 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	_, err = newPool(t).Target(ctx, cfg, "")
	if !errors.Is(err, context.Canceled) || errors.Is(err, transport.ErrUnreachable) {
		t.Fatalf("err %v, want context.Canceled and not ErrUnreachable", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("cancel took %s", d)
	}
}

func TestAuthFailure(t *testing.T) {
	s := sshtest.Start(t)
	t.Setenv("SSH_AUTH_SOCK", "")
	t.Setenv("HOME", t.TempDir())
	cfg := s.Config("node1")
	other := filepath.Join(t.TempDir(), "other_key")
	writeNewKey(t, other)
	cfg.KeyFiles = []string{other, filepath.Join(t.TempDir(), "missing_key")}
	_, err := newPool(t).Target(testCtx(t), cfg, "")
	if !errors.Is(err, transport.ErrUnreachable) {
		t.Fatalf("err %v, want ErrUnreachable", err)
	}
	for _, want := range []string{"authentication failed", other, "missing_key", "authorized_keys"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q: %v", want, err)
		}
	}
}

func writeNewKey(t *testing.T, path string) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(b), 0o600); err != nil {
		t.Fatal(err)
	}
	return priv
}

func TestConnectionReused(t *testing.T) {
	needRoot(t)
	s := sshtest.Start(t)
	p := newPool(t)
	// 20 hosts' worth of sessions, half of them through sudo: ~16 s on a
	// quiet machine, more while other packages' tests run.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			become := ""
			if i%2 == 1 {
				become = "nobody"
			}
			tg, err := p.Target(ctx, s.Config("node1"), become)
			if err != nil {
				errs <- err
				return
			}
			if _, err := tg.Query(ctx, transport.Cmd{Argv: []string{"true"}}); err != nil {
				errs <- err
			}
			if _, err := tg.Stat(ctx, "/etc/passwd"); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := p.Stats()
	if st.Dials != 1 || st.SFTPSessions != 2 || st.Commands < 20 {
		t.Fatalf("stats %+v: want 1 dial, 2 SFTP sessions (login user and nobody), >= 20 commands", st)
	}
	if n := s.AcceptedLogins(); n != 1 {
		t.Fatalf("sshd accepted %d logins, want 1", n)
	}
}

func TestSSHConfigMissing(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no_config")
	_, err := newPool(t).Target(testCtx(t), transport.Config{Name: "node1", SSHConfigFile: missing}, "")
	if err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "node1") {
		t.Fatalf("err %v, want one naming the host and the file", err)
	}
}

func TestSSHConfigHonored(t *testing.T) {
	s := sshtest.Start(t)
	t.Setenv("HOME", t.TempDir()) // no real ~/.ssh
	t.Setenv("SSH_AUTH_SOCK", "")
	conf := filepath.Join(t.TempDir(), "ssh_config")
	writeConfig(t, conf, fmt.Sprintf(`
Host myalias
  HostName 127.0.0.1
  Port %d
  User %s
  IdentityFile %s
  UserKnownHostsFile %s

Host *
  User nobody-wrong
`, s.Port, s.User, s.ClientKeyFile, s.KnownHostsFile))
	tg := target(t, newPool(t), transport.Config{Name: "myalias", SSHConfigFile: conf}, "")
	res := run(t, tg, transport.Cmd{Argv: []string{"id", "-un"}})
	if strings.TrimSpace(string(res.Stdout)) != s.User || tg.Host() != "myalias" {
		t.Fatalf("id -un: %q (host %s)", res.Stdout, tg.Host())
	}
}

func writeConfig(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestSSHAgentAuth(t *testing.T) {
	s := sshtest.Start(t)
	t.Setenv("HOME", t.TempDir()) // no default key files
	serveAgent(t, s.ClientKey)
	cfg := s.Config("node1")
	cfg.KeyFiles = nil
	res := run(t, target(t, newPool(t), cfg, ""), transport.Cmd{Argv: []string{"echo", "ok"}})
	if string(res.Stdout) != "ok\n" {
		t.Fatalf("stdout %q", res.Stdout)
	}
	if !strings.Contains(s.Log(), "Accepted publickey for "+s.User) {
		t.Fatalf("sshd log shows no publickey login:\n%s", s.Log())
	}
}

func TestProxyJump(t *testing.T) {
	s := sshtest.Start(t)
	t.Setenv("HOME", t.TempDir())
	t.Setenv("SSH_AUTH_SOCK", "")
	conf := filepath.Join(t.TempDir(), "ssh_config")
	writeConfig(t, conf, fmt.Sprintf(`
Host jump
  HostName 127.0.0.1
  Port %[1]d
  User %[2]s
  IdentityFile %[3]s

Host behind
  HostName 127.0.0.1
  Port %[1]d
  User %[2]s
  IdentityFile %[3]s
  ProxyJump jump,%[2]s@127.0.0.1:%[1]d
`, s.Port, s.User, s.ClientKeyFile))
	p := newPool(t)
	cfg := transport.Config{Name: "behind", SSHConfigFile: conf, KnownHostsFiles: []string{s.KnownHostsFile},
		KeyFiles: []string{s.ClientKeyFile}}
	tg := target(t, p, cfg, "")
	res := run(t, tg, transport.Cmd{Argv: []string{"echo", "through"}})
	if string(res.Stdout) != "through\n" {
		t.Fatalf("stdout %q", res.Stdout)
	}
	if _, err := tg.Stat(testCtx(t), "/"); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Dials != 3 {
		t.Fatalf("dials %d, want 3 (two jump hops and the host)", st.Dials)
	}
	if n := s.AcceptedLogins(); n != 3 {
		t.Fatalf("sshd accepted %d logins, want 3", n)
	}
}

func TestCancelStopsCommand(t *testing.T) {
	needRoot(t)
	s := sshtest.Start(t)
	p := newPool(t)
	for _, tc := range []struct{ become, sleep string }{{"", "31.7"}, {"nobody", "31.8"}} {
		t.Run("become="+tc.become, func(t *testing.T) {
			tg := target(t, p, s.Config("node1"), tc.become)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := tg.Query(ctx, transport.Cmd{Argv: []string{"sleep", tc.sleep}})
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err %v, want DeadlineExceeded", err)
			}
			// Long before the command would end (31 s). Stopping it
			// waits for its pid, a TERM and then a KILL (up to a second
			// each, sudo for become): a few seconds on a loaded machine.
			if d := time.Since(start); d > 10*time.Second {
				t.Fatalf("returned after %s", d)
			}
			// The remote process is gone (sshd runs on this machine).
			deadline := time.Now().Add(5 * time.Second)
			for {
				out, _ := exec.Command("ps", "-eo", "args").Output()
				if !strings.Contains(string(out), "sleep "+tc.sleep) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("sleep %s still running", tc.sleep)
				}
				time.Sleep(50 * time.Millisecond)
			}
			// The connection still works.
			run(t, tg, transport.Cmd{Argv: []string{"true"}})
		})
	}
}

func TestDroppedConnection(t *testing.T) {
	s := sshtest.Start(t)
	px := startProxy(t, s.Addr())
	cfg := s.Config("node1")
	cfg.Port = px.Port
	cfg.KnownHostsFiles = []string{filepath.Join(t.TempDir(), "kh")}
	cfg.AcceptNewHostKeys = true
	p := newPool(t)
	tg := target(t, p, cfg, "")
	run(t, tg, transport.Cmd{Argv: []string{"true"}})
	px.Cut()
	time.Sleep(100 * time.Millisecond)
	_, err := tg.Query(testCtx(t), transport.Cmd{Argv: []string{"true"}})
	if !errors.Is(err, transport.ErrUnreachable) || !strings.Contains(err.Error(), "lost") {
		t.Fatalf("err %v, want ErrUnreachable (connection lost)", err)
	}
	if _, err := tg.Stat(testCtx(t), "/"); !errors.Is(err, transport.ErrUnreachable) {
		t.Fatalf("stat: err %v, want ErrUnreachable", err)
	}
	// The next Target connects again.
	run(t, target(t, p, cfg, ""), transport.Cmd{Argv: []string{"true"}})
	if st := p.Stats(); st.Dials != 2 {
		t.Fatalf("dials %d, want 2", st.Dials)
	}
}

func TestKeepAliveDetectsDeadPeer(t *testing.T) {
	s := sshtest.Start(t)
	px := startProxy(t, s.Addr())
	cfg := s.Config("node1")
	cfg.Port = px.Port
	cfg.KnownHostsFiles = []string{filepath.Join(t.TempDir(), "kh")}
	cfg.AcceptNewHostKeys = true
	cfg.KeepAlive = 100 * time.Millisecond
	tg := target(t, newPool(t), cfg, "")
	run(t, tg, transport.Cmd{Argv: []string{"true"}})
	px.Freeze()
	start := time.Now()
	_, err := tg.Query(testCtx(t), transport.Cmd{Argv: []string{"true"}})
	if !errors.Is(err, transport.ErrUnreachable) || !strings.Contains(err.Error(), "keepalive") {
		t.Fatalf("err %v, want ErrUnreachable from missed keepalives", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %s", d)
	}
}

func TestPoolClose(t *testing.T) {
	s := sshtest.Start(t)
	p := transport.NewPool()
	tg := target(t, p, s.Config("node1"), "")
	run(t, tg, transport.Cmd{Argv: []string{"true"}})
	if _, err := tg.Stat(testCtx(t), "/"); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := tg.Query(testCtx(t), transport.Cmd{Argv: []string{"true"}}); err == nil {
		t.Fatal("Query after Close: want an error")
	}
	if _, err := p.Target(testCtx(t), s.Config("node1"), ""); err == nil {
		t.Fatal("Target after Close: want an error")
	}
}

// serveAgent runs an ssh-agent holding key on a socket for the test and
// points SSH_AUTH_SOCK at it.
func serveAgent(t *testing.T, key any) {
	t.Helper()
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: key}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _ = agent.ServeAgent(keyring, c) }()
		}
	}()
	t.Setenv("SSH_AUTH_SOCK", sock)
}
