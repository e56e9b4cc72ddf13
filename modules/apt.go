package modules

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/pgplay/pgplay/internal/transport"
)

func init() {
	Register(Spec{
		Name:    "apt",
		Returns: "cache_updated: whether apt-get update ran\npackages: each package -> its installed version after the task (\"\" when absent)",
		Purpose: "Install, upgrade or remove Debian packages with apt-get, without prompts.",
		Examples: []string{
			`- name: Install PostgreSQL 15 and repmgr
  apt:
    name: [postgresql-15, postgresql-15-repmgr]
    update_cache: true
    cache_valid_time: 3600`,
			`- name: Upgrade the PostgreSQL packages to the newest minor release
  apt:
    name: [postgresql-15, postgresql-client-15, libpq5]
    state: latest
    update_cache: true
  notify: restart postgresql`,
			`- name: Remove the old major version and its configuration after an upgrade
  apt:
    name: [postgresql-14, postgresql-client-14]
    state: absent
    purge: true`,
		},
		New: func() Module { return &Apt{} },
	})
}

// Apt manages packages. It reads dpkg's status of the packages before
// and after apt-get and reports changed only when it differs. No prompt
// can stop it: DEBIAN_FRONTEND=noninteractive, and dpkg keeps changed
// configuration files (--force-confdef --force-confold).
type Apt struct {
	Name              []string      `arg:"name" aliases:"pkg|package" doc:"packages; \"pkg=version\" pins a version"`
	State             string        `arg:"state" default:"present" choices:"present|absent|latest" doc:"present: installed; latest: installed and upgraded to the candidate version; absent: removed"`
	UpdateCache       bool          `arg:"update_cache" default:"false" doc:"run apt-get update first (not counted as a change)"`
	CacheValidTime    time.Duration `arg:"cache_valid_time" doc:"with update_cache: true, skip the update when the last one is younger than this (seconds or 1h); ignored without update_cache"`
	Purge             bool          `arg:"purge" default:"false" doc:"state: absent: also remove configuration files"`
	InstallRecommends *bool         `arg:"install_recommends" doc:"install recommended packages (unset: apt's configuration decides)"`
	LockTimeout       time.Duration `arg:"lock_timeout" default:"120" doc:"how long to wait for another apt/dpkg to release its lock"`
}

var debPackage = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?(=[A-Za-z0-9.+~:-]+)?$`)

// Validate checks the package names.
func (m *Apt) Validate() error {
	if len(m.Name) == 0 && !m.UpdateCache {
		return &ArgError{Arg: "name", Msg: "give \"name\" (packages) or update_cache: true"}
	}
	for _, n := range m.Name {
		if !debPackage.MatchString(n) {
			return &ArgError{Arg: "name", Msg: fmt.Sprintf("%q is not a Debian package name (lower-case letters, digits, + - .; optionally =VERSION)", n)}
		}
		if m.State != "present" && strings.Contains(n, "=") {
			return &ArgError{Arg: "name", Msg: fmt.Sprintf("%q: a pinned version goes with state: present", n)}
		}
	}
	return nil
}

// dpkgState is one package as dpkg-query shows it.
type dpkgState struct {
	Status  string // e.g. "install ok installed"
	Version string
}

func (s dpkgState) installed() bool {
	return strings.HasSuffix(s.Status, " installed") && !strings.HasSuffix(s.Status, " not-installed")
}

// dpkgFormat is the dpkg-query format parseDpkgQuery reads.
const dpkgFormat = "${Package} ${Status} ${Version}\n"

// parseDpkgQuery reads `dpkg-query -W -f='${Package} ${Status} ${Version}\n'`:
// a name, three status words, and a version (empty when not installed).
func parseDpkgQuery(out string) map[string]dpkgState {
	m := map[string]dpkgState{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		s := dpkgState{Status: strings.Join(f[1:4], " ")}
		if len(f) > 4 {
			s.Version = f[4]
		}
		// Several architectures print several lines: an installed one wins.
		if old, ok := m[f[0]]; ok && old.installed() && !s.installed() {
			continue
		}
		m[f[0]] = s
	}
	return m
}

// pkgName strips a version and an architecture: "a:amd64=1.0" -> "a".
func pkgName(n string) string {
	n, _, _ = strings.Cut(n, "=")
	n, _, _ = strings.Cut(n, ":")
	return n
}

func (m *Apt) dpkgStates(ctx context.Context, t transport.Target) (map[string]dpkgState, error) {
	if len(m.Name) == 0 {
		return map[string]dpkgState{}, nil
	}
	argv := []string{"dpkg-query", "-W", "-f=" + dpkgFormat}
	for _, n := range m.Name {
		argv = append(argv, pkgName(n))
	}
	r, err := t.Query(ctx, transport.Cmd{Argv: argv})
	if err != nil {
		return nil, err
	}
	// rc 1: some package is unknown to dpkg (never installed); not an error.
	if r.RC > 1 {
		return nil, fmt.Errorf("host %s: dpkg-query failed (rc %d): %s", t.Host(), r.RC, strings.TrimSpace(string(r.Stderr)))
	}
	return parseDpkgQuery(string(r.Stdout)), nil
}

// aptEnv makes apt-get and dpkg never ask.
var aptEnv = map[string]string{"DEBIAN_FRONTEND": "noninteractive", "APT_LISTCHANGES_FRONTEND": "none"}

func (m *Apt) aptArgv(args ...string) []string {
	argv := []string{"apt-get", "-y", "-q",
		"-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold",
		"-o", fmt.Sprintf("DPkg::Lock::Timeout=%d", int(m.LockTimeout.Seconds()))}
	return append(argv, args...)
}

// aptStamp is touched after a successful update, for cache_valid_time.
const aptStamp = "/var/lib/apt/periodic/update-success-stamp"

// cacheAge returns how old the package lists are (the newest of the
// update stamp and apt's binary cache); a very large value when unknown.
func cacheAge(ctx context.Context, t transport.Target) (time.Duration, error) {
	var newest time.Time
	for _, p := range []string{aptStamp, "/var/cache/apt/pkgcache.bin"} {
		st, err := t.Stat(ctx, p)
		if err != nil {
			return 0, fmt.Errorf("stat %s: %w", p, err)
		}
		if st.Exists && st.ModTime.After(newest) {
			newest = st.ModTime
		}
	}
	if newest.IsZero() {
		return 1 << 62, nil
	}
	return time.Since(newest), nil
}

// Run brings the packages to the wanted state.
func (m *Apt) Run(ctx context.Context, t transport.Target, env *Env) (*Result, error) {
	res := &Result{Data: map[string]any{"cache_updated": false}}
	if m.UpdateCache {
		age, err := cacheAge(ctx, t)
		if err != nil {
			return nil, err
		}
		if m.CacheValidTime == 0 || age > m.CacheValidTime {
			r, err := t.Change(ctx, transport.Cmd{Argv: m.aptArgv("update"), Env: aptEnv})
			if err != nil {
				return nil, err
			}
			if r.RC != 0 {
				return m.aptFailed(res, "apt-get update", r), nil
			}
			if err := t.Mkdir(ctx, "/var/lib/apt/periodic", transport.Attrs{}); err != nil {
				return nil, fmt.Errorf("create /var/lib/apt/periodic: %w", err)
			}
			if err := t.WriteFile(ctx, aptStamp, nil, transport.Attrs{}); err != nil {
				return nil, fmt.Errorf("touch %s: %w", aptStamp, err)
			}
			res.Data["cache_updated"] = true
		}
	}
	if len(m.Name) == 0 {
		return res, nil
	}
	before, err := m.dpkgStates(ctx, t)
	if err != nil {
		return nil, err
	}
	var todo []string
	for _, n := range m.Name {
		s := before[pkgName(n)]
		_, ver, pinned := strings.Cut(n, "=")
		switch m.State {
		case "present":
			if !s.installed() || (pinned && s.Version != ver) {
				todo = append(todo, n)
			}
		case "latest":
			todo = append(todo, n)
		case "absent":
			if s.installed() || (m.Purge && s.Status != "" && !strings.HasSuffix(s.Status, "not-installed")) {
				todo = append(todo, n)
			}
		}
	}
	res.Data["packages"] = statesData(m.Name, before)
	if len(todo) == 0 {
		return res, nil
	}

	var args []string
	if m.State == "absent" {
		args = []string{"remove"}
		if m.Purge {
			args = append(args, "--purge")
		}
	} else {
		args = []string{"install"}
		if m.InstallRecommends != nil {
			if *m.InstallRecommends {
				args = append(args, "--install-recommends")
			} else {
				args = append(args, "--no-install-recommends")
			}
		}
	}
	args = append(args, todo...)

	// apt-get's simulation is a read: it tells whether latest has anything
	// to do, and catches unknown packages in check mode too.
	sim, err := t.Query(ctx, transport.Cmd{Argv: m.aptArgv(append([]string{"-s"}, args...)...), Env: aptEnv})
	if err != nil {
		return nil, err
	}
	if sim.RC != 0 {
		return m.aptFailed(res, "apt-get "+args[0], sim), nil
	}
	actions := simulatedActions(string(sim.Stdout))
	if len(actions) == 0 {
		return res, nil
	}
	r, err := t.Change(ctx, transport.Cmd{Argv: m.aptArgv(args...), Env: aptEnv})
	if err != nil {
		return nil, err
	}
	if r.RC != 0 {
		return m.aptFailed(res, "apt-get "+args[0], r), nil
	}
	if r.Simulated {
		res.Changed = true
		res.Msg = "would " + strings.Join(actions, ", ")
		return res, nil
	}
	after, err := m.dpkgStates(ctx, t)
	if err != nil {
		return nil, err
	}
	res.Data["packages"] = statesData(m.Name, after)
	for _, n := range m.Name {
		if before[pkgName(n)] != after[pkgName(n)] {
			res.Changed = true
		}
	}
	// Dependencies may have changed even when the named packages did not
	// (latest upgraded a library): apt said it acted, so it changed.
	if !res.Changed && m.State == "latest" {
		res.Changed = true
	}
	res.Msg = strings.Join(actions, ", ")
	return res, nil
}

// simulatedActions lists what `apt-get -s` would do ("Inst pkg", "Remv
// pkg", "Purg pkg"), in order.
func simulatedActions(out string) []string {
	var acts []string
	seen := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		var verb string
		switch f[0] {
		case "Inst":
			verb = "install"
		case "Remv":
			verb = "remove"
		case "Purg":
			verb = "purge"
		default:
			continue
		}
		a := verb + " " + f[1]
		if !seen[a] {
			seen[a] = true
			acts = append(acts, a)
		}
	}
	return acts
}

func statesData(names []string, st map[string]dpkgState) map[string]any {
	out := map[string]any{}
	keys := make([]string, 0, len(names))
	for _, n := range names {
		keys = append(keys, pkgName(n))
	}
	sort.Strings(keys)
	for _, k := range keys {
		s := st[k]
		out[k] = map[string]any{"installed": s.installed(), "version": s.Version}
	}
	return out
}

// aptFailed reports a failed apt-get with a hint for the usual causes.
func (m *Apt) aptFailed(res *Result, what string, r transport.Result) *Result {
	stderr := strings.TrimSpace(string(r.Stderr))
	res.Failed, res.HasRC, res.RC = true, true, r.RC
	res.Stdout, res.Stderr = string(r.Stdout), stderr
	res.Msg = fmt.Sprintf("%s failed (rc %d): %s", what, r.RC, lastLines(stderr, 8))
	switch {
	case strings.Contains(stderr, "Unable to locate package") || strings.Contains(stderr, "has no installation candidate"):
		if m.UpdateCache {
			res.Msg += "\n  hint: check the package name and the apt sources"
		} else {
			res.Msg += "\n  hint: check the package name, or add update_cache: true to refresh the package lists"
		}
	case strings.Contains(stderr, "Could not get lock") || strings.Contains(stderr, "Could not open lock"):
		if strings.Contains(stderr, "Permission denied") || strings.Contains(stderr, "are you root") {
			res.Msg += "\n  hint: apt needs root: add become: true"
		} else {
			res.Msg += "\n  hint: another apt or dpkg is running; raise lock_timeout or wait for it"
		}
	case strings.Contains(stderr, "are you root"):
		res.Msg += "\n  hint: apt needs root: add become: true"
	}
	return res
}
