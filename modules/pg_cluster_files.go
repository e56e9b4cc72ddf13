package modules

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/pgplay/pgplay/internal/transport"
)

// clusterFromFiles reads what `pg_lsclusters -h` shows of the cluster
// m.Version/m.Name from the cluster's files over SFTP: the port and the
// data directory from postgresql.conf (with its include, include_if_exists
// and include_dir files), the owner of the data directory (which
// postgresql.conf's owner must share), online when the PID in the data
// directory's postmaster.pid is a live postgres process, and recovery when
// standby.signal, recovery.signal or recovery.conf is there (running or
// not). It returns nil whenever the files cannot give pg_lsclusters's
// answer for sure: no cluster there, a Target without directory listing
// (check mode), a setting or file it does not follow (logging_collector
// on, a log link, an unreadable or malformed file). The caller then runs
// pg_lsclusters.
func (m *PGCluster) clusterFromFiles(ctx context.Context, t transport.Target) *pgCluster {
	dl, ok := t.(transport.DirLister)
	if !ok {
		return nil
	}
	confDir := path.Join("/etc/postgresql", m.Version, m.Name)
	names, err := dl.ListDir(ctx, confDir)
	if err != nil || !slices.Contains(names, "postgresql.conf") || slices.Contains(names, "log") {
		return nil
	}
	conf := path.Join(confDir, "postgresql.conf")
	fi, err := t.Stat(ctx, conf)
	if err != nil || !fi.Exists || fi.IsLink || fi.IsDir {
		return nil
	}
	set, err := readPGConf(ctx, t, dl, conf, map[string]string{}, 0)
	if err != nil {
		return nil
	}
	if v, ok := set["logging_collector"]; ok && pgConfBool(v) {
		return nil
	}
	port, err := strconv.Atoi(set["port"])
	if err != nil || port <= 0 {
		return nil
	}
	data := set["data_directory"]
	if !path.IsAbs(data) {
		return nil
	}
	dfi, err := t.Stat(ctx, data)
	if err != nil || !dfi.Exists || !dfi.IsDir || dfi.Owner == "" || dfi.Owner != fi.Owner {
		return nil
	}
	entries, err := dl.ListDir(ctx, data)
	if err != nil {
		return nil
	}
	running, ok := postmasterRuns(ctx, t, data, entries)
	if !ok {
		return nil
	}
	recovery := slices.Contains(entries, "standby.signal") || slices.Contains(entries, "recovery.signal") ||
		slices.Contains(entries, "recovery.conf")
	status := "down"
	if running {
		status = "online"
	}
	if recovery {
		status += ",recovery" // a stopped standby too: "down,recovery"
	}
	return &pgCluster{Version: m.Version, Name: m.Name, Port: port, Status: status, Owner: dfi.Owner, DataDir: data,
		LogFile: fmt.Sprintf("/var/log/postgresql/postgresql-%s-%s.log", m.Version, m.Name)}
}

// postmasterRuns reports whether the PID in data/postmaster.pid is a live
// postgres process (ok false: it cannot tell).
func postmasterRuns(ctx context.Context, t transport.Target, data string, entries []string) (running, ok bool) {
	if !slices.Contains(entries, "postmaster.pid") {
		return false, true
	}
	return postmasterLive(ctx, t, data)
}

// postmasterLive reports whether data/postmaster.pid names a live
// postgres process, as pg_lsclusters tests it (ok false: it cannot tell).
func postmasterLive(ctx context.Context, t transport.Target, data string) (running, ok bool) {
	b, err := t.ReadFile(ctx, path.Join(data, "postmaster.pid"))
	if errors.Is(err, fs.ErrNotExist) {
		return false, true // removed since the listing: stopped
	}
	if err != nil {
		return false, false
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return false, false
	}
	cmdline, err := t.ReadFile(ctx, "/proc/"+strconv.Itoa(pid)+"/cmdline")
	if errors.Is(err, fs.ErrNotExist) {
		return false, true // a stale PID file
	}
	if err != nil || len(cmdline) == 0 {
		return false, false
	}
	return hasWord(string(cmdline), "postgres"), true
}

// hasWord reports whether w occurs in s with no word character ([A-Za-z0-9_])
// on either side, as `grep -w` finds it.
func hasWord(s, w string) bool {
	isWord := func(c byte) bool {
		return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	}
	for i := 0; ; {
		j := strings.Index(s[i:], w)
		if j < 0 {
			return false
		}
		j += i
		end := j + len(w)
		if (j == 0 || !isWord(s[j-1])) && (end == len(s) || !isWord(s[end])) {
			return true
		}
		i = j + 1
	}
}

// maxPGConf bounds a configuration file read over SFTP; maxPGConfDepth
// is PostgreSQL's own nesting limit for include files.
const (
	maxPGConf      = 1 << 20
	maxPGConfDepth = 10
)

// readPGConf reads the PostgreSQL configuration file p into set (names in
// lower case, the last setting winning), following include,
// include_if_exists and include_dir (its *.conf files not starting with
// '.', in name order) as the server does, relative to the including
// file's directory.
func readPGConf(ctx context.Context, t transport.Target, dl transport.DirLister, p string, set map[string]string, depth int) (map[string]string, error) {
	if depth > maxPGConfDepth {
		return nil, fmt.Errorf("%s: includes nested more than %d deep", p, maxPGConfDepth)
	}
	fi, b, err := transport.StatRead(ctx, t, p, maxPGConf)
	if err != nil {
		return nil, err
	}
	if !fi.Exists {
		return nil, fmt.Errorf("%s: %w", p, fs.ErrNotExist)
	}
	if b == nil {
		return nil, fmt.Errorf("%s: not a regular file of at most %d bytes", p, maxPGConf)
	}
	settings, err := parsePGConf(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	dir := path.Dir(p)
	rel := func(f string) string {
		if path.IsAbs(f) {
			return path.Clean(f)
		}
		return path.Join(dir, f)
	}
	for _, s := range settings {
		switch s.name {
		case "include":
			if _, err := readPGConf(ctx, t, dl, rel(s.value), set, depth+1); err != nil {
				return nil, err
			}
		case "include_if_exists":
			if _, err := readPGConf(ctx, t, dl, rel(s.value), set, depth+1); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
		case "include_dir":
			d := rel(s.value)
			names, err := dl.ListDir(ctx, d)
			if err != nil {
				return nil, err
			}
			for _, n := range names {
				if strings.HasPrefix(n, ".") || !strings.HasSuffix(n, ".conf") {
					continue
				}
				f := path.Join(d, n)
				if st, err := t.Stat(ctx, f); err != nil || st.IsDir {
					if err != nil {
						return nil, err
					}
					continue
				}
				if _, err := readPGConf(ctx, t, dl, f, set, depth+1); err != nil {
					return nil, err
				}
			}
		default:
			set[s.name] = s.value
		}
	}
	return set, nil
}

// pgConfSetting is one `name = value` line of a configuration file.
type pgConfSetting struct{ name, value string }

// parsePGConf parses PostgreSQL's configuration file syntax: `name =
// value` or `name value`, the value a single-quoted string (a doubled quote and
// backslash escapes) or a bare word, a # comment after it; names are
// case-insensitive (returned in lower case).
func parsePGConf(content string) ([]pgConfSetting, error) {
	var out []pgConfSetting
	for n, line := range strings.Split(content, "\n") {
		s := strings.TrimLeft(line, " \t\r\f")
		if s == "" || s[0] == '#' {
			continue
		}
		i := 0
		for i < len(s) && (s[i] == '_' || s[i] == '.' || s[i] == '-' || s[i] == '$' ||
			s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z') {
			i++
		}
		if i == 0 {
			return nil, fmt.Errorf("line %d: %q does not start with a setting name", n+1, line)
		}
		name := strings.ToLower(s[:i])
		rest := strings.TrimLeft(s[i:], " \t\r\f")
		rest = strings.TrimLeft(strings.TrimPrefix(rest, "="), " \t\r\f")
		var value string
		if strings.HasPrefix(rest, "'") {
			var b strings.Builder
			j := 1
			closed := false
			for j < len(rest) {
				c := rest[j]
				switch {
				case c == '\'' && j+1 < len(rest) && rest[j+1] == '\'':
					b.WriteByte('\'')
					j += 2
				case c == '\'':
					closed = true
					j++
				case c == '\\' && j+1 < len(rest):
					b.WriteByte(pgConfEscape(rest[j+1]))
					j += 2
				default:
					b.WriteByte(c)
					j++
				}
				if closed {
					break
				}
			}
			if !closed {
				return nil, fmt.Errorf("line %d: unterminated quoted value", n+1)
			}
			value, rest = b.String(), rest[j:]
		} else {
			j := strings.IndexAny(rest, " \t\r\f#")
			if j < 0 {
				j = len(rest)
			}
			value, rest = rest[:j], rest[j:]
			if value == "" {
				return nil, fmt.Errorf("line %d: setting %s has no value", n+1, name)
			}
		}
		if rest = strings.TrimLeft(rest, " \t\r\f"); rest != "" && rest[0] != '#' {
			return nil, fmt.Errorf("line %d: %q after the value of %s", n+1, rest, name)
		}
		out = append(out, pgConfSetting{name, value})
	}
	return out, nil
}

// pgConfEscape is the character a backslash escape stands for in a
// quoted configuration value.
func pgConfEscape(c byte) byte {
	switch c {
	case 'b':
		return '\b'
	case 'f':
		return '\f'
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	}
	return c
}

// pgConfBool reads a boolean setting as the server does (on, true, yes,
// 1 and their unambiguous prefixes).
func pgConfBool(v string) bool {
	v = strings.ToLower(v)
	switch {
	case v == "":
		return false
	case strings.HasPrefix("true", v), strings.HasPrefix("yes", v), v == "on", v == "1":
		return true
	}
	return false
}

// mismatch reports whether the cluster found differs from what the task
// asks of an existing one (its port, its data directory).
func (m *PGCluster) mismatch(c *pgCluster) bool {
	if m.State != "present" {
		return false
	}
	return m.Port != 0 && c.Port != m.Port ||
		m.DataDirectory != "" && path.Clean(c.DataDir) != path.Clean(m.DataDirectory)
}
