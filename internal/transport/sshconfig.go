package transport

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kevinburke/ssh_config"
)

const (
	defaultConnectTimeout = 10 * time.Second
	defaultKeepAlive      = 15 * time.Second
)

// sshSettings is everything needed to dial one host (or one jump hop),
// after Config and ~/.ssh/config are merged.
type sshSettings struct {
	name           string // inventory name, for messages
	alias          string // the name matched against ssh_config Host
	addr           string
	port           int
	user           string
	keyFiles       []string
	knownHosts     []string
	acceptNew      bool
	connectTimeout time.Duration
	keepAlive      time.Duration
	jumps          []sshSettings
}

func (s sshSettings) hostPort() string { return net.JoinHostPort(s.addr, strconv.Itoa(s.port)) }

// sshConfigFile is a parsed ssh_config and its path, or nil.
type sshConfigFile struct {
	path string
	cfg  *ssh_config.Config
}

func (c *sshConfigFile) get(alias, key string) string {
	if c == nil {
		return ""
	}
	v, _ := c.cfg.Get(alias, key)
	return v
}

func (c *sshConfigFile) getAll(alias, key string) []string {
	if c == nil {
		return nil
	}
	v, _ := c.cfg.GetAll(alias, key)
	return v
}

func homeDir() string {
	if h, err := os.UserHomeDir(); err == nil {
		return h
	}
	return "/"
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return os.Getenv("USER")
}

// loadSSHConfig reads file ("" = ~/.ssh/config when present, "none" =
// none).
func loadSSHConfig(file string) (*sshConfigFile, error) {
	explicit := file != ""
	switch file {
	case "none":
		return nil, nil
	case "":
		file = filepath.Join(homeDir(), ".ssh", "config")
	}
	f, err := os.Open(expandTilde(file))
	if err != nil {
		if !explicit && errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("ssh config: %w", err)
	}
	defer f.Close()
	cfg, err := ssh_config.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("ssh config %s: %w", file, err)
	}
	return &sshConfigFile{path: file, cfg: cfg}, nil
}

func expandTilde(p string) string {
	if p == "~" {
		return homeDir()
	}
	if strings.HasPrefix(p, "~/") {
		return filepath.Join(homeDir(), p[2:])
	}
	return p
}

// expandTokens expands ~ and the common ssh_config % tokens.
func expandTokens(p string, s sshSettings) string {
	p = expandTilde(p)
	if !strings.Contains(p, "%") {
		return p
	}
	r := strings.NewReplacer("%%", "%", "%d", homeDir(), "%u", currentUser(), "%h", s.addr,
		"%p", strconv.Itoa(s.port), "%r", s.user, "%n", s.alias)
	return r.Replace(p)
}

// resolveSettings merges cfg with ssh_config: values set in cfg win, then
// ssh_config's, then the defaults.
func resolveSettings(cfg Config) (sshSettings, error) {
	sc, err := loadSSHConfig(cfg.SSHConfigFile)
	if err != nil {
		return sshSettings{}, fmt.Errorf("host %s: %w", cfg.Name, err)
	}
	s, err := settingsFor(sc, cfg.Name, cfg)
	if err != nil {
		return sshSettings{}, err
	}
	pj, from := cfg.ProxyJump, "inventory ssh_proxy_jump"
	if pj == "" {
		pj = sc.get(cfg.Name, "ProxyJump")
		if sc != nil {
			from = "ssh config " + sc.path
		}
	}
	if pj != "" && !strings.EqualFold(pj, "none") {
		for _, hop := range strings.Split(pj, ",") {
			hopCfg, err := parseJump(strings.TrimSpace(hop))
			if err != nil {
				return sshSettings{}, fmt.Errorf("host %s: %s: ProxyJump %q: %w", cfg.Name, from, pj, err)
			}
			// The host's own key files are offered to its jump hosts too
			// (after the hop's IdentityFile).
			hopCfg.KeyFiles = cfg.KeyFiles
			hopCfg.KnownHostsFiles = cfg.KnownHostsFiles
			hopCfg.AcceptNewHostKeys = cfg.AcceptNewHostKeys
			hopCfg.ConnectTimeout = cfg.ConnectTimeout
			hs, err := settingsFor(sc, hopCfg.Name, hopCfg)
			if err != nil {
				return sshSettings{}, err
			}
			hs.name = cfg.Name
			s.jumps = append(s.jumps, hs)
		}
	}
	return s, nil
}

// parseJump parses one ProxyJump hop: [ssh://][user@]host[:port].
func parseJump(hop string) (Config, error) {
	hop = strings.TrimPrefix(hop, "ssh://")
	var c Config
	if u, h, ok := strings.Cut(hop, "@"); ok {
		c.User, hop = u, h
	}
	host, port := hop, ""
	if h, p, err := net.SplitHostPort(hop); err == nil {
		host, port = h, p
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "" {
		return c, errors.New("empty host")
	}
	c.Name = host
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return c, fmt.Errorf("bad port %q", port)
		}
		c.Port = n
	}
	return c, nil
}

func settingsFor(sc *sshConfigFile, alias string, cfg Config) (sshSettings, error) {
	s := sshSettings{
		name:           cfg.Name,
		alias:          alias,
		addr:           cfg.Addr,
		port:           cfg.Port,
		user:           cfg.User,
		acceptNew:      cfg.AcceptNewHostKeys,
		connectTimeout: cfg.ConnectTimeout,
		keepAlive:      cfg.KeepAlive,
	}
	where := func(key string) string {
		if sc == nil {
			return key
		}
		return fmt.Sprintf("ssh config %s: %s", sc.path, key)
	}
	if s.addr == "" {
		s.addr = sc.get(alias, "HostName")
		if s.addr != "" {
			s.addr = strings.ReplaceAll(s.addr, "%h", alias)
		} else {
			s.addr = alias
		}
	}
	if s.port == 0 {
		if p := sc.get(alias, "Port"); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 65535 {
				return s, fmt.Errorf("host %s: %s %q is not a port number", cfg.Name, where("Port"), p)
			}
			s.port = n
		} else {
			s.port = 22
		}
	}
	if s.user == "" {
		s.user = sc.get(alias, "User")
		if s.user == "" {
			s.user = currentUser()
		}
	}
	if s.connectTimeout == 0 {
		if v := sc.get(alias, "ConnectTimeout"); v != "" {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				s.connectTimeout = time.Duration(n) * time.Second
			}
		}
		if s.connectTimeout == 0 {
			s.connectTimeout = defaultConnectTimeout
		}
	}
	if s.keepAlive == 0 {
		if v := sc.get(alias, "ServerAliveInterval"); v != "" {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				s.keepAlive = time.Duration(n) * time.Second
			}
		}
		if s.keepAlive == 0 {
			s.keepAlive = defaultKeepAlive
		}
	}

	s.keyFiles = append(s.keyFiles, cfg.KeyFiles...)
	for _, f := range sc.getAll(alias, "IdentityFile") {
		s.keyFiles = append(s.keyFiles, expandTokens(f, s))
	}
	if len(s.keyFiles) == 0 {
		// Like OpenSSH: the default identities only when none is named.
		for _, n := range []string{"id_ed25519", "id_rsa", "id_ecdsa"} {
			f := filepath.Join(homeDir(), ".ssh", n)
			if _, err := os.Stat(f); err == nil {
				s.keyFiles = append(s.keyFiles, f)
			}
		}
	}

	s.knownHosts = append(s.knownHosts, cfg.KnownHostsFiles...)
	if len(s.knownHosts) == 0 {
		for _, v := range sc.getAll(alias, "UserKnownHostsFile") {
			for _, f := range strings.Fields(v) {
				if f != "none" {
					s.knownHosts = append(s.knownHosts, expandTokens(f, s))
				}
			}
		}
	}
	if len(s.knownHosts) == 0 {
		s.knownHosts = []string{filepath.Join(homeDir(), ".ssh", "known_hosts")}
	}
	return s, nil
}
