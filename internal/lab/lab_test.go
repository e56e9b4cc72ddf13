package lab

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"testing"
)

// Without debootstrap, the first up says what to install.
func TestEnsureRootfsWithoutDebootstrap(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	l := &Lab{Paths: Paths{Cache: t.TempDir(), Hosts: t.TempDir(), Run: t.TempDir()}}
	err := l.ensureRootfs(context.Background(), false)
	if err == nil || !strings.Contains(err.Error(), "apt-get install debootstrap") {
		t.Fatalf("err = %v", err)
	}
}

// A cached rootfs of the current recipe is used as is; another recipe's is not.
func TestRootfsStamp(t *testing.T) {
	p := Paths{Cache: t.TempDir()}
	if p.rootfsReady() {
		t.Fatal("empty cache reported ready")
	}
	if err := writeFile(p.rootfs()+"/"+stampFile, "pgplay-lab rootfs 0\n", 0o644); err != nil {
		t.Fatal(err)
	}
	if p.rootfsReady() {
		t.Error("rootfs of an older recipe reported ready")
	}
	if err := writeFile(p.rootfs()+"/"+stampFile, stampText(), 0o644); err != nil {
		t.Fatal(err)
	}
	if !p.rootfsReady() {
		t.Error("current rootfs not reported ready")
	}
}

func TestStatusWrite(t *testing.T) {
	var b bytes.Buffer
	(&Status{}).Write(&b)
	if !strings.Contains(b.String(), "no lab on this machine") || !strings.Contains(b.String(), "sudo pgplay lab up") {
		t.Errorf("empty status: %q", b.String())
	}
	b.Reset()
	st := &Status{
		Exists: true, Subnet: netip.MustParsePrefix("198.51.100.0/24"), Bridge: BridgeName,
		VIP: netip.MustParseAddr("198.51.100.100"), Files: stateFiles("/x/lab"),
		Hosts: []HostStatus{
			{Name: "node1", Addr: netip.MustParseAddr("198.51.100.11"), Role: RolePrimary, Running: true, SSH: true},
			{Name: "node2", Addr: netip.MustParseAddr("198.51.100.12"), Role: RoleStandby},
		},
		Leftovers: []string{"netns pglab-node2"},
	}
	st.Write(&b)
	out := b.String()
	for _, want := range []string{
		"lab NOT fully running: 2 hosts on 198.51.100.0/24",
		"node1  198.51.100.11  primary  running, sshd listening",
		"node2  198.51.100.12  standby  stopped",
		"ssh -F /x/lab/ssh_config node1",
		"netns pglab-node2",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
}

func TestLeftoversSummary(t *testing.T) {
	f := &leftovers{
		Procs:   []labProc{{procStat: procStat{PID: 10, Comm: "systemd"}, Host: "node1", Init: true}},
		Cgroups: []string{"/sys/fs/cgroup/unified/pglab-node1"},
		Links:   []string{"pglab-br0", "pglab-node1"},
		Record:  &record{StateDir: "/lab"},
	}
	if got := f.Summary(); got != "1 processes, 1 cgroups, 2 links, the runtime record" {
		t.Errorf("summary = %q", got)
	}
	d := strings.Join(f.Describe(), "\n")
	for _, want := range []string{"runtime record (state dir /lab)", "processes of node1: 10 systemd", "link pglab-br0"} {
		if !strings.Contains(d, want) {
			t.Errorf("describe lacks %q:\n%s", want, d)
		}
	}
	if (&leftovers{}).empty() != true || f.empty() {
		t.Error("empty() wrong")
	}
}

// `pgplay lab status` lists a spare host with its role, from the lab's
// record as `up` writes it.
func TestStatusListsSpare(t *testing.T) {
	p, err := NewPlan(opts(func(o *Options) { o.Spares = 1 }))
	if err != nil {
		t.Fatal(err)
	}
	rec := &record{StateDir: "/x/lab", Subnet: p.Subnet, VIP: p.VIP, Bridge: p.Bridge, Nodes: 3, Barman: true, Spares: 1}
	for _, h := range p.Hosts {
		rec.Hosts = append(rec.Hosts, hostRecord{Name: h.Name, Addr: h.Addr, Role: h.Role, Netns: h.Netns()})
	}
	if !rec.matches(Options{StateDir: "/x/lab", Nodes: 3, Barman: true, Spares: 1}, p) {
		t.Error("the record of a lab with a spare does not match its options")
	}
	if rec.matches(Options{StateDir: "/x/lab", Nodes: 3, Barman: true}, p) {
		t.Error("the record of a lab with a spare matches options without one")
	}
	l := &Lab{Paths: Paths{Run: t.TempDir()}}
	var b bytes.Buffer
	l.statusOf(context.Background(), rec).Write(&b)
	if !strings.Contains(b.String(), "spare1   198.51.100.21  spare    stopped") || !strings.Contains(b.String(), "5 hosts") {
		t.Errorf("status lacks the spare:\n%s", b.String())
	}
}
