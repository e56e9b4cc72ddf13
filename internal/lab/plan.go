package lab

import (
	"fmt"
	"net/netip"
	"strings"
)

// Roles of lab hosts.
const (
	RolePrimary = "primary"
	RoleStandby = "standby"
	RoleBarman  = "barman"
	// RoleSpare is a host in group spare: the image's packages, no
	// cluster, in no other group (a restore drill's target).
	RoleSpare = "spare"
)

// Address offsets inside the subnet.
const (
	offBridge = 1
	offNode   = 10 // node i is at offNode+i
	offBarman = 20
	offSpare  = 20 // spare i is at offSpare+i
	offVIP    = 100
)

// BridgeName is the lab bridge in the root network namespace.
const BridgeName = Prefix + "br0"

// Plan is the lab's layout: names, addresses, roles. It is derived from
// Options alone, so the same options always give the same plan.
type Plan struct {
	Subnet     netip.Prefix
	Bridge     string
	BridgeAddr netip.Addr
	VIP        netip.Addr
	Hosts      []HostPlan
}

// HostPlan is one lab host.
type HostPlan struct {
	Name string
	Addr netip.Addr
	// Role is RolePrimary, RoleStandby, RoleBarman or RoleSpare.
	Role string
	// NodeID is the repmgr node id (1..N); 0 for barman and spares.
	NodeID int
	// Priority is keepalived's priority (primary 150, then 100, 90, ...);
	// 0 for barman and spares.
	Priority int
	// Groups are the inventory groups of the host.
	Groups []string
}

// Netns is the host's network namespace (also its veth in the root
// namespace, its cgroup and its nspawn machine name).
func (h HostPlan) Netns() string { return Prefix + h.Name }

// OptionError is a lab option that cannot work (bad --nodes, --subnet,
// --vip); the CLI exits with its "bad options" code.
type OptionError struct{ Msg string }

func (e *OptionError) Error() string { return e.Msg }

func optErr(format string, args ...any) error { return &OptionError{Msg: fmt.Sprintf(format, args...)} }

// NewPlan validates opts and lays the lab out.
func NewPlan(opts Options) (Plan, error) {
	if _, ok := imageNamed(opts.Image); !ok {
		return Plan{}, optErr("--image %q: not an image of the lab; use %s", opts.Image, strings.Join(Images, " or "))
	}
	if opts.Nodes < 1 || opts.Nodes > MaxNodes {
		return Plan{}, optErr("--nodes %d: the lab has 1 to %d PostgreSQL nodes", opts.Nodes, MaxNodes)
	}
	subnet := opts.Subnet
	if !subnet.IsValid() {
		return Plan{}, optErr("--subnet: no subnet given; use e.g. %s", DefaultSubnet)
	}
	subnet = subnet.Masked()
	a := subnet.Addr()
	if !a.Is4() {
		return Plan{}, optErr("--subnet %s: the lab needs an IPv4 subnet, e.g. %s", opts.Subnet, DefaultSubnet)
	}
	if a.IsLoopback() || a.IsMulticast() || a.IsLinkLocalUnicast() || a.IsUnspecified() || subnet.Bits() < 8 {
		return Plan{}, optErr("--subnet %s: not usable for a lab; use a private or documentation range, e.g. %s", opts.Subnet, DefaultSubnet)
	}
	if opts.Spares < 0 || opts.Spares > MaxSpares {
		return Plan{}, optErr("--spares %d: the lab has 0 to %d spare hosts", opts.Spares, MaxSpares)
	}
	size := uint64(1) << (32 - subnet.Bits())
	last := offNode + opts.Nodes
	if opts.Barman {
		last = offBarman
	}
	if opts.Spares > 0 {
		last = offSpare + opts.Spares
	}
	if uint64(last) >= size-1 {
		return Plan{}, optErr("--subnet %s is too small: the lab uses addresses up to .%d; use a /25 or larger", opts.Subnet, last)
	}
	at := func(off int) netip.Addr {
		b := a.As4()
		v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		v += uint32(off)
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	p := Plan{Subnet: subnet, Bridge: BridgeName, BridgeAddr: at(offBridge), VIP: opts.VIP}
	if !p.VIP.IsValid() {
		if uint64(offVIP) >= size-1 {
			return Plan{}, optErr("--subnet %s is too small for the default VIP .%d; pass --vip or use a /25 or larger", opts.Subnet, offVIP)
		}
		p.VIP = at(offVIP)
	}
	for i := 1; i <= opts.Nodes; i++ {
		h := HostPlan{Name: fmt.Sprintf("node%d", i), Addr: at(offNode + i), NodeID: i, Groups: []string{"postgres"}}
		if i == 1 {
			h.Role, h.Priority = RolePrimary, 150
			h.Groups = append(h.Groups, "primary")
		} else {
			h.Role, h.Priority = RoleStandby, 100-10*(i-2)
			h.Groups = append(h.Groups, "standbys")
		}
		p.Hosts = append(p.Hosts, h)
	}
	if opts.Barman {
		p.Hosts = append(p.Hosts, HostPlan{Name: "backup1", Addr: at(offBarman), Role: RoleBarman, Groups: []string{"barman"}})
	}
	for i := 1; i <= opts.Spares; i++ {
		p.Hosts = append(p.Hosts, HostPlan{Name: fmt.Sprintf("spare%d", i), Addr: at(offSpare + i), Role: RoleSpare, Groups: []string{"spare"}})
	}
	// The VIP must be a free address of the subnet.
	bcast := at(int(size - 1))
	if !subnet.Contains(p.VIP) || p.VIP == subnet.Addr() || p.VIP == bcast {
		return Plan{}, optErr("--vip %s: must be a host address inside %s", p.VIP, subnet)
	}
	if p.VIP == p.BridgeAddr {
		return Plan{}, optErr("--vip %s: is the bridge's address; pick another, e.g. %s", p.VIP, at(offVIP))
	}
	for _, h := range p.Hosts {
		if h.Addr == p.VIP {
			return Plan{}, optErr("--vip %s: is %s's address; pick another, e.g. %s", p.VIP, h.Name, at(offVIP))
		}
	}
	return p, nil
}

// Host returns the plan of the named host.
func (p Plan) Host(name string) (HostPlan, bool) {
	for _, h := range p.Hosts {
		if h.Name == name {
			return h, true
		}
	}
	return HostPlan{}, false
}
