package lab

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// Mirrors are the Debian archives the rootfs is built from, as configured in
// the controller's own apt sources.
type Mirrors struct {
	// Main is the URI of the main archive (suite bookworm).
	Main string
	// Security is the URI of the security archive (suite bookworm-security).
	Security string
	// Source names the file the URIs were read from, for messages.
	Source string
}

// Files the mirrors are read from, in order.
const (
	debianSourcesFile = "/etc/apt/sources.list.d/debian.sources"
	sourcesListFile   = "/etc/apt/sources.list"
	defaultMainURI    = "http://deb.debian.org/debian"
	defaultSecURI     = "http://deb.debian.org/debian-security"
	labSuite          = "bookworm"
)

// readMirrors finds the Debian mirrors in the controller's apt sources.
func readMirrors() (Mirrors, error) {
	var tried []string
	for _, f := range []string{debianSourcesFile, sourcesListFile} {
		data, err := os.ReadFile(f)
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s: %v", f, err))
			continue
		}
		var m Mirrors
		if strings.HasSuffix(f, ".sources") {
			m = parseDeb822Sources(string(data))
		} else {
			m = parseSourcesList(string(data))
		}
		if m.Main == "" {
			tried = append(tried, f+": no deb entry for suite "+labSuite)
			continue
		}
		m.Source = f
		if m.Security == "" {
			m.Security = securityFor(m.Main)
		}
		return m, nil
	}
	return Mirrors{}, fmt.Errorf("no Debian mirror found in the apt sources (%s); "+
		"add one, e.g. a deb822 stanza with URIs: %s and Suites: %s", strings.Join(tried, "; "), defaultMainURI, labSuite)
}

// securityFor guesses the security archive next to a main archive URI.
func securityFor(main string) string {
	u := strings.TrimRight(main, "/")
	if strings.HasSuffix(u, "/debian") {
		return u + "-security"
	}
	return defaultSecURI
}

// parseDeb822Sources reads the URIs of the first deb stanzas offering the
// suites bookworm and bookworm-security.
func parseDeb822Sources(text string) Mirrors {
	var m Mirrors
	flush := func(st map[string]string) {
		if st == nil {
			return
		}
		if e := st["enabled"]; e != "" && !strings.EqualFold(e, "yes") {
			return
		}
		if !containsField(st["types"], "deb") {
			return
		}
		uris := strings.Fields(st["uris"])
		if len(uris) == 0 {
			return
		}
		if m.Main == "" && containsField(st["suites"], labSuite) {
			m.Main = uris[0]
		}
		if m.Security == "" && containsField(st["suites"], labSuite+"-security") {
			m.Security = uris[0]
		}
	}
	var st map[string]string
	last := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if strings.TrimSpace(line) == "" {
			flush(st)
			st, last = nil, ""
			continue
		}
		if st == nil {
			st = map[string]string{}
		}
		if (line[0] == ' ' || line[0] == '\t') && last != "" {
			st[last] += " " + strings.TrimSpace(line)
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		last = strings.ToLower(strings.TrimSpace(k))
		st[last] = strings.TrimSpace(v)
	}
	flush(st)
	return m
}

// parseSourcesList reads one-line-style apt sources ("deb [opts] URI suite comp...").
func parseSourcesList(text string) Mirrors {
	var m Mirrors
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 || f[0] != "deb" {
			continue
		}
		f = f[1:]
		if strings.HasPrefix(f[0], "[") {
			for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
				f = f[1:]
			}
			if len(f) > 0 {
				f = f[1:]
			}
		}
		if len(f) < 2 {
			continue
		}
		switch f[1] {
		case labSuite:
			if m.Main == "" {
				m.Main = f[0]
			}
		case labSuite + "-security":
			if m.Security == "" {
				m.Security = f[0]
			}
		}
	}
	return m
}

func containsField(list, want string) bool {
	for _, f := range strings.Fields(list) {
		if f == want {
			return true
		}
	}
	return false
}

// rootfsSources is the deb822 sources file written into the rootfs.
func rootfsSources(m Mirrors) string {
	return fmt.Sprintf(`# Written by pgplay lab (from %s).
Types: deb
URIs: %s
Suites: %s %s-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: %s
Suites: %s-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`, m.Source, m.Main, labSuite, labSuite, m.Security, labSuite)
}

// aptOptionKeys are the controller's apt settings carried over to apt runs
// inside the rootfs build (proxies, and release validity checks that a
// snapshot mirror needs relaxed).
var aptOptionKeys = []string{
	"Acquire::Check-Valid-Until",
	"Acquire::Check-Date",
	"Acquire::http::Proxy",
	"Acquire::https::Proxy",
	"Acquire::Retries",
	"Acquire::ForceIPv4",
	"Acquire::ForceIPv6",
}

// parseAptConfigDump turns the output of `apt-config dump` into -o options
// for the keys in aptOptionKeys.
func parseAptConfigDump(text string) []string {
	want := map[string]bool{}
	for _, k := range aptOptionKeys {
		want[strings.ToLower(k)] = true
	}
	var opts []string
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		k, v, ok := strings.Cut(line, " ")
		if !ok || !want[strings.ToLower(k)] {
			continue
		}
		v = strings.TrimSuffix(strings.TrimSpace(v), ";")
		v = strings.Trim(v, `"`)
		opts = append(opts, "-o", k+"="+v)
	}
	return opts
}
