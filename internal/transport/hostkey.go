package transport

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"
	xknownhosts "golang.org/x/crypto/ssh/knownhosts"
)

// hostKeyChecker checks a server's host key against known_hosts files
// (the user's, then the global ones): strict by default; under
// accept-new (or StrictHostKeyChecking no) an unknown host's key is
// appended to the first user file, hashed when HashKnownHosts says so; a
// changed key is always refused.
type hostKeyChecker struct {
	s       sshSettings
	db      *knownhosts.HostKeyDB
	writeMu *sync.Mutex // serialises appends to known_hosts within a Pool

	// refusal is the error the callback returned, kept to report it
	// without the "ssh: handshake failed" wrapping.
	refusal error
}

func newHostKeyChecker(s sshSettings, writeMu *sync.Mutex) (*hostKeyChecker, error) {
	var existing []string
	for _, f := range append(append([]string(nil), s.knownHosts...), s.globalKnownHosts...) {
		_, err := os.Stat(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("known_hosts %s: %w", f, err)
		}
		existing = append(existing, f)
	}
	db, err := knownhosts.NewDB(existing...)
	if err != nil {
		return nil, fmt.Errorf("read known_hosts (%s): %w", strings.Join(existing, ", "), err)
	}
	return &hostKeyChecker{s: s, db: db, writeMu: writeMu}, nil
}

// algorithms are the host key algorithms to offer: those of the keys
// known for addr, so the server shows a key we can check (x/crypto
// otherwise may negotiate a type we do not know and report a mismatch).
// Empty for an unknown host: any algorithm.
func (k *hostKeyChecker) algorithms(hostPort string) []string {
	return k.db.HostKeyAlgorithms(hostPort)
}

func (k *hostKeyChecker) callback(hostname string, remote net.Addr, key ssh.PublicKey) error {
	err := k.db.HostKeyCallback()(hostname, remote, key)
	if err == nil {
		return nil
	}
	k.refusal = k.explain(hostname, key, err)
	return k.refusal
}

func (k *hostKeyChecker) explain(hostname string, key ssh.PublicKey, err error) error {
	host, port, _ := net.SplitHostPort(hostname)
	file := k.s.knownHosts[0]
	fp := key.Type() + " " + ssh.FingerprintSHA256(key)
	var keyErr *xknownhosts.KeyError
	var revoked *xknownhosts.RevokedError
	switch {
	case errors.As(err, &revoked):
		return fmt.Errorf("host key %s of %s is marked @revoked in %s:%d; refusing to connect",
			fp, hostname, revoked.Revoked.Filename, revoked.Revoked.Line)
	case errors.As(err, &keyErr) && len(keyErr.Want) > 0:
		var known []string
		for _, w := range keyErr.Want {
			known = append(known, fmt.Sprintf("%s:%d (%s %s)", w.Filename, w.Line, w.Key.Type(), ssh.FingerprintSHA256(w.Key)))
		}
		return fmt.Errorf(
			"WARNING: HOST KEY OF %s HAS CHANGED: it offered %s but known_hosts holds %s. "+
				"Someone may be intercepting the connection (man-in-the-middle attack), or the host was reinstalled. "+
				"pgplay refuses to connect, even with --accept-new-host-keys or StrictHostKeyChecking no. If the change is expected, verify the new key "+
				"with the host's administrator, remove the old one (ssh-keygen -R '%s' -f %s) and connect again",
			hostname, fp, strings.Join(known, ", "), knownhosts.Normalize(hostname), keyErr.Want[0].Filename)
	case errors.As(err, &keyErr):
		if k.s.policy == policyAcceptNew || k.s.policy == policyNo {
			if werr := k.appendKey(file, hostname, key); werr != nil {
				return fmt.Errorf("accept new host key %s of %s (%s): %w", fp, hostname, k.s.policyFrom, werr)
			}
			k.s.debugf("host key %s of %s was unknown: added to %s (%s)", fp, hostname, file, k.s.policyFrom)
			return nil
		}
		ask := ""
		if strings.HasPrefix(k.s.policyFrom, "StrictHostKeyChecking ask") {
			ask = " (a pgplay run cannot ask, so ask refuses as ssh -o BatchMode=yes does)"
		}
		scan := fmt.Sprintf("ssh-keyscan -p %s %s >> %s", port, host, file)
		if k.s.hostKeyAlias != "" {
			// The key is looked up under the alias: record it so.
			scan = fmt.Sprintf("ssh-keyscan -p %d %s | sed 's/^[^ ]*/%s/' >> %s", k.s.port, k.s.addr, knownhosts.Normalize(hostname), file)
		}
		return fmt.Errorf(
			"unknown host key for %s: %s is not in %s; refused under %s%s. After verifying this fingerprint with the host's administrator, "+
				"add the key with `%s`, or run with --accept-new-host-keys (or StrictHostKeyChecking accept-new in ssh_config) to trust it on first use",
			hostname, fp, strings.Join(k.s.knownHosts, ", "), k.s.policyFrom, ask, scan)
	}
	return fmt.Errorf("check host key of %s: %w", hostname, err)
}

// appendKey adds a known_hosts line for hostname (creating the file 0600
// and its directory 0700 when absent).
func (k *hostKeyChecker) appendKey(file, hostname string, key ssh.PublicKey) error {
	k.writeMu.Lock()
	defer k.writeMu.Unlock()
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	line := knownhosts.Line([]string{hostname}, key)
	if k.s.hashKnownHosts {
		line = xknownhosts.HashHostname(knownhosts.Normalize(hostname)) + " " + key.Type() + " " +
			base64.StdEncoding.EncodeToString(key.Marshal())
	}
	if _, err := fmt.Fprintln(f, line); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
