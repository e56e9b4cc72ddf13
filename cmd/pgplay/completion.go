package main

import (
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pgplay/pgplay/internal/inventory"
	"github.com/pgplay/pgplay/internal/playbook"
	"github.com/pgplay/pgplay/internal/vault"
	"github.com/pgplay/pgplay/modules"
)

// Dynamic shell completion (`pgplay completion bash|zsh|fish`): module
// names for `doc` and `exec -m`, role names for `role`, the inventory's
// hosts and groups for `exec PATTERN` and --limit, the playbook's tags
// for --tags and --skip-tags. Completion never fails: what cannot be read
// completes nothing.

// matching returns the names that start with prefix.
func matching(names []string, prefix string) []string {
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return out
}

func completeModules(_ *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return matching(modules.Names(), prefix), cobra.ShellCompDirectiveNoFileComp
}

func completeModuleFlag(_ *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
	return matching(modules.Names(), prefix), cobra.ShellCompDirectiveNoFileComp
}

func completeRoles(_ *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return matching(defaultSource().Subdirs("roles"), prefix), cobra.ShellCompDirectiveNoFileComp
}

// inventoryNames lists the hosts and groups of the command's -i, sorted.
func inventoryNames(cmd *cobra.Command) []string {
	sources, err := cmd.Flags().GetStringArray("inventory")
	if err != nil || len(sources) == 0 {
		return nil
	}
	inv, err := inventory.LoadSources(sources, inventory.Options{})
	if err != nil {
		return nil
	}
	var names []string
	for n := range inv.Hosts {
		names = append(names, n)
	}
	for n := range inv.Groups {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// completePattern completes a host pattern's last part (after , : & !).
func completePattern(cmd *cobra.Command, prefix string) []string {
	cut := strings.LastIndexAny(prefix, ",:&!") + 1
	head, last := prefix[:cut], prefix[cut:]
	var out []string
	for _, n := range matching(inventoryNames(cmd), last) {
		out = append(out, head+n)
	}
	return out
}

func completeExecPattern(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return completePattern(cmd, prefix), cobra.ShellCompDirectiveNoFileComp
}

func completeLimit(cmd *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
	return completePattern(cmd, prefix), cobra.ShellCompDirectiveNoFileComp
}

// completeTags completes --tags / --skip-tags with the tags of the
// playbook given as run's argument (roles' included).
func completeTags(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
	tags := map[string]bool{"all": true, "always": true, "never": true, "tagged": true, "untagged": true}
	if cmd.Name() == "run" && len(args) == 1 {
		id, _ := cmd.Flags().GetString("vault-identity")
		opt := loaderOptions(defaultSource(), (&vault.Files{IdentityFile: id}).Decrypt)
		if found, err := opt.Source.Stat(args[0]); err == nil && found.Dir != "" {
			opt.Source = opt.Source.With(found.Dir)
		}
		if pb, err := playbook.Load(args[0], opt); err == nil {
			for _, p := range pb.Plays {
				for _, t := range p.Tags {
					tags[t] = true
				}
				var visit func([]*playbook.Task)
				visit = func(ts []*playbook.Task) {
					for _, t := range ts {
						for _, g := range t.Tags {
							tags[g] = true
						}
						visit(t.Block)
						visit(t.Rescue)
						visit(t.Always)
					}
				}
				visit(p.PreTasks)
				visit(p.Tasks)
				visit(p.PostTasks)
				for _, rr := range playbook.ExpandRoles(p.Roles) {
					for _, g := range rr.Tags {
						tags[g] = true
					}
					if rr.Role != nil {
						visit(rr.Role.Tasks)
					}
				}
			}
		}
	}
	names := make([]string, 0, len(tags))
	for t := range tags {
		names = append(names, t)
	}
	sort.Strings(names)
	// A comma-separated list: complete its last part.
	cut := strings.LastIndex(prefix, ",") + 1
	var out []string
	for _, n := range matching(names, prefix[cut:]) {
		out = append(out, prefix[:cut]+n)
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// registerCompletions wires the completions into root's commands.
func registerCompletions(root *cobra.Command) {
	findCmd(root, "doc").ValidArgsFunction = completeModules
	findCmd(root, "role").ValidArgsFunction = completeRoles
	exec := findCmd(root, "exec")
	exec.ValidArgsFunction = completeExecPattern
	_ = exec.RegisterFlagCompletionFunc("module-name", completeModuleFlag)
	for _, name := range []string{"run", "role", "exec"} {
		c := findCmd(root, name)
		_ = c.RegisterFlagCompletionFunc("limit", completeLimit)
		if name != "exec" {
			_ = c.RegisterFlagCompletionFunc("tags", completeTags)
			_ = c.RegisterFlagCompletionFunc("skip-tags", completeTags)
		}
	}
	findCmd(root, "run").ValidArgsFunction = func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
	}
}
