// Package inventory loads YAML inventories in Ansible's shape
// (all: {vars, hosts, children}) and selects hosts with patterns.
package inventory

// Inventory is a loaded inventory.
type Inventory struct {
	File   string
	Hosts  map[string]*Host
	Groups map[string]*Group
	// Order is the host names in the order they were first written.
	Order []string
}

// Host is one inventory host.
type Host struct {
	Name string
	// Vars are the host's inventory variables with precedence applied:
	// all vars < group vars (parents before children) < host vars.
	Vars map[string]any
	// Groups are the names of the groups the host is in (directly or via
	// children), "all" included, sorted.
	Groups []string
}

// Group is one inventory group.
type Group struct {
	Name     string
	Vars     map[string]any
	Hosts    []string // direct members, in order
	Children []string
	Parents  []string
}
