package lab

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// routeTypes are the route types `ip route` prints before the destination.
var routeTypes = map[string]bool{
	"unicast": true, "local": true, "broadcast": true, "multicast": true,
	"throw": true, "unreachable": true, "prohibit": true, "blackhole": true,
	"nat": true, "anycast": true,
}

// overlappingRoutes returns the lines of `ip -4 route show table all` whose
// destination overlaps subnet, ignoring default routes and routes on the
// device ownDev (the lab's own bridge).
func overlappingRoutes(routes string, subnet netip.Prefix, ownDev string) []string {
	var out []string
	for _, line := range strings.Split(routes, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if routeTypes[f[0]] {
			f = f[1:]
		}
		if len(f) == 0 || f[0] == "default" {
			continue
		}
		dst := f[0]
		if !strings.Contains(dst, "/") {
			dst += "/32"
		}
		pfx, err := netip.ParsePrefix(dst)
		if err != nil || pfx.Bits() == 0 || !pfx.Addr().Is4() {
			continue
		}
		dev := ""
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "dev" {
				dev = f[i+1]
			}
		}
		if dev != "" && dev == ownDev {
			continue
		}
		if pfx.Overlaps(subnet) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

// checkSubnetFree refuses a subnet that is already routed on this machine.
func checkSubnetFree(ctx context.Context, p Plan) error {
	routes, err := run(ctx, "ip", "-4", "route", "show", "table", "all")
	if err != nil {
		return fmt.Errorf("reading the routing table: %w", err)
	}
	if used := overlappingRoutes(routes, p.Subnet, p.Bridge); len(used) > 0 {
		return fmt.Errorf("subnet %s is already in use on this machine:\n    %s\n  choose a free one with --subnet (e.g. --subnet 203.0.113.0/24)",
			p.Subnet, strings.Join(used, "\n    "))
	}
	return nil
}

// setupBridge creates the lab bridge with its address in the root
// namespace. Multicast snooping is off so VRRP adverts (224.0.0.18) flood.
func setupBridge(ctx context.Context, p Plan) error {
	pfx := netip.PrefixFrom(p.BridgeAddr, p.Subnet.Bits())
	steps := [][]string{
		{"ip", "link", "add", p.Bridge, "type", "bridge", "mcast_snooping", "0"},
		{"ip", "addr", "add", pfx.String(), "dev", p.Bridge},
		{"ip", "link", "set", p.Bridge, "up"},
	}
	for _, s := range steps {
		if _, err := run(ctx, s...); err != nil {
			return fmt.Errorf("creating the lab bridge: %w", err)
		}
	}
	snoop := filepath.Join("/sys/class/net", p.Bridge, "bridge/multicast_snooping")
	if data, err := os.ReadFile(snoop); err == nil && strings.TrimSpace(string(data)) != "0" {
		if err := os.WriteFile(snoop, []byte("0"), 0o644); err != nil {
			return fmt.Errorf("turning multicast snooping off on %s: %w", p.Bridge, err)
		}
	}
	return nil
}

// setupHostNet creates the host's network namespace and its veth pair: eth0
// inside with the host's address, the other end on the bridge. There is no
// default route inside: traffic never leaves the machine.
func setupHostNet(ctx context.Context, p Plan, h HostPlan) error {
	ns := h.Netns()
	addr := netip.PrefixFrom(h.Addr, p.Subnet.Bits()).String()
	steps := [][]string{
		{"ip", "netns", "add", ns},
		{"ip", "link", "add", ns, "type", "veth", "peer", "name", "eth0", "netns", ns},
		{"ip", "link", "set", ns, "master", p.Bridge, "up"},
		{"ip", "-n", ns, "addr", "add", addr, "dev", "eth0"},
		{"ip", "-n", ns, "link", "set", "eth0", "up"},
		{"ip", "-n", ns, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if _, err := run(ctx, s...); err != nil {
			return fmt.Errorf("network of %s: %w", h.Name, err)
		}
	}
	return nil
}

// netnsDir is where `ip netns` keeps its named namespaces.
const netnsDir = "/run/netns"

// labNetns lists the lab's named network namespaces.
func labNetns() []string {
	return prefixed(netnsDir)
}

// labLinks lists the lab's links in the root namespace (veths and bridge).
func labLinks() []string {
	return prefixed("/sys/class/net")
}

// prefixed lists the entries of dir whose names start with Prefix.
func prefixed(dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), Prefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// nsAddrs returns the IPv4 addresses on eth0 inside a namespace.
func nsAddrs(ctx context.Context, ns string) []netip.Addr {
	out, err := run(ctx, "ip", "-n", ns, "-4", "-o", "addr", "show", "dev", "eth0")
	if err != nil {
		return nil
	}
	var addrs []netip.Addr
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "inet" {
				if p, err := netip.ParsePrefix(f[i+1]); err == nil {
					addrs = append(addrs, p.Addr())
				}
			}
		}
	}
	return addrs
}

// bridgeNetfilterWarning explains when bridged lab traffic passes through
// the host's iptables (br_netfilter), which a FORWARD policy of DROP breaks.
func bridgeNetfilterWarning() string {
	data, err := os.ReadFile("/proc/sys/net/bridge/bridge-nf-call-iptables")
	if err != nil || strings.TrimSpace(string(data)) != "1" {
		return ""
	}
	pol := readCmd(context.Background(), "iptables", "-S", "FORWARD")
	if !strings.Contains(pol, "-P FORWARD DROP") {
		return ""
	}
	return "warning: br_netfilter sends bridged traffic through iptables and the FORWARD policy is DROP: " +
		"lab hosts may not reach each other; allow it with: iptables -I FORWARD -i " + BridgeName + " -o " + BridgeName + " -j ACCEPT"
}
