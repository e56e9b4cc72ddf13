package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/pgplay/pgplay/internal/inventory"
	"github.com/pgplay/pgplay/internal/playbook"
)

// applyPlays gives -b and --become-user to the plays that do not set
// become / become_user themselves: as in ansible-playbook, a playbook
// keyword wins over the command line, and a role's, block's or task's
// keyword wins over the play's.
func (f *runFlags) applyPlays(pb *playbook.Playbook) {
	for _, p := range pb.Plays {
		if f.become && p.Become == nil {
			b := true
			p.Become = &b
		}
		if f.becomeUser != "" && p.BecomeUser == "" {
			p.BecomeUser = f.becomeUser
		}
	}
}

// applyInventory gives -u and --private-key to the hosts whose inventory
// sets no ssh_user / ssh_key (nor their ansible_* aliases): as in
// ansible-playbook, the inventory's ansible_user wins over -u.
func (f *runFlags) applyInventory(inv *inventory.Inventory) error {
	if f.privateKey != "" {
		st, err := os.Stat(f.privateKey)
		if err != nil {
			return fmt.Errorf("--private-key %s: %v\n  hint: give the path of an SSH private key file (as ssh -i)", f.privateKey, unwrapPath(err))
		}
		if st.IsDir() {
			return fmt.Errorf("--private-key %s is a directory\n  hint: give the path of an SSH private key file (as ssh -i)", f.privateKey)
		}
	}
	for _, h := range inv.Hosts {
		if h.Vars == nil {
			h.Vars = map[string]any{}
		}
		if _, set := h.Vars["ssh_user"]; f.user != "" && !set {
			h.Vars["ssh_user"] = f.user
		}
		if _, set := h.Vars["ssh_key"]; f.privateKey != "" && !set {
			h.Vars["ssh_key"] = f.privateKey
		}
	}
	return nil
}

// unwrapPath drops the path from an *os.PathError (the message has it).
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// expandLimit reads the @FILE parts of a --limit pattern (ansible-playbook's
// `--limit @site.retry`): each names a file of host names, one a line, that
// stand in its place. Other parts are kept as written.
func expandLimit(limit string) (string, error) {
	if !strings.Contains(limit, "@") {
		return limit, nil
	}
	var parts []string
	for _, p := range strings.Split(limit, ",") {
		p = strings.TrimSpace(p)
		if !strings.HasPrefix(p, "@") {
			parts = append(parts, p)
			continue
		}
		name := p[1:]
		fh, err := os.Open(name)
		if err != nil {
			return "", fmt.Errorf("--limit %s: %v\n  hint: --limit @FILE reads host names from FILE, one a line (as a .retry file)", p, unwrapPath(err))
		}
		var hosts []string
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			if h := strings.TrimSpace(sc.Text()); h != "" && !strings.HasPrefix(h, "#") {
				hosts = append(hosts, h)
			}
		}
		err = sc.Err()
		fh.Close()
		if err != nil {
			return "", fmt.Errorf("--limit %s: %v", p, err)
		}
		if len(hosts) == 0 {
			return "", fmt.Errorf("--limit %s: the file names no host\n  hint: --limit @FILE reads host names from FILE, one a line; an empty file would select nothing", p)
		}
		parts = append(parts, hosts...)
	}
	return strings.Join(parts, ","), nil
}
