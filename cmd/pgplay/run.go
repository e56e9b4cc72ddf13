package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	pgplay "github.com/pgplay/pgplay"
	"github.com/pgplay/pgplay/internal/content"
	"github.com/pgplay/pgplay/internal/playbook"
	"github.com/pgplay/pgplay/internal/report"
	"github.com/pgplay/pgplay/internal/runner"
	"github.com/pgplay/pgplay/internal/tmpl"
	"github.com/pgplay/pgplay/internal/vault"
	"github.com/pgplay/pgplay/internal/yamlsrc"
	"github.com/pgplay/pgplay/modules"
)

// runFlags are the flags shared by `run` and `role`.
type runFlags struct {
	inventory      []string // -i, in order
	limit          string
	tags           []string
	skipTags       []string
	extra          []string
	check          bool
	diff           bool
	forks          int
	verbose        int
	output         string
	acceptNew      bool
	connectTimeout time.Duration
	vaultIdentity  string
	vault          *vault.Files // vault files met by this run (vars_files, -e @file)
	forceHandlers  bool
	playbookDir    string // the playbook's disk directory: its group_vars/ and host_vars/ apply ("" none)

	// Connection and become defaults, with ansible-playbook's meaning:
	// the inventory's ssh_user / ssh_key and the play's become keywords
	// win over them.
	user       string // -u: ssh_user of hosts whose inventory sets none
	privateKey string // --private-key: ssh_key of hosts whose inventory sets none
	become     bool   // -b: become for plays that do not say (run only; role has its own -b)
	becomeUser string // --become-user: become_user for plays that do not say

	// Inspection: these print and exit without connecting.
	listHosts   bool
	listTasks   bool
	listTags    bool
	syntaxCheck bool

	askBecomePass  bool   // -K: ask for the sudo password on the terminal
	becomePassFile string // --become-password-file: read it from a file

	startAt string // --start-at-task
	step    bool   // --step: ask before each task on the terminal

	// adhoc selects `pgplay exec`'s output: one block per host as the
	// ansible command prints it (oneLine: one line per host).
	adhoc   bool
	oneLine bool
}

// vaultFiles opens the vault files of the run; their values are secrets.
func (f *runFlags) vaultFiles() *vault.Files {
	if f.vault == nil {
		f.vault = &vault.Files{IdentityFile: f.vaultIdentity}
	}
	return f.vault
}

// register adds the flags of `run` and `role`: the common ones and those
// that choose tasks of a playbook.
func (f *runFlags) register(cmd *cobra.Command) {
	f.registerCommon(cmd)
	fl := cmd.Flags()
	fl.StringSliceVarP(&f.tags, "tags", "t", nil, "only run tasks tagged with these tags")
	fl.StringSliceVar(&f.skipTags, "skip-tags", nil, "skip tasks tagged with these tags")
	fl.BoolVar(&f.forceHandlers, "force-handlers", false, "run notified handlers on hosts that failed after notifying them")
	fl.BoolVar(&f.listHosts, "list-hosts", false, "list each play's hosts (after --limit) and exit; does not connect")
	fl.BoolVar(&f.listTasks, "list-tasks", false, "list the tasks that would run (after --tags/--skip-tags) and exit; -i not needed")
	fl.BoolVar(&f.listTags, "list-tags", false, "list each play's tags and exit; -i not needed")
	fl.BoolVar(&f.syntaxCheck, "syntax-check", false, "check the playbook and exit (with -i, also host patterns and templates); does not connect")
	fl.StringVar(&f.startAt, "start-at-task", "", "leave out the tasks before the first one named so (NAME, 'ROLE : NAME' or a glob; --list-tasks shows names)")
	fl.BoolVar(&f.step, "step", false, "ask on the terminal before each task: (y)es, (n)o, (c)ontinue without asking")
}

// registerCommon adds the flags every command that runs tasks takes
// (`run`, `role`, `exec`): inventory, hosts, variables, check mode,
// output, connection and become.
func (f *runFlags) registerCommon(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringArrayVarP(&f.inventory, "inventory", "i", nil, "inventory file or directory (YAML or INI, Ansible's shapes); repeat to merge several, in order")
	fl.StringVarP(&f.limit, "limit", "l", "", "limit to hosts matching this pattern (e.g. node1, 'postgres:!node3')")
	fl.StringArrayVarP(&f.extra, "extra-vars", "e", nil, "extra variables: k=v, @file.yaml, or JSON/YAML inline; highest precedence")
	fl.BoolVarP(&f.check, "check", "C", false, "check mode: report what would change, change nothing")
	fl.BoolVarP(&f.diff, "diff", "D", false, "show diffs of changed files")
	fl.IntVarP(&f.forks, "forks", "f", 20, "how many hosts to work on in parallel")
	fl.CountVarP(&f.verbose, "verbose", "v", "more output (-v, -vv, -vvv)")
	fl.StringVar(&f.output, "output", "human", "output format: human or json (one JSON object per event)")
	fl.BoolVar(&f.acceptNew, "accept-new-host-keys", false, "trust and record unknown host keys (never a changed one)")
	fl.DurationVar(&f.connectTimeout, "connect-timeout", 10*time.Second, "SSH connect timeout")
	fl.StringVar(&f.vaultIdentity, "vault-identity", "", "age identity file opening vault files (else $"+vault.EnvIdentity+" or $"+vault.EnvPassphrase+"); see `pgplay vault`")
	fl.StringVarP(&f.user, "user", "u", "", "SSH login user for hosts whose inventory sets no ssh_user/ansible_user")
	fl.StringVar(&f.privateKey, "private-key", "", "SSH private key file for hosts whose inventory sets no ssh_key/ansible_ssh_private_key_file (alias --key-file)")
	fl.StringVar(&f.becomeUser, "become-user", "", "user to become (sudo -u) in plays that set no become_user (default root)")
	fl.BoolVarP(&f.askBecomePass, "ask-become-pass", "K", false, "ask on the terminal for the sudo password, for hosts where sudo wants one")
	fl.StringVar(&f.becomePassFile, "become-password-file", "", "read the sudo password from FILE (its trailing newline removed; - is standard input), for hosts where sudo wants one (alias --become-pass-file)")
	fl.SetNormalizeFunc(ansibleAliases)
}

func newRunCmd() *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run PLAYBOOK -i INVENTORY",
		Short: "Run a playbook against the inventory's hosts",
		Example: `  pgplay run playbooks/site.yaml -i inventory.yaml
  pgplay run playbooks/site.yaml -i inventory.yaml --check --diff
  pgplay run playbooks/rejoin.yaml -i inventory.yaml --limit node1`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return withCode(exitOptions, fmt.Errorf("run takes one playbook file, got %d arguments\n  hint: pgplay run PLAYBOOK -i INVENTORY", len(args)))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.vaultFiles().Check(); err != nil {
				return withCode(exitOptions, fmt.Errorf("%w\n  hint: %s", err, vault.KeyHint))
			}
			src := defaultSource()
			found, err := src.Stat(args[0])
			if err != nil {
				return withCode(exitOptions, fmt.Errorf("playbook %s not found on disk or in the binary\n  hint: check the path; `pgplay init DIR` writes out the built-in playbooks", args[0]))
			}
			opt := loaderOptions(src, f.vaultFiles().Decrypt)
			if found.Dir != "" {
				opt.Source = src.With(found.Dir)
				f.playbookDir = found.Dir
			}
			pb, err := playbook.Load(args[0], opt)
			if err != nil {
				return withCode(exitParse, err)
			}
			return execute(cmd, f, pb, opt.Source)
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVarP(&f.become, "become", "b", false, "become (sudo) in plays that do not set become")
	return cmd
}

func newRoleCmd() *cobra.Command {
	f := &runFlags{}
	var hosts string
	var become bool
	cmd := &cobra.Command{
		Use:   "role NAME -i INVENTORY",
		Short: "Run one role against the inventory's hosts, without a playbook file",
		Example: `  pgplay role sync_standby -i inventory.yaml -e sync_standbys=node3,node2
  pgplay role postgres -i inventory.yaml -l node2`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return withCode(exitOptions, fmt.Errorf("role takes one role name, got %d arguments", len(args)))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.vaultFiles().Check(); err != nil {
				return withCode(exitOptions, fmt.Errorf("%w\n  hint: %s", err, vault.KeyHint))
			}
			src := defaultSource()
			opt := loaderOptions(src, f.vaultFiles().Decrypt)
			rr, err := playbook.RoleRefFor(args[0], nil, opt)
			if err != nil {
				return withCode(exitParse, err)
			}
			b := become
			pb := &playbook.Playbook{File: "role " + args[0], Plays: []*playbook.Play{{
				Name: "role " + args[0], Hosts: hosts, Become: &b, BecomeUser: f.becomeUser, Roles: []*playbook.RoleRef{rr},
			}}}
			return execute(cmd, f, pb, src)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&hosts, "hosts", "all", "host pattern the role runs on (before --limit)")
	cmd.Flags().BoolVarP(&become, "become", "b", true, "run the role's tasks with become (sudo)")
	return cmd
}

// unknownModuleHint says what to write instead of an unknown module name:
// pgplay's spelling of an Ansible module, or the closest module names.
func unknownModuleHint(name string) string {
	if h := modules.AnsibleHint(name); h != "" {
		return h
	}
	return didYouMeanModule(name) + "`pgplay doc` lists the modules"
}

// didYouMeanModule is "did you mean "x"? " for the closest module names,
// or "".
func didYouMeanModule(name string) string {
	return yamlsrc.DidYouMean(name, modules.Names())
}

func knownModule(name string) bool {
	if name == "meta" || name == "include_tasks" || name == "import_tasks" {
		return true
	}
	_, ok := modules.Lookup(name)
	return ok
}

// loaderOptions are the playbook loader's options of every command that
// loads playbooks or roles (run, role, the shell completion of --tags):
// content from src, the modules (names, did-you-mean, Ansible hints), the
// template check, and decrypt for vault files (vars_files, role vars and
// defaults).
func loaderOptions(src *content.Source, decrypt func(file string, data []byte) ([]byte, error)) playbook.Options {
	return playbook.Options{Source: src, KnownModule: knownModule, ModuleNames: modules.Names(),
		ModuleHint: modules.AnsibleHint, Decrypt: decrypt, CheckTemplate: tmpl.New().Check}
}

// defaultSource finds content in the working directory, then in the binary.
func defaultSource() *content.Source {
	return &content.Source{Dirs: []string{"."}, Embedded: pgplay.Content}
}

// execute loads the inventory and runs pb, mapping the outcome to an exit code.
// With --syntax-check or a --list-* flag it prints and returns without
// connecting.
func execute(cmd *cobra.Command, f *runFlags, pb *playbook.Playbook, src *content.Source) error {
	// --syntax-check, --list-tasks and --list-tags read only the playbook.
	needInventory := f.listHosts || !(f.syntaxCheck || f.listTasks || f.listTags)
	if len(f.inventory) == 0 && needInventory {
		what := "no inventory given"
		if f.listHosts {
			what = "--list-hosts needs an inventory to list hosts from"
		}
		return withCode(exitOptions, fmt.Errorf("%s\n  hint: pass -i inventory.yaml (see inventory.example.yaml)", what))
	}
	if f.output != "human" && f.output != "json" {
		return withCode(exitOptions, fmt.Errorf("--output %q: want human or json\n  hint: --output json writes one JSON object per event", f.output))
	}
	if f.forks < 1 {
		return withCode(exitOptions, fmt.Errorf("--forks %d: want 1 or more\n  hint: -f sets how many hosts are worked on at once (default 20)", f.forks))
	}
	for _, t := range f.tags {
		for _, s := range f.skipTags {
			if t == s {
				return withCode(exitOptions, fmt.Errorf("tag %q is both in --tags and --skip-tags\n  hint: a task cannot be both run and skipped; drop it from one of them", t))
			}
		}
	}
	var step func(string) runner.StepAnswer
	if f.step && !f.inspecting() {
		tty, err := terminalIn(cmd)
		if err != nil {
			return withCode(exitOptions, fmt.Errorf("--step asks before each task on a terminal, and %w\n  hint: run it in a terminal, or choose the tasks with --start-at-task, --tags or --skip-tags (--list-tasks shows them)", err))
		}
		step = stepPrompter(tty, cmd.ErrOrStderr())
	}
	limit, err := expandLimit(f.limit)
	if err != nil {
		return withCode(exitOptions, err)
	}
	f.applyPlays(pb)
	if len(f.inventory) == 0 {
		// --syntax-check, --list-tasks or --list-tags without -i.
		return inspect(cmd.OutOrStdout(), f, pb, nil, limit)
	}
	inv, err := loadInventory(f.inventory, f.playbookDir, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	if err := f.applyInventory(inv); err != nil {
		return withCode(exitOptions, err)
	}
	extra, err := parseExtraVars(f.extra, f.vaultFiles().Decrypt)
	if err != nil {
		return withCode(exitOptions, err)
	}
	red := report.NewRedactor()
	red.Add(f.vaultFiles().Secrets()...) // every value of a vault file
	out := cmd.OutOrStdout()
	var sink report.Sink
	switch {
	case f.output == "json":
		sink = report.NewJSON(out)
	case f.adhoc:
		sink = report.NewAdhoc(out, report.UseColor(out), f.oneLine)
	default:
		sink = report.NewHuman(out, report.UseColor(out), f.verbose)
	}
	var becomePass string
	if !f.inspecting() {
		if becomePass, err = f.becomePassword(cmd); err != nil {
			return err
		}
	}
	r := runner.New(runner.Options{
		Inventory: inv, Source: src, Limit: limit, Tags: f.tags, SkipTags: f.skipTags,
		ExtraVars: extra, Check: f.check, Diff: f.diff, Forks: f.forks, Verbosity: f.verbose, ForceHandlers: f.forceHandlers,
		Sink: sink, Redactor: red, AcceptNewHostKeys: f.acceptNew, ConnectTimeout: f.connectTimeout,
		StartAtTask: f.startAt, Step: step, BecomePassword: becomePass,
	})
	if err := r.Prepare(pb); err != nil {
		code := exitParse
		if strings.HasPrefix(err.Error(), "--start-at-task") {
			code = exitOptions
		} else if strings.HasPrefix(err.Error(), "--limit") {
			code = exitOptions
			err = fmt.Errorf("%w\n  hint: --limit takes hosts or groups of the inventory, or a pattern: node1, 'db:!node3'", err)
		}
		return withCode(code, err)
	}
	if f.inspecting() {
		return inspect(cmd.OutOrStdout(), f, pb, inv, limit)
	}
	o := r.Run(cmd.Context(), pb)
	switch {
	case o.Interrupted:
		return withCode(exitInterrupted, errSilent)
	case o.Unreachable:
		return withCode(exitUnreachable, errSilent)
	case o.Failed:
		return withCode(exitHostFailed, errSilent)
	}
	return nil
}

// parseExtraVars reads -e values: k=v pairs, @file (YAML/JSON), or inline
// JSON/YAML mappings. Later values override earlier ones. decrypt opens
// vault files given with @ (nil: none).
func parseExtraVars(list []string, decrypt func(string, []byte) ([]byte, error)) (map[string]any, error) {
	out := map[string]any{}
	for _, e := range list {
		e = strings.TrimSpace(e)
		switch {
		case e == "":
			return nil, fmt.Errorf("-e: empty value\n  hint: -e key=value, -e @vars.yaml or -e '{\"key\": 1}'")
		case strings.HasPrefix(e, "@"):
			path := e[1:]
			b, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("-e %s: %w\n  hint: the file after @ must exist (YAML or JSON mapping)", e, err)
			}
			if decrypt != nil {
				if b, err = decrypt(path, b); err != nil {
					return nil, fmt.Errorf("-e %s: %w\n  hint: %s", e, err, vault.KeyHint)
				}
			}
			// As a vars file: positioned errors, the same scalar rules.
			root, err := yamlsrc.ParseYAML(path, b)
			if err != nil {
				return nil, err
			}
			if root == nil {
				return nil, fmt.Errorf("-e %s: the file is empty\n  hint: extra vars files hold one YAML or JSON mapping", e)
			}
			m, err := yamlsrc.DecodeVars(path, root, "an extra vars file")
			if err != nil {
				return nil, err
			}
			for k, v := range m {
				out[k] = v
			}
		case strings.HasPrefix(e, "{"):
			var m map[string]any
			if err := json.Unmarshal([]byte(e), &m); err != nil {
				ym, yerr := decodeMapping("-e", []byte(e))
				if yerr != nil {
					return nil, fmt.Errorf("-e %s: not valid JSON or YAML: %v\n  hint: quote the whole value for the shell: -e '{\"k\": \"v\"}'", e, err)
				}
				m = ym
			}
			for k, v := range m {
				out[k] = v
			}
		default:
			for _, pair := range splitPairs(e) {
				k, v, ok := strings.Cut(pair, "=")
				if !ok || k == "" {
					return nil, fmt.Errorf("-e %q: want key=value\n  hint: -e key=value, -e @vars.yaml or -e '{\"key\": 1}'", pair)
				}
				out[k] = v
			}
		}
	}
	return out, nil
}

// splitPairs splits "a=1 b='x y'" on spaces outside quotes.
func splitPairs(s string) []string {
	var out []string
	var cur strings.Builder
	var q rune
	for _, r := range s {
		switch {
		case q != 0 && r == q:
			q = 0
		case q == 0 && (r == '\'' || r == '"'):
			q = r
		case q == 0 && r == ' ':
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

func decodeMapping(name string, b []byte) (map[string]any, error) {
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %v\n  hint: extra vars files hold one YAML or JSON mapping", name, err)
	}
	if m == nil {
		return nil, fmt.Errorf("%s: empty or not a mapping\n  hint: extra vars files hold one YAML or JSON mapping", name)
	}
	return m, nil
}
