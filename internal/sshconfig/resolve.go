// Package sshconfig reads OpenSSH client configuration files (ssh_config)
// and resolves the settings of one connection the way ssh(1) does: the
// first value obtained for a keyword wins; Host patterns match the host
// name given to ssh (for pgplay the address it dials); Match blocks test
// host, originalhost, user, localuser, exec, canonical, final and all; a
// final pass re-reads the files with the HostName as the host when a
// Match final or CanonicalizeHostname asks for it; Include is read in
// place. `ssh -G` is the reference its tests compare against.
//
// It implements the keywords pgplay acts on (see Result); other OpenSSH
// keywords are read and reported as ignored (Result.Ignored), and
// ProxyCommand and RevokedHostKeys, whose meaning pgplay cannot honour,
// are an error naming file:line when they apply, never dropped silently.
package sshconfig

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// LocalUser is the controller's user as OpenSSH sees it: its passwd entry
// (not $HOME), which gives `~`, %d, %u and Match localuser.
type LocalUser struct {
	Name string
	Home string
	UID  string
}

// CurrentUser returns the passwd entry of the user running pgplay.
func CurrentUser() (LocalUser, error) {
	u, err := user.Current()
	if err != nil {
		return LocalUser{}, fmt.Errorf("look up the current user's passwd entry: %w", err)
	}
	return LocalUser{Name: u.Username, Home: u.HomeDir, UID: u.Uid}, nil
}

// Query is what is known before the files are read, as on ssh's command
// line: `ssh [-l User] [-p Port] [-i IdentityFile]... Host`. Values set
// here win over the files, and Match user sees User.
type Query struct {
	// Host is the host argument: what Host patterns match.
	Host string
	// Name is another name of the host (pgplay's inventory name): Host
	// lines that would apply to it but do not apply to Host are listed in
	// Result.NameOnly, to explain a surprise.
	Name string
	// User and Port, when set, win over the files.
	User string
	Port int
	// IdentityFiles come before the files' IdentityFile entries.
	IdentityFiles []string
	// Files are the configuration files in order (the user's file, then
	// the system-wide one); a file that does not exist is skipped when it
	// is in Optional.
	Files []string
	// Optional lists the Files that may be absent.
	Optional []string
	// System lists the Files that are system-wide: their relative Include
	// paths are under /etc/ssh rather than ~/.ssh.
	System []string
	// CheckPerms lists the Files refused, as ssh refuses ~/.ssh/config,
	// when someone other than the user (or root) could change them.
	CheckPerms []string
	// Local is the controller's user.
	Local LocalUser
	// ExecTimeout bounds each Match exec command (default 10s).
	ExecTimeout time.Duration
	// Lookup resolves a name for CanonicalDomains (default net.LookupHost).
	Lookup func(ctx context.Context, host string) ([]string, error)
}

// Setting is one resolved value and where it came from ("" for a default
// or the command line).
type Setting struct {
	Value string
	From  string // file:line
}

// Result is the resolved configuration of one connection.
type Result struct {
	// Hostname is the name or address to connect to (HostName, else Host).
	Hostname string
	Port     int
	User     string
	// IdentityFiles are expanded (~ and % tokens); DefaultIdentities says
	// none was named, so these are OpenSSH's default files.
	IdentityFiles     []string
	DefaultIdentities bool
	// CertificateFiles are the CertificateFile entries, expanded.
	CertificateFiles []string
	IdentitiesOnly   bool
	// ProxyJump is "" or the jump list as written (never "none").
	ProxyJump Setting
	// UserKnownHostsFiles and GlobalKnownHostsFiles are expanded; "none"
	// entries are dropped.
	UserKnownHostsFiles   []string
	GlobalKnownHostsFiles []string
	// StrictHostKeyChecking is yes, no, ask or accept-new.
	StrictHostKeyChecking Setting
	HashKnownHosts        bool
	// HostKeyAlias, when set, is the name the host key is looked up and
	// recorded under in known_hosts, instead of Hostname.
	HostKeyAlias string
	// ConnectTimeout and ServerAliveInterval are 0 when unset.
	ConnectTimeout      time.Duration
	ServerAliveInterval time.Duration
	// Applied lists the Host and Match lines whose block applied, as
	// "file:line: Host 10.0.*", in the order they were read.
	Applied []string
	// Ignored lists keywords that applied but pgplay does not use, as
	// "file:line: SendEnv".
	Ignored []string
	// Read lists the files read (Include included).
	Read []string
	// NameOnly lists the Host lines that match Query.Name but did not
	// apply, as "file:line: Host node1".
	NameOnly []string
	// From says where the winning value of a keyword (lower case) came
	// from, for messages.
	From map[string]string
}

// multi are the keywords that accumulate instead of first-wins.
var multi = map[string]bool{"identityfile": true, "certificatefile": true, "localforward": true,
	"remoteforward": true, "dynamicforward": true, "sendenv": true, "setenv": true}

// refused are keywords pgplay cannot honour: connecting while ignoring
// them would connect somewhere else, or check another key.
var refused = map[string]string{
	"proxycommand":    "pgplay dials hosts itself and cannot run a ProxyCommand; use ProxyJump (a jump host reached over SSH), or set ProxyCommand none for this host",
	"revokedhostkeys": "pgplay cannot read RevokedHostKeys files and will not connect as if no key were revoked; mark revoked keys with @revoked lines in known_hosts instead, or set RevokedHostKeys none for this host",
}

// used are the keywords pgplay acts on; anything else is Ignored.
var used = map[string]bool{"hostname": true, "port": true, "user": true, "identityfile": true, "certificatefile": true,
	"identitiesonly": true, "proxyjump": true, "userknownhostsfile": true, "globalknownhostsfile": true,
	"stricthostkeychecking": true, "hashknownhosts": true, "connecttimeout": true,
	"serveraliveinterval": true, "canonicalizehostname": true, "canonicaldomains": true,
	"canonicalizemaxdots": true, "canonicalizefallbacklocal": true, "proxycommand": true, "hostkeyalias": true,
	"ignoreunknown": true, "revokedhostkeys": true}

// known are the keywords OpenSSH's ssh accepts (readconf.c, through 10.x,
// with Debian's GSSAPI and Apple's UseKeychain additions); any other is
// refused, as ssh refuses it, unless IgnoreUnknown names it.
// It is read only.
var known = keywordSet(`protocol cipher fallbacktorsh globalknownhostsfile2 rhostsauthentication
		userknownhostsfile2 useroaming usersh useprivilegedport afstokenpassing kerberosauthentication
		kerberostgtpassing rsaauthentication rhostsrsaauthentication compressionlevel gssapiauthentication
		gssapidelegatecredentials gssapikeyexchange gssapiclientidentity gssapiserveridentity
		gssapirenewalforcesrekey gssapitrustdns gssapikexalgorithms pkcs11provider smartcarddevice
		forwardagent forwardx11 forwardx11trusted forwardx11timeout exitonforwardfailure xauthlocation
		gatewayports passwordauthentication kbdinteractiveauthentication kbdinteractivedevices
		challengeresponseauthentication skeyauthentication tisauthentication pubkeyauthentication
		dsaauthentication hostbasedauthentication identityfile identityfile2 identitiesonly certificatefile
		addkeystoagent identityagent hostname hostkeyalias proxycommand port ciphers macs remoteforward
		localforward permitremoteopen user host match escapechar globalknownhostsfile userknownhostsfile
		connectionattempts batchmode checkhostip stricthostkeychecking compression tcpkeepalive keepalive
		numberofpasswordprompts syslogfacility loglevel logverbose dynamicforward preferredauthentications
		hostkeyalgorithms casignaturealgorithms bindaddress bindinterface clearallforwardings
		enablesshkeysign verifyhostkeydns nohostauthenticationforlocalhost rekeylimit connecttimeout
		addressfamily serveraliveinterval serveralivecountmax sendenv setenv controlpath controlmaster
		controlpersist hashknownhosts include tunnel tunneldevice localcommand permitlocalcommand
		remotecommand visualhostkey kexalgorithms ipqos requesttty sessiontype stdinnull
		forkafterauthentication proxyusefdpass canonicaldomains canonicalizefallbacklocal
		canonicalizehostname canonicalizemaxdots canonicalizepermittedcnames streamlocalbindmask
		streamlocalbindunlink revokedhostkeys fingerprinthash updatehostkeys hostbasedacceptedalgorithms
		hostbasedkeytypes pubkeyacceptedalgorithms pubkeyacceptedkeytypes ignoreunknown proxyjump
		securitykeyprovider knownhostscommand requiredrsasize enableescapecommandline channeltimeout
		obscurekeystroketiming tag refuseconnection warnweakcrypto pubkeyauthoptions versionaddendum
		usekeychain`)

// keywordSet makes a set of the blank-separated words of s.
func keywordSet(s string) map[string]bool {
	set := map[string]bool{}
	for _, k := range strings.Fields(s) {
		set[k] = true
	}
	return set
}

// state is one resolution in progress.
type state struct {
	ctx      context.Context
	q        Query
	host     string // what Host matches: the host argument, then (final pass) the hostname
	final    bool
	wantFin  bool
	vals     map[string][]string // first value obtained (all values for multi keys)
	from     map[string]string
	applied  []string
	nameOnly []string
	ignored  []string
	read     []string
	depth    int
}

// Resolve reads q.Files and returns the settings for q.Host.
func Resolve(ctx context.Context, q Query) (*Result, error) {
	if q.Host == "" {
		return nil, errors.New("ssh_config: empty host")
	}
	if q.ExecTimeout <= 0 {
		q.ExecTimeout = 10 * time.Second
	}
	st := &state{ctx: ctx, q: q, host: q.Host, vals: map[string][]string{}, from: map[string]string{}}
	if q.User != "" {
		st.set("user", []string{q.User}, "")
	}
	if q.Port != 0 {
		st.set("port", []string{strconv.Itoa(q.Port)}, "")
	}
	for _, f := range q.IdentityFiles {
		st.set("identityfile", []string{f}, "")
	}
	if err := st.pass(); err != nil {
		return nil, err
	}
	// Like ssh: the HostName (its %h expanded) becomes the host; with
	// canonicalisation or a Match final the files are read again with it.
	host := st.hostname()
	if net.ParseIP(host) == nil {
		host = strings.ToLower(host) // as ssh does, for names
	}
	canon := strings.ToLower(st.first("canonicalizehostname"))
	if canon == "yes" || canon == "always" {
		proxied := st.first("proxyjump") != "" && !strings.EqualFold(st.first("proxyjump"), "none")
		if canon == "always" || !proxied {
			h, err := st.canonicalize(host)
			if err != nil {
				return nil, err
			}
			host = h
		}
		st.wantFin = true
	}
	if st.wantFin {
		st.final = true
		st.host = host
		st.vals["hostname"] = []string{host}
		if err := st.pass(); err != nil {
			return nil, err
		}
	}
	return st.result(host)
}

func (st *state) pass() error {
	for _, f := range st.q.Files {
		if _, err := os.Stat(f); errors.Is(err, fs.ErrNotExist) && slices.Contains(st.q.Optional, f) {
			continue
		}
		if slices.Contains(st.q.CheckPerms, f) {
			if err := securePerms(f, st.q.Local.UID); err != nil {
				return fmt.Errorf("bad owner or permissions: %w; ssh refuses such a file too (chmod go-w %s)", err, f)
			}
		}
		active := true
		if err := st.readFile(f, slices.Contains(st.q.System, f), &active); err != nil {
			return err
		}
	}
	return nil
}

// passNote marks what the final pass applied.
func (st *state) passNote() string {
	if st.final {
		return " (final pass, host " + st.host + ")"
	}
	return ""
}

// hostname is the HostName so far (its %h expanded), else the host.
func (st *state) hostname() string {
	h := st.first("hostname")
	if h == "" {
		return st.host
	}
	return strings.NewReplacer("%%", "%", "%h", st.q.Host).Replace(h)
}

func (st *state) first(key string) string {
	if v := st.vals[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// set records a keyword's value unless one was obtained already (or
// appends, for the keywords that accumulate).
func (st *state) set(key string, args []string, from string) {
	if multi[key] {
		for _, a := range args {
			if !slices.Contains(st.vals[key], a) {
				st.vals[key] = append(st.vals[key], a)
			}
		}
		if _, ok := st.from[key]; !ok {
			st.from[key] = from
		}
		return
	}
	if _, ok := st.vals[key]; ok {
		return
	}
	st.vals[key] = args
	st.from[key] = from
}

func (st *state) readFile(path string, system bool, active *bool) error {
	if st.depth > 16 {
		return fmt.Errorf("%s: too many nested Include directives: an Include loop? check the Include lines leading here", path)
	}
	lines, err := parseFile(path)
	if err != nil {
		return fmt.Errorf("read ssh_config: %w", err)
	}
	st.read = append(st.read, path)
	for _, l := range lines {
		if err := st.line(l, system, active); err != nil {
			return err
		}
	}
	return nil
}

func (st *state) line(l line, system bool, active *bool) error {
	switch l.key {
	case "host":
		if len(l.args) == 0 {
			return l.errorf("Host needs at least one pattern (e.g. Host 10.0.* or Host *)")
		}
		*active = matchHost(st.host, l.args)
		if *active {
			st.applied = append(st.applied, l.pos()+": Host "+strings.Join(l.args, " ")+st.passNote())
		} else if !st.final && st.q.Name != "" && st.q.Name != st.host && matchHost(st.q.Name, l.args) {
			st.nameOnly = append(st.nameOnly, l.pos()+": Host "+strings.Join(l.args, " "))
		}
		return nil
	case "match":
		ok, err := st.match(l)
		if err != nil {
			return err
		}
		*active = ok
		if ok {
			st.applied = append(st.applied, l.pos()+": Match "+strings.Join(l.args, " ")+st.passNote())
		}
		return nil
	case "include":
		if len(l.args) == 0 {
			return l.errorf("Include needs a file name")
		}
		if !*active {
			return nil
		}
		return st.include(l, system, active)
	}
	if !known[l.key] {
		if ig := st.first("ignoreunknown"); ig != "" && matchList(l.key, ig, true) {
			return nil
		}
		return l.errorf("bad configuration option %s: not an OpenSSH keyword (ssh refuses it too); fix the spelling, "+
			"or if it is an option of a newer OpenSSH, put `IgnoreUnknown %s` before it", l.name, l.name)
	}
	if err := check(l); err != nil {
		return err
	}
	if !*active {
		return nil
	}
	if msg, ok := refused[l.key]; ok {
		if strings.EqualFold(l.args[0], "none") {
			st.set(l.key, l.args, l.pos())
			return nil
		}
		if l.key == "proxycommand" && st.first("proxyjump") != "" {
			return nil // ProxyJump came first and wins, as in ssh
		}
		return l.errorf("%s %s applies to %s: %s", keyName(l.key), strings.Join(l.args, " "), st.q.Host, msg)
	}
	if l.key == "proxyjump" && st.first("proxycommand") != "" {
		return nil // ProxyCommand none came first
	}
	if ig := l.pos() + ": " + l.name; !used[l.key] && !slices.Contains(st.ignored, ig) {
		st.ignored = append(st.ignored, ig) // once, though the final pass reads it again
	}
	st.set(l.key, l.args, l.pos())
	return nil
}

// keyName is a keyword as ssh_config(5) spells it, for messages.
func keyName(k string) string {
	names := map[string]string{"proxycommand": "ProxyCommand", "hostkeyalias": "HostKeyAlias", "revokedhostkeys": "RevokedHostKeys",
		"hostname": "HostName", "port": "Port", "user": "User", "identityfile": "IdentityFile",
		"proxyjump": "ProxyJump", "stricthostkeychecking": "StrictHostKeyChecking",
		"userknownhostsfile": "UserKnownHostsFile", "connecttimeout": "ConnectTimeout",
		"serveraliveinterval": "ServerAliveInterval", "canonicalizehostname": "CanonicalizeHostname"}
	if n, ok := names[k]; ok {
		return n
	}
	return k
}

// check validates the values of the keywords pgplay uses, on every line
// read (active or not), as ssh does.
func check(l line) error {
	need := func(n int) error {
		if len(l.args) < n {
			return l.errorf("%s needs a value: give one or remove the line", keyName(l.key))
		}
		return nil
	}
	switch l.key {
	case "hostname", "user", "identityfile", "proxyjump", "proxycommand", "hostkeyalias", "revokedhostkeys":
		return need(1)
	case "port":
		if err := need(1); err != nil {
			return err
		}
		if n, err := strconv.Atoi(l.args[0]); err != nil || n < 1 || n > 65535 {
			return l.errorf("Port %q is not a port number (1-65535)", l.args[0])
		}
	case "connecttimeout", "serveraliveinterval", "canonicalizemaxdots":
		if err := need(1); err != nil {
			return err
		}
		if n, err := strconv.Atoi(l.args[0]); err != nil || n < 0 {
			return l.errorf("%s %q is not a number of seconds", keyName(l.key), l.args[0])
		}
	case "stricthostkeychecking":
		if err := need(1); err != nil {
			return err
		}
		switch strings.ToLower(l.args[0]) {
		case "yes", "no", "ask", "accept-new", "off", "true", "false":
		default:
			return l.errorf("StrictHostKeyChecking %q: want yes, accept-new, no or ask", l.args[0])
		}
	case "canonicalizehostname":
		if err := need(1); err != nil {
			return err
		}
		switch strings.ToLower(l.args[0]) {
		case "yes", "no", "always", "true", "false":
		default:
			return l.errorf("CanonicalizeHostname %q: want yes, no or always", l.args[0])
		}
	}
	return nil
}

func (st *state) include(l line, system bool, active *bool) error {
	st.depth++
	defer func() { st.depth-- }()
	for _, a := range l.args {
		p := st.tilde(a)
		if !filepath.IsAbs(p) {
			if system {
				p = filepath.Join("/etc/ssh", p)
			} else {
				p = filepath.Join(st.q.Local.Home, ".ssh", p)
			}
		}
		matches, err := filepath.Glob(p)
		if err != nil {
			return l.errorf("Include %s: %v", a, err)
		}
		for _, m := range matches {
			// The included file starts in the including block's state
			// and its Host/Match lines do not change that block's.
			inner := *active
			if err := st.readFile(m, system, &inner); err != nil {
				return err
			}
		}
	}
	return nil
}

// tilde expands a leading ~ or ~user from the passwd entry, as ssh does.
func (st *state) tilde(p string) string {
	if !strings.HasPrefix(p, "~") {
		return p
	}
	name, rest, _ := strings.Cut(p[1:], "/")
	home := st.q.Local.Home
	if name != "" {
		u, err := user.Lookup(name)
		if err != nil {
			return p
		}
		home = u.HomeDir
	}
	if rest == "" {
		return home
	}
	return filepath.Join(home, rest)
}

// matchHost applies the patterns of a Host line: a matching negated
// pattern rules the block out; else any matching pattern applies it. As
// in ssh, case matters (the final pass's host is lower case).
func matchHost(host string, pats []string) bool {
	found := false
	for _, p := range pats {
		neg := strings.HasPrefix(p, "!")
		if matchPattern(host, strings.TrimPrefix(p, "!")) {
			if neg {
				return false
			}
			found = true
		}
	}
	return found
}

// matchList matches s against a comma-separated pattern list as OpenSSH's
// match_pattern_list: a negated match fails the list, else any match
// passes it.
func matchList(s, list string, fold bool) bool {
	if fold {
		s, list = strings.ToLower(s), strings.ToLower(list)
	}
	found := false
	for _, p := range strings.Split(list, ",") {
		neg := strings.HasPrefix(p, "!")
		if matchPattern(s, strings.TrimPrefix(p, "!")) {
			if neg {
				return false
			}
			found = true
		}
	}
	return found
}

// matchPattern is OpenSSH's glob: * any run of characters, ? exactly one.
func matchPattern(s, p string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			if p == "" {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if matchPattern(s[i:], p) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
			s, p = s[1:], p[1:]
		default:
			if s == "" || s[0] != p[0] {
				return false
			}
			s, p = s[1:], p[1:]
		}
	}
	return s == ""
}

// match evaluates a Match line's criteria (all must hold).
func (st *state) match(l line) (bool, error) {
	if len(l.args) == 0 {
		return false, l.errorf("Match needs a criterion (all, canonical, final, host, originalhost, user, localuser or exec)")
	}
	result := true
	args := l.args
	for i := 0; i < len(args); i++ {
		crit := strings.ToLower(args[i])
		neg := strings.HasPrefix(crit, "!")
		crit = strings.TrimPrefix(crit, "!")
		var ok bool
		switch crit {
		case "all":
			for _, o := range args {
				if o := strings.ToLower(strings.TrimPrefix(o, "!")); o != "all" && o != "canonical" && o != "final" {
					return false, l.errorf("Match all cannot be combined with %q: write Match all alone (or with canonical or final), or drop all", o)
				}
			}
			ok = true
		case "canonical", "final":
			if crit == "final" {
				st.wantFin = true
			}
			ok = st.final
		case "host", "originalhost", "user", "localuser", "exec":
			if i+1 >= len(args) {
				return false, l.errorf("Match %s needs an argument (a pattern list such as 10.0.*,!10.0.0.9, or a command for exec)", crit)
			}
			i++
			arg := args[i]
			switch crit {
			case "host":
				ok = matchList(st.hostname(), arg, true)
			case "originalhost":
				ok = matchList(st.q.Host, arg, true)
			case "user":
				ok = matchList(st.remoteUser(), arg, false)
			case "localuser":
				ok = matchList(st.q.Local.Name, arg, false)
			case "exec":
				if !result {
					continue // like ssh: not run when an earlier criterion failed
				}
				var err error
				ok, err = st.exec(l, arg)
				if err != nil {
					return false, err
				}
			}
		default:
			return false, l.errorf("Match %s is not supported by pgplay (it supports all, canonical, final, host, originalhost, user, localuser, exec); "+
				"move these settings to a Host block or set them in the inventory", args[i])
		}
		if ok == neg {
			result = false
		}
	}
	return result, nil
}

func (st *state) remoteUser() string {
	if u := st.first("user"); u != "" {
		return u
	}
	return st.q.Local.Name
}

func (st *state) port() string {
	if p := st.first("port"); p != "" {
		return p
	}
	return "22"
}

// exec runs a Match exec command as ssh does ($SHELL -c, tokens
// expanded, exit status 0 is a match), but only from a file that only its
// owner (the user or root) can change, and bounded by q.ExecTimeout.
func (st *state) exec(l line, cmd string) (bool, error) {
	if err := securePerms(l.file, st.q.Local.UID); err != nil {
		return false, l.errorf("Match exec %q: %v; pgplay runs Match exec commands only from files that only you (or root) can change", cmd, err)
	}
	// As ssh (since 9.6) refuses such names from its command line: a host
	// or user name from the inventory must not smuggle shell syntax into
	// the command through %h, %n or %r.
	for _, v := range []string{st.hostname(), st.q.Host, st.remoteUser()} {
		if !shellSafe(v) {
			return false, l.errorf("Match exec %q: refusing to put %q in a shell command (it holds shell metacharacters, blanks or a leading -); fix the host or user name", cmd, v)
		}
	}
	expanded, err := st.expand(cmd, st.hostname(), st.remoteUser(), st.port())
	if err != nil {
		return false, l.errorf("Match exec %q: %v", cmd, err)
	}
	ctx, cancel := context.WithTimeout(st.ctx, st.q.ExecTimeout)
	defer cancel()
	shell := os.Getenv("SHELL") // as ssh: the user's shell, else /bin/sh
	if shell == "" {
		shell = "/bin/sh"
	}
	c := exec.CommandContext(ctx, shell, "-c", expanded)
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
	err = c.Run()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return false, l.errorf("Match exec %q did not finish within %s; make the command return quickly, or use a Host block", expanded, st.q.ExecTimeout)
	case errors.As(err, &ee):
		return false, nil
	case err != nil:
		return false, l.errorf("Match exec %q: %v", expanded, err)
	}
	return true, nil
}

// shellSafe says whether a name can be put into a shell command.
func shellSafe(s string) bool {
	if strings.HasPrefix(s, "-") {
		return false
	}
	for _, c := range s {
		if c <= ' ' || c == 0x7f || strings.ContainsRune("'`\"$\\;&<>|(){}*?[]~!#", c) {
			return false
		}
	}
	return true
}

// securePerms is OpenSSH's check of a user's config file: owned by the
// user or root, not writable by group or others.
func securePerms(path, uid string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	sys, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if owner := strconv.FormatUint(uint64(sys.Uid), 10); owner != uid && owner != "0" {
		return fmt.Errorf("%s is owned by uid %s, not by you or root", path, owner)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s is writable by group or others (mode %04o)", path, fi.Mode().Perm())
	}
	return nil
}

// expand replaces the % tokens OpenSSH accepts in IdentityFile,
// UserKnownHostsFile and Match exec: %% %d %h %i %L %l %n %p %r %u.
func (st *state) expand(s, host, ruser, port string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 >= len(s) {
			return "", errors.New("a lone % at the end: write %% for a percent sign")
		}
		i++
		switch s[i] {
		case '%':
			b.WriteByte('%')
		case 'd':
			b.WriteString(st.q.Local.Home)
		case 'h':
			b.WriteString(host)
		case 'i':
			b.WriteString(st.q.Local.UID)
		case 'L', 'l':
			h, err := os.Hostname()
			if err != nil {
				return "", fmt.Errorf("%%%c: %w", s[i], err)
			}
			if s[i] == 'L' {
				h, _, _ = strings.Cut(h, ".")
			}
			b.WriteString(h)
		case 'n':
			b.WriteString(st.q.Host)
		case 'p':
			b.WriteString(port)
		case 'r':
			b.WriteString(ruser)
		case 'u':
			b.WriteString(st.q.Local.Name)
		default:
			return "", fmt.Errorf("token %%%c is not supported by pgplay (it knows %%%% %%d %%h %%i %%L %%l %%n %%p %%r %%u); write %%%% for a percent sign", s[i])
		}
	}
	return b.String(), nil
}

// canonicalize applies CanonicalDomains to host as ssh does: a name with
// at most CanonicalizeMaxDots dots is tried with each domain appended;
// the first that resolves wins.
func (st *state) canonicalize(host string) (string, error) {
	domains := st.vals["canonicaldomains"]
	if len(domains) == 0 || strings.HasSuffix(host, ".") || net.ParseIP(host) != nil {
		return strings.TrimSuffix(strings.ToLower(host), "."), nil
	}
	maxDots := 1
	if v := st.first("canonicalizemaxdots"); v != "" {
		maxDots, _ = strconv.Atoi(v)
	}
	if strings.Count(host, ".") > maxDots {
		return strings.ToLower(host), nil
	}
	lookup := st.q.Lookup
	if lookup == nil {
		lookup = net.DefaultResolver.LookupHost
	}
	for _, d := range domains {
		name := strings.ToLower(host) + "." + strings.TrimSuffix(d, ".")
		if addrs, err := lookup(st.ctx, name); err == nil && len(addrs) > 0 {
			return name, nil
		}
	}
	if strings.EqualFold(st.first("canonicalizefallbacklocal"), "no") {
		return "", fmt.Errorf("%s: could not canonicalize %s with CanonicalDomains %s and CanonicalizeFallbackLocal is no",
			st.from["canonicaldomains"], host, strings.Join(domains, " "))
	}
	return strings.ToLower(host), nil
}

func yes(v string) bool {
	switch strings.ToLower(v) {
	case "yes", "true":
		return true
	}
	return false
}

func (st *state) result(host string) (*Result, error) {
	r := &Result{Hostname: host, User: st.remoteUser(), Applied: st.applied, Ignored: st.ignored,
		Read: st.read, From: st.from, NameOnly: st.nameOnly}
	r.Port, _ = strconv.Atoi(st.port())
	exp := func(key, v string) (string, error) {
		s, err := st.expand(st.tilde(v), r.Hostname, r.User, strconv.Itoa(r.Port))
		if err != nil {
			return "", fmt.Errorf("%s: %s %q: %w", st.from[key], keyName(key), v, err)
		}
		return s, nil
	}
	for _, f := range st.vals["identityfile"] {
		if strings.EqualFold(f, "none") {
			continue
		}
		e, err := exp("identityfile", f)
		if err != nil {
			return nil, err
		}
		r.IdentityFiles = append(r.IdentityFiles, e)
	}
	if _, named := st.vals["identityfile"]; !named {
		r.DefaultIdentities = true
		for _, n := range []string{"id_rsa", "id_ecdsa", "id_ecdsa_sk", "id_ed25519", "id_ed25519_sk", "id_xmss", "id_dsa"} {
			r.IdentityFiles = append(r.IdentityFiles, filepath.Join(st.q.Local.Home, ".ssh", n))
		}
	}
	for _, f := range st.vals["certificatefile"] {
		if strings.EqualFold(f, "none") {
			continue
		}
		e, err := exp("certificatefile", f)
		if err != nil {
			return nil, err
		}
		r.CertificateFiles = append(r.CertificateFiles, e)
	}
	r.IdentitiesOnly = yes(st.first("identitiesonly"))
	if pj := st.first("proxyjump"); pj != "" && !strings.EqualFold(pj, "none") {
		r.ProxyJump = Setting{Value: pj, From: st.from["proxyjump"]}
	}
	files := func(key string, def []string) ([]string, error) {
		vals, ok := st.vals[key]
		if !ok {
			vals = def
		}
		var out []string
		for _, v := range vals {
			if strings.EqualFold(v, "none") {
				continue
			}
			e, err := exp(key, v)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		return out, nil
	}
	var err error
	if r.UserKnownHostsFiles, err = files("userknownhostsfile", []string{"~/.ssh/known_hosts", "~/.ssh/known_hosts2"}); err != nil {
		return nil, err
	}
	if r.GlobalKnownHostsFiles, err = files("globalknownhostsfile", []string{"/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"}); err != nil {
		return nil, err
	}
	shk := strings.ToLower(st.first("stricthostkeychecking"))
	switch shk {
	case "":
		shk = "ask"
	case "true":
		shk = "yes"
	case "off", "false":
		shk = "no"
	}
	r.StrictHostKeyChecking = Setting{Value: shk, From: st.from["stricthostkeychecking"]}
	r.HashKnownHosts = yes(st.first("hashknownhosts"))
	if a := st.first("hostkeyalias"); !strings.EqualFold(a, "none") {
		r.HostKeyAlias = a
	}
	if v := st.first("connecttimeout"); v != "" {
		n, _ := strconv.Atoi(v)
		r.ConnectTimeout = time.Duration(n) * time.Second
	}
	if v := st.first("serveraliveinterval"); v != "" {
		n, _ := strconv.Atoi(v)
		r.ServerAliveInterval = time.Duration(n) * time.Second
	}
	return r, nil
}
