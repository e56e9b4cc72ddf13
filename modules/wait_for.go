package modules

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pgplay/pgplay/internal/transport"
)

func init() {
	Register(Spec{
		Name:    "wait_for",
		Returns: "elapsed: seconds waited\nstate: what was waited for\nport, host: for a port\npath: for a file",
		Purpose: "Wait until a TCP port accepts connections (or stops), or a file appears (or goes); the check runs on the host.",
		Examples: []string{
			`- name: Wait until PostgreSQL accepts connections
  wait_for:
    port: 5432
    timeout: 60`,
			`- name: Wait until PostgreSQL has stopped (its pid file is gone)
  wait_for:
    path: /var/run/postgresql/15-main.pid
    state: absent`,
			`- name: Wait until the standby reaches a consistent state (its log says so)
  wait_for:
    path: /var/log/postgresql/postgresql-15-main.log
    search_regex: consistent recovery state reached
    timeout: 10m`,
			`- name: Wait until the virtual IP answers on 5432
  wait_for:
    host: "{{ .vip }}"
    port: 5432
    timeout: 120`,
		},
		New: func() Module { return &WaitFor{} },
	})
}

// WaitFor polls a port or a path from the host until the wanted state or
// the timeout. It never reports changed.
type WaitFor struct {
	Host           string        `arg:"host" default:"127.0.0.1" doc:"address to connect to, from the host"`
	Port           int           `arg:"port" doc:"TCP port to check"`
	Path           string        `arg:"path" doc:"file to check"`
	State          string        `arg:"state" default:"started" choices:"started|stopped|present|absent" doc:"started/present: wait until it accepts connections / exists; stopped/absent: until it refuses / is gone"`
	SearchRegex    string        `arg:"search_regex" doc:"with started/present: also wait until the file's content (or what the port sends first) matches this regexp"`
	Timeout        time.Duration `arg:"timeout" default:"300s" doc:"give up after this long (seconds, or like 1m30s)"`
	Delay          time.Duration `arg:"delay" default:"0s" doc:"wait this long before the first check"`
	Sleep          time.Duration `arg:"sleep" default:"1s" doc:"pause between checks"`
	ConnectTimeout time.Duration `arg:"connect_timeout" default:"5s" doc:"how long one connection attempt may take"`
	Msg            string        `arg:"msg" doc:"message when the timeout passes"`
	re             *regexp.Regexp
}

// Validate checks that one of port and path is given.
func (w *WaitFor) Validate() error {
	switch {
	case w.Port != 0 && w.Path != "":
		return &ArgError{Arg: "path", Msg: `give "port" or "path", not both`}
	case w.Port == 0 && w.Path == "":
		return &ArgError{Arg: "port", Msg: `give "port" (with "host") or "path" to wait for`}
	case w.Port < 0 || w.Port > 65535:
		return &ArgError{Arg: "port", Msg: fmt.Sprintf("argument \"port\": %d is not a TCP port", w.Port)}
	}
	if w.Port != 0 && (w.State == "present" || w.State == "absent") {
		return &ArgError{Arg: "state", Msg: fmt.Sprintf("state: %s is for path; for a port use started or stopped", w.State)}
	}
	if w.SearchRegex != "" {
		if w.State == "stopped" || w.State == "absent" {
			return &ArgError{Arg: "search_regex", Msg: "search_regex goes with state: started or present"}
		}
		var err error
		if w.re, err = compileRE("search_regex", w.SearchRegex); err != nil {
			return err
		}
	}
	return nil
}

// portScript connects with bash's /dev/tcp; $1 host, $2 port, $3 seconds
// to read what the server sends (0: do not read).
const portScript = `exec 3<>"/dev/tcp/$1/$2" || exit 1
if [ "$3" != 0 ]; then timeout "$3" cat <&3; fi
exit 0`

// Run polls until the wanted state.
func (w *WaitFor) Run(ctx context.Context, t transport.Target, env *Env) (*Result, error) {
	start := time.Now()
	what := w.Path
	if w.Port != 0 {
		what = hostPort(w.Host, w.Port)
	}
	if w.Delay > 0 {
		if err := sleepCtx(ctx, w.Delay); err != nil {
			return nil, err
		}
	}
	deadline := start.Add(w.Timeout)
	for {
		ok, err := w.check(ctx, t)
		if err != nil {
			return nil, err
		}
		elapsed := time.Since(start)
		if ok {
			return &Result{Msg: fmt.Sprintf("%s is %s after %.1fs", what, w.State, elapsed.Seconds()),
				Data: w.data(elapsed)}, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			msg := w.Msg
			if msg == "" {
				msg = fmt.Sprintf("timeout when waiting for %s to be %s (%s)", what, w.State, w.Timeout)
			}
			return &Result{Failed: true, Msg: msg, Data: w.data(elapsed)}, nil
		}
		if err := sleepCtx(ctx, min(w.Sleep, left)); err != nil {
			return nil, err
		}
	}
}

func (w *WaitFor) data(elapsed time.Duration) map[string]any {
	d := map[string]any{"elapsed": int(elapsed.Seconds()), "state": w.State}
	if w.Port != 0 {
		d["port"], d["host"] = w.Port, w.Host
	} else {
		d["path"] = w.Path
	}
	return d
}

func hostPort(host string, port int) string {
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(port)
}

// check looks once; it says whether the wanted state holds.
func (w *WaitFor) check(ctx context.Context, t transport.Target) (bool, error) {
	if w.Port != 0 {
		// The whole check is bounded by timeout(1): the connection
		// attempt, and with search_regex the read that follows it.
		ct := max(1, int(math.Ceil(w.ConnectTimeout.Seconds())))
		read, total := 0, ct
		if w.re != nil {
			read, total = ct, 2*ct+1
		}
		argv := []string{"timeout", strconv.Itoa(total), "bash", "-c", portScript, "pgplay-wait_for",
			w.Host, strconv.Itoa(w.Port), strconv.Itoa(read)}
		r, err := t.Query(ctx, transport.Cmd{Argv: argv})
		if err != nil {
			return false, err
		}
		if r.RC == 126 || r.RC == 127 {
			return false, fmt.Errorf("wait_for: cannot run the port check on the host (needs bash and timeout): rc=%d %s", r.RC, strings.TrimSpace(string(r.Stderr)))
		}
		open := r.RC == 0
		if w.State == "stopped" {
			return !open, nil
		}
		return open && (w.re == nil || w.re.Match(r.Stdout)), nil
	}
	st, err := t.Stat(ctx, w.Path)
	if err != nil {
		return false, fmt.Errorf("stat %s: %w", w.Path, err)
	}
	if w.State == "absent" || w.State == "stopped" {
		return !st.Exists, nil
	}
	if !st.Exists || w.re == nil {
		return st.Exists, nil
	}
	b, err := t.ReadFile(ctx, w.Path)
	if err != nil {
		return false, nil // it may have gone between stat and read
	}
	return w.re.Match(b), nil
}

// sleepCtx sleeps d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}
