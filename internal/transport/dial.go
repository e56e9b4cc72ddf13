package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// authKeys collects the keys to offer: the ssh-agent's first, then the key
// files. notes say what was offered and what was skipped, for the message
// when authentication fails.
type authKeys struct {
	signers []ssh.Signer
	offered []string
	skipped []string
	agent   net.Conn
}

func (a *authKeys) close() {
	if a.agent != nil {
		a.agent.Close()
	}
}

func (a *authKeys) add(s ssh.Signer, seen map[string]bool) bool {
	k := string(s.PublicKey().Marshal())
	if seen[k] {
		return false
	}
	seen[k] = true
	a.signers = append(a.signers, s)
	return true
}

func loadAuthKeys(s sshSettings) *authKeys {
	a := &authKeys{}
	seen := map[string]bool{}
	var agentSigners []ssh.Signer
	if sock := os.Getenv("SSH_AUTH_SOCK"); sock != "" {
		conn, err := net.Dial("unix", sock)
		if err != nil {
			a.skipped = append(a.skipped, fmt.Sprintf("ssh-agent at SSH_AUTH_SOCK=%s: %v", sock, err))
		} else {
			a.agent = conn
			agentSigners, err = agent.NewClient(conn).Signers()
			if err != nil {
				a.skipped = append(a.skipped, fmt.Sprintf("ssh-agent: %v", err))
			}
		}
	}
	// With IdentitiesOnly (ssh_config), the agent's keys are offered only
	// when they are one of the identity files, as ssh does.
	filePubs := map[string]bool{}
	var fileSigners []ssh.Signer
	var fileNames []string
	for _, f := range s.keyFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			if !(s.defaultKeys && errors.Is(err, fs.ErrNotExist)) {
				a.skipped = append(a.skipped, fmt.Sprintf("key %s: %v", f, err))
			}
			continue
		}
		if pub, err := os.ReadFile(f + ".pub"); err == nil {
			if pk, _, _, _, err := ssh.ParseAuthorizedKey(pub); err == nil {
				filePubs[string(pk.Marshal())] = true
			}
		}
		sg, err := ssh.ParsePrivateKey(data)
		var ppe *ssh.PassphraseMissingError
		switch {
		case errors.As(err, &ppe):
			a.skipped = append(a.skipped, fmt.Sprintf("key %s is passphrase-protected (load it into ssh-agent: ssh-add %s)", f, f))
			continue
		case err != nil:
			a.skipped = append(a.skipped, fmt.Sprintf("key %s: %v", f, err))
			continue
		}
		filePubs[string(sg.PublicKey().Marshal())] = true
		fileSigners = append(fileSigners, sg)
		fileNames = append(fileNames, f)
	}
	certs := loadCerts(s, a)
	if a.agent != nil {
		n := 0
		for _, sg := range agentSigners {
			if s.identitiesOnly && !filePubs[string(sg.PublicKey().Marshal())] {
				continue
			}
			a.addCerts(sg, certs, seen)
			if a.add(sg, seen) {
				n++
			}
		}
		note := ""
		if s.identitiesOnly {
			note = ", IdentitiesOnly"
		}
		a.offered = append(a.offered, fmt.Sprintf("ssh-agent (%d keys%s)", n, note))
	}
	for i, sg := range fileSigners {
		a.addCerts(sg, certs, seen)
		a.add(sg, seen)
		a.offered = append(a.offered, fileNames[i])
	}
	return a
}

// loadCerts reads the user certificates to offer, as ssh finds them: the
// CertificateFile entries, and KEY-cert.pub next to each key file.
func loadCerts(s sshSettings, a *authKeys) []*ssh.Certificate {
	var certs []*ssh.Certificate
	read := func(f string, named bool) {
		data, err := os.ReadFile(f)
		if err != nil {
			if named {
				a.skipped = append(a.skipped, fmt.Sprintf("certificate %s: %v", f, err))
			}
			return
		}
		pk, _, _, _, err := ssh.ParseAuthorizedKey(data)
		cert, ok := pk.(*ssh.Certificate)
		if err != nil || !ok {
			a.skipped = append(a.skipped, fmt.Sprintf("certificate %s: not an OpenSSH certificate", f))
			return
		}
		certs = append(certs, cert)
	}
	for _, f := range s.certFiles {
		read(f, true)
	}
	for _, f := range s.keyFiles {
		read(f+"-cert.pub", false)
	}
	return certs
}

// addCerts offers, before sg itself, each certificate of sg's key.
func (a *authKeys) addCerts(sg ssh.Signer, certs []*ssh.Certificate, seen map[string]bool) {
	key := string(sg.PublicKey().Marshal())
	for _, c := range certs {
		if string(c.Key.Marshal()) != key {
			continue
		}
		cs, err := ssh.NewCertSigner(c, sg)
		if err != nil {
			a.skipped = append(a.skipped, fmt.Sprintf("certificate %s: %v", ssh.FingerprintSHA256(c.Key), err))
			continue
		}
		if a.add(cs, seen) {
			a.offered = append(a.offered, "certificate "+c.KeyId+" ("+ssh.FingerprintSHA256(c.Key)+")")
		}
	}
}

// dialSSH connects to s, through its jump hosts when it has any. It
// returns the client and the jump clients (to close after it).
func dialSSH(ctx context.Context, s sshSettings, writeMu *sync.Mutex, dials func()) (*ssh.Client, []*ssh.Client, error) {
	var chain []*ssh.Client
	var via *ssh.Client
	hops := append(append([]sshSettings(nil), s.jumps...), s)
	for i, hop := range hops {
		c, err := dialOne(ctx, hop, via, i < len(hops)-1, writeMu)
		if err != nil {
			for j := len(chain) - 1; j >= 0; j-- {
				chain[j].Close()
			}
			return nil, nil, err
		}
		dials()
		chain = append(chain, c)
		via = c
	}
	return chain[len(chain)-1], chain[:len(chain)-1], nil
}

// dialOne opens one SSH connection to s, directly or over via. Dial and
// handshake are bounded by s.connectTimeout and ctx.
func dialOne(ctx context.Context, s sshSettings, via *ssh.Client, isJump bool, writeMu *sync.Mutex) (*ssh.Client, error) {
	addr := s.hostPort()
	what := "ssh to " + s.user + "@" + addr
	if isJump {
		what = "jump host " + s.user + "@" + addr
	}
	unreachable := func(format string, args ...any) error {
		return &unreachableError{host: s.name, err: fmt.Errorf(what+": "+format+"%s", append(args, s.nameHint())...)}
	}

	hk, err := newHostKeyChecker(s, writeMu)
	if err != nil {
		return nil, unreachable("%w", err)
	}
	s.debugSettings(isJump, via != nil)

	dctx, cancel := context.WithTimeout(ctx, s.connectTimeout)
	defer cancel()
	var conn net.Conn
	if via == nil {
		var d net.Dialer
		conn, err = d.DialContext(dctx, "tcp", addr)
	} else {
		conn, err = via.DialContext(dctx, "tcp", addr)
	}
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("host %s: %s: %w", s.name, what, ctx.Err()) // canceled: not the host's fault
		case dctx.Err() != nil:
			return nil, unreachable("connect timed out after %s; check the address and that the host is up", s.connectTimeout)
		}
		return nil, unreachable("cannot connect: %w; check that the host is up, sshd listens on port %d and the address is right", err, s.port)
	}

	keys := loadAuthKeys(s)
	defer keys.close()
	s.debugf("offering keys: %s", orNone(keys.offered))
	if len(keys.skipped) > 0 {
		s.debugf("keys skipped: %s", strings.Join(keys.skipped, "; "))
	}
	ccfg := &ssh.ClientConfig{
		User:              s.user,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(keys.signers...)},
		HostKeyCallback:   hk.callback,
		HostKeyAlgorithms: hk.algorithms(s.keyHostPort()),
	}
	// The handshake has no deadline of its own: close the connection when
	// the time is up or ctx is canceled.
	stop := context.AfterFunc(dctx, func() { conn.Close() })
	// x/crypto checks the host key under the address given here.
	cc, chans, reqs, err := ssh.NewClientConn(conn, s.keyHostPort(), ccfg)
	if !stop() {
		if err == nil {
			cc.Close()
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("host %s: %s: %w", s.name, what, ctx.Err())
		}
		return nil, unreachable("SSH handshake timed out after %s", s.connectTimeout)
	}
	if err != nil {
		conn.Close()
		if hk.refusal != nil {
			return nil, unreachable("%w", hk.refusal)
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			var b bytes.Buffer
			fmt.Fprintf(&b, "authentication failed (offered: %s)", orNone(keys.offered))
			if len(keys.skipped) > 0 {
				fmt.Fprintf(&b, "; skipped: %s", strings.Join(keys.skipped, "; "))
			}
			fmt.Fprintf(&b, "; add one of these keys to ~%s/.ssh/authorized_keys on the host, or set ssh_key/ssh_user", s.user)
			return nil, unreachable("%s", b.String())
		}
		if strings.Contains(err.Error(), "no common algorithm for host key") {
			return nil, unreachable("the host offers none of the host key types known_hosts holds for it (%s): its keys were replaced? "+
				"Verify the new key with the host's administrator and update known_hosts: %w",
				strings.Join(ccfg.HostKeyAlgorithms, ", "), err)
		}
		return nil, unreachable("SSH handshake failed: %w", err)
	}
	s.debugf("connected to %s as %s (server %s)", addr, s.user, cc.ServerVersion())
	return ssh.NewClient(cc, chans, reqs), nil
}

// debugSettings reports at -vvv how s was resolved, before it is dialed.
func (s sshSettings) debugSettings(isJump, via bool) {
	if s.debug == nil {
		return
	}
	what := "host"
	if isJump {
		what = "jump host"
	}
	how := "directly"
	if via {
		how = "through the jump host before it"
	}
	s.debugf("SSH %s %s: connecting to %s@%s %s (ssh_config host argument %q)", what, s.alias, s.user, s.hostPort(), how, s.alias)
	if len(s.configFiles) == 0 {
		s.debugf("ssh_config: no file read")
	} else {
		s.debugf("ssh_config files read: %s", strings.Join(s.configFiles, ", "))
	}
	for _, a := range s.applied {
		s.debugf("ssh_config applied %s", a)
	}
	for _, a := range s.nameOnly {
		s.debugf("ssh_config not applied %s: it matches the inventory name %s, not the host argument %s", a, s.name, s.alias)
	}
	if len(s.ignored) > 0 {
		s.debugf("ssh_config keywords pgplay does not use: %s", strings.Join(s.ignored, ", "))
	}
	if len(s.jumps) > 0 {
		var hops []string
		for _, j := range s.jumps {
			hops = append(hops, j.user+"@"+j.hostPort())
		}
		s.debugf("jump hosts: %s", strings.Join(hops, " -> "))
	}
	s.debugf("known_hosts: %s (new keys go to %s); global: %s; host key policy: %s; key looked up as %s",
		strings.Join(s.knownHosts, ", "), s.knownHosts[0], noneIfEmpty(existing(s.globalKnownHosts)), s.policyFrom, s.keyHostPort())
}

func noneIfEmpty(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}

func orNone(l []string) string {
	if len(l) == 0 {
		return "no keys: no ssh-agent and no key file found"
	}
	return strings.Join(l, ", ")
}
