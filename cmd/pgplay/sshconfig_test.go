package main

import (
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
