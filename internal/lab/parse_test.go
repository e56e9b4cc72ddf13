package lab

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// Output of `ip -4 route show table all` on a machine with Docker and a VPN.
const routesSample = `default via 192.0.2.1 dev eth0
10.8.0.0/16 dev tun0 proto kernel scope link src 10.8.0.5
172.17.0.0/16 dev docker0 proto kernel scope link src 172.17.0.1 linkdown
198.51.100.0/24 dev pglab-br0 proto kernel scope link src 198.51.100.1
203.0.113.64/26 via 192.0.2.7 dev eth0
192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.2
local 192.0.2.2 dev eth0 table local proto kernel scope host src 192.0.2.2
broadcast 192.0.2.255 dev eth0 table local proto kernel scope link src 192.0.2.2
local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1
unreachable 100.64.0.0/10
local 198.51.100.1 dev pglab-br0 table local proto kernel scope host src 198.51.100.1
`

func TestOverlappingRoutes(t *testing.T) {
	cases := []struct {
		subnet string
		want   []string
	}{
		// The lab's own bridge does not count.
		{"198.51.100.0/24", nil},
		{"172.17.5.0/24", []string{"172.17.0.0/16 dev docker0 proto kernel scope link src 172.17.0.1 linkdown"}},
		// A wider lab subnet that contains a routed one.
		{"10.0.0.0/8", []string{"10.8.0.0/16 dev tun0 proto kernel scope link src 10.8.0.5"}},
		{"203.0.113.0/24", []string{"203.0.113.64/26 via 192.0.2.7 dev eth0"}},
		{"192.0.2.0/25", []string{
			"192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.2",
			"local 192.0.2.2 dev eth0 table local proto kernel scope host src 192.0.2.2",
		}},
		{"100.64.1.0/24", []string{"unreachable 100.64.0.0/10"}},
		// The default route alone does not make a subnet used.
		{"203.0.113.128/25", nil},
	}
	for _, c := range cases {
		got := overlappingRoutes(routesSample, netip.MustParsePrefix(c.subnet), "pglab-br0")
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %q, want %q", c.subnet, got, c.want)
		}
	}
}

const deb822Sample = `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://src.example/debian
Suites: bookworm-security
Components: main

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`

func TestParseDeb822Sources(t *testing.T) {
	m := parseDeb822Sources(deb822Sample)
	if m.Main != "http://deb.debian.org/debian" || m.Security != "http://deb.debian.org/debian-security" {
		t.Errorf("mirrors = %+v", m)
	}
	disabled := "Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nEnabled: no\n\n" +
		"Types: deb\nURIs: http://on.example/debian\nSuites:\n bookworm\n"
	if m := parseDeb822Sources(disabled); m.Main != "http://on.example/debian" {
		t.Errorf("disabled stanza or continuation line mishandled: %+v", m)
	}
}

func TestParseSourcesList(t *testing.T) {
	text := `# comment
deb-src http://src.example/debian bookworm main
deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main contrib
deb http://mirror.example/debian-security bookworm-security main
`
	m := parseSourcesList(text)
	if m.Main != "http://mirror.example/debian" || m.Security != "http://mirror.example/debian-security" {
		t.Errorf("mirrors = %+v", m)
	}
	if got := securityFor("http://mirror.example/debian/"); got != "http://mirror.example/debian-security" {
		t.Errorf("securityFor = %s", got)
	}
	if got := securityFor("http://mirror.example/pub/"); got != defaultSecURI {
		t.Errorf("securityFor = %s", got)
	}
}

func TestRootfsSources(t *testing.T) {
	text := rootfsSources(Mirrors{Main: "http://m/debian", Security: "http://m/debian-security", Source: "x"})
	back := parseDeb822Sources(text)
	if back.Main != "http://m/debian" || back.Security != "http://m/debian-security" {
		t.Errorf("rootfs sources do not round-trip: %+v\n%s", back, text)
	}
}

func TestParseAptConfigDump(t *testing.T) {
	dump := `APT "";
Acquire::Check-Valid-Until "false";
Acquire::IndexTargets::deb::Packages::MetaKey "$(COMPONENT)/binary-$(ARCHITECTURE)/Packages";
Acquire::http::Proxy "http://proxy.example:3128/";
Acquire::Check-Date "false";
`
	got := parseAptConfigDump(dump)
	want := []string{"-o", "Acquire::Check-Valid-Until=false", "-o", "Acquire::http::Proxy=http://proxy.example:3128/", "-o", "Acquire::Check-Date=false"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestParseProcStat(t *testing.T) {
	// A command name with blanks and a parenthesis.
	text := "4242 (sd (pam) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 0\n"
	st, err := parseProcStat(text)
	if err != nil {
		t.Fatal(err)
	}
	if st.PID != 4242 || st.Comm != "sd (pam) x" || st.State != 'S' || st.PPID != 1 || st.Start != 987654 {
		t.Errorf("parsed %+v", st)
	}
	if _, err := parseProcStat("garbage"); err == nil {
		t.Error("garbage parsed")
	}
}

func TestLabCgroupHost(t *testing.T) {
	cases := map[string]string{
		"9:name=systemd:/pglab-node1/payload/init.scope\n4:memory:/x\n0::/pglab-node1/payload/init.scope\n": "node1",
		"0::/pglab-backup1/supervisor\n":          "backup1",
		"9:name=systemd:/\n0::/\n":                "",
		"4:memory:/pglab-node1\n0::/user.slice\n": "",
		"0::/system.slice/pglab-node1.service\n":  "",
	}
	for text, want := range cases {
		if got := labCgroupHost(text); got != want {
			t.Errorf("%q: got %q, want %q", text, got, want)
		}
	}
}

func TestIsNamespaceInit(t *testing.T) {
	if !isNamespaceInit("Name:\tsystemd\nNSpid:\t20952\t1\n") {
		t.Error("container init not recognised")
	}
	if isNamespaceInit("Name:\tsshd\nNSpid:\t21086\t52\n") || isNamespaceInit("Name:\tbash\nNSpid:\t1\n") {
		t.Error("non-init recognised as a container init")
	}
}

func TestParseMountinfo(t *testing.T) {
	text := `36 35 98:0 / / rw,noatime master:1 - ext4 /dev/vda rw
120 36 0:50 / /var/lib/pgplay-lab/pglab-node1/root rw,relatime shared:60 - overlay overlay rw,lowerdir=/var/cache/pgplay-lab/rootfs,upperdir=/u,workdir=/w
121 36 0:51 / /var/lib/pgplay-lab/pglab-node10/root rw - overlay overlay rw
122 120 0:52 / /var/lib/pgplay-lab/pglab-node1/root/proc rw - proc proc rw
130 36 0:53 / /mnt/with\040space rw - tmpfs tmpfs rw
140 36 0:54 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
141 36 0:55 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate
142 36 0:56 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
`
	ms := parseMountinfo(text)
	if len(ms) != 8 {
		t.Fatalf("parsed %d mounts: %+v", len(ms), ms)
	}
	if ms[4].Point != "/mnt/with space" || ms[1].FSType != "overlay" {
		t.Errorf("parsed %+v", ms)
	}
	got := mountsUnder(ms, "/var/lib/pgplay-lab/pglab-node1")
	want := []string{"/var/lib/pgplay-lab/pglab-node1/root/proc", "/var/lib/pgplay-lab/pglab-node1/root"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mountsUnder = %q, want %q (deepest first, node10 excluded)", got, want)
	}
	cg := findCgroupMounts(ms)
	if cg.Unified != "/sys/fs/cgroup/unified" || cg.Systemd != "/sys/fs/cgroup/systemd" || len(cg.All) != 3 {
		t.Errorf("cgroup mounts = %+v", cg)
	}
	if got := strings.Join(cg.hostCgroups("node2"), " "); got != "/sys/fs/cgroup/unified/pglab-node2 /sys/fs/cgroup/systemd/pglab-node2" {
		t.Errorf("host cgroups = %s", got)
	}
}

func TestDebootstrapPhases(t *testing.T) {
	lines := []string{
		"I: Target architecture can be executed",
		"I: Retrieving InRelease ",
		"I: Checking Release signature",
		"I: Retrieving Packages ",
		"I: Resolving dependencies of required packages...",
		"I: Retrieving adduser 3.134",
		"I: Validating adduser 3.134",
		"I: Retrieving apt 2.6.1",
		"I: Chosen extractor for .deb packages: dpkg-deb",
		"I: Extracting adduser...",
		"I: Installing core packages...",
		"I: Unpacking required packages...",
		"I: Unpacking adduser...",
		"I: Configuring required packages...",
		"I: Unpacking the base system...",
		"I: Unpacking systemd...",
		"I: Configuring the base system...",
		"I: Configuring systemd...",
		"W: some warning",
		"I: Base system installed successfully.",
	}
	var seen []string
	phase := phaseNone
	for _, l := range lines {
		if next := debootstrapPhase(l, phase); next != phase {
			phase = next
			seen = append(seen, phaseNames[phase])
		}
	}
	want := []string{
		phaseNames[phaseResolve], phaseNames[phaseDownload], phaseNames[phaseExtract],
		phaseNames[phaseInstallCore], phaseNames[phaseUnpackBase], phaseNames[phaseConfigureBase], phaseNames[phaseDone],
	}
	if !reflect.DeepEqual(seen, want) {
		t.Errorf("phases = %q\nwant %q", seen, want)
	}
}
