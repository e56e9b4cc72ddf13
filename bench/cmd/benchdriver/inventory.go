package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Inventories are the inventory files of one host count, one per tool.
type Inventories struct {
	PGPlay  string // pgplay's YAML inventory
	Ansible string // Ansible's YAML inventory
	GoMin   string // the minimal Go client's JSON host list
}

// minHost is one host for the minimal Go client.
type minHost struct {
	Name       string `json:"name"`
	Addr       string `json:"addr"`
	Port       int    `json:"port"`
	User       string `json:"user"`
	KeyFile    string `json:"key_file"`
	KnownHosts string `json:"known_hosts"`
	PGRoot     string `json:"pg_root"`
}

// writeInventories writes the three inventories for the first n targets.
func writeInventories(t *Targets, n int) (Inventories, error) {
	dir := filepath.Join(t.State, "inventory")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Inventories{}, err
	}
	pgHosts := map[string]any{}
	anHosts := map[string]any{}
	var mins []minHost
	for i := 0; i < n; i++ {
		pgHosts[HostName(i)] = map[string]any{"ssh_host": Addr(i), "pg_root": t.Root(i)}
		anHosts[HostName(i)] = map[string]any{"ansible_host": Addr(i), "pg_root": t.Root(i)}
		mins = append(mins, minHost{Name: HostName(i), Addr: Addr(i), Port: t.Port, User: t.User,
			KeyFile: t.KeyFile, KnownHosts: t.KnownHostsFile, PGRoot: t.Root(i)})
	}
	pg := map[string]any{"all": map[string]any{
		"vars": map[string]any{
			"ssh_port":        t.Port,
			"ssh_user":        t.User,
			"ssh_key":         t.KeyFile,
			"ssh_known_hosts": t.KnownHostsFile,
			"ssh_config":      "none",
		},
		"children": map[string]any{"pg": map[string]any{"hosts": pgHosts}},
	}}
	sshArgs := strings.Join([]string{
		"-F /dev/null",
		"-o UserKnownHostsFile=" + t.KnownHostsFile,
		"-o GlobalKnownHostsFile=/dev/null",
		"-o StrictHostKeyChecking=yes",
		"-o IdentitiesOnly=yes",
	}, " ")
	an := map[string]any{"all": map[string]any{
		"vars": map[string]any{
			"ansible_port":                 t.Port,
			"ansible_user":                 t.User,
			"ansible_ssh_private_key_file": t.KeyFile,
			"ansible_ssh_common_args":      sshArgs,
		},
		"children": map[string]any{"pg": map[string]any{"hosts": anHosts}},
	}}
	inv := Inventories{
		PGPlay:  filepath.Join(dir, fmt.Sprintf("pgplay-%d.yaml", n)),
		Ansible: filepath.Join(dir, fmt.Sprintf("ansible-%d.yaml", n)),
		GoMin:   filepath.Join(dir, fmt.Sprintf("gomin-%d.json", n)),
	}
	for path, v := range map[string]any{inv.PGPlay: pg, inv.Ansible: an} {
		b, err := yaml.Marshal(v)
		if err != nil {
			return inv, err
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return inv, err
		}
	}
	b, err := json.MarshalIndent(mins, "", "  ")
	if err != nil {
		return inv, err
	}
	return inv, os.WriteFile(inv.GoMin, b, 0o644)
}
