package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/pgplay/pgplay/internal/vault"
	"github.com/pgplay/pgplay/internal/yamlsrc"
)

// ansibleFlags maps each ansible-playbook flag pgplay does not take, as
// typed, to one line saying how pgplay spells it (or why it has none).
var ansibleFlags = func() map[string]string {
	m := map[string]string{}
	add := func(line string, flags ...string) {
		for _, f := range flags {
			m[f] = line
		}
	}
	add("pgplay's vaults are age files: pass --vault-identity FILE, or set $"+vault.EnvIdentity+" or $"+vault.EnvPassphrase+" (see `pgplay vault`)",
		"--ask-vault-pass", "--ask-vault-password", "-J", "--vault-password-file", "--vault-pass-file", "--vault-id")
	add("pgplay logs in with SSH keys only (ssh-agent, --private-key FILE, or ssh_key in the inventory); it takes no SSH password",
		"--ask-pass", "-k", "--connection-password-file", "--conn-pass-file")
	add("pgplay becomes with sudo only: -b and --become-user choose whether and as whom",
		"--become-method")
	add("set connection: ssh or local per host in the inventory (ansible_connection works too)",
		"--connection", "-c")
	add("use --connect-timeout DURATION (e.g. --connect-timeout 30s; Ansible's -T takes seconds)",
		"--timeout", "-T")
	add("pgplay reads SSH options from ~/.ssh/config (or ssh_config: FILE in the inventory), and ssh_host, ssh_port, ssh_user, ssh_key per host",
		"--ssh-common-args", "--ssh-extra-args", "--sftp-extra-args", "--scp-extra-args")
	add("pgplay's modules are built in (`pgplay doc` lists them); it loads no module files",
		"--module-path", "-M")
	add("pgplay keeps no fact cache: facts are gathered afresh in each run",
		"--flush-cache")
	add("ad-hoc runs (ansible HOSTS -m MODULE -a ARGS) are `pgplay exec HOSTS -i INVENTORY -m MODULE -a ARGS`",
		"--module-name", "-m", "--args", "-a")
	return m
}()

// ansibleAliases accepts ansible-playbook's other spellings of a flag
// pgplay has (--key-file for --private-key, --inventory-file for -i,
// --become-pass-file for --become-password-file).
func ansibleAliases(_ *pflag.FlagSet, name string) pflag.NormalizedName {
	switch name {
	case "key-file":
		name = "private-key"
	case "inventory-file":
		name = "inventory"
	case "become-pass-file":
		name = "become-password-file"
	}
	return pflag.NormalizedName(name)
}

// flagError turns cobra's flag errors into pgplay's: exit 5, and for an
// unknown flag either the line mapping ansible-playbook's flag to pgplay's
// or the closest flags of the command (`--chek` -> --check).
func flagError(cmd *cobra.Command, err error) error {
	help := fmt.Sprintf("`%s --help` lists the flags", cmd.CommandPath())
	var ne *pflag.NotExistError
	if !errors.As(err, &ne) {
		return withCode(exitOptions, fmt.Errorf("%w\n  hint: %s", err, help))
	}
	typed := "--" + ne.GetSpecifiedName()
	if ne.GetSpecifiedShortnames() != "" {
		typed = "-" + ne.GetSpecifiedName()
	}
	if line, ok := ansibleFlags[typed]; ok {
		return withCode(exitOptions, fmt.Errorf("%s is ansible-playbook's flag; pgplay does not take it\n  hint: %s", typed, line))
	}
	if strings.HasPrefix(typed, "--") {
		var names []string
		cmd.Flags().VisitAll(func(f *pflag.Flag) {
			if !f.Hidden {
				names = append(names, f.Name)
			}
		})
		if s := yamlsrc.Suggest(ne.GetSpecifiedName(), names); len(s) > 0 {
			for i := range s {
				s[i] = "--" + s[i]
			}
			return withCode(exitOptions, fmt.Errorf("%w\n  hint: did you mean %s? (%s)", err, strings.Join(s, " or "), help))
		}
	}
	return withCode(exitOptions, fmt.Errorf("%w\n  hint: %s", err, help))
}
