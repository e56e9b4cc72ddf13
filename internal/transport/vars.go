package transport

import (
	"fmt"
	"strconv"
)

// ConfigFromVars builds the Config of inventory host name from its
// variables: connection (ssh|local), ssh_host, ssh_port, ssh_user, ssh_key,
// ssh_known_hosts, ssh_config, ssh_proxy_jump (the inventory has already mapped Ansible's
// ansible_* aliases to these names).
func ConfigFromVars(name string, vars map[string]any) (Config, error) {
	cfg := Config{Name: name}
	str := func(k string) string {
		x, ok := vars[k]
		if !ok || x == nil {
			return ""
		}
		return fmt.Sprint(x)
	}
	list := func(k string) []string {
		switch x := vars[k].(type) {
		case nil:
			return nil
		case []any:
			var out []string
			for _, e := range x {
				out = append(out, fmt.Sprint(e))
			}
			return out
		case []string:
			return x
		default:
			return []string{fmt.Sprint(x)}
		}
	}
	switch c := str("connection"); c {
	case "local":
		cfg.Local = true
		return cfg, nil
	case "", "ssh":
	default:
		return cfg, fmt.Errorf("host %s: connection %q is not supported (ssh or local)", name, c)
	}
	cfg.Addr = str("ssh_host")
	if p := str("ssh_port"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return cfg, fmt.Errorf("host %s: ssh_port %q is not a port number", name, p)
		}
		cfg.Port = n
	}
	cfg.User = str("ssh_user")
	cfg.KeyFiles = list("ssh_key")
	cfg.KnownHostsFiles = list("ssh_known_hosts")
	cfg.SSHConfigFile = str("ssh_config")
	cfg.ProxyJump = str("ssh_proxy_jump")
	return cfg, nil
}
