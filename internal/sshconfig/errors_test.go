package sshconfig_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgplay/pgplay/internal/sshconfig"
)

// resolveText writes text (FILE replaced by its path) to a file of the
// given mode and resolves q.Host ("h" by default) against it; "FILE" in
// q.CheckPerms stands for that file.
func resolveText(t *testing.T, text string, mode os.FileMode, q sshconfig.Query) (*sshconfig.Result, string, error) {
	t.Helper()
	local, err := sshconfig.CurrentUser()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(file, []byte(strings.ReplaceAll(text, "FILE", file)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(file, mode); err != nil {
		t.Fatal(err)
	}
	if q.Host == "" {
		q.Host = "h"
	}
	q.Files = append(q.Files, file)
	for i, f := range q.CheckPerms {
		if f == "FILE" {
			q.CheckPerms[i] = file
		}
	}
	q.Local = local
	r, err := sshconfig.Resolve(context.Background(), q)
	return r, file, err
}

// Every bad input is an error naming file:line and what is wrong.
func TestBadConfigErrors(t *testing.T) {
	failLookup := func(context.Context, string) ([]string, error) { return nil, errors.New("no such host") }
	cases := []struct {
		name, text string
		mode       os.FileMode
		q          sshconfig.Query
		line       string // ":N" expected after the file name
		want       string
	}{
		{"host without pattern", "Host\n", 0, sshconfig.Query{}, ":1", "Host needs at least one pattern"},
		{"match without criterion", "Match\n", 0, sshconfig.Query{}, ":1", "Match needs a criterion"},
		{"match all combined", "Match all host x\n", 0, sshconfig.Query{}, ":1", "Match all cannot be combined"},
		{"match host without argument", "Match host\n", 0, sshconfig.Query{}, ":1", "Match host needs an argument"},
		{"match unsupported", "Host *\n  User u\nMatch tagged prod\n", 0, sshconfig.Query{}, ":3", "Match tagged is not supported by pgplay"},
		{"unknown keyword", "Host *\n  Usr admin\n", 0, sshconfig.Query{}, ":2", "bad configuration option Usr: not an OpenSSH keyword"},
		{"unknown keyword in an inactive block", "Host other\n  Usr admin\n", 0, sshconfig.Query{}, ":2", "put `IgnoreUnknown Usr` before it"},
		{"user without value", "User\n", 0, sshconfig.Query{}, ":1", "User needs a value"},
		{"bad port", "Host other\n  Port abc\n", 0, sshconfig.Query{}, ":2", `Port "abc" is not a port number`},
		{"bad timeout", "ConnectTimeout soon\n", 0, sshconfig.Query{}, ":1", `ConnectTimeout "soon" is not a number of seconds`},
		{"bad strict", "StrictHostKeyChecking maybe\n", 0, sshconfig.Query{}, ":1", "want yes, accept-new, no or ask"},
		{"bad canonicalize", "CanonicalizeHostname perhaps\n", 0, sshconfig.Query{}, ":1", "want yes, no or always"},
		{"include without file", "Include\n", 0, sshconfig.Query{}, ":1", "Include needs a file name"},
		{"include loop", "Include FILE\n", 0, sshconfig.Query{}, "", "too many nested Include directives"},
		{"unterminated quote", "IdentityFile \"~/my key\n", 0, sshconfig.Query{}, ":1", "unterminated \" quote"},
		{"proxycommand", "Host h\n  ProxyCommand nc %h %p\n", 0, sshconfig.Query{}, ":2", "ProxyCommand nc %h %p applies to h: pgplay dials hosts itself"},
		{"revokedhostkeys", "RevokedHostKeys ~/.ssh/revoked\n", 0, sshconfig.Query{}, ":1", "RevokedHostKeys ~/.ssh/revoked applies to h: pgplay cannot read RevokedHostKeys files"},
		{"unknown token", "IdentityFile ~/.ssh/%k\n", 0, sshconfig.Query{}, ":1", "token %k is not supported"},
		{"lone percent", "UserKnownHostsFile ~/kh%\n", 0, sshconfig.Query{}, ":1", "a lone % at the end"},
		{"exec from a group-writable file", "Match exec true\n  User x\n", 0o620, sshconfig.Query{}, ":1", "writable by group or others"},
		{"exec with a shell character in the host", "Match exec \"test -n %h\"\n  User x\n", 0, sshconfig.Query{Host: "h;touch /tmp/x"}, ":1", "refusing to put \"h;touch /tmp/x\" in a shell command"},
		{"exec too slow", "Match exec \"sleep 5\"\n  User x\n", 0, sshconfig.Query{ExecTimeout: 200 * time.Millisecond}, ":1", "did not finish within 200ms"},
		{"canonicalize fails", "CanonicalizeHostname yes\nCanonicalDomains example.invalid\nCanonicalizeFallbackLocal no\n", 0,
			sshconfig.Query{Lookup: failLookup}, ":2", "could not canonicalize h"},
		{"insecure user config", "User x\n", 0o666, sshconfig.Query{CheckPerms: []string{"FILE"}}, "", "bad owner or permissions"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mode := tc.mode
			if mode == 0 {
				mode = 0o600
			}
			_, file, err := resolveText(t, tc.text, mode, tc.q)
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), file+tc.line) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %q\nwant %s%s and %q", err, file, tc.line, tc.want)
			}
		})
	}
}

// What ssh accepts, pgplay accepts: ProxyCommand none, a ProxyJump that
// came before a ProxyCommand, unknown keywords named by IgnoreUnknown,
// and a Match exec is not run when an earlier criterion of its line
// failed.
func TestConfigAccepted(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	r, _, err := resolveText(t, `
Host h
  ProxyJump j1
  ProxyCommand nc %h %p
  HostKeyAlias none
  RevokedHostKeys none
Match host nomatch exec "touch `+marker+`"
  User never
Host *
  ProxyCommand none
  SendEnv LANG
  IgnoreUnknown UseFancyThing,Other*
  UseFancyThing yes
  OtherOption 3
`, 0o600, sshconfig.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if r.ProxyJump.Value != "j1" {
		t.Fatalf("ProxyJump %q, want j1", r.ProxyJump.Value)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("Match exec ran although the host criterion before it failed")
	}
	if len(r.Ignored) != 1 || !strings.HasSuffix(r.Ignored[0], ": SendEnv") {
		t.Fatalf("ignored %v, want SendEnv listed (and not the keywords IgnoreUnknown names)", r.Ignored)
	}
}

// Applied names each Host/Match line that applied, with file:line, and
// marks the final pass.
func TestAppliedBlocks(t *testing.T) {
	r, file, err := resolveText(t, "Host alias\n  HostName 10.0.0.1\nMatch final host 10.0.0.1\n  User u\n", 0o600, sshconfig.Query{Host: "alias"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{file + ":1: Host alias", file + ":3: Match final host 10.0.0.1 (final pass, host 10.0.0.1)"}
	if strings.Join(r.Applied, "\n") != strings.Join(want, "\n") || r.User != "u" {
		t.Fatalf("applied %q (user %s), want %q", r.Applied, r.User, want)
	}
}
