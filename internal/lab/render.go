package lab

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// StateFiles are the files `up` writes into the state directory.
type StateFiles struct {
	Dir        string
	Inventory  string
	SSHConfig  string
	Key        string
	PubKey     string
	KnownHosts string
}

// stateFiles names the files of an (absolute) state directory.
func stateFiles(dir string) StateFiles {
	return StateFiles{
		Dir:        dir,
		Inventory:  filepath.Join(dir, "inventory.yaml"),
		SSHConfig:  filepath.Join(dir, "ssh_config"),
		Key:        filepath.Join(dir, "id_ed25519"),
		PubKey:     filepath.Join(dir, "id_ed25519.pub"),
		KnownHosts: filepath.Join(dir, "known_hosts"),
	}
}

// All lists the files, inventory last (it is written last).
func (f StateFiles) All() []string {
	return []string{f.Key, f.PubKey, f.KnownHosts, f.SSHConfig, f.Inventory}
}

// inventoryHeader starts every inventory the lab writes; `down` looks for it
// before deleting a state directory it has no record of.
const inventoryHeader = "# Written by `pgplay lab up`; `pgplay lab down` removes it.\n"

// renderInventory returns the lab inventory in Ansible's YAML shape.
// user is the hosts' login user; any other than root becomes root with
// sudo (ansible_become). secrets are the cluster passwords the lab's
// inventory carries (random per lab; the inventory file is 0600).
func renderInventory(p Plan, f StateFiles, user string, secrets map[string]string) (string, error) {
	hostVars := func(h HostPlan) *yaml.Node {
		m := mapping(
			"ssh_host", str(h.Addr.String()),
			"ssh_user", str(user),
			"ssh_key", str(f.Key),
			"ssh_known_hosts", str(f.KnownHosts),
			"ssh_config", str("none"),
		)
		if user != "root" {
			m.Content = append(m.Content, str("ansible_become"), &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"})
		}
		if h.Role == RolePrimary || h.Role == RoleStandby {
			m.Content = append(m.Content, mapping(
				"pg_role", str(h.Role),
				"repmgr_node_id", num(h.NodeID),
				"keepalived_priority", num(h.Priority),
			).Content...)
		}
		return m
	}
	// Groups in a fixed order; a host's variables sit in the first group
	// it appears in, later groups only list it.
	groupNames := []string{"postgres", "primary", "standbys", "barman", "spare"}
	seen := map[string]bool{}
	children := mapping()
	for _, g := range groupNames {
		hosts := mapping()
		for _, h := range p.Hosts {
			if !contains(h.Groups, g) {
				continue
			}
			if seen[h.Name] {
				hosts.Content = append(hosts.Content, str(h.Name), mapping())
			} else {
				seen[h.Name] = true
				hosts.Content = append(hosts.Content, str(h.Name), hostVars(h))
			}
		}
		if (g == "barman" || g == "spare") && len(hosts.Content) == 0 {
			continue
		}
		children.Content = append(children.Content, str(g), mapping("hosts", hosts))
	}
	vars := mapping(
		"vip", str(p.VIP.String()),
		"vip_interface", str("eth0"),
		"lab_network", str(p.Subnet.String()),
	)
	keys := make([]string, 0, len(secrets))
	for k := range secrets {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vars.Content = append(vars.Content, str(k), str(secrets[k]))
	}
	root := mapping("all", mapping(
		"vars", vars,
		"children", children,
	))
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return "", fmt.Errorf("rendering the lab inventory: %w", err)
	}
	if err := enc.Close(); err != nil {
		return "", fmt.Errorf("rendering the lab inventory: %w", err)
	}
	return inventoryHeader + b.String(), nil
}

func mapping(kv ...any) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i+1 < len(kv); i += 2 {
		n.Content = append(n.Content, str(kv[i].(string)), kv[i+1].(*yaml.Node))
	}
	return n
}

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }
func num(i int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(i)}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// renderSSHConfig returns an OpenSSH client config with one Host per lab
// host, for `ssh -F STATE/ssh_config node2`.
func renderSSHConfig(p Plan, f StateFiles, user string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by `pgplay lab up`. Use: ssh -F %s %s\n", sshQuote(f.SSHConfig), p.Hosts[0].Name)
	for _, h := range p.Hosts {
		fmt.Fprintf(&b, "\nHost %s\n", h.Name)
		fmt.Fprintf(&b, "  HostName %s\n", h.Addr)
		fmt.Fprintf(&b, "  User %s\n", user)
		fmt.Fprintf(&b, "  IdentityFile %s\n", sshQuote(f.Key))
		b.WriteString("  IdentitiesOnly yes\n")
		fmt.Fprintf(&b, "  UserKnownHostsFile %s\n", sshQuote(f.KnownHosts))
		b.WriteString("  StrictHostKeyChecking yes\n")
	}
	return b.String()
}

// sshQuote quotes a path for ssh_config when it holds blanks.
func sshQuote(s string) string {
	if strings.ContainsAny(s, " \t") {
		return `"` + s + `"`
	}
	return s
}

// renderKnownHosts returns known_hosts lines: each host's name and address
// with its host key (an authorized_keys-format public key).
func renderKnownHosts(p Plan, hostKeys map[string]string) string {
	var b strings.Builder
	for _, h := range p.Hosts {
		fmt.Fprintf(&b, "%s,%s %s\n", h.Name, h.Addr, strings.TrimSpace(hostKeys[h.Name]))
	}
	return b.String()
}

// renderEtcHosts returns /etc/hosts for one lab host: every lab host by name.
func renderEtcHosts(p Plan, self string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\n# pgplay lab (this is %s)\n", self)
	for _, h := range p.Hosts {
		fmt.Fprintf(&b, "%s\t%s\n", h.Addr, h.Name)
	}
	return b.String()
}

// newSecrets makes the random passwords of a new lab.
func newSecrets() (map[string]string, error) {
	out := map[string]string{}
	for _, k := range []string{"repmgr_password", "barman_password", "barman_streaming_password"} {
		b := make([]byte, 18)
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("generating lab passwords: %w", err)
		}
		out[k] = base64.RawURLEncoding.EncodeToString(b)
	}
	// VRRPv2 authentication reads 8 characters.
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("generating lab passwords: %w", err)
	}
	out["keepalived_auth_password"] = base64.RawURLEncoding.EncodeToString(b)
	return out, nil
}
