package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgplay/pgplay/internal/sshtest"
	"github.com/pgplay/pgplay/internal/vault"
)

// argvLog starts an sshd that records every command line it is asked to
// run (exec requests and the sftp subsystem, through a ForceCommand
// wrapper: what `ps` on the host would show) in the returned file.
func argvLog(t *testing.T) (*sshtest.Server, string) {
	t.Helper()
	dir := t.TempDir()
	logf := filepath.Join(dir, "argv.log")
	wrapper := filepath.Join(dir, "wrapper.sh")
	script := "#!/bin/sh\nprintf '%s\\n' \"$SSH_ORIGINAL_COMMAND\" >> " + logf + "\nexec /bin/sh -c \"$SSH_ORIGINAL_COMMAND\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return sshtest.Start(t, sshtest.WithConfig("ForceCommand "+wrapper)), logf
}

func inventoryFor(srv *sshtest.Server, hostVars string) string {
	cfg := srv.Config("a")
	return fmt.Sprintf("all:\n  vars:\n    db_password: \"s3cr3t-Pa55\"\n  hosts:\n    a:\n      ssh_host: %s\n      ssh_port: %d\n      ssh_user: %s\n      ssh_key: %s\n      ssh_known_hosts: %s\n      ssh_config: none\n%s",
		cfg.Addr, cfg.Port, cfg.User, cfg.KeyFiles[0], cfg.KnownHostsFiles[0], hostVars)
}

const secretsPlay = `
- hosts: all
  vars_files: [vault.yaml]
  vars:
    api_key: "Play-Secret-Var-77"
    plain: visible-value
  secret_vars: [api_key]
  tasks:
    - name: show the secrets
      debug:
        msg: "db={{ .vault_db_pw }} key={{ .api_key }} pass={{ .db_password }} extra={{ .xtra_vault }} plain={{ .plain }}"
    - name: config with secrets
      copy:
        dest: "{{ .root }}/app.conf"
        content: "pw={{ .vault_db_pw }}\nkey={{ .api_key }}\n{{ .vault_multi }}"
        mode: "0600"
    - name: template with a secret
      template: {src: t.tmpl, dest: "{{ .root }}/t.conf", mode: "0600"}
    - name: line with a secret
      lineinfile: {path: "{{ .root }}/li.conf", create: true, line: "token={{ .api_key }}", mode: "0600"}
    - name: secret on stdin
      command: cat
      args:
        stdin: "{{ .vault_db_pw }}"
      register: catout
      changed_when: false
    - name: show what the command printed
      debug:
        var: catout
    - name: secret on stdin, with become
      command: cat
      args:
        stdin: "{{ .xtra_vault }}"
      become: true
      changed_when: false
    - name: hidden task
      shell: "echo NoLog-Output-4242; echo NoLog-Err-4343 >&2"
      no_log: true
      changed_when: false
    - name: a failing command that prints a secret
      command: cat
      args: {stdin: "{{ .api_key }}"}
      failed_when: true
      ignore_errors: true
    - name: fail with a secret in the message
      fail: {msg: "cannot use {{ .vault_db_pw }}"}
      ignore_errors: true
    - name: a hidden failure
      shell: "echo NoLog-Fail-4444; exit 3"
      no_log: true
      ignore_errors: true
`

// TestSecretsNeverShown runs a playbook that uses a vault file (vars_files
// and -e @file), secret_vars, a *password* variable and no_log tasks, with
// --diff and -vvvv, in human and JSON output and in check mode, and greps
// everything pgplay printed for the secret values. It also records every
// command line sent to the host: secrets must travel on stdin or in files,
// never in argv.
func TestSecretsNeverShown(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test uses become (sudo); CI runs as root")
	}
	srv, argvFile := argvLog(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "host")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	id, err := vault.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	key, _ := vault.IdentityKey(writeTemp(t, "key.txt", id.File), "test")
	seal := func(s string) string {
		b, err := key.Encrypt([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	writeFiles(t, dir, map[string]string{
		"inv.yaml":            inventoryFor(srv, "      root: "+root+"\n"),
		"play.yaml":           secretsPlay,
		"vault.yaml":          seal("vault_db_pw: \"Vau1t-DB-pw\"\nvault_multi: |\n  line-one-SECRETA\n  line-two-SECRETB\n"),
		"xtra.yaml":           seal("xtra_vault: Xtra-Vault-9931\n"),
		"key.txt":             id.File,
		"templates/t.tmpl":    "multi:\n{{ .vault_multi }}end\n",
		"templates/.keep.txt": "",
	})
	secrets := []string{"Vau1t-DB-pw", "line-one-SECRETA", "line-two-SECRETB", "Play-Secret-Var-77", "s3cr3t-Pa55",
		"Xtra-Vault-9931", "NoLog-Output-4242", "NoLog-Err-4343", "NoLog-Fail-4444"}
	t.Setenv(vault.EnvIdentity, filepath.Join(dir, "key.txt"))
	t.Chdir(dir) // templates/ is looked up in the working directory

	base := []string{"run", filepath.Join(dir, "play.yaml"), "-i", filepath.Join(dir, "inv.yaml"), "-e", "@" + filepath.Join(dir, "xtra.yaml"), "--diff", "-vvvv"}
	tamper := func() {
		for _, f := range []string{"app.conf", "t.conf", "li.conf"} {
			if err := os.WriteFile(filepath.Join(root, f), []byte("old\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	var outputs []string
	for _, run := range []struct {
		name  string
		extra []string
	}{
		{"human", nil},
		{"json", []string{"--output", "json"}},
		{"check", []string{"--check"}},
		{"check json", []string{"--check", "--output", "json"}},
	} {
		code, out, errs := cli(t, append(append([]string(nil), base...), run.extra...)...)
		if code != 0 {
			t.Fatalf("%s run: exit %d\n%s\n%s", run.name, code, out, errs)
		}
		outputs = append(outputs, out, errs)
		for _, s := range secrets {
			if strings.Contains(out, s) || strings.Contains(errs, s) {
				t.Errorf("%s run: secret %q in the output:\n%s\n%s", run.name, s, out, errs)
			}
		}
		if !strings.Contains(out, "********") {
			t.Errorf("%s run: nothing masked; did the tasks run?\n%s", run.name, out)
		}
		if strings.Contains(run.name, "json") {
			sc := bufio.NewScanner(strings.NewReader(out))
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				var ev map[string]any
				if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
					t.Errorf("%s run: not JSON: %q", run.name, sc.Text())
				}
			}
		}
		tamper() // so the next run has diffs to show
	}
	human, check := outputs[0], outputs[4]
	for _, want := range []string{"db=******** key=******** pass=******** extra=******** plain=visible-value", "+pw=********", "+********", "the output has been hidden due to no_log: true"} {
		if !strings.Contains(human, want) {
			t.Errorf("human output lacks %q:\n%s", want, human)
		}
	}
	if !strings.Contains(check, "-old") || !strings.Contains(check, "+key=********") {
		t.Errorf("check run shows no diff:\n%s", check)
	}

	// The values did reach the host (in 0600 files and on stdin).
	tamperedOnce := false
	for _, f := range []string{"app.conf", "t.conf", "li.conf"} {
		b, _ := os.ReadFile(filepath.Join(root, f))
		tamperedOnce = tamperedOnce || string(b) == "old\n"
	}
	if !tamperedOnce {
		t.Errorf("the check runs changed the files")
	}
	code, out, errs := cli(t, base[:len(base)-2]...) // converge once more, without --diff -vvvv
	if code != 0 {
		t.Fatalf("last run: exit %d\n%s\n%s", code, out, errs)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "app.conf")); string(b) != "pw=Vau1t-DB-pw\nkey=Play-Secret-Var-77\nline-one-SECRETA\nline-two-SECRETB\n" {
		t.Errorf("app.conf = %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "li.conf")); !strings.Contains(string(b), "token=Play-Secret-Var-77\n") {
		t.Errorf("li.conf = %q", b)
	}

	// Nothing secret in any command line sent to the host.
	argv, err := os.ReadFile(argvFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(argv), "echo NoLog-Output-4242") || !strings.Contains(string(argv), "cat") {
		t.Fatalf("the command log does not record the commands:\n%s", argv)
	}
	for _, s := range secrets {
		if strings.HasPrefix(s, "NoLog-") {
			continue // written in the shell command itself by the playbook
		}
		if strings.Contains(string(argv), s) {
			t.Errorf("secret %q travelled in a command line (visible in ps on the host):\n%s", s, argv)
		}
	}
}
