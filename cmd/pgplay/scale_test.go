package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The keepalived configuration the built-in templates render names every
// node of the postgres group but the one remove_node.yaml takes out
// (pg_leaving): unicast peers, the nodes pgplay's scripts ask (ha.conf's
// NODES) and the hosts pinged to tell isolation (WITNESSES). Without
// pg_leaving, every node is named.
func TestKeepalivedConfigWithoutLeavingNode(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"inv.yaml": `all:
  vars:
    ansible_connection: local
    vip: 198.51.100.100
    vip_interface: eth0
    lab_network: 198.51.100.0/24
  children:
    postgres:
      hosts:
        node1: {ssh_host: 198.51.100.11, pg_role: primary, repmgr_node_id: 1, keepalived_priority: 150}
        node2: {ssh_host: 198.51.100.12, pg_role: standby, repmgr_node_id: 2, keepalived_priority: 100}
        node3: {ssh_host: 198.51.100.13, pg_role: standby, repmgr_node_id: 3, keepalived_priority: 90}
`,
	})
	defaults, err := filepath.Abs("../../roles/keepalived/defaults/main.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The keepalived role's defaults and the cluster role's, without the
	// keepalived role's tasks.
	play := `- hosts: node1
  vars_files: [` + defaults + `]
  roles: [cluster]
  tasks:
    - template: {src: keepalived/ha.conf.tmpl, dest: "` + dir + `/ha.conf"}
    - template: {src: keepalived/keepalived.conf.tmpl, dest: "` + dir + `/keepalived.conf"}
`
	writeFiles(t, dir, map[string]string{"play.yaml": play})
	for _, tc := range []struct {
		leaving string
		want    []string
		not     []string
	}{
		{"", []string{"node2 2 198.51.100.12 100", "node3 3 198.51.100.13 90", "        198.51.100.13\n", "WITNESSES='198.51.100.12 198.51.100.13'"}, nil},
		{"node3", []string{"node2 2 198.51.100.12 100", "        198.51.100.12\n    }", "WITNESSES=198.51.100.12\n"}, []string{"198.51.100.13", "node3"}},
	} {
		args := []string{"run", filepath.Join(dir, "play.yaml"), "-i", filepath.Join(dir, "inv.yaml"), "-e", "keepalived_unicast=true"}
		if tc.leaving != "" {
			args = append(args, "-e", "pg_leaving="+tc.leaving)
		}
		if code, out, errs := cli(t, args...); code != 0 {
			t.Fatalf("pg_leaving=%q: exit %d\n%s%s", tc.leaving, code, out, errs)
		}
		var got strings.Builder
		for _, f := range []string{"ha.conf", "keepalived.conf"} {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			got.Write(b)
		}
		for _, w := range tc.want {
			if !strings.Contains(got.String(), w) {
				t.Errorf("pg_leaving=%q: the configuration lacks %q:\n%s", tc.leaving, w, got.String())
			}
		}
		for _, n := range tc.not {
			if strings.Contains(got.String(), n) {
				t.Errorf("pg_leaving=%q: the configuration still names %q:\n%s", tc.leaving, n, got.String())
			}
		}
	}
}
