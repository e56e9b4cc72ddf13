package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
	"golang.org/x/term"

	"github.com/pgplay/pgplay/internal/atomicfile"
	"github.com/pgplay/pgplay/internal/vault"
)

// newVaultCmd is `pgplay vault`: encrypted vars files (age).
func newVaultCmd() *cobra.Command {
	var identity string
	cmd := &cobra.Command{
		Use:   "vault encrypt|decrypt|edit|view|keygen FILE",
		Short: "Encrypt, decrypt, edit or view a vault file (vars encrypted with age)",
		Long: `A vault file is a vars file encrypted with age (https://age-encryption.org),
armored so that it stays text. Use it like any vars file: in a play's
vars_files or with -e @FILE; every value in it is a secret, masked in all
output.

The key is a passphrase or an age identity file, taken from
  --vault-identity FILE            an age identity file (AGE-SECRET-KEY-1...)
  $` + vault.EnvIdentity + `=FILE    the same, from the environment
  $` + vault.EnvPassphrase + `         a passphrase
and, when none is set and the terminal is interactive, a passphrase prompt.
The same flag and variables work for pgplay run and pgplay role.`,
		Example: `  pgplay vault keygen ~/.config/pgplay/vault.key
  pgplay vault encrypt secrets.yaml --vault-identity ~/.config/pgplay/vault.key
  PGPLAY_VAULT_IDENTITY=~/.config/pgplay/vault.key pgplay vault edit secrets.yaml
  pgplay vault view secrets.yaml
  pgplay run site.yaml -i inv.yaml --vault-identity ~/.config/pgplay/vault.key`,
	}
	cmd.PersistentFlags().StringVar(&identity, "vault-identity", "", "age identity file (else $"+vault.EnvIdentity+" or $"+vault.EnvPassphrase+")")

	oneFile := func(verb string) cobra.PositionalArgs {
		return func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return withCode(exitOptions, fmt.Errorf("vault %s takes one file, got %d arguments\n  hint: pgplay vault %s FILE", verb, len(args), verb))
			}
			return nil
		}
	}
	cmd.AddCommand(
		&cobra.Command{
			Use:   "encrypt FILE",
			Short: "Encrypt a plain vars file in place",
			Args:  oneFile("encrypt"),
			RunE: func(c *cobra.Command, args []string) error {
				return vaultEncrypt(c, identity, args[0])
			},
		},
		&cobra.Command{
			Use:   "decrypt FILE",
			Short: "Decrypt a vault file in place (the plain file is written with mode 0600)",
			Args:  oneFile("decrypt"),
			RunE: func(c *cobra.Command, args []string) error {
				plain, err := openVault(c, identity, args[0])
				if err != nil {
					return err
				}
				if err := atomicfile.WriteFile(args[0], plain, 0o600); err != nil {
					return withCode(exitError, err)
				}
				fmt.Fprintf(c.ErrOrStderr(), "decrypted %s (mode 0600); `pgplay vault encrypt %s` encrypts it again\n", args[0], args[0])
				return nil
			},
		},
		&cobra.Command{
			Use:   "view FILE",
			Short: "Print a vault file decrypted, to standard output",
			Args:  oneFile("view"),
			RunE: func(c *cobra.Command, args []string) error {
				plain, err := openVault(c, identity, args[0])
				if err != nil {
					return err
				}
				_, err = c.OutOrStdout().Write(plain)
				return err
			},
		},
		&cobra.Command{
			Use:   "edit FILE",
			Short: "Edit a vault file with $EDITOR (a new file is created)",
			Long: `Decrypts FILE to a private temporary file (mode 0600, in a 0700 directory),
runs $VISUAL or $EDITOR (default vi) on it, encrypts the result back into FILE
and removes the temporary file. FILE is left untouched when nothing changed.
A FILE that does not exist yet is created.`,
			Args: oneFile("edit"),
			RunE: func(c *cobra.Command, args []string) error {
				return vaultEdit(c, identity, args[0])
			},
		},
		&cobra.Command{
			Use:   "keygen FILE",
			Short: "Write a new age identity file (mode 0600) and print its public key",
			Args:  oneFile("keygen"),
			RunE: func(c *cobra.Command, args []string) error {
				id, err := vault.GenerateIdentity()
				if err != nil {
					return withCode(exitError, err)
				}
				f, err := os.OpenFile(args[0], os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
				if err != nil {
					if errors.Is(err, fs.ErrExist) {
						return withCode(exitOptions, fmt.Errorf("%s already exists; not overwriting a key\n  hint: choose another file name", args[0]))
					}
					return withCode(exitError, err)
				}
				if _, err := f.WriteString(id.File); err != nil {
					f.Close()
					return withCode(exitError, err)
				}
				if err := f.Close(); err != nil {
					return withCode(exitError, err)
				}
				fmt.Fprintf(c.OutOrStdout(), "Public key: %s\n", id.Recipient)
				fmt.Fprintf(c.ErrOrStderr(), "wrote %s; keep it secret, and use it with --vault-identity %s or %s=%s\n", args[0], args[0], vault.EnvIdentity, args[0])
				return nil
			},
		},
	)
	return cmd
}

// vaultKey finds the key for the vault command: flag, environment, then a
// passphrase prompt on a terminal (asked twice when confirm is set).
func vaultKey(c *cobra.Command, identity string, confirm bool) (*vault.Key, error) {
	k, err := vault.LoadKey(identity, nil)
	if err == nil {
		return k, nil
	}
	if !errors.Is(err, vault.ErrNoKey) {
		return nil, withCode(exitOptions, fmt.Errorf("%w\n  hint: %s", err, vault.KeyHint))
	}
	in, ok := c.InOrStdin().(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return nil, withCode(exitOptions, fmt.Errorf("no vault key\n  hint: %s", vault.KeyHint))
	}
	ask := func(prompt string) (string, error) {
		fmt.Fprint(c.ErrOrStderr(), prompt)
		b, err := term.ReadPassword(int(in.Fd()))
		fmt.Fprintln(c.ErrOrStderr())
		return string(b), err
	}
	p, err := ask("Vault passphrase: ")
	if err != nil {
		return nil, withCode(exitError, err)
	}
	if confirm {
		p2, err := ask("Confirm passphrase: ")
		if err != nil {
			return nil, withCode(exitError, err)
		}
		if p != p2 {
			return nil, withCode(exitOptions, errors.New("the passphrases differ"))
		}
	}
	k, err = vault.PassphraseKey(p, "the passphrase prompt")
	if err != nil {
		return nil, withCode(exitOptions, err)
	}
	return k, nil
}

// openVault reads and decrypts a vault file.
func openVault(c *cobra.Command, identity, file string) ([]byte, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, withCode(exitOptions, fmt.Errorf("%w\n  hint: check the path", err))
	}
	if !vault.IsEncrypted(data) {
		return nil, withCode(exitOptions, fmt.Errorf("%s is not encrypted\n  hint: `pgplay vault encrypt %s` encrypts it", file, file))
	}
	k, err := vaultKey(c, identity, false)
	if err != nil {
		return nil, err
	}
	plain, err := k.Decrypt(data)
	if err != nil {
		return nil, withCode(exitError, fmt.Errorf("%s: %w\n  hint: %s", file, err, vault.KeyHint))
	}
	return plain, nil
}

func vaultEncrypt(c *cobra.Command, identity, file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return withCode(exitOptions, fmt.Errorf("%w\n  hint: check the path", err))
	}
	if vault.IsEncrypted(data) {
		return withCode(exitOptions, fmt.Errorf("%s is already encrypted\n  hint: `pgplay vault edit %s` changes it", file, file))
	}
	if err := checkVarsYAML(data); err != nil {
		return withCode(exitParse, fmt.Errorf("%s: %v\n  hint: a vault file is a vars file: a YAML mapping of `name: value`", file, err))
	}
	k, err := vaultKey(c, identity, true)
	if err != nil {
		return err
	}
	enc, err := k.Encrypt(data)
	if err != nil {
		return withCode(exitError, err)
	}
	mode := fs.FileMode(0o600)
	if st, err := os.Stat(file); err == nil {
		mode = st.Mode().Perm()
	}
	if err := atomicfile.WriteFile(file, enc, mode); err != nil {
		return withCode(exitError, err)
	}
	fmt.Fprintf(c.ErrOrStderr(), "encrypted %s with %s\n", file, k.Source)
	return nil
}

// checkVarsYAML says why data is not a YAML mapping (nil when it is one, or
// empty).
func checkVarsYAML(data []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return err
	}
	if len(doc.Content) == 0 {
		return nil
	}
	if top := doc.Content[0]; top.Kind != yaml.MappingNode && top.ShortTag() != "!!null" {
		return fmt.Errorf("line %d: the file is not a mapping of variables", top.Line)
	}
	return nil
}

func vaultEdit(c *cobra.Command, identity, file string) error {
	var plain []byte
	mode := fs.FileMode(0o600)
	data, err := os.ReadFile(file)
	exists := err == nil
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return withCode(exitOptions, err)
	case !vault.IsEncrypted(data):
		return withCode(exitOptions, fmt.Errorf("%s is not encrypted\n  hint: `pgplay vault encrypt %s` encrypts it first", file, file))
	}
	k, err := vaultKey(c, identity, !exists)
	if err != nil {
		return err
	}
	if exists {
		if plain, err = k.Decrypt(data); err != nil {
			return withCode(exitError, fmt.Errorf("%s: %w\n  hint: %s", file, err, vault.KeyHint))
		}
		if st, err := os.Stat(file); err == nil {
			mode = st.Mode().Perm()
		}
	}

	tmpRoot := os.Getenv("XDG_RUNTIME_DIR") // a per-user tmpfs when there is one
	if st, err := os.Stat(tmpRoot); tmpRoot == "" || err != nil || !st.IsDir() {
		tmpRoot = os.TempDir()
	}
	dir, err := os.MkdirTemp(tmpRoot, "pgplay-vault-")
	if err != nil {
		return withCode(exitError, err)
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))+".yaml")
	if err := os.WriteFile(tmp, plain, 0o600); err != nil {
		return withCode(exitError, err)
	}
	editor := os.Getenv("VISUAL")
	if editor == "" {
		editor = os.Getenv("EDITOR")
	}
	if editor == "" {
		editor = "vi"
	}
	// As git does: the editor may carry arguments ("code --wait").
	ed := exec.CommandContext(c.Context(), "/bin/sh", "-c", editor+` "$@"`, editor, tmp)
	ed.Stdin, ed.Stdout, ed.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := ed.Run(); err != nil {
		return withCode(exitError, fmt.Errorf("editor %q: %w; %s was not changed\n  hint: set $EDITOR to your editor", editor, err, file))
	}
	edited, err := os.ReadFile(tmp)
	if err != nil {
		return withCode(exitError, err)
	}
	if bytes.Equal(edited, plain) {
		fmt.Fprintf(c.ErrOrStderr(), "%s: no change\n", file)
		return nil
	}
	if !exists && len(bytes.TrimSpace(edited)) == 0 {
		fmt.Fprintf(c.ErrOrStderr(), "%s: empty, not created\n", file)
		return nil
	}
	enc, err := k.Encrypt(edited)
	if err != nil {
		return withCode(exitError, err)
	}
	if err := atomicfile.WriteFile(file, enc, mode); err != nil {
		return withCode(exitError, err)
	}
	fmt.Fprintf(c.ErrOrStderr(), "encrypted %s\n", file)
	if err := checkVarsYAML(edited); err != nil {
		fmt.Fprintf(c.ErrOrStderr(), "warning: %s: %v; pgplay run will refuse it until it is fixed: run `pgplay vault edit %s` again\n", file, err, file)
	}
	return nil
}
