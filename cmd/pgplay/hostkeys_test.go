package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgplay/pgplay/internal/sshtest"
	"golang.org/x/crypto/ssh"
)

// TestHostKeyTrustOnFirstUse walks a host through its key's life, as a
// user sees it: unknown (refused, with the fingerprint and the command to
// trust it), accepted with --accept-new-host-keys (recorded in
// known_hosts), known (no flag needed), changed (refused, even with the
// flag, and known_hosts left alone).
func TestHostKeyTrustOnFirstUse(t *testing.T) {
	srv := sshtest.Start(t, sshtest.EmptyKnownHosts())
	dir := t.TempDir()
	marker := filepath.Join(dir, "touched")
	writeFiles(t, dir, map[string]string{
		"inv.yaml":  inventoryFor(srv, ""),
		"play.yaml": "- hosts: all\n  tasks:\n    - command: touch " + marker + "\n",
	})
	args := []string{"run", filepath.Join(dir, "play.yaml"), "-i", filepath.Join(dir, "inv.yaml")}
	known := func() string {
		b, err := os.ReadFile(srv.KnownHostsFile)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	touched := func() bool {
		_, err := os.Stat(marker)
		os.Remove(marker)
		return err == nil
	}

	// Unknown: refused, nothing run, nothing recorded.
	code, out, errs := cli(t, args...)
	if code != 3 {
		t.Fatalf("unknown key: exit %d, want 3 (unreachable)\n%s\n%s", code, out, errs)
	}
	fp := ssh.FingerprintSHA256(srv.HostKey)
	for _, want := range []string{
		"unreachable: [a]", "unknown host key", fp,
		fmt.Sprintf("ssh-keyscan -p %d 127.0.0.1 >> %s", srv.Port, srv.KnownHostsFile),
		"--accept-new-host-keys",
	} {
		if !strings.Contains(out+errs, want) {
			t.Errorf("unknown key: output lacks %q:\n%s%s", want, out, errs)
		}
	}
	if touched() || known() != "" {
		t.Fatalf("unknown key: the task ran or known_hosts changed: %q", known())
	}

	// Trust on first use.
	code, out, errs = cli(t, append(args, "--accept-new-host-keys")...)
	if code != 0 || !touched() {
		t.Fatalf("--accept-new-host-keys: exit %d, task ran: false\n%s\n%s", code, out, errs)
	}
	if k := known(); !strings.Contains(k, fmt.Sprintf("[127.0.0.1]:%d", srv.Port)) || !strings.Contains(k, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(srv.HostKey)))) {
		t.Fatalf("known_hosts after --accept-new-host-keys: %q", k)
	}
	if st, err := os.Stat(srv.KnownHostsFile); err != nil || st.Mode().Perm()&0o022 != 0 {
		t.Errorf("known_hosts mode: %v %v", st.Mode(), err)
	}

	// Known now: no flag needed.
	if code, out, errs = cli(t, args...); code != 0 || !touched() {
		t.Fatalf("known key: exit %d\n%s\n%s", code, out, errs)
	}

	// Changed: refused with and without the flag; known_hosts untouched.
	before := known()
	old := ssh.FingerprintSHA256(srv.HostKey)
	newKey := srv.RotateHostKey(t)
	for _, extra := range [][]string{nil, {"--accept-new-host-keys"}} {
		code, out, errs = cli(t, append(append([]string(nil), args...), extra...)...)
		if code != 3 {
			t.Fatalf("changed key %v: exit %d, want 3\n%s\n%s", extra, code, out, errs)
		}
		for _, want := range []string{"HOST KEY OF", "HAS CHANGED", ssh.FingerprintSHA256(newKey), old, "ssh-keygen -R"} {
			if !strings.Contains(out+errs, want) {
				t.Errorf("changed key %v: output lacks %q:\n%s%s", extra, want, out, errs)
			}
		}
		if touched() {
			t.Fatalf("changed key %v: the task ran", extra)
		}
		if known() != before {
			t.Fatalf("changed key %v: known_hosts was modified:\n%s", extra, known())
		}
	}
}
