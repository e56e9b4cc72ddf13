package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgplay/pgplay/internal/sshtest"
)

// TestSSHConfigAnsibleHostAndVerbose: an Ansible inventory that gives a
// host only ansible_host reaches it with the `Host 127.0.0.*` block of
// its ssh_config (as `ssh 127.0.0.1` would), and -vvv tells how: the
// address, user, ssh_config block applied, keys offered and known_hosts.
func TestSSHConfigAnsibleHostAndVerbose(t *testing.T) {
	srv := sshtest.Start(t)
	t.Setenv("SSH_AUTH_SOCK", "")
	dir := t.TempDir()
	conf := filepath.Join(dir, "ssh_config")
	writeFiles(t, dir, map[string]string{
		"ssh_config": fmt.Sprintf("Host web1\n  User wrong\nHost 127.0.0.*\n  User %s\n  Port %d\n  IdentityFile %s\n  UserKnownHostsFile %s\n",
			srv.User, srv.Port, srv.ClientKeyFile, srv.KnownHostsFile),
		"inv.yaml":  "all:\n  hosts:\n    web1:\n      ansible_host: 127.0.0.1\n      ssh_config: " + conf + "\n",
		"play.yaml": "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: \"true\"\n",
	})
	args := []string{"run", filepath.Join(dir, "play.yaml"), "-i", filepath.Join(dir, "inv.yaml")}
	code, out, errs := cli(t, append(args, "-vvv")...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	hop := fmt.Sprintf("%s@127.0.0.1:%d", srv.User, srv.Port)
	for _, want := range []string{
		"<web1> SSH host 127.0.0.1: connecting to " + hop + " directly",
		"<web1> ssh_config applied " + conf + ":3: Host 127.0.0.*",
		"<web1> offering keys: " + srv.ClientKeyFile,
		"<web1> known_hosts: " + srv.KnownHostsFile,
		"<web1> connected to 127.0.0.1:",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("-vvv output lacks %q:\n%s", want, out)
		}
	}
	if code, out, errs = cli(t, args...); code != 0 || strings.Contains(out, "ssh_config applied") {
		t.Fatalf("without -vvv: exit %d, want 0 and no connection details\n%s\n%s", code, out, errs)
	}
}

// TestVerboseConnectionRunAndStatus: `run -vvv` and `status -vvv` show how
// a host is reached, in the same lines (formatted in one place, the
// transport): the address dialed and the user, the jump host it goes
// through, the keys offered and the known_hosts file, for a host behind
// a ProxyJump of its ssh_config on a real sshd. status writes them to
// stderr, so its table or JSON on stdout stays as it is.
func TestVerboseConnectionRunAndStatus(t *testing.T) {
	srv := sshtest.Start(t)
	t.Setenv("SSH_AUTH_SOCK", "")
	dir := t.TempDir()
	conf := filepath.Join(dir, "ssh_config")
	common := fmt.Sprintf("  HostName 127.0.0.1\n  User %s\n  Port %d\n  IdentityFile %s\n  UserKnownHostsFile %s\n",
		srv.User, srv.Port, srv.ClientKeyFile, srv.KnownHostsFile)
	writeFiles(t, dir, map[string]string{
		"ssh_config": "Host hop\n" + common + "Host db1\n" + common + "  ProxyJump hop\n",
		"inv.yaml":   "all:\n  children:\n    postgres:\n      hosts:\n        db1:\n          ssh_config: " + conf + "\n",
		"play.yaml":  "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: \"true\"\n",
	})
	inv := filepath.Join(dir, "inv.yaml")
	hop := fmt.Sprintf("%s@127.0.0.1:%d", srv.User, srv.Port)
	want := []string{
		"<db1> SSH host db1: connecting to " + hop + " through the jump host before it",
		"<db1> SSH jump host hop: connecting to " + hop + " directly",
		"<db1> jump hosts: " + hop,
		"<db1> ssh_config files read: " + conf,
		"<db1> offering keys: " + srv.ClientKeyFile,
		"<db1> known_hosts: " + srv.KnownHostsFile,
		fmt.Sprintf("<db1> connected to 127.0.0.1:%d as %s", srv.Port, srv.User),
	}
	check := func(what, got string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("%s lacks %q:\n%s", what, w, got)
			}
		}
	}

	code, out, errs := cli(t, "run", filepath.Join(dir, "play.yaml"), "-i", inv, "-vvv")
	if code != 0 {
		t.Fatalf("run -vvv: exit %d\n%s\n%s", code, out, errs)
	}
	check("run -vvv", out)

	// No PostgreSQL behind this sshd: status reports the node down, but
	// it connected, and -vvv says how.
	_, out, errs = cli(t, "status", "-i", inv, "-vvv", "--output", "json")
	check("status -vvv (stderr)", errs)
	if !json.Valid([]byte(out)) {
		t.Errorf("status -vvv --output json: stdout is not JSON alone:\n%s", out)
	}
	if _, out, errs = cli(t, "status", "-i", inv); strings.Contains(out+errs, "offering keys") {
		t.Errorf("status without -vvv shows connection details:\n%s\n%s", out, errs)
	}
}
