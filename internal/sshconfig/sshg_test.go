package sshconfig_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pgplay/pgplay/internal/sshconfig"
)

// sshG runs OpenSSH's own resolution, `ssh -G`, and returns its answer
// for the keywords compared.
func sshG(t *testing.T, file string, q sshconfig.Query) map[string][]string {
	t.Helper()
	args := []string{"-G", "-F", file}
	if q.User != "" {
		args = append(args, "-l", q.User)
	}
	if q.Port != 0 {
		args = append(args, "-p", strconv.Itoa(q.Port))
	}
	for _, f := range q.IdentityFiles {
		args = append(args, "-i", f)
	}
	args = append(args, q.Host)
	out, err := exec.Command("ssh", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	got := map[string][]string{}
	for _, l := range strings.Split(string(out), "\n") {
		k, v, _ := strings.Cut(l, " ")
		got[k] = append(got[k], v)
	}
	return got
}

func needSSH(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("OpenSSH's ssh is not installed: no reference to compare with")
	}
}

// TestResolveAsSSHG resolves hosts against ssh_config files and compares
// user, port, hostname, identity files, proxyjump, known_hosts files and
// StrictHostKeyChecking with what OpenSSH's `ssh -G` prints for the same
// file and command line.
func TestResolveAsSSHG(t *testing.T) {
	needSSH(t)
	local, err := sshconfig.CurrentUser()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	flag := filepath.Join(dir, "flag-10.9.9.9")
	if err := os.WriteFile(flag, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	inc := filepath.Join(dir, "inc")
	if err := os.MkdirAll(inc, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{
		"10-a.conf": "Host 10.1.*\n  User from-include-a\n  Port 2301\n",
		"20-b.conf": "Host 10.1.*\n  User from-include-b\n  IdentityFile ~/.ssh/inc_b\n",
	} {
		if err := os.WriteFile(filepath.Join(inc, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	configs := map[string]string{
		// Host patterns match the host given to ssh (ansible_host), the
		// first value obtained wins, IdentityFile accumulates.
		"patterns": `
Host 10.0.* !10.0.0.99
  User admin
  IdentityFile ~/.ssh/lab_key
  ProxyJump bastion.example
Host node?
  HostName 10.0.0.7
  Port 2222
Host *.example 10.0.0.5
  User ignored-second
  IdentityFile "~/.ssh/with space"
  StrictHostKeyChecking accept-new
Host *
  User = fallback
  UserKnownHostsFile ~/.ssh/kh_%h_%p_%r %d/kh2
  IgnoreUnknown UseKeychainX,Fancy*
  UseKeychainX yes
  FancyOption 1
  SendEnv LANG
`,
		// Match: host sees the HostName, originalhost the argument, user
		// the user so far (or -l), localuser the controller's user.
		"match": fmt.Sprintf(`
Host web1
  HostName 10.2.0.1
Match host 10.2.*,!10.2.0.9 originalhost web*
  Port 2022
Match user deploy
  IdentityFile ~/.ssh/deploy_key
Match localuser %[1]s !host 10.2.0.2
  StrictHostKeyChecking yes
Match !localuser %[1]s
  User never
Match exec "test -e %[2]s/flag-%%h"
  ProxyJump jumper
Match all
  User matched-all
`, local.Name, dir),
		// Match final and CanonicalizeHostname read the file again with
		// the HostName as the host.
		"final": `
Host db
  HostName 10.3.0.1
Host 10.3.*
  User seen-in-final-pass
Match final host 10.3.0.1
  Port 2444
`,
		"canonical": `
CanonicalizeHostname yes
Host short
  HostName 10.4.0.1
Match canonical host 10.4.0.1
  ProxyJump a,b@b.example:2200,c
Host 10.4.0.1
  StrictHostKeyChecking no
`,
		// Host patterns are case-sensitive, Match host/originalhost are
		// not; the HostName is lower-cased.
		"case": `
Host Node1
  User upper-pattern
Match originalhost NODE2
  HostName MiXeD.Example
Host *
  Port 2555
`,
		"include": fmt.Sprintf(`
Host 10.1.*
  Include %s/*.conf
Host *
  User last
`, inc),
	}
	cases := []struct {
		config string
		q      sshconfig.Query
	}{
		{"patterns", sshconfig.Query{Host: "10.0.0.5"}},
		{"patterns", sshconfig.Query{Host: "10.0.0.99"}},
		{"patterns", sshconfig.Query{Host: "node1"}},
		{"patterns", sshconfig.Query{Host: "node12"}},
		{"patterns", sshconfig.Query{Host: "db.example", User: "cli", Port: 2200, IdentityFiles: []string{"/etc/hostname"}}},
		{"match", sshconfig.Query{Host: "web1"}},
		{"match", sshconfig.Query{Host: "web1", User: "deploy"}},
		{"match", sshconfig.Query{Host: "10.2.0.2"}},
		{"match", sshconfig.Query{Host: "10.9.9.9"}},
		{"match", sshconfig.Query{Host: "10.2.0.9"}},
		{"final", sshconfig.Query{Host: "db"}},
		{"final", sshconfig.Query{Host: "10.3.0.1"}},
		{"canonical", sshconfig.Query{Host: "short"}},
		{"case", sshconfig.Query{Host: "node1"}},
		{"case", sshconfig.Query{Host: "Node1"}},
		{"case", sshconfig.Query{Host: "node2"}},
		{"include", sshconfig.Query{Host: "10.1.0.1"}},
		{"include", sshconfig.Query{Host: "10.5.0.1"}},
	}
	for _, tc := range cases {
		name := fmt.Sprintf("%s/%s/%s", tc.config, tc.q.Host, tc.q.User)
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(dir, tc.config)
			if err := os.WriteFile(file, []byte(configs[tc.config]), 0o600); err != nil {
				t.Fatal(err)
			}
			want := sshG(t, file, tc.q)
			q := tc.q
			q.Files = []string{file}
			q.Local = local
			r, err := sshconfig.Resolve(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			home := func(l []string) []string {
				var out []string
				for _, f := range l {
					if strings.HasPrefix(f, "~/") {
						f = filepath.Join(local.Home, f[2:])
					}
					out = append(out, f)
				}
				return out
			}
			shk := map[string]string{"true": "yes", "false": "no"}
			wantSHK := want["stricthostkeychecking"][0]
			if s, ok := shk[wantSHK]; ok {
				wantSHK = s
			}
			pj := ""
			if len(want["proxyjump"]) > 0 {
				pj = want["proxyjump"][0]
			}
			got := map[string]any{
				"hostname": r.Hostname, "port": strconv.Itoa(r.Port), "user": r.User,
				"identityfile": r.IdentityFiles, "proxyjump": r.ProxyJump.Value,
				"userknownhostsfile":    strings.Join(r.UserKnownHostsFiles, " "),
				"stricthostkeychecking": r.StrictHostKeyChecking.Value,
			}
			ref := map[string]any{
				"hostname": want["hostname"][0], "port": want["port"][0], "user": want["user"][0],
				"identityfile": home(want["identityfile"]), "proxyjump": pj,
				"userknownhostsfile":    want["userknownhostsfile"][0],
				"stricthostkeychecking": wantSHK,
			}
			for _, k := range []string{"hostname", "port", "user", "identityfile", "proxyjump", "userknownhostsfile", "stricthostkeychecking"} {
				if fmt.Sprint(got[k]) != fmt.Sprint(ref[k]) {
					t.Errorf("%s: pgplay %v, ssh -G %v", k, got[k], ref[k])
				}
			}
			if t.Failed() {
				t.Logf("applied: %s", strings.Join(r.Applied, "; "))
			}
		})
	}
}

// TestTildeFromPasswd: ~ and %d come from the passwd entry, not $HOME,
// as in OpenSSH.
func TestTildeFromPasswd(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	local, err := sshconfig.CurrentUser()
	if err != nil {
		t.Fatal(err)
	}
	if local.Home == os.Getenv("HOME") {
		t.Fatal("CurrentUser took $HOME")
	}
	file := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(file, []byte("IdentityFile ~/k1\nIdentityFile %d/k2\nUserKnownHostsFile ~/kh\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := sshconfig.Resolve(context.Background(), sshconfig.Query{Host: "h", Files: []string{file}, Local: local})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(local.Home, "k1"), filepath.Join(local.Home, "k2")}
	if !slices.Equal(r.IdentityFiles, want) || r.UserKnownHostsFiles[0] != filepath.Join(local.Home, "kh") {
		t.Fatalf("identity files %v, known hosts %v; want under the passwd home %s", r.IdentityFiles, r.UserKnownHostsFiles, local.Home)
	}
}
