package transport

import "time"

// Config says how to reach one host. The runner builds it from inventory
// variables (ssh_host/ansible_host, ssh_port, ssh_user, ssh_key, connection).
type Config struct {
	// Name is the inventory host name (used in messages and as the
	// ~/.ssh/config Host to match).
	Name string
	// Local runs on the controller without SSH (connection: local).
	Local bool
	// Addr is the address or name to connect to; defaults to Name (after
	// ~/.ssh/config HostName).
	Addr string
	// Port defaults to ~/.ssh/config Port, then 22.
	Port int
	// User defaults to ~/.ssh/config User, then the current user.
	User string
	// KeyFiles are private key files to offer (after the ssh-agent's keys).
	KeyFiles []string
	// KnownHostsFiles override ~/.ssh/config UserKnownHostsFile and
	// ~/.ssh/known_hosts.
	KnownHostsFiles []string
	// SSHConfigFile overrides ~/.ssh/config ("none" disables it).
	SSHConfigFile string
	// AcceptNewHostKeys appends unknown host keys to the first known_hosts
	// file (like StrictHostKeyChecking=accept-new); a changed key is always
	// refused.
	AcceptNewHostKeys bool
	// ConnectTimeout bounds dial + handshake (default 10s).
	ConnectTimeout time.Duration
	// KeepAlive is the interval of keepalive requests (default 15s).
	KeepAlive time.Duration
}
