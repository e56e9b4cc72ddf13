package lab

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/pgplay/pgplay/internal/inventory"
	"github.com/pgplay/pgplay/internal/sshconfig"
)

func defaultPlan(t *testing.T) Plan {
	t.Helper()
	p, err := NewPlan(DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The inventory loads with pgplay's own loader and has the groups and
// variables the playbooks expect.
func TestRenderInventoryLoads(t *testing.T) {
	p := defaultPlan(t)
	sf := stateFiles("/srv/my lab")
	text, err := renderInventory(p, sf, "root", map[string]string{"repmgr_password": "pw1"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(text, inventoryHeader) {
		t.Errorf("inventory does not start with the lab header:\n%s", text)
	}
	inv, err := inventory.Parse("inventory.yaml", []byte(text))
	if err != nil {
		t.Fatalf("pgplay cannot load the lab inventory: %v\n%s", err, text)
	}
	groups := map[string]string{
		"postgres": "node1 node2 node3",
		"primary":  "node1",
		"standbys": "node2 node3",
		"barman":   "backup1",
	}
	for g, want := range groups {
		var got []string
		for _, name := range inv.Order {
			if contains(inv.Hosts[name].Groups, g) {
				got = append(got, name)
			}
		}
		if strings.Join(got, " ") != want {
			t.Errorf("group %s = %v, want %s", g, got, want)
		}
	}
	for _, h := range p.Hosts {
		v := inv.Hosts[h.Name].Vars
		for k, want := range map[string]any{
			"ssh_host":        h.Addr.String(),
			"ssh_user":        "root",
			"ssh_key":         "/srv/my lab/id_ed25519",
			"ssh_known_hosts": "/srv/my lab/known_hosts",
			"ssh_config":      "none",
			"vip":             "198.51.100.100",
			"vip_interface":   "eth0",
			"lab_network":     "198.51.100.0/24",
			"repmgr_password": "pw1",
		} {
			if fmt.Sprint(v[k]) != want {
				t.Errorf("%s: %s = %v, want %v", h.Name, k, v[k], want)
			}
		}
		if h.Role == RoleBarman {
			if _, ok := v["pg_role"]; ok {
				t.Errorf("backup1 has pg_role")
			}
			continue
		}
		for k, want := range map[string]any{
			"pg_role":             h.Role,
			"repmgr_node_id":      h.NodeID,
			"keepalived_priority": h.Priority,
		} {
			if fmt.Sprint(v[k]) != fmt.Sprint(want) {
				t.Errorf("%s: %s = %v (%T), want %v", h.Name, k, v[k], v[k], want)
			}
		}
		if _, isInt := v["repmgr_node_id"].(int); !isInt {
			t.Errorf("%s: repmgr_node_id is %T, want an integer", h.Name, v["repmgr_node_id"])
		}
	}
}

func TestRenderInventoryWithoutBarman(t *testing.T) {
	o := DefaultOptions()
	o.Nodes, o.Barman = 1, false
	p, err := NewPlan(o)
	if err != nil {
		t.Fatal(err)
	}
	text, err := renderInventory(p, stateFiles("/lab"), "root", nil)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Parse("inventory.yaml", []byte(text))
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	if len(inv.Hosts) != 1 || inv.Hosts["node1"] == nil {
		t.Errorf("hosts = %v", inv.Order)
	}
	if strings.Contains(text, "barman") {
		t.Errorf("barman group without a barman host:\n%s", text)
	}
}

// The ssh_config, read by the resolver pgplay connects with
// (internal/sshconfig, held to ssh -G by its tests), points each lab host
// at the lab's files, and nothing outside the lab.
func TestRenderSSHConfig(t *testing.T) {
	p := defaultPlan(t)
	sf := stateFiles("/srv/my lab")
	file := filepath.Join(t.TempDir(), "ssh_config")
	if err := os.WriteFile(file, []byte(renderSSHConfig(p, sf, "root")), 0o600); err != nil {
		t.Fatal(err)
	}
	resolve := func(host string) *sshconfig.Result {
		t.Helper()
		res, err := sshconfig.Resolve(context.Background(), sshconfig.Query{Host: host, Files: []string{file},
			Local: sshconfig.LocalUser{Name: "me", Home: "/home/me", UID: "1000"}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	for _, h := range p.Hosts {
		res := resolve(h.Name)
		got := map[string]string{
			"HostName":              res.Hostname,
			"User":                  res.User,
			"IdentityFile":          strings.Join(res.IdentityFiles, ","),
			"UserKnownHostsFile":    strings.Join(res.UserKnownHostsFiles, ","),
			"StrictHostKeyChecking": res.StrictHostKeyChecking.Value,
			"IdentitiesOnly":        fmt.Sprint(res.IdentitiesOnly),
		}
		for k, want := range map[string]string{
			"HostName":              h.Addr.String(),
			"User":                  "root",
			"IdentityFile":          "/srv/my lab/id_ed25519",
			"UserKnownHostsFile":    "/srv/my lab/known_hosts",
			"StrictHostKeyChecking": "yes",
			"IdentitiesOnly":        "true",
		} {
			if got[k] != want {
				t.Errorf("%s %s = %q, want %q", h.Name, k, got[k], want)
			}
		}
	}
	if res := resolve("elsewhere"); res.Hostname != "elsewhere" || len(res.Applied) != 0 {
		t.Errorf("config matches hosts outside the lab: %q, %q", res.Hostname, res.Applied)
	}
}

// known_hosts lines match each host by name and by address, and only with
// its own key.
func TestRenderKnownHosts(t *testing.T) {
	p := defaultPlan(t)
	keys := map[string]string{}
	pubs := map[string]ssh.PublicKey{}
	for _, h := range p.Hosts {
		kp, err := newKeyPair("root@" + h.Name)
		if err != nil {
			t.Fatal(err)
		}
		keys[h.Name] = kp.Public
		pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(kp.Public))
		if err != nil {
			t.Fatal(err)
		}
		pubs[h.Name] = pk
		if _, err := ssh.ParseRawPrivateKey([]byte(kp.Private)); err != nil {
			t.Fatalf("private key does not parse: %v", err)
		}
	}
	file := t.TempDir() + "/known_hosts"
	if err := writeFile(file, renderKnownHosts(p, keys), 0o644); err != nil {
		t.Fatal(err)
	}
	cb, err := knownhosts.New(file)
	if err != nil {
		t.Fatal(err)
	}
	remote := &net.TCPAddr{IP: net.IPv4(198, 51, 100, 11), Port: 22}
	for _, name := range []string{"node1:22", "198.51.100.11:22"} {
		if err := cb(name, remote, pubs["node1"]); err != nil {
			t.Errorf("%s with node1's key: %v", name, err)
		}
		if err := cb(name, remote, pubs["node2"]); err == nil {
			t.Errorf("%s with node2's key accepted", name)
		}
	}
}

func TestRenderEtcHosts(t *testing.T) {
	p := defaultPlan(t)
	text := renderEtcHosts(p, "node2")
	for _, want := range []string{"127.0.0.1\tlocalhost", "198.51.100.11\tnode1", "198.51.100.20\tbackup1"} {
		if !strings.Contains(text, want) {
			t.Errorf("/etc/hosts lacks %q:\n%s", want, text)
		}
	}
}

func TestNewSecretsAreRandom(t *testing.T) {
	a, err := newSecrets()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newSecrets()
	for _, k := range []string{"repmgr_password", "barman_password", "barman_streaming_password"} {
		if len(a[k]) < 20 || a[k] == b[k] {
			t.Errorf("%s: %q then %q: want long random values", k, a[k], b[k])
		}
	}
	// keepalived's VRRPv2 PASS authentication reads 8 characters; the
	// validate role accepts only these.
	k := "keepalived_auth_password"
	if !regexp.MustCompile(`^[A-Za-z0-9._+/=@%-]{8}$`).MatchString(a[k]) || a[k] == b[k] {
		t.Errorf("%s: %q then %q: want 8 random characters keepalived.conf can hold", k, a[k], b[k])
	}
}

// A spare is in group spare only, with connection variables and no
// cluster role; the lab's ssh_config, known_hosts and /etc/hosts name it.
func TestRenderInventoryWithSpare(t *testing.T) {
	o := DefaultOptions()
	o.Spares = 1
	p, err := NewPlan(o)
	if err != nil {
		t.Fatal(err)
	}
	sf := stateFiles("/lab")
	text, err := renderInventory(p, sf, "root", nil)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Parse("inventory.yaml", []byte(text))
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	h := inv.Hosts["spare1"]
	if h == nil {
		t.Fatalf("no spare1 in the inventory:\n%s", text)
	}
	if g := strings.Join(h.Groups, " "); !strings.Contains(g, "spare") || strings.Contains(g, "postgres") || strings.Contains(g, "barman") {
		t.Errorf("spare1's groups = %s; want spare, not postgres or barman", g)
	}
	if fmt.Sprint(h.Vars["ssh_host"]) != "198.51.100.21" {
		t.Errorf("spare1's ssh_host = %v", h.Vars["ssh_host"])
	}
	for _, k := range []string{"pg_role", "repmgr_node_id", "keepalived_priority"} {
		if _, ok := h.Vars[k]; ok {
			t.Errorf("spare1 has %s", k)
		}
	}
	if pg := inv.Groups["postgres"]; pg == nil || len(pg.Hosts) != 3 {
		t.Errorf("postgres group = %+v; want node1..3 only", pg)
	}
	if s := renderSSHConfig(p, sf, "root"); !strings.Contains(s, "Host spare1\n  HostName 198.51.100.21\n") {
		t.Errorf("ssh_config lacks spare1:\n%s", s)
	}
	if s := renderEtcHosts(p, "node1"); !strings.Contains(s, "198.51.100.21\tspare1\n") {
		t.Errorf("/etc/hosts lacks spare1:\n%s", s)
	}
	if s := renderKnownHosts(p, map[string]string{"spare1": "ssh-ed25519 AAAA"}); !strings.Contains(s, "spare1,198.51.100.21 ssh-ed25519 AAAA\n") {
		t.Errorf("known_hosts lacks spare1:\n%s", s)
	}
}
