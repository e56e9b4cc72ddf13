package transport_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pgplay/pgplay/internal/sshconfig"
	"github.com/pgplay/pgplay/internal/sshtest"
	"github.com/pgplay/pgplay/internal/transport"
	"golang.org/x/crypto/ssh"
)

// testUser is the current user with a temporary home: ~ and ~/.ssh of
// the ssh_config files resolve there, not in the real home.
func testUser(t *testing.T) *sshconfig.LocalUser {
	t.Helper()
	u, err := sshconfig.CurrentUser()
	if err != nil {
		t.Fatal(err)
	}
	u.Home = t.TempDir()
	return &u
}

// debugLog collects what a Config's Debug receives.
type debugLog struct {
	mu    sync.Mutex
	lines []string
}

func (d *debugLog) add(s string) { d.mu.Lock(); d.lines = append(d.lines, s); d.mu.Unlock() }
func (d *debugLog) String() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return strings.Join(d.lines, "\n")
}

// An inventory host with ansible_host 127.0.0.1 gets the settings of a
// `Host 127.0.0.*` block, as `ssh 127.0.0.1` (what Ansible runs) would;
// a `Host node1` block for its inventory name does not apply.
func TestSSHConfigHostMatchesAnsibleHost(t *testing.T) {
	s := sshtest.Start(t)
	t.Setenv("SSH_AUTH_SOCK", "")
	conf := filepath.Join(t.TempDir(), "ssh_config")
	writeConfig(t, conf, fmt.Sprintf(`
Host node1
  User wrong-user
  Port 1
Host 127.0.0.*
  User %s
  Port %d
  IdentityFile %s
  UserKnownHostsFile %s
`, s.User, s.Port, s.ClientKeyFile, s.KnownHostsFile))
	cfg := transport.Config{Name: "node1", Addr: "127.0.0.1", SSHConfigFile: conf, LocalUser: testUser(t)}
	res := run(t, target(t, newPool(t), cfg, ""), transport.Cmd{Argv: []string{"id", "-un"}})
	if got := strings.TrimSpace(string(res.Stdout)); got != s.User {
		t.Fatalf("logged in as %q, want %q", got, s.User)
	}
}

// Match blocks from ~/.ssh/config (of the passwd home): Match user sees
// the inventory's user (as ssh -l), Match host the address.
func TestSSHConfigMatchBlocks(t *testing.T) {
	s := sshtest.Start(t)
	t.Setenv("SSH_AUTH_SOCK", "")
	lu := testUser(t)
	if err := os.MkdirAll(filepath.Join(lu.Home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeConfig(t, filepath.Join(lu.Home, ".ssh", "config"), fmt.Sprintf(`
Match originalhost 127.0.0.1 user someone-else
  Port 1
Match host 127.0.0.1 user %s localuser %s
  Port %d
  IdentityFile ~/id_test
  UserKnownHostsFile %s
`, s.User, lu.Name, s.Port, s.KnownHostsFile))
	key, err := os.ReadFile(s.ClientKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(lu.Home, "id_test"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := transport.Config{Name: "db1", Addr: "127.0.0.1", User: s.User, LocalUser: lu, SystemSSHConfig: "none"}
	run(t, target(t, newPool(t), cfg, ""), transport.Cmd{Argv: []string{"true"}})
}

// StrictHostKeyChecking from ssh_config, in a run that cannot ask.
func TestStrictHostKeyCheckingFromSSHConfig(t *testing.T) {
	s := sshtest.Start(t, sshtest.EmptyKnownHosts())
	t.Setenv("SSH_AUTH_SOCK", "")
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	cfgWith := func(t *testing.T, policy string) transport.Config {
		conf := filepath.Join(t.TempDir(), "ssh_config")
		text := fmt.Sprintf("Host 127.0.0.1\n  User %s\n  Port %d\n  IdentityFile %s\n  UserKnownHostsFile %s\n  HashKnownHosts yes\n",
			s.User, s.Port, s.ClientKeyFile, kh)
		if policy != "" {
			text += "  StrictHostKeyChecking " + policy + "\n"
		}
		writeConfig(t, conf, text)
		return transport.Config{Name: "node1", Addr: "127.0.0.1", SSHConfigFile: conf, LocalUser: testUser(t)}
	}

	t.Run("ask refuses an unknown key", func(t *testing.T) {
		_, err := newPool(t).Target(testCtx(t), cfgWith(t, ""), "")
		if !errors.Is(err, transport.ErrUnreachable) {
			t.Fatalf("err %v, want ErrUnreachable", err)
		}
		for _, want := range []string{"unknown host key", "StrictHostKeyChecking ask (OpenSSH's default)", "cannot ask", "StrictHostKeyChecking accept-new"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("message lacks %q:\n%v", want, err)
			}
		}
		if _, err := os.Stat(kh); err == nil {
			t.Fatal("known_hosts was written")
		}
	})
	t.Run("yes refuses an unknown key", func(t *testing.T) {
		_, err := newPool(t).Target(testCtx(t), cfgWith(t, "yes"), "")
		if err == nil || !strings.Contains(err.Error(), "StrictHostKeyChecking yes (") {
			t.Fatalf("err %v, want a refusal naming StrictHostKeyChecking yes and its file:line", err)
		}
	})
	t.Run("accept-new adds it, hashed", func(t *testing.T) {
		run(t, target(t, newPool(t), cfgWith(t, "accept-new"), ""), transport.Cmd{Argv: []string{"true"}})
		b, err := os.ReadFile(kh)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), "|1|") || strings.Contains(string(b), "127.0.0.1") || strings.Count(string(b), "\n") != 1 {
			t.Fatalf("known_hosts %q: want one hashed line (HashKnownHosts yes)", b)
		}
		// Known now: a strict connection accepts it.
		run(t, target(t, newPool(t), cfgWith(t, "yes"), ""), transport.Cmd{Argv: []string{"true"}})
	})
	t.Run("a changed key is refused, even with no", func(t *testing.T) {
		newKey := s.RotateHostKey(t)
		for _, policy := range []string{"accept-new", "no"} {
			_, err := newPool(t).Target(testCtx(t), cfgWith(t, policy), "")
			if err == nil || !strings.Contains(err.Error(), "HAS CHANGED") || !strings.Contains(err.Error(), ssh.FingerprintSHA256(newKey)) {
				t.Fatalf("%s: err %v, want the changed key refused", policy, err)
			}
		}
	})
	t.Run("no adds an unknown key", func(t *testing.T) {
		if err := os.Remove(kh); err != nil {
			t.Fatal(err)
		}
		run(t, target(t, newPool(t), cfgWith(t, "no"), ""), transport.Cmd{Argv: []string{"true"}})
		if b, _ := os.ReadFile(kh); !strings.HasPrefix(string(b), "|1|") {
			t.Fatalf("known_hosts %q: want the key added", b)
		}
	})
}

// ProxyJump as ssh does it: a jump host's own ProxyJump (from its Host
// block) is followed for the first hop of a list, and ignored for the
// later ones (ssh runs them with -J); OpenSSH's ssh, run on the same
// file first, takes the same path; -vvv tells the chain.
func TestProxyJumpChainsAsOpenSSH(t *testing.T) {
	s := sshtest.Start(t)
	t.Setenv("SSH_AUTH_SOCK", "")
	conf := filepath.Join(t.TempDir(), "ssh_config")
	writeConfig(t, conf, fmt.Sprintf(`
Host target
  HostName 127.0.0.1
  ProxyJump hopb
Host hopb
  HostName 127.0.0.1
  ProxyJump hopa
Host list
  HostName 127.0.0.1
  ProxyJump hopa,hopc
Host hopc
  HostName 127.0.0.1
  ProxyJump nowhere.invalid
Host hopa
  HostName 127.0.0.1
Host loop1
  ProxyJump loop2
Host loop2
  ProxyJump loop1
Host *
  User %s
  Port %d
  IdentityFile %s
  UserKnownHostsFile %s
`, s.User, s.Port, s.ClientKeyFile, s.KnownHostsFile))
	for _, name := range []string{"target", "list"} {
		t.Run(name, func(t *testing.T) {
			if _, err := exec.LookPath("ssh"); err == nil {
				// The reference: OpenSSH takes the same path.
				before := s.AcceptedLogins()
				if out, err := exec.Command("ssh", "-F", conf, "-o", "BatchMode=yes", name, "true").CombinedOutput(); err != nil {
					t.Fatalf("ssh %s: %v\n%s", name, err, out)
				}
				if n := s.AcceptedLogins() - before; n != 3 {
					t.Fatalf("ssh: sshd accepted %d logins, want 3", n)
				}
			}
			before := s.AcceptedLogins()
			var log debugLog
			p := newPool(t)
			cfg := transport.Config{Name: name, SSHConfigFile: conf, LocalUser: testUser(t), Debug: log.add}
			run(t, target(t, p, cfg, ""), transport.Cmd{Argv: []string{"true"}})
			if st := p.Stats(); st.Dials != 3 {
				t.Fatalf("dials %d, want 3 (two jump hosts and the host)", st.Dials)
			}
			if n := s.AcceptedLogins() - before; n != 3 {
				t.Fatalf("sshd accepted %d logins, want 3", n)
			}
			hop := s.User + "@" + s.Addr()
			for _, want := range []string{
				"jump hosts: " + hop + " -> " + hop,
				"SSH host " + name + ": connecting to " + hop + " through the jump host",
				"SSH jump host hopa: connecting to " + hop + " directly",
				"ssh_config files read: " + conf,
				"ssh_config applied " + conf + ":",
				"offering keys: " + s.ClientKeyFile,
				"known_hosts: " + s.KnownHostsFile,
				"host key policy: StrictHostKeyChecking ask",
			} {
				if !strings.Contains(log.String(), want) {
					t.Errorf("debug output lacks %q:\n%s", want, log.String())
				}
			}
		})
	}
	t.Run("loop", func(t *testing.T) {
		cfg := transport.Config{Name: "loop1", SSHConfigFile: conf, LocalUser: testUser(t)}
		_, err := newPool(t).Target(testCtx(t), cfg, "")
		if err == nil || !strings.Contains(err.Error(), "jump hosts deep") || !strings.Contains(err.Error(), conf+":") {
			t.Fatalf("err %v, want a ProxyJump loop error naming the file:line", err)
		}
	})
}

// A bad ssh_config stops the connection with the host, the file:line and
// what is wrong.
func TestSSHConfigErrorsNameFileLine(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "ssh_config")
	writeConfig(t, conf, "Host *\n  User x\nMatch tagged prod\n  Port 2\n")
	_, err := newPool(t).Target(testCtx(t), transport.Config{Name: "node7", Addr: "127.0.0.1", SSHConfigFile: conf, LocalUser: testUser(t)}, "")
	if err == nil || !strings.Contains(err.Error(), "host node7") || !strings.Contains(err.Error(), conf+":3") ||
		!strings.Contains(err.Error(), "Match tagged is not supported") {
		t.Fatalf("err %v, want host, %s:3 and the unsupported criterion", err, conf)
	}
}

// ~ is the passwd entry's home, not $HOME: the default known_hosts is
// there.
func TestTildeIsPasswdHome(t *testing.T) {
	s := sshtest.Start(t, sshtest.EmptyKnownHosts())
	t.Setenv("HOME", t.TempDir())
	u, err := sshconfig.CurrentUser()
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.Config("node1")
	cfg.KnownHostsFiles = nil
	_, err = newPool(t).Target(testCtx(t), cfg, "")
	want := filepath.Join(u.Home, ".ssh", "known_hosts")
	if err == nil || !strings.Contains(err.Error(), "is not in "+want) {
		t.Fatalf("err %v, want the unknown key reported against %s", err, want)
	}
}

// ~/.ssh/config that others can change is refused, as ssh refuses it.
func TestUserSSHConfigPermissions(t *testing.T) {
	lu := testUser(t)
	if err := os.MkdirAll(filepath.Join(lu.Home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(lu.Home, ".ssh", "config")
	writeConfig(t, conf, "User x\n")
	if err := os.Chmod(conf, 0o666); err != nil {
		t.Fatal(err)
	}
	_, err := newPool(t).Target(testCtx(t), transport.Config{Name: "node1", Addr: "127.0.0.1", LocalUser: lu, SystemSSHConfig: "none"}, "")
	if err == nil || !strings.Contains(err.Error(), "bad owner or permissions") || !strings.Contains(err.Error(), conf) ||
		!strings.Contains(err.Error(), "chmod go-w") {
		t.Fatalf("err %v, want %s refused for its permissions", err, conf)
	}
}

// IdentitiesOnly yes: the agent's keys are offered only when they are
// identity files, as ssh does; without it the agent's key gets in.
func TestIdentitiesOnly(t *testing.T) {
	s := sshtest.Start(t)
	serveAgent(t, s.ClientKey)
	// A key file sshd does not know.
	_, other, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pemBlock, err := ssh.MarshalPrivateKey(other, "")
	if err != nil {
		t.Fatal(err)
	}
	otherFile := filepath.Join(t.TempDir(), "other_key")
	if err := os.WriteFile(otherFile, pem.EncodeToMemory(pemBlock), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, only := range []string{"no", "yes"} {
		t.Run("IdentitiesOnly "+only, func(t *testing.T) {
			conf := filepath.Join(t.TempDir(), "ssh_config")
			writeConfig(t, conf, fmt.Sprintf("Host 127.0.0.1\n  User %s\n  Port %d\n  IdentityFile %s\n  IdentitiesOnly %s\n  UserKnownHostsFile %s\n",
				s.User, s.Port, otherFile, only, s.KnownHostsFile))
			cfg := transport.Config{Name: "node1", Addr: "127.0.0.1", SSHConfigFile: conf, LocalUser: testUser(t)}
			_, err := newPool(t).Target(testCtx(t), cfg, "")
			if only == "no" && err != nil {
				t.Fatalf("the agent's key should get in: %v", err)
			}
			if only == "yes" && (err == nil || !strings.Contains(err.Error(), "ssh-agent (0 keys, IdentitiesOnly)")) {
				t.Fatalf("err %v, want authentication refused with no agent key offered", err)
			}
		})
	}
}

// A `Host node1` block no longer applies to node1 when it has an
// ansible_host; when it cannot be reached, the error says why and what
// to do.
func TestSSHConfigNameOnlyHint(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := filepath.Join(t.TempDir(), "ssh_config")
	writeConfig(t, conf, fmt.Sprintf("Host node1 db*\n  Port 2222\nHost *\n  Port %d\n", closed))
	_, err = newPool(t).Target(testCtx(t), transport.Config{Name: "node1", Addr: "127.0.0.1", SSHConfigFile: conf, LocalUser: testUser(t)}, "")
	for _, want := range []string{"cannot connect", conf + ":1: Host node1 db*", "matches the inventory name node1 but not 127.0.0.1",
		"put 127.0.0.1 in that Host line, or drop ansible_host"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err %v, want %q", err, want)
		}
	}
}

// HostKeyAlias: the host key is looked up (and recorded) under the alias,
// with the port, as ssh does.
func TestHostKeyAlias(t *testing.T) {
	s := sshtest.Start(t)
	t.Setenv("SSH_AUTH_SOCK", "")
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	writeConfig(t, kh, strings.Replace(s.KnownHostsLine(s.HostKey), "[127.0.0.1]", "[db-primary]", 1)+"\n")
	conf := filepath.Join(dir, "ssh_config")
	writeConfig(t, conf, fmt.Sprintf("Host 127.0.0.1\n  User %s\n  Port %d\n  IdentityFile %s\n  UserKnownHostsFile %s\n  HostKeyAlias db-primary\n",
		s.User, s.Port, s.ClientKeyFile, kh))
	cfg := transport.Config{Name: "db1", Addr: "127.0.0.1", SSHConfigFile: conf, LocalUser: testUser(t)}
	run(t, target(t, newPool(t), cfg, ""), transport.Cmd{Argv: []string{"true"}})

	// Unknown under the alias: the hint records it under the alias.
	writeConfig(t, kh, "")
	_, err := newPool(t).Target(testCtx(t), cfg, "")
	want := fmt.Sprintf("ssh-keyscan -p %d 127.0.0.1 | sed 's/^[^ ]*/[db-primary]:%d/' >> %s", s.Port, s.Port, kh)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err %v, want the hint %q", err, want)
	}
}

// TestHostKeyPolicyAsOpenSSH connects with OpenSSH's ssh (BatchMode, as a
// run that cannot ask) and with pgplay, under each StrictHostKeyChecking
// value, to a host whose key is unknown, known, or changed, and expects
// the same verdict: pgplay differs only where docs/ssh.md says, refusing a
// changed key under "no" where ssh connects.
func TestHostKeyPolicyAsOpenSSH(t *testing.T) {
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("OpenSSH's ssh is not installed: no reference to compare with")
	}
	s := sshtest.Start(t)
	t.Setenv("SSH_AUTH_SOCK", "")
	_, otherPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := ssh.NewPublicKey(otherPriv.Public())
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]string{
		"unknown": "",
		"known":   s.KnownHostsLine(s.HostKey),
		"changed": s.KnownHostsLine(otherKey),
	}
	for _, policy := range []string{"ask", "yes", "accept-new", "no"} {
		for _, state := range []string{"unknown", "known", "changed"} {
			t.Run(policy+"/"+state, func(t *testing.T) {
				dir := t.TempDir()
				kh := filepath.Join(dir, "known_hosts")
				conf := filepath.Join(dir, "ssh_config")
				writeConfig(t, conf, fmt.Sprintf("Host 127.0.0.1\n  User %s\n  Port %d\n  IdentityFile %s\n  IdentitiesOnly yes\n"+
					"  UserKnownHostsFile %s\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking %s\n",
					s.User, s.Port, s.ClientKeyFile, kh, policy))
				writeConfig(t, kh, states[state])
				out, sshErr := exec.Command("ssh", "-F", conf, "-o", "BatchMode=yes", "127.0.0.1", "true").CombinedOutput()
				sshOK := sshErr == nil
				sshKH, _ := os.ReadFile(kh)

				writeConfig(t, kh, states[state])
				cfg := transport.Config{Name: "node1", Addr: "127.0.0.1", SSHConfigFile: conf, LocalUser: testUser(t)}
				_, err := newPool(t).Target(testCtx(t), cfg, "")
				pgOK := err == nil
				pgKH, _ := os.ReadFile(kh)

				want := sshOK
				if policy == "no" && state == "changed" {
					if !sshOK {
						t.Errorf("ssh refused a changed key under StrictHostKeyChecking no; docs/ssh.md says it connects: %s", out)
					}
					want = false // the deliberate difference
				}
				if pgOK != want {
					t.Fatalf("pgplay connected: %v (%v); ssh connected: %v (%s)", pgOK, err, sshOK, out)
				}
				if (len(pgKH) > len(states[state])) != (len(sshKH) > len(states[state])) && !(policy == "no" && state == "changed") {
					t.Fatalf("known_hosts grew: pgplay %v, ssh %v", len(pgKH) > len(states[state]), len(sshKH) > len(states[state]))
				}
			})
		}
	}
}

// User certificates, as ssh finds them: KEY-cert.pub next to the key
// file, or a CertificateFile; the key itself is not in authorized_keys,
// only its CA is trusted.
func TestUserCertificate(t *testing.T) {
	dir := t.TempDir()
	_, caPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := ssh.NewSignerFromKey(caPriv)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pub")
	writeConfig(t, caFile, string(ssh.MarshalAuthorizedKey(ca.PublicKey())))
	s := sshtest.Start(t, sshtest.WithConfig("TrustedUserCAKeys "+caFile))
	t.Setenv("SSH_AUTH_SOCK", "")

	_, userPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pemBlock, err := ssh.MarshalPrivateKey(userPriv, "")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "id_user")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(pemBlock), 0o600); err != nil {
		t.Fatal(err)
	}
	userPub, err := ssh.NewPublicKey(userPriv.Public())
	if err != nil {
		t.Fatal(err)
	}
	cert := &ssh.Certificate{Key: userPub, CertType: ssh.UserCert, KeyId: "pgplay-test", ValidPrincipals: []string{s.User},
		ValidBefore: ssh.CertTimeInfinity, Permissions: ssh.Permissions{Extensions: map[string]string{"permit-pty": ""}}}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	certText := string(ssh.MarshalAuthorizedKey(cert))

	connect := func(t *testing.T, extra string) error {
		conf := filepath.Join(t.TempDir(), "ssh_config")
		writeConfig(t, conf, fmt.Sprintf("Host 127.0.0.1\n  User %s\n  Port %d\n  IdentityFile %s\n  UserKnownHostsFile %s\n%s",
			s.User, s.Port, keyFile, s.KnownHostsFile, extra))
		var log debugLog
		_, err := newPool(t).Target(testCtx(t), transport.Config{Name: "node1", Addr: "127.0.0.1", SSHConfigFile: conf,
			LocalUser: testUser(t), Debug: log.add}, "")
		if err == nil && !strings.Contains(log.String(), "certificate pgplay-test") {
			t.Errorf("-vvv does not show the certificate offered:\n%s", log.String())
		}
		return err
	}
	t.Run("no certificate", func(t *testing.T) {
		if err := connect(t, ""); err == nil || !strings.Contains(err.Error(), "authentication failed") {
			t.Fatalf("err %v, want authentication refused (the key alone is not authorized)", err)
		}
	})
	t.Run("CertificateFile", func(t *testing.T) {
		cf := filepath.Join(t.TempDir(), "my-cert.pub")
		writeConfig(t, cf, certText)
		if err := connect(t, "  CertificateFile "+cf+"\n"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("KEY-cert.pub", func(t *testing.T) {
		writeConfig(t, keyFile+"-cert.pub", certText)
		if err := connect(t, ""); err != nil {
			t.Fatal(err)
		}
	})
}
