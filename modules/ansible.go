package modules

import (
	"fmt"
	"strings"
)

// ansibleModules maps Ansible modules pgplay has under another name, or
// does not have, to what to write instead. It is a constant table, read
// only.
var ansibleModules = map[string]string{
	"systemd":           "use `service` (name, state: started|stopped|restarted|reloaded, enabled, daemon_reload)",
	"systemd_service":   "use `service` (name, state: started|stopped|restarted|reloaded, enabled, daemon_reload)",
	"sysvinit":          "use `service` (name, state, enabled)",
	"package":           "use `apt` (name, state: present|absent|latest, update_cache): pgplay's hosts are Debian/Ubuntu",
	"yum":               "use `apt` (name, state, update_cache): pgplay's hosts are Debian/Ubuntu",
	"dnf":               "use `apt` (name, state, update_cache): pgplay's hosts are Debian/Ubuntu",
	"apt_repository":    "write the source with `copy` (dest: /etc/apt/sources.list.d/NAME.list), then `apt` with update_cache: true",
	"apt_key":           "put the key with `copy` into /etc/apt/keyrings/ and name it in the source's signed-by=",
	"replace":           "use `lineinfile` (path, regexp, line; backrefs: true keeps groups) for a line, or `template`/`copy` for the whole file",
	"get_url":           "no HTTP module: use `command: curl -fsSL -o DEST URL` with creates: DEST (args:), or `copy` a file from the controller",
	"uri":               "no HTTP module: use `command: curl -fsS URL` (changed_when: false for a read)",
	"raw":               "use `command` or `shell`: pgplay needs only sshd and /bin/sh on the host, so every module works without Python",
	"script":            "copy the script with `copy` (mode: \"0755\") and run it with `command`, or put it inline in `shell`",
	"ping":              "pgplay connects without Python: `pgplay exec all -i INV -m setup` (or -a true) shows a host answers",
	"gather_facts":      "use `setup`, or gather_facts: true on the play",
	"postgresql_db":     "use `pg_database`",
	"postgresql_user":   "use `pg_user`",
	"postgresql_query":  "use `pg_query`",
	"postgresql_set":    "use `pg_setting`",
	"postgresql_slot":   "use `pg_slot`",
	"postgresql_pg_hba": "write pg_hba.conf with `template`, or one line with `lineinfile`",
	"synchronize":       "use `copy` (one file or content) or `command: rsync ...`",
	"unarchive":         "use `command: tar -xf FILE -C DIR` with creates:",
	"pause":             "use `wait_for` (timeout:) for a pause, or `command: sleep N`",
	"cron":              "write a file into /etc/cron.d with `copy`",
	"hostname":          "use `command: hostnamectl set-hostname NAME`",
	"modprobe":          "use `command: modprobe NAME`, and `copy` a file into /etc/modules-load.d to keep it",
	"mount":             "write the fstab line with `lineinfile`, then `command: mount PATH`",
	"git":               "use `command: git clone URL DIR` with creates: DIR",
	"include_role":      "list the role under the play's `roles:`",
	"import_role":       "list the role under the play's `roles:`",
	"include_vars":      "use the play's vars_files:",
	"service_facts":     "use `command: systemctl show UNIT` with register: (changed_when: false)",
	"package_facts":     "use `command: dpkg-query -W` with register: (changed_when: false)",
	"slurp":             "use `fetch`, or `command: cat FILE` with register:",
}

// collections are the prefixes of Ansible's fully qualified module names
// (ansible.builtin.copy): pgplay's modules have none.
var collections = []string{"ansible.builtin.", "ansible.legacy.", "ansible.posix.", "community.general.", "community.postgresql."}

// CanonicalName returns the pgplay module an Ansible fully qualified name
// stands for (ansible.builtin.copy -> copy), if pgplay has it.
func CanonicalName(name string) (string, bool) {
	for _, c := range collections {
		if short, ok := strings.CutPrefix(name, c); ok {
			if _, has := Lookup(short); has {
				return short, true
			}
		}
	}
	return "", false
}

// AnsibleHint says what to write instead of an Ansible module name pgplay
// does not know (systemd -> service, ansible.builtin.copy -> copy);
// "" when name is not one of Ansible's modules pgplay knows of.
func AnsibleHint(name string) string {
	if short, ok := CanonicalName(name); ok {
		return fmt.Sprintf("write `%s`: pgplay's modules have no collection prefix", short)
	}
	short := name
	for _, c := range collections {
		short = strings.TrimPrefix(short, c)
	}
	if h, ok := ansibleModules[short]; ok {
		return fmt.Sprintf("%s is Ansible's module; in pgplay %s", short, h)
	}
	return ""
}
