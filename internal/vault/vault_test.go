package vault

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const plain = "db_password: \"s3cr3t-Pa55\"\nport: 5432\nenabled: true\nnothing: null\nkey: |\n  -----BEGIN KEY-----\n  QUJDREVGR0hJSktMTU5PUA==\n  -----END KEY-----\nlist: [alpha-one, {deep: beta-two}]\n"

// fastPassphrase is a passphrase key with a small scrypt work factor, so
// that tests do not spend seconds per file.
func fastPassphrase(t *testing.T, p string) *Key {
	t.Helper()
	k, err := PassphraseKey(p, "test")
	if err != nil {
		t.Fatal(err)
	}
	k.workFactor = 10
	return k
}

func identityFile(t *testing.T) (string, Identity) {
	t.Helper()
	id, err := GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "key.txt")
	if err := os.WriteFile(p, []byte(id.File), 0o600); err != nil {
		t.Fatal(err)
	}
	return p, id
}

func TestRoundTripArmored(t *testing.T) {
	idFile, id := identityFile(t)
	ik, err := IdentityKey(idFile, "--vault-identity "+idFile)
	if err != nil {
		t.Fatal(err)
	}
	for name, k := range map[string]*Key{"passphrase": fastPassphrase(t, "correct horse"), "identity": ik} {
		t.Run(name, func(t *testing.T) {
			enc, err := k.Encrypt([]byte(plain))
			if err != nil {
				t.Fatal(err)
			}
			s := string(enc)
			if !strings.HasPrefix(s, "-----BEGIN AGE ENCRYPTED FILE-----\n") || !strings.HasSuffix(s, "-----END AGE ENCRYPTED FILE-----\n") {
				t.Errorf("not armored:\n%s", s)
			}
			for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
				if len(l) > 64 {
					t.Errorf("line longer than 64 columns: %q", l)
				}
			}
			if strings.Contains(s, "s3cr3t") || strings.Contains(s, "5432") {
				t.Errorf("plaintext visible in the encrypted file")
			}
			if !IsEncrypted(enc) || IsEncrypted([]byte(plain)) {
				t.Errorf("IsEncrypted wrong")
			}
			got, err := k.Decrypt(enc)
			if err != nil || string(got) != plain {
				t.Fatalf("Decrypt = %q, %v", got, err)
			}
			// Leading blank lines (an editor's) are accepted.
			if got, err := k.Decrypt(append([]byte("\n\n"), enc...)); err != nil || string(got) != plain {
				t.Errorf("with leading newlines: %q, %v", got, err)
			}
		})
	}
	if !strings.HasPrefix(id.Recipient, "age1") || !strings.Contains(id.File, "AGE-SECRET-KEY-1") {
		t.Errorf("identity = %+v", id)
	}
}

func TestWrongKeys(t *testing.T) {
	idFile, _ := identityFile(t)
	otherFile, _ := identityFile(t)
	ik, _ := IdentityKey(idFile, "--vault-identity A")
	other, _ := IdentityKey(otherFile, "--vault-identity B")
	pk := fastPassphrase(t, "right")
	wrongPass := fastPassphrase(t, "wrong")
	wrongPass.Source = "$PGPLAY_VAULT_PASSPHRASE"

	byID, err := ik.Encrypt([]byte(plain))
	if err != nil {
		t.Fatal(err)
	}
	byPass, err := pk.Encrypt([]byte(plain))
	if err != nil {
		t.Fatal(err)
	}
	damaged := bytes.Replace(byID, []byte("\n"), []byte("\nAAAA"), 3)
	cases := []struct {
		name string
		k    *Key
		data []byte
		want string
	}{
		{"other identity", other, byID, "the identity in --vault-identity B does not open this file"},
		{"wrong passphrase", wrongPass, byPass, "wrong passphrase (from $PGPLAY_VAULT_PASSPHRASE)"},
		{"passphrase for identity file", wrongPass, byID, "encrypted to an identity (key file), but $PGPLAY_VAULT_PASSPHRASE gives a passphrase"},
		{"identity for passphrase file", ik, byPass, "encrypted with a passphrase, but --vault-identity A gives an identity file"},
		{"damaged", ik, damaged, "damaged"},
		{"plain", ik, []byte(plain), "not an age-encrypted file"},
		{"truncated", ik, byID[:len(byID)/2], "damaged"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.k.Decrypt(c.data)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
			for _, secret := range []string{"right", "wrong", "AGE-SECRET-KEY"} {
				if strings.Contains(err.Error(), secret) && !strings.Contains(c.want, secret) {
					t.Errorf("error shows key material %q: %v", secret, err)
				}
			}
		})
	}
}

func TestLoadKey(t *testing.T) {
	idFile, _ := identityFile(t)
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	if _, err := LoadKey("", env(nil)); !errors.Is(err, ErrNoKey) {
		t.Errorf("no key: %v", err)
	}
	k, err := LoadKey(idFile, env(map[string]string{EnvPassphrase: "p"}))
	if err != nil || k.passphrase != "" || len(k.recipients) != 1 || !strings.Contains(k.Source, "--vault-identity") {
		t.Errorf("flag wins: %+v %v", k, err)
	}
	k, err = LoadKey("", env(map[string]string{EnvIdentity: idFile, EnvPassphrase: "p"}))
	if err != nil || k.passphrase != "" || !strings.Contains(k.Source, EnvIdentity) {
		t.Errorf("identity env wins over passphrase: %+v %v", k, err)
	}
	k, err = LoadKey("", env(map[string]string{EnvPassphrase: "p"}))
	if err != nil || k.passphrase != "p" || k.Source != "$"+EnvPassphrase {
		t.Errorf("passphrase env: %+v %v", k, err)
	}
	notID := filepath.Join(t.TempDir(), "pass.txt")
	os.WriteFile(notID, []byte("hunter2\n"), 0o600)
	if _, err := LoadKey(notID, nil); err == nil || !strings.Contains(err.Error(), "not an age identity file") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("bad identity file: %v", err)
	}
	if _, err := LoadKey("/nonexistent/key", nil); err == nil || !strings.Contains(err.Error(), "/nonexistent/key") {
		t.Errorf("missing identity file: %v", err)
	}
}

func TestSecrets(t *testing.T) {
	got := Secrets([]byte(plain))
	for _, want := range []string{"s3cr3t-Pa55", "5432", "alpha-one", "beta-two", "QUJDREVGR0hJSktMTU5PUA==", "-----BEGIN KEY-----"} {
		found := false
		for _, s := range got {
			found = found || s == want
		}
		if !found {
			t.Errorf("Secrets lacks %q: %q", want, got)
		}
	}
	for _, s := range got {
		switch s {
		case "true", "null", "db_password", "port", "key", "list", "deep":
			t.Errorf("Secrets holds a key or a boolean/null: %q", s)
		}
	}
	if got := Secrets([]byte("not: [yaml")); !reflect.DeepEqual(got, []string{"not: [yaml"}) {
		t.Errorf("non-YAML file: %q", got)
	}
}

func TestFilesDecrypt(t *testing.T) {
	idFile, _ := identityFile(t)
	k, _ := IdentityKey(idFile, "x")
	enc, _ := k.Encrypt([]byte(plain))

	f := &Files{Getenv: func(string) string { return "" }}
	if out, err := f.Decrypt("plain.yaml", []byte("a: 1\n")); err != nil || string(out) != "a: 1\n" || len(f.Secrets()) != 0 {
		t.Errorf("plain file: %q %v %q", out, err, f.Secrets())
	}
	_, err := f.Decrypt("vault.yaml", enc)
	if err == nil || !strings.Contains(err.Error(), "it is a vault file and no key was given") || !strings.Contains(err.Error(), "--vault-identity") {
		t.Errorf("no key: %v", err)
	}

	f = &Files{IdentityFile: idFile}
	out, err := f.Decrypt("vault.yaml", enc)
	if err != nil || string(out) != plain {
		t.Fatalf("Decrypt = %q, %v", out, err)
	}
	s := strings.Join(f.Secrets(), "\n")
	if !strings.Contains(s, "s3cr3t-Pa55") || !strings.Contains(s, "beta-two") {
		t.Errorf("secrets not recorded: %q", f.Secrets())
	}
}
