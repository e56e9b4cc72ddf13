package modules

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/pgplay/pgplay/internal/transport"
)

func init() {
	Register(Spec{
		Name:    "setup",
		Returns: "facts.os.id, facts.os.version, facts.os.codename, facts.os.name: /etc/os-release\nfacts.hostname, facts.fqdn, facts.kernel, facts.arch, facts.user\nfacts.systemd: whether systemd runs the host\nfacts.cpus, facts.memtotal_mb\nfacts.interfaces: interface -> its IPv4 address/prefix list\nfacts.addresses: every IPv4 address\nfacts.default_ipv4.interface, .address, .gateway: the default route\nfacts.postgresql_versions: versions in /usr/lib/postgresql\n(gather_facts: true sets the same map as .facts; docs/templates.md maps Ansible's fact names)",
		Purpose: "Gather facts about the host in one round trip (runs for plays with gather_facts: true).",
		Examples: []string{
			`- name: Gather facts, as gather_facts does
  setup:
- name: Show the OS and host name
  debug:
    msg: "{{ .facts.os.id }} {{ .facts.os.version }} on {{ .facts.hostname }}"`,
			`- name: Read the facts again after installing PostgreSQL
  setup:
- name: Stop when version 15 is not installed
  fail:
    msg: "installed: {{ .facts.postgresql_versions }}"
  when: not (has "15" .facts.postgresql_versions)`,
		},
		New: func() Module { return &Setup{} },
	})
}

// Setup gathers facts: OS, hostname, addresses, default interface, whether
// systemd runs, installed PostgreSQL versions. Registered as .facts.
type Setup struct{}

// factScript prints key=value lines; one command, one round trip.
const factScript = `. /etc/os-release 2>/dev/null
echo "os_id=$ID"; echo "os_version=$VERSION_ID"; echo "os_codename=$VERSION_CODENAME"; echo "os_name=$PRETTY_NAME"
echo "hostname=$(hostname 2>/dev/null || cat /etc/hostname)"
echo "fqdn=$(hostname -f 2>/dev/null)"
echo "kernel=$(uname -r)"; echo "arch=$(uname -m)"; echo "user=$(id -un)"
if [ -d /run/systemd/system ]; then echo systemd=true; else echo systemd=false; fi
echo "cpus=$(nproc 2>/dev/null)"
awk '/^MemTotal:/ {print "memtotal_kb=" $2}' /proc/meminfo 2>/dev/null
ip -o -4 addr show 2>/dev/null | awk '{print "addr4=" $2 " " $4}'
ip -o route show default 2>/dev/null | awk '{for(i=1;i<NF;i++){if($i=="dev")d=$(i+1);if($i=="via")g=$(i+1)}; print "default=" d " " g; exit}'
ls /usr/lib/postgresql 2>/dev/null | sed 's/^/pg=/'
true`

// HostFacts returns the facts gathered (the registered result's facts).
func (s *Setup) HostFacts(res *Result) map[string]any {
	f, _ := res.Data["facts"].(map[string]any)
	return f
}

// Run gathers the facts.
func (s *Setup) Run(ctx context.Context, t transport.Target, env *Env) (*Result, error) {
	res, err := t.Query(ctx, transport.Cmd{Argv: []string{"/bin/sh", "-c", factScript}})
	if err != nil {
		return nil, err
	}
	if res.RC != 0 {
		return &Result{Failed: true, Msg: fmt.Sprintf("gathering facts failed (rc=%d): %s", res.RC, strings.TrimSpace(string(res.Stderr)))}, nil
	}
	return &Result{Data: map[string]any{"facts": ParseFacts(string(res.Stdout))}}, nil
}

// ParseFacts turns the fact script's output into the .facts map.
func ParseFacts(out string) map[string]any {
	f := map[string]any{}
	osm := map[string]any{}
	ifaces := map[string]any{}
	var addrs, pgs []any
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch k {
		case "os_id":
			osm["id"] = v
		case "os_version":
			osm["version"] = v
		case "os_codename":
			osm["codename"] = v
		case "os_name":
			osm["name"] = v
		case "systemd":
			f["systemd"] = v == "true"
		case "cpus", "memtotal_kb":
			n, _ := strconv.Atoi(v)
			if k == "cpus" {
				f["cpus"] = n
			} else {
				f["memtotal_mb"] = n / 1024
			}
		case "addr4":
			dev, cidr, _ := strings.Cut(v, " ")
			ip, _, _ := strings.Cut(cidr, "/")
			addrs = append(addrs, ip)
			l, _ := ifaces[dev].([]any)
			ifaces[dev] = append(l, cidr)
		case "default":
			dev, gw, _ := strings.Cut(v, " ")
			d := map[string]any{"interface": dev, "gateway": gw}
			f["default_ipv4"] = d
		case "pg":
			if n, err := strconv.Atoi(v); err == nil {
				pgs = append(pgs, n)
			} else {
				pgs = append(pgs, v)
			}
		default:
			f[k] = v
		}
	}
	if d, ok := f["default_ipv4"].(map[string]any); ok {
		if l, ok := ifaces[d["interface"].(string)].([]any); ok && len(l) > 0 {
			ip, _, _ := strings.Cut(fmt.Sprint(l[0]), "/")
			d["address"] = ip
		}
	}
	if addrs == nil {
		addrs = []any{}
	}
	if pgs == nil {
		pgs = []any{}
	}
	f["os"] = osm
	f["interfaces"] = ifaces
	f["addresses"] = addrs
	f["postgresql_versions"] = pgs
	return f
}
