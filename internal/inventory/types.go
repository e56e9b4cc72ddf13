// Package inventory loads inventories as Ansible reads them (YAML and INI
// files, directories of them, several sources merged in order, host
// ranges, group_vars/ and host_vars/) and selects hosts with patterns.
package inventory

// Inventory is a loaded inventory.
type Inventory struct {
	// Sources are the inventory paths it was read from (-i), in order.
	Sources []string
	Hosts   map[string]*Host
	Groups  map[string]*Group
	// Order is the host names in the order they were first written.
	Order []string
	// Warnings name (file:line) what was read but has no effect: Ansible
	// variables pgplay has no use for, vars files naming no group or host,
	// files Ansible skips in an inventory directory.
	Warnings []string
}

// Host is one inventory host.
type Host struct {
	Name string
	// Vars are the host's inventory variables with Ansible's precedence
	// applied (all < groups, parents before children < group_vars/ <
	// host vars < host_vars/) and Ansible's connection variables under
	// pgplay's names (ansible_host is ssh_host, ...).
	Vars map[string]any
	// RawVars are the same variables as written (ansible_host stays
	// ansible_host): what `pgplay inventory --list` prints, as
	// ansible-inventory --list does.
	RawVars map[string]any
	// Groups are the names of the groups the host is in (directly or via
	// children), "all" included, sorted.
	Groups []string
}

// Group is one inventory group.
type Group struct {
	Name string
	// Vars are the group's own variables (inventory files, then its
	// group_vars/ files), connection names mapped as in Host.Vars.
	Vars     map[string]any
	Hosts    []string // direct members, in order
	Children []string
	Parents  []string
}
