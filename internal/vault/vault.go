// Package vault encrypts and decrypts pgplay's vault files: vars files
// encrypted with age (filippo.io/age), armored so that they stay text and
// diff as whole blocks. A file is opened with a passphrase (age's scrypt
// recipient) or with age identities (X25519 or hybrid keys) read from an
// identity file, like `age -p` and `age -i` do.
//
// The key comes from --vault-identity FILE, else from the environment:
// PGPLAY_VAULT_IDENTITY (the path of an identity file) or
// PGPLAY_VAULT_PASSPHRASE (the passphrase itself).
package vault

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"
)

// Environment variables that give the vault key.
const (
	// EnvIdentity names an age identity file.
	EnvIdentity = "PGPLAY_VAULT_IDENTITY"
	// EnvPassphrase holds a passphrase.
	EnvPassphrase = "PGPLAY_VAULT_PASSPHRASE"
)

// maxFile bounds the size of a vault file (vars files are small).
const maxFile = 16 << 20

// ErrNoKey is returned by LoadKey when no key was given.
var ErrNoKey = errors.New("no vault key given")

// KeyHint says how to give the key; messages end with it.
const KeyHint = "give the key with --vault-identity FILE (an age identity file, see `pgplay vault keygen`), " +
	"or set " + EnvIdentity + "=FILE or " + EnvPassphrase

// Key encrypts and decrypts vault files. It holds either a passphrase or
// one or more age identities (and the recipients derived from them).
type Key struct {
	// Source says where the key came from ("--vault-identity FILE",
	// "$PGPLAY_VAULT_PASSPHRASE"), for messages; never the key itself.
	Source string

	identities []age.Identity
	recipients []age.Recipient
	passphrase string
	workFactor int // scrypt log2(N) for encryption; 0: age's default
}

// PassphraseKey returns a key that encrypts and decrypts with passphrase.
// source says where the passphrase came from.
func PassphraseKey(passphrase, source string) (*Key, error) {
	if passphrase == "" {
		return nil, fmt.Errorf("%s: the passphrase is empty", source)
	}
	id, err := age.NewScryptIdentity(passphrase)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return &Key{Source: source, identities: []age.Identity{id}, passphrase: passphrase}, nil
}

// IdentityKey returns a key made of the age identities in an identity file
// (lines AGE-SECRET-KEY-1..., as written by age-keygen or `pgplay vault
// keygen`). It decrypts files encrypted to any of them and encrypts to all
// of them. source says where the file was named.
func IdentityKey(path, source string) (*Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	defer f.Close()
	ids, err := age.ParseIdentities(io.LimitReader(f, maxFile))
	if err != nil {
		// age's messages never include key material.
		return nil, fmt.Errorf("%s: %s is not an age identity file: %v (it holds AGE-SECRET-KEY-1... lines; `pgplay vault keygen FILE` makes one)", source, path, err)
	}
	k := &Key{Source: source, identities: ids}
	for _, id := range ids {
		switch x := id.(type) {
		case *age.X25519Identity:
			k.recipients = append(k.recipients, x.Recipient())
		case *age.HybridIdentity:
			k.recipients = append(k.recipients, x.Recipient())
		default:
			return nil, fmt.Errorf("%s: unsupported identity type %T", source, id)
		}
	}
	return k, nil
}

// LoadKey finds the key: identityFile if it is not empty, else the file
// named by $PGPLAY_VAULT_IDENTITY, else the passphrase in
// $PGPLAY_VAULT_PASSPHRASE (getenv reads the environment; nil means
// os.Getenv). It returns ErrNoKey when none is given.
func LoadKey(identityFile string, getenv func(string) string) (*Key, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if identityFile != "" {
		return IdentityKey(identityFile, "--vault-identity "+identityFile)
	}
	if p := getenv(EnvIdentity); p != "" {
		return IdentityKey(p, "$"+EnvIdentity+" ("+p+")")
	}
	if p := getenv(EnvPassphrase); p != "" {
		return PassphraseKey(p, "$"+EnvPassphrase)
	}
	return nil, ErrNoKey
}

// IsEncrypted says whether data is an age file (armored or binary).
func IsEncrypted(data []byte) bool {
	t := bytes.TrimLeft(data, " \t\r\n")
	return bytes.HasPrefix(t, []byte(armor.Header)) || bytes.HasPrefix(t, []byte("age-encryption.org/"))
}

// Encrypt encrypts plain to the key and returns an armored age file.
func (k *Key) Encrypt(plain []byte) ([]byte, error) {
	var recips []age.Recipient
	if k.passphrase != "" {
		r, err := age.NewScryptRecipient(k.passphrase)
		if err != nil {
			return nil, err
		}
		if k.workFactor > 0 {
			r.SetWorkFactor(k.workFactor)
		}
		recips = []age.Recipient{r}
	} else {
		recips = k.recipients
	}
	if len(recips) == 0 {
		return nil, fmt.Errorf("%s: no recipient to encrypt to", k.Source)
	}
	var buf bytes.Buffer
	aw := armor.NewWriter(&buf)
	w, err := age.Encrypt(aw, recips...)
	if err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	if _, err := w.Write(plain); err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	if err := aw.Close(); err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	return buf.Bytes(), nil
}

// Decrypt opens an age file (armored or binary) with the key. Errors say
// whether the file is damaged or the key is the wrong one, and never hold
// key material.
func (k *Key) Decrypt(data []byte) ([]byte, error) {
	if !IsEncrypted(data) {
		return nil, errors.New("not an age-encrypted file (no -----BEGIN AGE ENCRYPTED FILE----- line)")
	}
	var src io.Reader = bytes.NewReader(data)
	if bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte(armor.Header)) {
		src = armor.NewReader(src)
	}
	r, err := age.Decrypt(src, k.identities...)
	if err != nil {
		return nil, k.explain(err)
	}
	plain, err := io.ReadAll(io.LimitReader(r, maxFile+1))
	if err != nil {
		return nil, fmt.Errorf("the file is damaged: %v", err)
	}
	if len(plain) > maxFile {
		return nil, fmt.Errorf("the decrypted file is larger than %d MiB; vault files hold variables", maxFile>>20)
	}
	return plain, nil
}

// explain turns age's decryption errors into a user's terms.
func (k *Key) explain(err error) error {
	var nm *age.NoIdentityMatchError
	switch {
	case errors.As(err, &nm):
		passFile := false
		for _, t := range nm.StanzaTypes {
			passFile = passFile || t == "scrypt"
		}
		switch {
		case k.passphrase != "" && !passFile:
			return fmt.Errorf("the file is encrypted to an identity (key file), but %s gives a passphrase", k.Source)
		case k.passphrase == "" && passFile:
			return fmt.Errorf("the file is encrypted with a passphrase, but %s gives an identity file; set %s instead", k.Source, EnvPassphrase)
		case k.passphrase != "":
			return fmt.Errorf("wrong passphrase (from %s)", k.Source)
		}
		return fmt.Errorf("the identity in %s does not open this file (it was encrypted to another key)", k.Source)
	case errors.Is(err, age.ErrIncorrectIdentity):
		return fmt.Errorf("the key from %s does not open this file", k.Source)
	}
	var ae *armor.Error
	if errors.As(err, &ae) || strings.Contains(err.Error(), "failed to read header") {
		return fmt.Errorf("the file is damaged or not an age file: %v", err)
	}
	return fmt.Errorf("decrypt: %v", err)
}

// Identity is a new age X25519 identity, as an identity file's text.
type Identity struct {
	// File is the identity file's content (comment lines and the secret key).
	File string
	// Recipient is the public key (age1...), which may be shared.
	Recipient string
}

// GenerateIdentity makes a new X25519 identity, like age-keygen.
func GenerateIdentity() (Identity, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return Identity{}, err
	}
	pub := id.Recipient().String()
	file := fmt.Sprintf("# created: %s\n# public key: %s\n%s\n", time.Now().UTC().Format(time.RFC3339), pub, id.String())
	return Identity{File: file, Recipient: pub}, nil
}
