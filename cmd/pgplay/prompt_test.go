package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pgplay/pgplay/internal/sshtest"
)

// openPTY returns a pseudo-terminal's controlling side and its terminal,
// which pgplay reads as its standard input.
func openPTY(t *testing.T) (ctl, tty *os.File) {
	t.Helper()
	ctl, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctl.Close() })
	if err := unix.IoctlSetPointerInt(int(ctl.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ctl.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	// Drain what the terminal echoes, so that it never blocks.
	go func() {
		b := make([]byte, 4096)
		for {
			if _, err := ctl.Read(b); err != nil {
				return
			}
		}
	}()
	return ctl, tty
}

// cliTTY runs pgplay with a terminal as standard input, on which typed is
// typed.
func cliTTY(t *testing.T, typed string, args ...string) (int, string, string) {
	t.Helper()
	ctl, tty := openPTY(t)
	if _, err := ctl.WriteString(typed); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := runWithInput(ctx, args, tty, &out, &errb)
	return code, out.String(), errb.String()
}

// sudoPasswordUser creates a user who may sudo to anyone with its
// password, and an inventory logging in as it to a real sshd.
func sudoPasswordUser(t *testing.T, password string) (inv string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test creates a user (useradd) and a sudoers file; CI runs as root")
	}
	var rb [4]byte
	_, _ = rand.Read(rb[:])
	user := "pgplay-k" + hex.EncodeToString(rb[:])
	if out, err := exec.Command("useradd", "-M", "-d", "/", "-s", "/bin/sh", user).CombinedOutput(); err != nil {
		t.Fatalf("useradd: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("userdel", "-f", user).Run() })
	cp := exec.Command("chpasswd")
	cp.Stdin = strings.NewReader(user + ":" + password + "\n")
	if out, err := cp.CombinedOutput(); err != nil {
		t.Fatalf("chpasswd: %v: %s", err, out)
	}
	sudoers := "/etc/sudoers.d/" + user // no dot: sudo reads it
	if err := os.WriteFile(sudoers, []byte(user+" ALL=(ALL:ALL) ALL\n"), 0o440); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(sudoers) })

	srv := sshtest.Start(t)
	for _, d := range []string{filepath.Dir(srv.Dir), srv.Dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(srv.Dir, "authorized_keys"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := srv.Config("a")
	dir := t.TempDir()
	inv = filepath.Join(dir, "inv.yaml")
	writeFiles(t, dir, map[string]string{"inv.yaml": fmt.Sprintf(
		"all:\n  hosts:\n    a:\n      ssh_host: %s\n      ssh_port: %d\n      ssh_user: %s\n      ssh_key: %s\n      ssh_known_hosts: %s\n      ssh_config: none\n",
		cfg.Addr, cfg.Port, user, cfg.KeyFiles[0], cfg.KnownHostsFiles[0])})
	return inv
}

// -K asks for the sudo password on the terminal and gives it to sudo
// where sudo wants one: commands and files (SFTP) as root work, and the
// password is in no output, even at -vvvv. A wrong password is refused
// with a clear message; without a terminal -K says what to do.
func TestAskBecomePass(t *testing.T) {
	const pw = "Pw-for-K-9x7!"
	inv := sudoPasswordUser(t, pw)
	shared := sharedDir(t)

	code, out, errs := cliTTY(t, pw+"\n", "exec", "a", "-i", inv, "-a", "id -un", "-b", "-K", "-vvvv")
	if code != 0 || !strings.Contains(out, "a | CHANGED | rc=0 >>\nroot\n") {
		t.Errorf("-K command as root: exit %d\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(errs, "BECOME password: ") {
		t.Errorf("no password prompt on stderr:\n%s", errs)
	}
	if strings.Contains(out+errs, pw) {
		t.Errorf("the password reached the output:\n%s\n%s", out, errs)
	}
	// A file as root (SFTP under sudo) and a command with its own stdin.
	dest := filepath.Join(shared, "by-root")
	code, out, errs = cliTTY(t, pw+"\n", "exec", "a", "-i", inv, "-m", "copy", "-a", "content=x dest="+dest, "-b", "-K", "--output", "json")
	if code != 0 {
		t.Errorf("-K copy: exit %d\n%s\n%s", code, out, errs)
	}
	if st, err := os.Stat(dest); err != nil || statUID(st) != 0 {
		t.Errorf("-K copy: %s not written as root (%v)", dest, err)
	}
	if strings.Contains(out+errs, pw) {
		t.Errorf("the password reached the JSON output:\n%s\n%s", out, errs)
	}
	code, out, errs = cliTTY(t, pw+"\n", "exec", "a", "-i", inv, "-m", "command", "-a", "stdin=hello cat", "-b", "-K")
	if code != 0 || !strings.Contains(out, "rc=0 >>\nhello\n") {
		t.Errorf("-K with the command's own stdin: exit %d\n%s\n%s", code, out, errs)
	}

	code, out, errs = cliTTY(t, "wrong-pw\n", "exec", "a", "-i", inv, "-a", "id -un", "-b", "-K")
	if code != exitHostFailed || !strings.Contains(out, "sudo refused the become password (-K or --become-password-file)") || strings.Contains(out+errs, "wrong-pw") {
		t.Errorf("wrong -K password: exit %d, want 2 and a clear message without the password\n%s\n%s", code, out, errs)
	}

	code, out, errs = cli(t, "exec", "a", "-i", inv, "-a", "id -un", "-b", "-K")
	if code != exitOptions || !strings.Contains(errs, "-K asks for the sudo password on a terminal") || !strings.Contains(errs, "NOPASSWD") {
		t.Errorf("-K without a terminal: exit %d\n%s\n%s", code, out, errs)
	}
}

// Where sudo needs no password, -K changes nothing: the password never
// reaches a command's standard input.
func TestAskBecomePassNotNeeded(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("become tests need root (sudo to nobody); CI runs as root")
	}
	l := newLab(t, []string{"a"}, "")
	code, out, errs := cliTTY(t, "unused-pw\n", "exec", "a", "-i", l.inv, "-m", "shell", "-a", "wc -c", "-b", "--become-user", "nobody", "-K")
	if code != 0 || !strings.Contains(out, "rc=0 >>\n0\n") {
		t.Errorf("-K with passwordless sudo: exit %d, want the command to read nothing\n%s\n%s", code, out, errs)
	}
}

// --become-password-file (ansible-playbook 2.12's) gives sudo the
// password read from a file, its trailing newline removed, on run, role
// and exec; the password is in no output, even at -vvvv. A wrong one is
// refused as -K's is; a missing, empty or executable file, and -K with
// the file, are bad options.
func TestBecomePasswordFile(t *testing.T) {
	const pw = "Pw-in-file-3q!"
	inv := sudoPasswordUser(t, pw)
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "become.txt")
	writeFiles(t, dir, map[string]string{
		"become.txt": pw + "\n",
		"wrong.txt":  "wrong-pw-7z\n",
		"empty.txt":  "\n",
		"site.yaml":  "- hosts: a\n  become: true\n  gather_facts: false\n  tasks:\n    - command: id -un\n      register: who\n    - assert:\n        that: [eq .who.stdout \"root\"]\n",
	})
	noPW := func(what, out, errs string) {
		t.Helper()
		if strings.Contains(out+errs, pw) {
			t.Errorf("%s: the password reached the output:\n%s\n%s", what, out, errs)
		}
	}

	code, out, errs := cli(t, "exec", "a", "-i", inv, "-a", "id -un", "-b", "--become-password-file", pwFile, "-vvvv")
	if code != 0 || !strings.Contains(out, "a | CHANGED | rc=0 >>\nroot\n") {
		t.Errorf("exec --become-password-file: exit %d\n%s\n%s", code, out, errs)
	}
	noPW("exec", out, errs)
	code, out, errs = cli(t, "run", filepath.Join(dir, "site.yaml"), "-i", inv, "--become-pass-file", pwFile, "--output", "json")
	if code != 0 {
		t.Errorf("run --become-pass-file: exit %d\n%s\n%s", code, out, errs)
	}
	noPW("run", out, errs)
	// role reads it too (a missing file says so).
	code, _, errs = cli(t, "role", "cluster", "-i", inv, "--become-password-file", filepath.Join(dir, "missing.txt"))
	if code != exitOptions || !strings.Contains(errs, "--become-password-file: open ") {
		t.Errorf("role --become-password-file: exit %d\n%s", code, errs)
	}
	// "-" is standard input.
	var ob, eb bytes.Buffer
	code = runWithInput(context.Background(), []string{"exec", "a", "-i", inv, "-a", "id -un", "-b", "--become-password-file", "-"}, strings.NewReader(pw+"\r\n"), &ob, &eb)
	if code != 0 || !strings.Contains(ob.String(), "rc=0 >>\nroot\n") {
		t.Errorf("--become-password-file -: exit %d\n%s\n%s", code, ob.String(), eb.String())
	}

	code, out, errs = cli(t, "exec", "a", "-i", inv, "-a", "id -un", "-b", "--become-password-file", filepath.Join(dir, "wrong.txt"))
	if code != exitHostFailed || !strings.Contains(out, "sudo refused the become password") || strings.Contains(out+errs, "wrong-pw-7z") {
		t.Errorf("wrong password in the file: exit %d, want 2 and a message without the password\n%s\n%s", code, out, errs)
	}
	exe := filepath.Join(dir, "pw.sh")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\necho "+pw+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--become-password-file", filepath.Join(dir, "missing.txt")}, "--become-password-file: open " + filepath.Join(dir, "missing.txt")},
		{[]string{"--become-password-file", filepath.Join(dir, "empty.txt")}, "the password is empty"},
		{[]string{"--become-password-file", exe}, "the file is executable"},
		{[]string{"--become-password-file", pwFile, "-K"}, "-K and --become-password-file both give the sudo password"},
	} {
		code, out, errs = cli(t, append([]string{"exec", "a", "-i", inv, "-a", "id -un", "-b"}, c.args...)...)
		if code != exitOptions || !strings.Contains(errs, c.want) || !strings.Contains(errs, "hint: ") {
			t.Errorf("%q: exit %d, want 5 and %q with a hint\n%s\n%s", c.args, code, c.want, out, errs)
		}
		noPW(fmt.Sprint(c.args), out, errs)
	}
}
