package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgplay/pgplay/internal/vault"
)

const vaultPlain = "db_password: \"Pa55-Vault\"\nreplication_secret: r3pl-Xyz\n"

func TestVaultCommands(t *testing.T) {
	t.Setenv(vault.EnvIdentity, "")
	t.Setenv(vault.EnvPassphrase, "")
	dir := t.TempDir()
	key := filepath.Join(dir, "key.txt")
	file := filepath.Join(dir, "secrets.yaml")
	writeFiles(t, dir, map[string]string{"secrets.yaml": vaultPlain, "list.yaml": "- a\n"})
	os.Chmod(file, 0o640)

	// keygen
	code, out, errs := cli(t, "vault", "keygen", key)
	if code != 0 || !strings.HasPrefix(out, "Public key: age1") {
		t.Fatalf("keygen: exit %d\n%s%s", code, out, errs)
	}
	if st, err := os.Stat(key); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", st, err)
	}
	if code, _, errs = cli(t, "vault", "keygen", key); code != 5 || !strings.Contains(errs, "already exists") {
		t.Errorf("keygen over an existing key: exit %d %s", code, errs)
	}

	// encrypt: armored, no plaintext, mode kept; not twice.
	if code, out, errs = cli(t, "vault", "encrypt", file, "--vault-identity", key); code != 0 {
		t.Fatalf("encrypt: exit %d\n%s%s", code, out, errs)
	}
	enc, _ := os.ReadFile(file)
	if !strings.HasPrefix(string(enc), "-----BEGIN AGE ENCRYPTED FILE-----") || strings.Contains(string(enc), "Pa55") {
		t.Fatalf("encrypted file:\n%s", enc)
	}
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o640 {
		t.Errorf("encrypt changed the mode to %v", st.Mode().Perm())
	}
	if code, _, errs = cli(t, "vault", "encrypt", file, "--vault-identity", key); code != 5 || !strings.Contains(errs, "already encrypted") {
		t.Errorf("encrypt twice: exit %d %s", code, errs)
	}
	if code, _, errs = cli(t, "vault", "encrypt", filepath.Join(dir, "list.yaml"), "--vault-identity", key); code != 4 || !strings.Contains(errs, "not a mapping") {
		t.Errorf("encrypt a list: exit %d %s", code, errs)
	}

	// view, with the key from the environment.
	t.Setenv(vault.EnvIdentity, key)
	if code, out, errs = cli(t, "vault", "view", file); code != 0 || out != vaultPlain {
		t.Errorf("view: exit %d %q %s", code, out, errs)
	}
	t.Setenv(vault.EnvIdentity, "")

	// Errors: no key (stdin is not a terminal), wrong key, plain file.
	if code, _, errs = cli(t, "vault", "view", file); code != 5 || !strings.Contains(errs, "no vault key") || !strings.Contains(errs, "hint: ") {
		t.Errorf("view without a key: exit %d %s", code, errs)
	}
	other := filepath.Join(dir, "other.txt")
	cli(t, "vault", "keygen", other)
	if code, _, errs = cli(t, "vault", "view", file, "--vault-identity", other); code != 1 || !strings.Contains(errs, "does not open this file") {
		t.Errorf("view with another key: exit %d %s", code, errs)
	}
	if code, _, errs = cli(t, "vault", "view", filepath.Join(dir, "list.yaml"), "--vault-identity", key); code != 5 || !strings.Contains(errs, "is not encrypted") {
		t.Errorf("view a plain file: exit %d %s", code, errs)
	}

	// edit: the editor sees the plain text in a private 0600 file, which is
	// gone afterwards; the result is encrypted again.
	seen := filepath.Join(dir, "editor-saw")
	editor := filepath.Join(dir, "editor.sh")
	writeFiles(t, dir, map[string]string{"editor.sh": "#!/bin/sh\n" +
		"printf '%s %s %s\\n' \"$1\" \"$(stat -c %a \"$1\")\" \"$(stat -c %a \"$(dirname \"$1\")\")\" > " + seen + "\n" +
		"echo 'new_token: T0k-3n' >> \"$1\"\n"})
	os.Chmod(editor, 0o755)
	t.Setenv("VISUAL", "")
	t.Setenv("EDITOR", editor)
	if code, out, errs = cli(t, "vault", "edit", file, "--vault-identity", key); code != 0 {
		t.Fatalf("edit: exit %d\n%s%s", code, out, errs)
	}
	b, _ := os.ReadFile(seen)
	f := strings.Fields(string(b))
	if len(f) != 3 || f[1] != "600" || f[2] != "700" {
		t.Errorf("the editor's file: %q (want path, mode 600, dir mode 700)", b)
	} else if _, err := os.Stat(f[0]); err == nil {
		t.Errorf("the plain temporary file %s was left behind", f[0])
	}
	enc2, _ := os.ReadFile(file)
	if strings.Contains(string(enc2), "T0k-3n") || !strings.HasPrefix(string(enc2), "-----BEGIN AGE") {
		t.Fatalf("edit did not encrypt:\n%s", enc2)
	}
	if _, out, _ = cli(t, "vault", "view", file, "--vault-identity", key); out != vaultPlain+"new_token: T0k-3n\n" {
		t.Errorf("after edit: %q", out)
	}

	// An edit that changes nothing leaves the file byte for byte.
	t.Setenv("EDITOR", "true")
	if code, _, errs = cli(t, "vault", "edit", file, "--vault-identity", key); code != 0 || !strings.Contains(errs, "no change") {
		t.Errorf("no-op edit: exit %d %s", code, errs)
	}
	if enc3, _ := os.ReadFile(file); string(enc3) != string(enc2) {
		t.Errorf("a no-op edit rewrote the file")
	}

	// edit creates a new file.
	t.Setenv("EDITOR", editor)
	fresh := filepath.Join(dir, "fresh.yaml")
	if code, _, errs = cli(t, "vault", "edit", fresh, "--vault-identity", key); code != 0 {
		t.Fatalf("edit a new file: exit %d %s", code, errs)
	}
	if _, out, _ = cli(t, "vault", "view", fresh, "--vault-identity", key); out != "new_token: T0k-3n\n" {
		t.Errorf("new file: %q", out)
	}
	if st, _ := os.Stat(fresh); st.Mode().Perm() != 0o600 {
		t.Errorf("new vault file mode %v, want 0600", st.Mode().Perm())
	}

	// decrypt in place: plain again, mode 0600.
	if code, _, errs = cli(t, "vault", "decrypt", file, "--vault-identity", key); code != 0 {
		t.Fatalf("decrypt: exit %d %s", code, errs)
	}
	if b, _ := os.ReadFile(file); string(b) != vaultPlain+"new_token: T0k-3n\n" {
		t.Errorf("decrypted: %q", b)
	}
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o600 {
		t.Errorf("decrypted file mode %v, want 0600", st.Mode().Perm())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestVaultPassphrase encrypts and opens a file with a passphrase from the
// environment (age's scrypt: about a second each way; wrong passphrases
// are tested in internal/vault with a cheaper work factor).
func TestVaultPassphrase(t *testing.T) {
	t.Setenv(vault.EnvIdentity, "")
	t.Setenv(vault.EnvPassphrase, "correct horse battery staple")
	dir := t.TempDir()
	file := filepath.Join(dir, "s.yaml")
	writeFiles(t, dir, map[string]string{"s.yaml": vaultPlain})
	if code, _, errs := cli(t, "vault", "encrypt", file); code != 0 || !strings.Contains(errs, "$PGPLAY_VAULT_PASSPHRASE") {
		t.Fatalf("encrypt: exit %d %s", code, errs)
	}
	if code, out, errs := cli(t, "vault", "view", file); code != 0 || out != vaultPlain {
		t.Errorf("view: exit %d %q %s", code, out, errs)
	}
}

// TestRunWithVaultIdentity runs a playbook whose vars_files holds a vault
// file, opened with --vault-identity, on a local host: the values reach the
// task and are masked in the output.
func TestRunWithVaultIdentity(t *testing.T) {
	t.Setenv(vault.EnvIdentity, "")
	t.Setenv(vault.EnvPassphrase, "")
	dir := t.TempDir()
	id, _ := vault.GenerateIdentity()
	key, _ := vault.IdentityKey(writeTemp(t, "k", id.File), "t")
	sealed, _ := key.Encrypt([]byte("api_value: Zq9-not-named-secret\nport_no: 6543\n"))
	out := filepath.Join(dir, "out.txt")
	writeFiles(t, dir, map[string]string{
		"key.txt":    id.File,
		"vault.yaml": string(sealed),
		"inv.yaml":   "all:\n  hosts:\n    local: {connection: local}\n",
		"play.yaml": "- hosts: all\n  vars_files: [vault.yaml]\n  tasks:\n" +
			"    - debug: {msg: \"value {{ .api_value }} on port {{ .port_no }}\"}\n" +
			"    - copy: {dest: " + out + ", content: \"{{ .api_value }}\", mode: \"0600\"}\n",
	})
	code, stdout, errs := cli(t, "run", filepath.Join(dir, "play.yaml"), "-i", filepath.Join(dir, "inv.yaml"), "--vault-identity", filepath.Join(dir, "key.txt"), "--diff")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, errs)
	}
	if b, _ := os.ReadFile(out); string(b) != "Zq9-not-named-secret" {
		t.Errorf("the vault value did not reach the task: %q", b)
	}
	if strings.Contains(stdout+errs, "Zq9-not-named-secret") || strings.Contains(stdout+errs, "6543") {
		t.Errorf("a vault value is shown:\n%s", stdout)
	}
	if !strings.Contains(stdout, "value ******** on port ********") {
		t.Errorf("debug output:\n%s", stdout)
	}
}

// TestRoleCommandWithVaultRoleVars runs `pgplay role` on a role whose
// vars/main.yaml is a vault file: the role command decrypts what `run`
// decrypts (one loader-options builder), the value reaches the task and
// is masked in the output. Without the key it is an error naming the file.
func TestRoleCommandWithVaultRoleVars(t *testing.T) {
	t.Setenv(vault.EnvIdentity, "")
	t.Setenv(vault.EnvPassphrase, "")
	dir := t.TempDir()
	id, _ := vault.GenerateIdentity()
	key, _ := vault.IdentityKey(writeTemp(t, "k", id.File), "t")
	sealed, _ := key.Encrypt([]byte("role_secret: Wk7-role-vault-value\n"))
	inv := localHosts(t, dir, "a")
	writeFiles(t, dir, map[string]string{
		"key.txt":                  id.File,
		"roles/sec/vars/main.yaml": string(sealed),
		"roles/sec/tasks/main.yaml": "- debug: {msg: \"secret {{ .role_secret }}\"}\n" +
			"- copy: {content: \"{{ .role_secret }}\", dest: \"{{ .root }}/sec\", mode: \"0600\"}\n",
	})
	t.Chdir(dir) // roles/ is looked up in the working directory
	code, out, errs := cli(t, "role", "sec", "-i", inv, "--become=false", "--vault-identity", filepath.Join(dir, "key.txt"))
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "hosts/a/sec")); string(b) != "Wk7-role-vault-value" {
		t.Errorf("the role's vault value did not reach the task: %q", b)
	}
	if strings.Contains(out+errs, "Wk7-role-vault-value") || !strings.Contains(out, "secret ********") {
		t.Errorf("the vault value is not masked:\n%s%s", out, errs)
	}
	code, out, errs = cli(t, "role", "sec", "-i", inv, "--become=false")
	if code != exitParse || !strings.Contains(errs, "roles/sec/vars/main.yaml") || !strings.Contains(errs, "no key was given") {
		t.Errorf("without a key: exit %d, want %d and an error naming the file\n%s%s", code, exitParse, out, errs)
	}
}
