package transport

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pgplay/pgplay/internal/sshconfig"
)

const (
	defaultConnectTimeout = 10 * time.Second
	defaultKeepAlive      = 15 * time.Second
	// maxJumpDepth bounds ProxyJump chains that lead through the jump
	// hosts' own ProxyJump (a loop would never end).
	maxJumpDepth = 8
)

// Host key policies (StrictHostKeyChecking, after --accept-new-host-keys).
const (
	policyStrict    = "yes"        // unknown and changed keys refused
	policyAcceptNew = "accept-new" // unknown keys added, changed refused
	policyNo        = "no"         // as accept-new: pgplay never accepts a changed key
)

// sshSettings is everything needed to dial one host (or one jump hop),
// after Config and the ssh_config files are merged.
type sshSettings struct {
	name             string // inventory name, for messages
	alias            string // the host argument: what ssh_config Host patterns matched
	addr             string
	port             int
	user             string
	keyFiles         []string
	defaultKeys      bool     // keyFiles are OpenSSH's default files (none named)
	certFiles        []string // CertificateFile entries
	identitiesOnly   bool
	knownHosts       []string // the first one receives accepted keys
	globalKnownHosts []string // read only
	policy           string
	policyFrom       string // where the policy was set, for messages
	hashKnownHosts   bool
	hostKeyAlias     string // known_hosts name instead of addr (HostKeyAlias)
	connectTimeout   time.Duration
	keepAlive        time.Duration
	jumps            []sshSettings
	configFiles      []string // the ssh_config files read
	applied          []string // the Host/Match blocks that applied
	nameOnly         []string // Host lines matching the inventory name but not the host argument
	ignored          []string // keywords that applied but pgplay does not use
	debug            func(string)
}

func (s sshSettings) hostPort() string { return net.JoinHostPort(s.addr, strconv.Itoa(s.port)) }

// keyHostPort is the name the host key is checked under in known_hosts:
// HostKeyAlias (with the port, as ssh does) when set, else hostPort.
func (s sshSettings) keyHostPort() string {
	if s.hostKeyAlias != "" {
		return net.JoinHostPort(s.hostKeyAlias, strconv.Itoa(s.port))
	}
	return s.hostPort()
}

// debugf reports connection details at -vvv: the one place their lines
// are formatted, "<NAME> what", NAME the inventory host, for every
// command that connects (run, role, exec, status).
func (s sshSettings) debugf(format string, args ...any) {
	if s.debug != nil {
		s.debug("<" + s.name + "> " + fmt.Sprintf(format, args...))
	}
}

// currentUser is the name of the user running pgplay.
func currentUser() string {
	if u, err := sshconfig.CurrentUser(); err == nil {
		return u.Name
	}
	return os.Getenv("USER")
}

// localUser is cfg.LocalUser or the passwd entry of the user running
// pgplay (OpenSSH takes ~ from it, not from $HOME).
func localUser(cfg Config) (sshconfig.LocalUser, error) {
	if cfg.LocalUser != nil {
		return *cfg.LocalUser, nil
	}
	return sshconfig.CurrentUser()
}

// configFiles returns the ssh_config files to read for cfg, as ssh does:
// ~/.ssh/config then /etc/ssh/ssh_config (both when present), or only the
// file named by ssh_config (like ssh -F), or none for "none".
func configFiles(cfg Config, local sshconfig.LocalUser) (files, optional, system []string, err error) {
	switch f := cfg.SSHConfigFile; f {
	case "none":
		return nil, nil, nil, nil
	case "":
		user := filepath.Join(local.Home, ".ssh", "config")
		sys := cfg.SystemSSHConfig
		if sys == "" {
			sys = "/etc/ssh/ssh_config"
		}
		files = []string{user}
		if sys != "none" {
			files = append(files, sys)
			system = []string{sys}
		}
		return files, files, system, nil
	default:
		if f == "~" || strings.HasPrefix(f, "~/") {
			f = filepath.Join(local.Home, strings.TrimPrefix(f[1:], "/"))
		}
		if _, err := os.Stat(f); err != nil {
			return nil, nil, nil, fmt.Errorf("ssh_config %s: %w (the inventory's ssh_config names it; use none for no file)", f, err)
		}
		return []string{f}, nil, nil, nil
	}
}

// resolveSettings merges cfg with the ssh_config files. The host argument
// (what Host patterns match, as `ssh HOST` in Ansible) is cfg.Addr
// (ssh_host / ansible_host) when set, else the inventory name; the
// inventory's user, port and key files act as ssh's -l, -p and -i: they
// win over the files, and Match user sees the user.
func resolveSettings(ctx context.Context, cfg Config) (sshSettings, error) {
	local, err := localUser(cfg)
	if err != nil {
		return sshSettings{}, fmt.Errorf("host %s: %w", cfg.Name, err)
	}
	files, optional, system, err := configFiles(cfg, local)
	if err != nil {
		return sshSettings{}, fmt.Errorf("host %s: %w", cfg.Name, err)
	}
	r := resolver{ctx: ctx, cfg: cfg, local: local, files: files, optional: optional, system: system}
	if cfg.SSHConfigFile == "" && len(files) > 0 {
		r.checkPerms = files[:1] // ~/.ssh/config, as ssh checks it
	}
	host := cfg.Addr
	if host == "" {
		host = cfg.Name
	}
	return r.resolve(host, cfg.User, cfg.Port, cfg.KeyFiles, true, 0)
}

// resolver resolves the host and its jump hosts against the same files.
type resolver struct {
	ctx      context.Context
	cfg      Config
	local    sshconfig.LocalUser
	files    []string
	optional []string
	system   []string
	// checkPerms are the files refused when others can change them.
	checkPerms []string
}

// resolve returns the settings of host as `ssh -l user -p port -i keys
// host` would use them; withJumps says whether the host's own ProxyJump
// applies (it does not for the later hops of a chain, which ssh runs with
// -J for the hops before them).
func (r resolver) resolve(host, user string, port int, keys []string, withJumps bool, depth int) (sshSettings, error) {
	cfg := r.cfg
	name := ""
	if depth == 0 {
		name = cfg.Name
	}
	res, err := sshconfig.Resolve(r.ctx, sshconfig.Query{Host: host, Name: name, User: user, Port: port, IdentityFiles: keys,
		Files: r.files, Optional: r.optional, System: r.system, CheckPerms: r.checkPerms, Local: r.local})
	if err != nil {
		return sshSettings{}, fmt.Errorf("host %s: ssh_config: %w", cfg.Name, err)
	}
	s := sshSettings{
		name:             cfg.Name,
		alias:            host,
		addr:             res.Hostname,
		port:             res.Port,
		user:             res.User,
		keyFiles:         res.IdentityFiles,
		defaultKeys:      res.DefaultIdentities,
		certFiles:        res.CertificateFiles,
		identitiesOnly:   res.IdentitiesOnly,
		knownHosts:       res.UserKnownHostsFiles,
		globalKnownHosts: res.GlobalKnownHostsFiles,
		hashKnownHosts:   res.HashKnownHosts,
		hostKeyAlias:     res.HostKeyAlias,
		connectTimeout:   cfg.ConnectTimeout,
		keepAlive:        cfg.KeepAlive,
		configFiles:      res.Read,
		applied:          res.Applied,
		nameOnly:         res.NameOnly,
		ignored:          res.Ignored,
		debug:            cfg.Debug,
	}
	if len(cfg.KnownHostsFiles) > 0 {
		s.knownHosts = cfg.KnownHostsFiles
	}
	if len(s.knownHosts) == 0 {
		s.knownHosts = []string{filepath.Join(r.local.Home, ".ssh", "known_hosts")}
	}
	switch res.StrictHostKeyChecking.Value {
	case "accept-new":
		s.policy = policyAcceptNew
	case "no":
		s.policy = policyNo
	default: // yes, and ask: nobody can answer in a pgplay run
		s.policy = policyStrict
	}
	s.policyFrom = "StrictHostKeyChecking " + res.StrictHostKeyChecking.Value
	if res.StrictHostKeyChecking.From != "" {
		s.policyFrom += " (" + res.StrictHostKeyChecking.From + ")"
	} else {
		s.policyFrom += " (OpenSSH's default)"
	}
	if cfg.AcceptNewHostKeys && s.policy == policyStrict {
		s.policy, s.policyFrom = policyAcceptNew, "--accept-new-host-keys"
	}
	if s.connectTimeout == 0 {
		s.connectTimeout = res.ConnectTimeout
	}
	if s.connectTimeout == 0 {
		s.connectTimeout = defaultConnectTimeout
	}
	if s.keepAlive == 0 {
		s.keepAlive = res.ServerAliveInterval
	}
	if s.keepAlive == 0 {
		s.keepAlive = defaultKeepAlive
	}
	// The inventory's jump hosts (ssh_proxy_jump, from
	// ansible_ssh_common_args' -J or -o ProxyJump) are ssh's -J: they win
	// over ssh_config's ProxyJump, for the host itself only.
	if depth == 0 && cfg.ProxyJump != "" {
		res.ProxyJump = sshconfig.Setting{Value: cfg.ProxyJump, From: "the inventory's ssh_proxy_jump"}
		if strings.EqualFold(cfg.ProxyJump, "none") {
			res.ProxyJump.Value = ""
		}
	}
	if withJumps && res.ProxyJump.Value != "" {
		if depth >= maxJumpDepth {
			return sshSettings{}, fmt.Errorf("host %s: ssh_config %s: ProxyJump %s: more than %d jump hosts deep (a loop through the jump hosts' own ProxyJump?)",
				cfg.Name, res.ProxyJump.From, res.ProxyJump.Value, maxJumpDepth)
		}
		jumps, err := r.jumps(res.ProxyJump, depth)
		if err != nil {
			return sshSettings{}, err
		}
		s.jumps = jumps
	}
	return s, nil
}

// jumps resolves a ProxyJump list "a,b,c" as ssh does: the connection
// goes to a, then b, then c; a is resolved with its own ProxyJump from
// the files (ssh runs it without -J), b and c without theirs (ssh runs
// them with -J for the hops before). Each hop takes its User, Port and
// keys from the files, user@ and :port from the list winning. The
// host's own key files (ssh_key) are offered to the jump hosts too,
// after their own.
func (r resolver) jumps(pj sshconfig.Setting, depth int) ([]sshSettings, error) {
	var chain []sshSettings
	for i, hop := range strings.Split(pj.Value, ",") {
		user, host, port, err := parseJump(strings.TrimSpace(hop))
		if err != nil {
			return nil, fmt.Errorf("host %s: ssh_config %s: ProxyJump %q: %w", r.cfg.Name, pj.From, pj.Value, err)
		}
		hs, err := r.resolve(host, user, port, nil, i == 0, depth+1)
		if err != nil {
			return nil, err
		}
		for _, k := range r.cfg.KeyFiles {
			if !slices.Contains(hs.keyFiles, k) {
				hs.keyFiles = append(hs.keyFiles, k)
			}
		}
		chain = append(chain, hs.jumps...)
		hs.jumps = nil
		chain = append(chain, hs)
	}
	return chain, nil
}

// parseJump parses one ProxyJump hop: [ssh://][user@]host[:port].
func parseJump(hop string) (user, host string, port int, err error) {
	hop = strings.TrimPrefix(hop, "ssh://")
	if u, h, ok := strings.Cut(hop, "@"); ok {
		user, hop = u, h
	}
	host = hop
	p := ""
	if h, pp, err := net.SplitHostPort(hop); err == nil {
		host, p = h, pp
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "" {
		return "", "", 0, errors.New("empty host")
	}
	if p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return "", "", 0, fmt.Errorf("bad port %q", p)
		}
		port = n
	}
	return user, host, port, nil
}

// nameHint explains, for a host that could not be reached, the ssh_config
// Host lines that match its inventory name but not the host argument.
func (s sshSettings) nameHint() string {
	if len(s.nameOnly) == 0 {
		return ""
	}
	return fmt.Sprintf("; note: ssh_config %s matches the inventory name %s but not %s, the host given to ssh (ansible_host), "+
		"which is what OpenSSH and Ansible match, so it does not apply: put %s in that Host line, or drop ansible_host and set HostName there",
		strings.Join(s.nameOnly, ", "), s.name, s.alias, s.alias)
}

// existing returns the files of l that exist.
func existing(l []string) []string {
	var out []string
	for _, f := range l {
		if _, err := os.Stat(f); !errors.Is(err, fs.ErrNotExist) {
			out = append(out, f)
		}
	}
	return out
}
