package transport_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgplay/pgplay/internal/sshtest"
	"github.com/pgplay/pgplay/internal/transport"
)

// sudoHost is a test sshd with a non-root login user (root never needs a
// password for sudo) whose sudoers entry is the test's.
type sudoHost struct {
	*sshtest.Server
	user string
}

// startSudoHost creates a login user (removed with the test) allowed by
// sudoers as the sudoers lines say (USER: the user), and an sshd that lets
// it in with the server's client key. The user has no home directory, so
// sshd writes "Could not chdir to home directory" on stderr before every
// command, as on a host whose home is missing. With warn, a sudo wrapper
// in the user's PATH (sshd's SetEnv) prints sudo's "unable to resolve
// host" warning before running the real sudo.
func startSudoHost(t *testing.T, sudoers string, warn bool) *sudoHost {
	t.Helper()
	needRoot(t)
	user := fmt.Sprintf("pgplay-st%d", os.Getpid()%100000)
	dir := sharedDir(t) // not t.TempDir: its parent is private to root
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sh(t, "userdel", "-f", user) // a previous run's, killed before its cleanup
	// No home directory; password "*": no password login, but not locked
	// (sshd refuses locked accounts when it does not use PAM).
	if out, err := exec.Command("useradd", "-M", "-d", "/nonexistent-"+user, "-s", "/bin/sh", "-p", "*", user).CombinedOutput(); err != nil {
		t.Fatalf("useradd: %v: %s", err, out)
	}
	t.Cleanup(func() { sh(t, "userdel", "-f", user) })
	sudoersFile := "/etc/sudoers.d/" + user // no dot: sudo skips names with one
	if err := os.WriteFile(sudoersFile, []byte(strings.ReplaceAll(sudoers, "USER", user)+"\n"), 0o440); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(sudoersFile) })
	if out, err := exec.Command("visudo", "-c", "-f", sudoersFile).CombinedOutput(); err != nil {
		t.Fatalf("sudoers line %q: %v: %s", sudoers, err, out)
	}

	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if warn {
		wrapper := "#!/bin/sh\necho 'sudo: unable to resolve host pgplay-test: Name or service not known' >&2\nexec /usr/bin/sudo \"$@\"\n"
		if err := os.WriteFile(filepath.Join(bin, "sudo"), []byte(wrapper), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	keys := filepath.Join(dir, "authorized_keys") // readable by the user: sshd reads it as the user
	s := sshtest.Start(t, sshtest.WithConfig(
		"Match User "+user,
		"  AuthorizedKeysFile "+keys,
		"  SetEnv PATH="+bin+":/usr/local/bin:/usr/bin:/bin",
	))
	b, err := os.ReadFile(filepath.Join(s.Dir, "authorized_keys"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keys, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return &sudoHost{Server: s, user: user}
}

func (h *sudoHost) config(name string) transport.Config {
	cfg := h.Config(name)
	cfg.User = h.user
	return cfg
}

// sh runs a command of the test's setup, ignoring its failure.
func sh(t *testing.T, argv ...string) {
	t.Helper()
	_ = exec.Command(argv[0], argv[1:]...).Run()
}

// wantPasswordError fails unless err is the clear "sudo wants a password"
// error for host node1, and it came within 3s.
func wantPasswordError(t *testing.T, what string, err error, took time.Duration) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want sudo's password refusal", what)
	}
	msg := err.Error()
	for _, want := range []string{"host node1", "become user nobody", "sudo", "password", "NOPASSWD", "sudoers"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%s: message lacks %q: %s", what, want, msg)
		}
	}
	if errors.Is(err, transport.ErrUnreachable) {
		t.Errorf("%s: %v is ErrUnreachable: the host answered", what, err)
	}
	if took > 3*time.Second {
		t.Errorf("%s: took %s, want a prompt failure", what, took)
	}
}

// sudo that wants a password fails at once with a clear error, for
// commands and for file operations (sftp-server under sudo), whatever
// noise the login and sudo print on stderr first.
func TestBecomeSudoWantsPassword(t *testing.T) {
	for _, warn := range []bool{false, true} {
		t.Run(fmt.Sprintf("warning=%t", warn), func(t *testing.T) {
			h := startSudoHost(t, "USER ALL=(ALL:ALL) ALL", warn)
			p := newPool(t)
			// The login user itself works, and the login's noise is not
			// the command's stderr.
			res := run(t, target(t, p, h.config("node1"), ""), transport.Cmd{Argv: []string{"sh", "-c", "id -un; echo oops >&2"}})
			if strings.TrimSpace(string(res.Stdout)) != h.user || string(res.Stderr) != "oops\n" {
				t.Fatalf("as the login user: stdout %q stderr %q, want %q and only the command's \"oops\"", res.Stdout, res.Stderr, h.user)
			}
			tg := target(t, p, h.config("node1"), "nobody")
			start := time.Now()
			_, err := tg.Query(testCtx(t), transport.Cmd{Argv: []string{"id", "-un"}})
			wantPasswordError(t, "Query", err, time.Since(start))
			start = time.Now()
			_, err = tg.Stat(testCtx(t), "/")
			wantPasswordError(t, "Stat", err, time.Since(start))
		})
	}
}

// sudo that refuses the command (the sudoers entry allows another one)
// fails with sudo's reason and what to change, after the same noise.
func TestBecomeSudoNotAllowed(t *testing.T) {
	// No authentication (sudo -n would otherwise ask for a password
	// before it says no).
	h := startSudoHost(t, "Defaults:USER !authenticate\nUSER ALL=(root) /bin/true", true)
	tg := target(t, newPool(t), h.config("node1"), "nobody")
	start := time.Now()
	_, err := tg.Query(testCtx(t), transport.Cmd{Argv: []string{"id", "-un"}})
	if err == nil {
		t.Fatal("no error, want sudo's refusal")
	}
	msg := err.Error()
	for _, want := range []string{"host node1", "become user nobody: sudo refused", "is not allowed to execute", "sudoers", "NOPASSWD"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q: %s", want, msg)
		}
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %s", d)
	}
}
