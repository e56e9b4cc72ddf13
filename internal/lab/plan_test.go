package lab

import (
	"net/netip"
	"strings"
	"testing"
)

func opts(mod func(*Options)) Options {
	o := DefaultOptions()
	if mod != nil {
		mod(&o)
	}
	return o
}

func TestNewPlanDefault(t *testing.T) {
	p, err := NewPlan(opts(nil))
	if err != nil {
		t.Fatal(err)
	}
	if p.Subnet.String() != "198.51.100.0/24" || p.BridgeAddr.String() != "198.51.100.1" || p.VIP.String() != "198.51.100.100" {
		t.Errorf("subnet/bridge/vip = %s %s %s", p.Subnet, p.BridgeAddr, p.VIP)
	}
	if p.Bridge != "pglab-br0" {
		t.Errorf("bridge = %s", p.Bridge)
	}
	want := []struct {
		name, addr, role string
		id, prio         int
		groups           string
	}{
		{"node1", "198.51.100.11", "primary", 1, 150, "postgres primary"},
		{"node2", "198.51.100.12", "standby", 2, 100, "postgres standbys"},
		{"node3", "198.51.100.13", "standby", 3, 90, "postgres standbys"},
		{"backup1", "198.51.100.20", "barman", 0, 0, "barman"},
	}
	if len(p.Hosts) != len(want) {
		t.Fatalf("hosts = %+v", p.Hosts)
	}
	for i, w := range want {
		h := p.Hosts[i]
		got := []any{h.Name, h.Addr.String(), h.Role, h.NodeID, h.Priority, strings.Join(h.Groups, " ")}
		exp := []any{w.name, w.addr, w.role, w.id, w.prio, w.groups}
		for j := range got {
			if got[j] != exp[j] {
				t.Errorf("host %d: got %v, want %v", i, got, exp)
				break
			}
		}
		if h.Netns() != "pglab-"+w.name {
			t.Errorf("netns = %s", h.Netns())
		}
	}
}

func TestNewPlanVariants(t *testing.T) {
	p, err := NewPlan(opts(func(o *Options) {
		o.Nodes, o.Barman = 5, false
		o.Subnet = netip.MustParsePrefix("203.0.113.77/25") // host bits are dropped
		o.VIP = netip.MustParseAddr("203.0.113.50")
	}))
	if err != nil {
		t.Fatal(err)
	}
	if p.Subnet.String() != "203.0.113.0/25" || p.VIP.String() != "203.0.113.50" {
		t.Errorf("subnet %s vip %s", p.Subnet, p.VIP)
	}
	if len(p.Hosts) != 5 || p.Hosts[4].Name != "node5" || p.Hosts[4].Addr.String() != "203.0.113.15" || p.Hosts[4].Priority != 70 {
		t.Errorf("hosts = %+v", p.Hosts)
	}
	if _, ok := p.Host("backup1"); ok {
		t.Error("backup1 planned with --barman=false")
	}
	if h, ok := p.Host("node3"); !ok || h.NodeID != 3 {
		t.Errorf("Host(node3) = %+v %v", h, ok)
	}
}

func TestNewPlanRejects(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Options)
		want string
	}{
		{"zero nodes", func(o *Options) { o.Nodes = 0 }, "1 to 9"},
		{"too many nodes", func(o *Options) { o.Nodes = 10 }, "1 to 9"},
		{"ipv6", func(o *Options) { o.Subnet = netip.MustParsePrefix("2001:db8::/64") }, "IPv4"},
		{"loopback", func(o *Options) { o.Subnet = netip.MustParsePrefix("127.1.0.0/24") }, "not usable"},
		{"multicast", func(o *Options) { o.Subnet = netip.MustParsePrefix("224.1.0.0/24") }, "not usable"},
		{"too small", func(o *Options) { o.Subnet = netip.MustParsePrefix("198.51.100.0/28") }, "too small"},
		{"too small for vip", func(o *Options) { o.Subnet = netip.MustParsePrefix("198.51.100.0/26") }, "pass --vip"},
		{"vip outside", func(o *Options) { o.VIP = netip.MustParseAddr("10.0.0.1") }, "inside 198.51.100.0/24"},
		{"vip broadcast", func(o *Options) { o.VIP = netip.MustParseAddr("198.51.100.255") }, "host address"},
		{"vip on host", func(o *Options) { o.VIP = netip.MustParseAddr("198.51.100.12") }, "node2's address"},
		{"vip on bridge", func(o *Options) { o.VIP = netip.MustParseAddr("198.51.100.1") }, "bridge"},
		{"no subnet", func(o *Options) { o.Subnet = netip.Prefix{} }, "no subnet"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewPlan(opts(c.mod))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to mention %q", err, c.want)
			}
			if _, ok := err.(*OptionError); !ok {
				t.Errorf("err is %T, want *OptionError", err)
			}
		})
	}
}

func TestNormalizeMakesStateDirAbsolute(t *testing.T) {
	t.Chdir(t.TempDir())
	o, err := normalize(Options{StateDir: "lab"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(o.StateDir, "/") || !strings.HasSuffix(o.StateDir, "/lab") {
		t.Errorf("state dir = %s", o.StateDir)
	}
	if o.BootTimeout <= 0 {
		t.Errorf("boot timeout = %v", o.BootTimeout)
	}
}

// --spares adds spare1..N after backup1 at .21 on: group spare only, no
// repmgr id or keepalived priority.
func TestNewPlanSpares(t *testing.T) {
	p, err := NewPlan(opts(func(o *Options) { o.Spares = 2 }))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, h := range p.Hosts {
		names = append(names, h.Name)
	}
	if got := strings.Join(names, " "); got != "node1 node2 node3 backup1 spare1 spare2" {
		t.Fatalf("hosts = %s", got)
	}
	for i, want := range []string{"198.51.100.21", "198.51.100.22"} {
		h := p.Hosts[4+i]
		if h.Addr.String() != want || h.Role != RoleSpare || strings.Join(h.Groups, " ") != "spare" || h.NodeID != 0 || h.Priority != 0 {
			t.Errorf("%s = %+v; want at %s, role spare, group spare only, no node id or priority", h.Name, h, want)
		}
	}
	// Without barman the spares keep their addresses.
	p, err = NewPlan(opts(func(o *Options) { o.Barman, o.Spares = false, 1 }))
	if err != nil {
		t.Fatal(err)
	}
	if h, ok := p.Host("spare1"); !ok || h.Addr.String() != "198.51.100.21" {
		t.Errorf("spare1 without barman = %+v %v", h, ok)
	}
	if _, ok := p.Host("spare1"); !ok {
		t.Error("no spare1")
	}
	// The default lab has none.
	if _, ok := defaultPlanHost(t, "spare1"); ok {
		t.Error("spare1 planned without --spares")
	}
	for _, c := range []struct {
		mod  func(*Options)
		want string
	}{
		{func(o *Options) { o.Spares = -1 }, "--spares -1: the lab has 0 to 9 spare hosts"},
		{func(o *Options) { o.Spares = 10 }, "--spares 10: the lab has 0 to 9 spare hosts"},
		{func(o *Options) {
			o.Nodes, o.Barman, o.Spares = 1, false, 1
			o.Subnet = netip.MustParsePrefix("198.51.100.0/28")
			o.VIP = netip.MustParseAddr("198.51.100.5")
		}, "uses addresses up to .21"},
		{func(o *Options) { o.Spares, o.VIP = 1, netip.MustParseAddr("198.51.100.21") }, "spare1's address"},
	} {
		if _, err := NewPlan(opts(c.mod)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("err = %v, want it to mention %q", err, c.want)
		}
	}
}

func defaultPlanHost(t *testing.T, name string) (HostPlan, bool) {
	t.Helper()
	p, err := NewPlan(DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	return p.Host(name)
}
