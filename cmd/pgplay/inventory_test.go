package main

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgplay/pgplay/internal/sshtest"
)

// An Ansible user's inventory, as it works with ansible-playbook: INI,
// connection and become variables under their ansible_* names in
// group_vars/ and host_vars/ beside the inventory, ssh options in
// ansible_ssh_common_args (a jump host), group_vars/ beside the playbook.
// pgplay connects and becomes as they say, and names what it does not use.
func TestAnsibleInventoryOverSSH(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("become tests need root (sudo to nobody); CI runs as root")
	}
	srv := sshtest.Start(t)
	cfg := srv.Config("x")
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"inv/hosts": fmt.Sprintf(`[web]
a
b

[web:vars]
ansible_host=127.0.0.1
ansible_port=%d
ansible_ssh_private_key_file=%s
ansible_ssh_common_args='-o UserKnownHostsFile=%s -J %s@127.0.0.1:%d'
ssh_config=none
`, cfg.Port, cfg.KeyFiles[0], cfg.KnownHostsFiles[0], cfg.User, cfg.Port),
		"inv/group_vars/web.yml":  "ansible_user: " + cfg.User + "\nansible_become: yes\n",
		"inv/group_vars/all.yml":  "ansible_python_interpreter: /usr/bin/python3\n",
		"inv/host_vars/b/10.yaml": "ansible_become_user: nobody\n",
		"play/group_vars/all.yml": "greeting: from-the-playbook-dir\n",
		// become: false in the play: Ansible's become variables win.
		"play/site.yaml": "- hosts: all\n  become: false\n  tasks:\n    - command: id -un\n      register: who\n      changed_when: false\n" +
			"    - debug: {msg: \"{{ .inventory_hostname }}={{ .who.stdout }} {{ .greeting }}\"}\n" +
			// Delegated: the delegate's become variables apply, as in Ansible.
			"    - command: id -un\n      delegate_to: b\n      register: d\n      changed_when: false\n" +
			"    - debug: {msg: \"{{ .inventory_hostname }} via b={{ .d.stdout }}\"}\n",
	})
	code, out, errs := cli(t, "run", filepath.Join(dir, "play/site.yaml"), "-i", filepath.Join(dir, "inv/hosts"))
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	for _, w := range []string{"a=root from-the-playbook-dir", "b=nobody from-the-playbook-dir", "a via b=nobody"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q\n%s", w, out)
		}
	}
	// Each host through the jump host: two logins per host.
	if n := srv.AcceptedLogins(); n != 4 {
		t.Errorf("sshd accepted %d logins, want 4 (2 hosts, each through the jump host)", n)
	}
	want := "[WARNING]: " + filepath.Join(dir, "inv/group_vars/all.yml") + ":1:1: ansible_python_interpreter (group all) has no effect"
	if !strings.Contains(errs, want) {
		t.Errorf("stderr lacks %q:\n%s", want, errs)
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	// ansible_become: false in host_vars turns become off again.
	writeFiles(t, dir, map[string]string{"inv/host_vars/a.yml": "ansible_become: false\n"})
	code, out, errs = cli(t, "run", filepath.Join(dir, "play/site.yaml"), "-i", filepath.Join(dir, "inv/hosts"))
	if code != 0 || !strings.Contains(out, "a="+u.Username+" ") {
		t.Errorf("ansible_become: false: exit %d, want a=%s\n%s\n%s", code, u.Username, out, errs)
	}
}

// A key pgplay refuses stops the run before any connection, naming
// file:line, the host and what to do.
func TestInventoryRefusedBeforeConnecting(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"hosts":     "[db]\nnode1 ansible_host=127.0.0.1 ansible_ssh_common_args='-o ProxyCommand=\"nc %h %p\"'\n",
		"play.yaml": "- hosts: all\n  tasks:\n    - debug: {msg: hi}\n",
	})
	code, out, errs := cli(t, "run", filepath.Join(dir, "play.yaml"), "-i", filepath.Join(dir, "hosts"))
	want := filepath.Join(dir, "hosts") + ":2:1: ansible_ssh_common_args (host node1): ssh option -o ProxyCommand=nc %h %p is not supported"
	if code != exitParse || !strings.Contains(errs, want) || !strings.Contains(errs, "ProxyJump") {
		t.Errorf("exit %d, want 4 and %q\n%s\n%s", code, want, out, errs)
	}
}

// pgplay inventory's own errors: no mode, a group --graph does not know,
// an unknown --host.
func TestInventoryCommandErrors(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"inv.ini": "[db]\nn1\n"})
	inv := filepath.Join(dir, "inv.ini")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"inventory", "-i", inv}, exitOptions, "give one of --list, --graph or --host"},
		{[]string{"inventory", "--list"}, exitOptions, "no inventory given"},
		{[]string{"inventory", "-i", inv, "--graph", "web"}, exitOptions, `no group "web"`},
		{[]string{"inventory", "-i", inv, "--host", "n2"}, exitOptions, `no host "n2"`},
		{[]string{"inventory", "-i", inv, "--list", "db"}, exitOptions, "taken by --graph only"},
		{[]string{"inventory", "-i", filepath.Join(dir, "nope"), "--list"}, exitOptions, filepath.Join(dir, "nope") + ": no such file"},
	} {
		code, out, errs := cli(t, c.args...)
		if code != c.code || !strings.Contains(errs, c.want) || !strings.Contains(errs, "hint: ") {
			t.Errorf("%q: exit %d, want %d and %q with a hint\n%s%s", c.args, code, c.code, c.want, out, errs)
		}
	}
	code, out, _ := cli(t, "inventory", "-i", inv, "--host", "n1")
	if code != 0 || strings.TrimSpace(out) != "{}" {
		t.Errorf("--host n1: exit %d, %q", code, out)
	}
}

// ansible_become set outside the inventory (play vars) is read too; a
// value that is not a boolean fails the host's task, naming it.
func TestAnsibleBecomeInPlayVars(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"inv.ini":   "h1 ansible_connection=local\n",
		"play.yaml": "- hosts: all\n  vars: {ansible_become: maybe}\n  tasks:\n    - command: id -un\n",
	})
	code, out, errs := cli(t, "run", filepath.Join(dir, "play.yaml"), "-i", filepath.Join(dir, "inv.ini"))
	if code != exitHostFailed || !strings.Contains(out+errs, `ansible_become "maybe" is not a boolean`) || !strings.Contains(out+errs, "play.yaml:4:") {
		t.Errorf("exit %d, want 2 naming ansible_become and the task\n%s\n%s", code, out, errs)
	}
}
