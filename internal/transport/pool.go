package transport

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pgplay/pgplay/internal/sshconfig"
)

// Config says how to reach one host. The runner builds it from inventory
// variables (ssh_host/ansible_host, ssh_port, ssh_user, ssh_key, connection).
//
// The ssh_config files are applied as `ssh [-l User] [-p Port] [-i
// KeyFiles] HOST` would apply them, HOST being Addr when set, else Name:
// the host argument Ansible gives ssh (ansible_host, else the inventory
// name).
type Config struct {
	// Name is the inventory host name: used in messages, and the host
	// argument for ssh_config when Addr is empty.
	Name string
	// Local runs on the controller without SSH (connection: local).
	Local bool
	// Addr is the host argument (ssh_host / ansible_host): ssh_config
	// Host patterns match it, and it is dialed unless a HostName applies.
	Addr string
	// Port wins over ssh_config's Port; default 22.
	Port int
	// User wins over ssh_config's User (and Match user sees it); default
	// the controller's user.
	User string
	// KeyFiles are private key files to offer (after the ssh-agent's
	// keys), before ssh_config's IdentityFile entries.
	KeyFiles []string
	// KnownHostsFiles override ssh_config's UserKnownHostsFile and
	// ~/.ssh/known_hosts.
	KnownHostsFiles []string
	// SSHConfigFile replaces ~/.ssh/config and /etc/ssh/ssh_config, like
	// ssh -F ("none": no file).
	SSHConfigFile string
	// SystemSSHConfig is the system-wide file read after ~/.ssh/config
	// when SSHConfigFile is empty (default /etc/ssh/ssh_config; "none":
	// none).
	SystemSSHConfig string
	// LocalUser is the controller's user whose passwd entry gives ~, %d,
	// %u and ~/.ssh (default: the user running pgplay; $HOME is not used,
	// as in OpenSSH).
	LocalUser *sshconfig.LocalUser
	// ProxyJump is ssh's -J: jump hosts ([user@]host[:port], comma
	// separated) to connect through; it wins over ssh_config's
	// ProxyJump ("none": no jump host).
	ProxyJump string
	// AcceptNewHostKeys appends unknown host keys to the first known_hosts
	// file (like StrictHostKeyChecking=accept-new, which ssh_config may
	// also set); a changed key is always refused.
	AcceptNewHostKeys bool
	// Debug, when set, receives a line for each step of connecting (the
	// address dialed, user, ssh_config files and blocks applied, keys
	// offered, jump hosts, known_hosts files and host key policy), each
	// starting "<Name> ": pgplay -vvv. It may be called from several
	// goroutines at once (one per host being dialed).
	Debug func(msg string)
	// ConnectTimeout bounds dial + handshake (default 10s).
	ConnectTimeout time.Duration
	// KeepAlive is the interval of keepalive requests (default 15s).
	KeepAlive time.Duration
	// BecomePassword, when set, is given to sudo where it asks for one
	// (pgplay's -K); see becomeAuth. It never appears in a command line.
	BecomePassword string
}

// Stats counts what a Pool did, for benchmarks and tests.
type Stats struct {
	// Dials is the number of SSH connections opened (jump hosts included).
	Dials int64
	// Commands is the number of commands run (Query and Change).
	Commands int64
	// SFTPSessions is the number of SFTP sessions opened.
	SFTPSessions int64
	// SFTPRequests is the number of SFTP requests sent (counted on the
	// wire, the session's opening handshake excluded).
	SFTPRequests int64
	// RoundTrips is the number of times pgplay waited for a host's answer
	// before it could go on: one per command, one per SFTP request or
	// group of pipelined SFTP requests it waited for (a close nobody waits
	// for costs none). See docs/performance.md.
	RoundTrips int64
}

// Pool holds one connection per host for a whole run and hands out Targets
// on it. It is safe for concurrent use.
type Pool struct {
	stats        poolStats
	knownHostsMu sync.Mutex // appends to known_hosts files

	mu     sync.Mutex
	hosts  map[string]*poolEntry
	closed bool
}

type poolEntry struct {
	mu sync.Mutex // held while dialing: concurrent first calls dial once
	b  backend
}

// NewPool returns an empty Pool.
func NewPool() *Pool {
	return &Pool{hosts: map[string]*poolEntry{}}
}

// Target returns a Target for host cfg, acting as user become ("" or the
// login user: no sudo). The first call for a host connects; later calls
// reuse that connection (concurrent first calls dial once). When the
// connection was lost, the next call connects again. Connection failures
// wrap ErrUnreachable.
func (p *Pool) Target(ctx context.Context, cfg Config, become string) (Target, error) {
	key := fmt.Sprintf("%s\x00%t\x00%s\x00%d\x00%s", cfg.Name, cfg.Local, cfg.Addr, cfg.Port, cfg.User)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, fmt.Errorf("host %s: connection pool is closed", cfg.Name)
	}
	e := p.hosts[key]
	if e == nil {
		e = &poolEntry{}
		p.hosts[key] = e
	}
	p.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.b != nil && e.b.dead() != nil {
		_ = e.b.close()
		e.b = nil
	}
	if e.b == nil {
		b, err := p.open(ctx, cfg)
		if err != nil {
			return nil, err
		}
		p.mu.Lock()
		closed := p.closed
		p.mu.Unlock()
		if closed {
			_ = b.close()
			return nil, fmt.Errorf("host %s: connection pool is closed", cfg.Name)
		}
		e.b = b
	}
	if become == e.b.loginUser() {
		become = ""
	}
	return &hostTarget{name: cfg.Name, b: e.b, become: become}, nil
}

func (p *Pool) open(ctx context.Context, cfg Config) (backend, error) {
	if cfg.Local {
		h := newLocalHost(cfg.Name, &p.stats)
		h.auth = newBecomeAuth(cfg.BecomePassword)
		return h, nil
	}
	s, err := resolveSettings(ctx, cfg)
	if err != nil {
		return nil, err
	}
	client, jumps, err := dialSSH(ctx, s, &p.knownHostsMu, func() { p.stats.dials.Add(1) })
	if err != nil {
		return nil, err
	}
	h := newSSHHost(s, client, jumps, &p.stats)
	h.auth = newBecomeAuth(cfg.BecomePassword)
	return h, nil
}

// Close closes every SFTP session and connection. Targets handed out
// before fail afterwards.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	entries := make([]*poolEntry, 0, len(p.hosts))
	for _, e := range p.hosts {
		entries = append(entries, e)
	}
	p.hosts = map[string]*poolEntry{}
	p.mu.Unlock()
	var errs []error
	for _, e := range entries {
		e.mu.Lock()
		if e.b != nil {
			if err := e.b.close(); err != nil {
				errs = append(errs, err)
			}
		}
		e.mu.Unlock()
	}
	return errors.Join(errs...)
}

// Stats returns the counters of what the Pool did so far.
func (p *Pool) Stats() Stats {
	return Stats{
		Dials:        p.stats.dials.Load(),
		Commands:     p.stats.commands.Load(),
		SFTPSessions: p.stats.sftpSessions.Load(),
		SFTPRequests: p.stats.sftpRequests.Load(),
		RoundTrips:   p.stats.roundTrips.Load(),
	}
}
