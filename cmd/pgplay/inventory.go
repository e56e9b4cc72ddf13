package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/pgplay/pgplay/internal/inventory"
	"github.com/pgplay/pgplay/internal/yamlsrc"
)

func newInventoryCmd() *cobra.Command {
	var (
		sources     []string
		list, graph bool
		host        string
		playbookDir string
	)
	cmd := &cobra.Command{
		Use:   "inventory -i INVENTORY (--list | --graph [GROUP] | --host HOST)",
		Short: "Show the inventory as pgplay reads it (as ansible-inventory does)",
		Long: `Show the inventory as pgplay reads it: --list prints the JSON of
ansible-inventory --list (each group's hosts and children, and
_meta.hostvars: each host's variables with precedence applied, group_vars/
and host_vars/ included), --graph the tree of groups and hosts, --host one
host's variables. Several -i are merged in order; -i DIR reads every
inventory file in DIR. Nothing is connected to.`,
		Example: `  pgplay inventory -i inventory.yaml --graph
  pgplay inventory -i hosts.ini -i group_vars_test.yaml --list
  pgplay inventory -i inventory/ --host node1 --playbook-dir playbooks`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n := 0
			for _, b := range []bool{list, graph, host != ""} {
				if b {
					n++
				}
			}
			if n != 1 {
				return withCode(exitOptions, fmt.Errorf("give one of --list, --graph or --host\n  hint: pgplay inventory -i inventory.yaml --graph"))
			}
			if len(args) > 0 && !graph {
				return withCode(exitOptions, fmt.Errorf("a group (%s) is taken by --graph only\n  hint: pgplay inventory -i INV --graph %s", args[0], args[0]))
			}
			if len(sources) == 0 {
				return withCode(exitOptions, fmt.Errorf("no inventory given\n  hint: pgplay inventory -i inventory.yaml --list"))
			}
			inv, err := loadInventory(sources, playbookDir, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			switch {
			case graph:
				group := ""
				if len(args) > 0 {
					group = args[0]
				}
				if err := inv.Graph(w, group); err != nil {
					return withCode(exitOptions, err)
				}
				return nil
			case host != "":
				h := inv.Hosts[host]
				if h == nil {
					return withCode(exitOptions, fmt.Errorf("no host %q in the inventory\n  hint: pgplay inventory -i ... --graph lists the hosts", host))
				}
				return writeJSON(w, h.RawVars)
			}
			return writeJSON(w, inv.List())
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&sources, "inventory", "i", nil, "inventory file or directory (YAML or INI, Ansible's shapes); repeat to merge several, in order")
	fl.BoolVar(&list, "list", false, "print the inventory as JSON, in ansible-inventory --list's shape")
	fl.BoolVar(&graph, "graph", false, "print the tree of groups and hosts (from GROUP, default all)")
	fl.StringVar(&host, "host", "", "print one host's variables as JSON")
	fl.StringVar(&playbookDir, "playbook-dir", "", "read group_vars/ and host_vars/ beside this playbook directory too")
	return cmd
}

// loadInventory reads the -i sources (playbookDir's group_vars/ and
// host_vars/ too) and prints the inventory's warnings to stderr. A source
// that cannot be read exits 5, one that does not parse 4.
func loadInventory(sources []string, playbookDir string, stderr io.Writer) (*inventory.Inventory, error) {
	inv, err := inventory.LoadSources(sources, inventory.Options{PlaybookDir: playbookDir})
	if err != nil {
		var pe *yamlsrc.Error
		if errors.As(err, &pe) {
			return nil, withCode(exitParse, err)
		}
		return nil, withCode(exitOptions, err) // -i names no readable file
	}
	for _, w := range inv.Warnings {
		fmt.Fprintln(stderr, "[WARNING]: "+w)
	}
	return inv, nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "    ")
	if err := enc.Encode(v); err != nil {
		return withCode(exitError, err)
	}
	return nil
}
