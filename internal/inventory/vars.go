package inventory

import (
	"fmt"
	"maps"
	"sort"
	"strconv"
	"strings"

	"github.com/pgplay/pgplay/internal/yamlsrc"
)

// connAliases maps Ansible's connection variables to pgplay's.
var connAliases = map[string]string{
	"ansible_host":                 "ssh_host",
	"ansible_ssh_host":             "ssh_host",
	"ansible_port":                 "ssh_port",
	"ansible_ssh_port":             "ssh_port",
	"ansible_user":                 "ssh_user",
	"ansible_ssh_user":             "ssh_user",
	"ansible_ssh_private_key_file": "ssh_key",
	"ansible_private_key_file":     "ssh_key",
	"ansible_connection":           "connection",
}

// ansibleKept are the ansible_* variables pgplay reads under their own
// names: become (the runner: they win over the play's become keywords, as
// in Ansible) and the group sort order.
var ansibleKept = map[string]bool{
	"ansible_become":         true,
	"ansible_become_user":    true,
	"ansible_become_method":  true,
	"ansible_group_priority": true,
}

// sshArgVars are Ansible's variables of extra ssh(1) arguments; pgplay maps
// the options it implements (sshArgs) and refuses the others.
var sshArgVars = map[string]bool{
	"ansible_ssh_common_args": true,
	"ansible_ssh_extra_args":  true,
	"ansible_ssh_args":        true,
}

const (
	keysHint       = "pgplay logs in with keys (ssh-agent, ssh_key / ansible_ssh_private_key_file, or ~/.ssh/config's IdentityFile); remove the password and install a key (ssh-copy-id)"
	sudoHint       = "become runs `sudo -n`: give the login user passwordless sudo (NOPASSWD in /etc/sudoers.d) and remove this variable"
	hostKeysHint   = "pgplay always checks host keys against known_hosts: use --accept-new-host-keys to record new hosts' keys, or ssh_known_hosts to name a known_hosts file; remove this variable"
	interpreterWhy = "pgplay runs no Python on the hosts (its modules run in pgplay and drive the host over SSH)"
)

// ansibleRefused are Ansible variables that change how a host is reached
// or trusted in a way pgplay does not do: ignoring one would connect
// differently from what the inventory says, so each is an error.
var ansibleRefused = map[string]string{
	"ansible_password":              keysHint,
	"ansible_ssh_pass":              keysHint,
	"ansible_ssh_password":          keysHint,
	"ansible_become_password":       sudoHint,
	"ansible_become_pass":           sudoHint,
	"ansible_sudo_pass":             sudoHint,
	"ansible_sudo_password":         sudoHint,
	"ansible_become_exe":            "become runs sudo from the login user's PATH; remove this variable",
	"ansible_become_flags":          "become runs `sudo -n -H -u USER`; other sudo flags are not supported; remove this variable",
	"ansible_host_key_checking":     hostKeysHint,
	"ansible_ssh_host_key_checking": hostKeysHint,
	"ansible_sudo":                  "write ansible_become (sudo is its old name)",
	"ansible_sudo_user":             "write ansible_become_user (sudo_user is its old name)",
	"ansible_sudo_exe":              "become runs sudo from the login user's PATH; remove this variable",
	"ansible_sudo_flags":            "become runs `sudo -n -H -u USER`; remove this variable",
}

// ansibleTolerated are Ansible variables that make no difference to how
// pgplay works: each is a warning (it has no effect), not an error.
var ansibleTolerated = map[string]string{
	"ansible_python_interpreter":  interpreterWhy,
	"ansible_pipelining":          "pgplay copies no module to the hosts",
	"ansible_ssh_pipelining":      "pgplay copies no module to the hosts",
	"ansible_ssh_executable":      "pgplay speaks SSH itself, without the ssh program",
	"ansible_ssh_retries":         "pgplay does not retry a connection; a host it cannot reach is reported unreachable",
	"ansible_timeout":             "the connect timeout is --connect-timeout",
	"ansible_ssh_timeout":         "the connect timeout is --connect-timeout",
	"ansible_scp_extra_args":      "pgplay copies files over SFTP on its SSH connection",
	"ansible_sftp_extra_args":     "pgplay copies files over SFTP on its SSH connection",
	"ansible_ssh_transfer_method": "pgplay copies files over SFTP on its SSH connection",
	"ansible_scp_if_ssh":          "pgplay copies files over SFTP on its SSH connection",
	"ansible_sftp_batch_mode":     "pgplay copies files over SFTP on its SSH connection",
	"ansible_shell_type":          "pgplay runs commands with /bin/sh",
	"ansible_shell_executable":    "pgplay runs commands with /bin/sh",
}

// normalize checks one block of variables (of owner: "group db", "host
// node1") and maps Ansible's connection variables to pgplay's. at gives
// where each key was written.
func (b *builder) normalize(raw map[string]any, at map[string]yamlsrc.Pos, owner string) (*layer, error) {
	l := &layer{raw: raw, norm: make(map[string]any, len(raw))}
	for k, v := range raw {
		l.norm[k] = v
	}
	vars := l.norm
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !strings.HasPrefix(k, "ansible_") {
			continue
		}
		where := at[k]
		if hint, refused := ansibleRefused[k]; refused {
			return nil, errAtPos(where, hint, "%s (%s) is not supported by pgplay", k, owner)
		}
		if why, ok := ansibleTolerated[k]; ok {
			b.warnf(where, "%s (%s) has no effect: %s", k, owner, why)
			delete(vars, k)
			continue
		}
		if _, ok := connAliases[k]; ok || ansibleKept[k] || sshArgVars[k] {
			continue
		}
		b.warnf(where, "%s (%s) means nothing to pgplay: it is kept as an ordinary variable, with no effect on the connection or become (the ansible_* variables pgplay reads are listed in docs/variables.md)", k, owner)
	}
	aliases := make([]string, 0, len(connAliases))
	for a := range connAliases {
		aliases = append(aliases, a)
	}
	sort.Strings(aliases)
	for _, alias := range aliases {
		val, ok := vars[alias]
		if !ok {
			continue
		}
		name := connAliases[alias]
		if prev, both := vars[name]; both && fmt.Sprint(prev) != fmt.Sprint(val) {
			return nil, errAtPos(at[alias], "give the value once, as "+name,
				"%s (%v) conflicts with %s (%v)", alias, val, name, prev)
		}
		vars[name] = val
		if _, ok := at[name]; !ok {
			at[name] = at[alias]
		}
		delete(vars, alias)
	}
	for _, k := range []string{"ansible_ssh_args", "ansible_ssh_common_args", "ansible_ssh_extra_args"} {
		v, ok := vars[k]
		if !ok {
			continue
		}
		delete(vars, k)
		if err := b.sshArgs(vars, k, v, at[k], owner); err != nil {
			return nil, err
		}
	}
	if p, ok := vars["ssh_port"]; ok {
		port, valid := intValue(p)
		if !valid || port < 1 || port > 65535 {
			return nil, errAtPos(at["ssh_port"], "a port is a number from 1 to 65535", "invalid ssh_port %q", fmt.Sprint(p))
		}
		vars["ssh_port"] = port
	}
	if c, ok := vars["connection"]; ok && c != "ssh" && c != "local" {
		hint := "connection is ssh (the default) or local"
		if c == "smart" || c == "paramiko" {
			hint += "; pgplay's ssh is its own SSH client: write ssh"
		}
		return nil, errAtPos(at["connection"], hint, "invalid connection %q", fmt.Sprint(c))
	}
	if v, ok := vars["ansible_become"]; ok && !isTemplate(v) {
		bv, valid := AnsibleBool(v)
		if !valid {
			return nil, errAtPos(at["ansible_become"], "ansible_become is true or false (yes/no, 1/0 too)", "invalid ansible_become %q (%s)", fmt.Sprint(v), owner)
		}
		vars["ansible_become"] = bv
	}
	if v, ok := vars["ansible_become_user"]; ok {
		if s, isStr := v.(string); !isStr || strings.TrimSpace(s) == "" {
			return nil, errAtPos(at["ansible_become_user"], "give the name of the user to become, e.g. postgres", "invalid ansible_become_user %q (%s)", fmt.Sprint(v), owner)
		}
	}
	if v, ok := vars["ansible_become_method"]; ok && !isTemplate(v) && fmt.Sprint(v) != "sudo" {
		return nil, errAtPos(at["ansible_become_method"], "pgplay becomes another user with sudo only (passwordless: sudo -n); write sudo or remove the variable",
			"ansible_become_method %q (%s) is not supported", fmt.Sprint(v), owner)
	}
	if v, ok := vars["ansible_group_priority"]; ok {
		n, valid := intValue(v)
		if !valid {
			return nil, errAtPos(at["ansible_group_priority"], "ansible_group_priority is a whole number (default 1; a higher one wins among groups of the same depth)", "invalid ansible_group_priority %q (%s)", fmt.Sprint(v), owner)
		}
		vars["ansible_group_priority"] = n
		// Ansible keeps it as the group's priority, not as a variable.
		l.raw = maps.Clone(raw)
		delete(l.raw, "ansible_group_priority")
	}
	return l, nil
}

func isTemplate(v any) bool {
	s, ok := v.(string)
	return ok && strings.Contains(s, "{{")
}

// AnsibleBool reads a boolean as Ansible's boolean filter does (true,
// yes, on, 1, ... in any case); ok is false for anything else.
func AnsibleBool(v any) (b, ok bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case int:
		return x != 0, x == 0 || x == 1
	case float64:
		return x != 0, x == 0 || x == 1
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "y", "yes", "on", "1", "true", "t":
			return true, true
		case "n", "no", "off", "0", "false", "f":
			return false, true
		}
	}
	return false, false
}

// sshArgs maps the ssh(1) options of an ansible_ssh_*_args value (name)
// onto pgplay's connection variables: -o Port= / -p, -o User= / -l,
// -o IdentityFile= / -i, -o ProxyJump= / -J, -o UserKnownHostsFile=,
// -o HostName=. Options that pgplay's one kept connection makes moot
// (ControlMaster, ControlPersist, ControlPath, ServerAlive*) are warnings;
// any other is an error: it would change the connection, and pgplay would
// not.
func (b *builder) sshArgs(vars map[string]any, name string, v any, at yamlsrc.Pos, owner string) error {
	s, ok := v.(string)
	if !ok {
		return errAtPos(at, "write the ssh options as one string, e.g. \"-o ProxyJump=admin@bastion\"", "%s (%s) must be a string, not %T", name, owner, v)
	}
	words, err := shlexSplit(s)
	if err != nil {
		return errAtPos(at, "check the quotes", "%s (%s): %v", name, owner, err)
	}
	bad := func(opt, hint string) error {
		return errAtPos(at, hint+"; pgplay maps -o Port/User/IdentityFile/ProxyJump/UserKnownHostsFile/HostName, -p, -l, -i and -J, and reads the rest of ~/.ssh/config",
			"%s (%s): ssh option %s is not supported", name, owner, opt)
	}
	set := func(key string, val any) {
		if key == "ssh_key" || key == "ssh_known_hosts" {
			var list []any
			switch x := vars[key].(type) {
			case []any:
				list = x
			case nil:
			default:
				list = []any{x}
			}
			vars[key] = append(list, val)
			return
		}
		if _, done := vars[key]; !done { // as ssh: the first value given wins
			vars[key] = val
		}
	}
	for i := 0; i < len(words); i++ {
		w := words[i]
		arg := func() (string, error) {
			if len(w) > 2 {
				return w[2:], nil
			}
			if i+1 >= len(words) {
				return "", bad(w, "give the option's value")
			}
			i++
			return words[i], nil
		}
		switch {
		case strings.HasPrefix(w, "-o"):
			o, err := arg()
			if err != nil {
				return err
			}
			key, val, found := strings.Cut(o, "=")
			if !found {
				key, val, found = strings.Cut(strings.TrimSpace(o), " ")
			}
			key, val = strings.TrimSpace(key), strings.TrimSpace(val)
			if !found || val == "" {
				return bad("-o "+o, "write -o Key=Value")
			}
			switch strings.ToLower(key) {
			case "port":
				n, err := strconv.Atoi(val)
				if err != nil {
					return bad("-o "+o, "a port is a number")
				}
				set("ssh_port", n)
			case "user":
				set("ssh_user", val)
			case "identityfile":
				set("ssh_key", val)
			case "proxyjump":
				set("ssh_proxy_jump", val)
			case "userknownhostsfile":
				for _, f := range strings.Fields(val) {
					set("ssh_known_hosts", f)
				}
			case "hostname":
				set("ssh_host", val)
			case "controlmaster", "controlpersist", "controlpath":
				b.warnf(at, "%s (%s): -o %s has no effect: pgplay keeps one SSH connection per host for the whole run", name, owner, key)
			case "serveraliveinterval", "serveralivecountmax":
				b.warnf(at, "%s (%s): -o %s has no effect: pgplay sends keepalives every 15s and drops a host that stops answering", name, owner, key)
			case "stricthostkeychecking":
				if strings.EqualFold(val, "yes") || strings.EqualFold(val, "ask") {
					continue // what pgplay always does
				}
				return bad("-o "+o, hostKeysHint)
			case "proxycommand":
				return bad("-o "+o, "use a jump host instead: -o ProxyJump=user@bastion (or -J)")
			default:
				return bad("-o "+o, "remove it, or set it in ~/.ssh/config if pgplay reads it there")
			}
		case strings.HasPrefix(w, "-p"):
			o, err := arg()
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(o)
			if err != nil {
				return bad("-p "+o, "a port is a number")
			}
			set("ssh_port", n)
		case strings.HasPrefix(w, "-l"):
			o, err := arg()
			if err != nil {
				return err
			}
			set("ssh_user", o)
		case strings.HasPrefix(w, "-i"):
			o, err := arg()
			if err != nil {
				return err
			}
			set("ssh_key", o)
		case strings.HasPrefix(w, "-J"):
			o, err := arg()
			if err != nil {
				return err
			}
			set("ssh_proxy_jump", o)
		default:
			return bad(w, "remove it")
		}
	}
	return nil
}
