package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// restore.yaml refuses a target that is part of the cluster, a missing
// one and a target_time it cannot read, before it runs anything on a
// host: the nodes' addresses are unroutable, the barman host is local.
func TestRestoreRefusesBeforeAnyChange(t *testing.T) {
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.yaml")
	writeFiles(t, dir, map[string]string{"inventory.yaml": `all:
  vars: {vip: 192.0.2.100, vip_interface: eth0, lab_network: 192.0.2.0/24}
  children:
    postgres:
      hosts:
        node1: {ssh_host: 192.0.2.11, pg_role: primary, repmgr_node_id: 1, keepalived_priority: 150}
    barman:
      hosts:
        backup1: {ansible_connection: local}
    spare:
      hosts:
        spare1: {ssh_host: 192.0.2.21}
`})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-e", "target=node1"}, "target=node1 is a node of the cluster (group postgres): restore.yaml restores onto a spare host"},
		{[]string{"-e", "target=backup1"}, "target=backup1 is the barman host"},
		{nil, "target=: name the host to restore onto, a host of the inventory outside the postgres and barman groups (e.g. spare1)"},
		{[]string{"-e", "target=spare2"}, "target=spare2: name the host to restore onto"},
		{[]string{"-e", "target=spare1", "-e", "target_time=yesterday"}, "target_time=yesterday: not a time to recover to; write it with its time zone"},
		{[]string{"-e", "target=spare1", "-e", "target_time='2026-12-03 10:00:00'"}, "not a time to recover to"},
	} {
		code, out, errOut := cli(t, append([]string{"run", "playbooks/restore.yaml", "-i", inv}, tc.args...)...)
		if code != 2 || !strings.Contains(out, tc.want) || !strings.Contains(out, "Nothing was changed.") {
			t.Errorf("restore.yaml %v: exit %d, want 2 and a refusal saying %q\n%s%s", tc.args, code, tc.want, out, errOut)
		}
		if r := recap(t, out)["backup1"]; r[1] != 0 {
			t.Errorf("restore.yaml %v: backup1 changed=%d, want 0\n%s", tc.args, r[1], out)
		}
	}
}
