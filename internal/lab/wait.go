package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/pgplay/pgplay/internal/transport"
)

// hostShell runs commands on lab hosts through pgplay's own transport,
// with the lab's key and strict checking against the lab's known_hosts.
type hostShell struct {
	pool  *transport.Pool
	files StateFiles
	user  string
	addrs map[string]netip.Addr
}

func newHostShell(rec *record, f StateFiles) *hostShell {
	s := &hostShell{pool: transport.NewPool(), files: f, user: rec.user(), addrs: map[string]netip.Addr{}}
	for _, h := range rec.Hosts {
		s.addrs[h.Name] = h.Addr
	}
	return s
}

// Config is the transport configuration of a lab host.
func (s *hostShell) config(host string) transport.Config {
	return transport.Config{
		Name: host, Addr: s.addrs[host].String(), Port: 22, User: s.user,
		KeyFiles: []string{s.files.Key}, KnownHostsFiles: []string{s.files.KnownHosts},
		SSHConfigFile: "none", ConnectTimeout: 5 * time.Second,
	}
}

// run runs argv on host and returns its stdout and exit code.
func (s *hostShell) run(ctx context.Context, host string, argv ...string) (string, int, error) {
	t, err := s.pool.Target(ctx, s.config(host), "")
	if err != nil {
		return "", -1, err
	}
	res, err := t.Query(ctx, transport.Cmd{Argv: argv})
	if err != nil {
		return "", -1, err
	}
	return string(res.Stdout), res.RC, nil
}

func (s *hostShell) close() { _ = s.pool.Close() }

// portOpen reports whether addr:22 accepts a TCP connection within timeout.
func portOpen(ctx context.Context, addr netip.Addr, timeout time.Duration) bool {
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(addr, 22).String())
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// hostReady is how a booted host turned out.
type hostReady struct {
	Name    string
	Elapsed time.Duration
	// State is `systemctl is-system-running`: running or degraded.
	State string
	// Failed lists failed units when degraded.
	Failed string
	Err    error
}

// waitHosts waits until every host answers SSH and has finished booting,
// reporting each as it gets there.
func (l *Lab) waitHosts(ctx context.Context, rec *record, f StateFiles, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	names := make([]string, len(rec.Hosts))
	for i, h := range rec.Hosts {
		names[i] = h.Name
	}
	l.say("boot: waiting for %s to answer SSH and finish booting", strings.Join(names, ", "))
	sh := newHostShell(rec, f)
	defer sh.close()
	results := make([]hostReady, len(rec.Hosts))
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range rec.Hosts {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := waitHost(ctx, &rec.Hosts[i], sh)
			r.Elapsed = time.Since(start)
			results[i] = r
			mu.Lock()
			defer mu.Unlock()
			switch {
			case r.Err != nil:
				l.say("boot: %-8s FAILED after %.1fs", r.Name, r.Elapsed.Seconds())
			case r.State == "degraded":
				l.say("boot: %-8s ready in %.1fs (degraded; failed units: %s)", r.Name, r.Elapsed.Seconds(), r.Failed)
			default:
				l.say("boot: %-8s ready in %.1fs", r.Name, r.Elapsed.Seconds())
			}
		}(i)
	}
	wg.Wait()
	var errs []error
	for _, r := range results {
		if r.Err != nil {
			errs = append(errs, r.Err)
		}
	}
	return errors.Join(errs...)
}

// waitHost polls one host: nspawn alive, port 22 open, then
// `systemctl is-system-running --wait` over SSH.
func waitHost(ctx context.Context, h *hostRecord, sh *hostShell) hostReady {
	r := hostReady{Name: h.Name}
	timedOut := func(what string) hostReady {
		r.Err = fmt.Errorf("%s: %s (waited until the boot timeout; raise --boot-timeout if the machine is busy)%s",
			h.Name, what, h.logTail())
		return r
	}
	for !portOpen(ctx, h.Addr, time.Second) {
		if !h.nspawnAlive() {
			r.Err = h.deadNspawnError()
			return r
		}
		select {
		case <-ctx.Done():
			return timedOut("sshd never listened on " + h.Addr.String() + ":22")
		case <-time.After(200 * time.Millisecond):
		}
	}
	var lastErr error
	for {
		out, _, err := sh.run(ctx, h.Name, "systemctl", "is-system-running", "--wait")
		state := strings.TrimSpace(out)
		switch {
		case state == "running":
			r.State = state
			return r
		case state == "degraded":
			r.State = state
			failed, _, _ := sh.run(ctx, h.Name, "systemctl", "list-units", "--failed", "--no-legend", "--plain", "--quiet")
			var units []string
			for _, line := range strings.Split(failed, "\n") {
				if fl := strings.Fields(line); len(fl) > 0 {
					units = append(units, fl[0])
				}
			}
			r.Failed = strings.Join(units, " ")
			return r
		case err == nil && state != "" && state != "starting" && state != "initializing":
			// maintenance, stopping...: report what systemd says.
			r.Err = fmt.Errorf("%s: systemd reports %q after boot; look inside with: ssh -F %s %s journalctl -b", h.Name, state, sh.files.SSHConfig, h.Name)
			return r
		}
		lastErr = err
		if !h.nspawnAlive() {
			r.Err = h.deadNspawnError()
			return r
		}
		select {
		case <-ctx.Done():
			return timedOut("no SSH session succeeded; last error: " + errString(lastErr))
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func errString(err error) string {
	if err == nil {
		return "none"
	}
	return err.Error()
}

// sshAnswers reports whether every host answers `true` over SSH quickly.
func sshAnswers(ctx context.Context, rec *record, f StateFiles) bool {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	sh := newHostShell(rec, f)
	defer sh.close()
	var wg sync.WaitGroup
	ok := make([]bool, len(rec.Hosts))
	for i, h := range rec.Hosts {
		wg.Add(1)
		go func(i int, name string) {
			defer wg.Done()
			_, rc, err := sh.run(ctx, name, "true")
			ok[i] = err == nil && rc == 0
		}(i, h.Name)
	}
	wg.Wait()
	for _, b := range ok {
		if !b {
			return false
		}
	}
	return true
}
