package vault

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// Files opens the vault files a run meets (vars_files, -e @file) and
// remembers their values, which are all secrets. The key is looked up the
// first time an encrypted file is met, so a run without vault files needs
// no key. It is safe for concurrent use.
type Files struct {
	// IdentityFile is --vault-identity ("" for none).
	IdentityFile string
	// Getenv reads the environment (nil: os.Getenv).
	Getenv func(string) string

	mu      sync.Mutex
	key     *Key
	keyErr  error
	secrets map[string]bool
}

// Decrypt returns data decrypted when it is an age file, and data itself
// otherwise. Errors do not repeat the file's name (callers give it). Its signature is that of
// playbook.Options.Decrypt. The values of a decrypted file are recorded as
// secrets (see Secrets).
func (f *Files) Decrypt(file string, data []byte) ([]byte, error) {
	if !IsEncrypted(data) {
		return data, nil
	}
	k, err := f.loadKey()
	if err != nil {
		if errors.Is(err, ErrNoKey) {
			return nil, fmt.Errorf("it is a vault file and no key was given (--vault-identity FILE, $%s or $%s)", EnvIdentity, EnvPassphrase)
		}
		return nil, err
	}
	plain, err := k.Decrypt(data)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.secrets == nil {
		f.secrets = map[string]bool{}
	}
	for _, s := range Secrets(plain) {
		f.secrets[s] = true
	}
	return plain, nil
}

func (f *Files) loadKey() (*Key, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.key == nil && f.keyErr == nil {
		f.key, f.keyErr = LoadKey(f.IdentityFile, f.Getenv)
	}
	return f.key, f.keyErr
}

// Secrets returns the secret values of the vault files decrypted so far,
// sorted.
func (f *Files) Secrets() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.secrets))
	for s := range f.secrets {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// minLine is the shortest line of a multi-line value that is masked on its
// own (a diff or a command's output may show one line of a key file).
const minLine = 4

// Secrets returns every value in a decrypted vars file (YAML): each string
// and number of a mapping or list, however deep, and each line of a
// multi-line value. Keys, booleans and nulls are not secrets. A file that
// is not YAML is a secret as a whole, line by line.
func Secrets(plain []byte) []string {
	var out []string
	add := func(s string) {
		if t := strings.TrimSpace(s); t != "" {
			out = append(out, s)
			if t != s {
				out = append(out, t)
			}
		}
		if strings.Contains(s, "\n") {
			for _, l := range strings.Split(s, "\n") {
				if l = strings.TrimSpace(l); len(l) >= minLine {
					out = append(out, l)
				}
			}
		}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(plain, &doc); err != nil {
		add(string(plain))
		return out
	}
	seen := map[*yaml.Node]bool{}
	var walk func(n *yaml.Node, isKey bool)
	walk = func(n *yaml.Node, isKey bool) {
		if n == nil || seen[n] {
			return
		}
		seen[n] = true
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, false)
			}
		case yaml.MappingNode:
			for i, c := range n.Content {
				walk(c, i%2 == 0)
			}
		case yaml.AliasNode:
			walk(n.Alias, isKey)
		case yaml.ScalarNode:
			if isKey {
				return
			}
			switch n.ShortTag() {
			case "!!bool", "!!null":
				return
			}
			add(n.Value)
		}
	}
	walk(&doc, false)
	return out
}

// Check loads the key now when an identity file was named explicitly, so
// that a wrong --vault-identity is reported even by a run that meets no
// vault file. A key from the environment is still loaded on first use.
func (f *Files) Check() error {
	if f.IdentityFile == "" {
		return nil
	}
	_, err := f.loadKey()
	return err
}
