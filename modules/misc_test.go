package modules

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestCommandQuotingAndResult(t *testing.T) {
	h := newHarness(t, nil)
	// Words with quotes, $, spaces and a newline reach the program intact.
	r := h.run("command", map[string]any{"_raw": `printf '%s|' "a b" '$HOME' "it's" x\ y "say \"hi\"" 'two` + "\n" + `lines' ""`})
	if r.Failed || r.Stdout != "a b|$HOME|it's|x y|say \"hi\"|two\nlines||" {
		t.Errorf("stdout %q (rc %d, %s)", r.Stdout, r.RC, r.Stderr)
	}
	if !r.Changed || !r.HasRC || r.RC != 0 {
		t.Errorf("result: %+v", r)
	}
	// argv: each item is one word, no splitting, no expansion.
	r = h.run("command", map[string]any{"argv": []any{"printf", "%s|", "$(id) `x` ; | >", "  spaced  "}})
	if r.Stdout != "$(id) `x` ; | >|  spaced  |" {
		t.Errorf("argv stdout %q", r.Stdout)
	}
	// stdout_lines, trailing newlines stripped.
	r = h.run("command", map[string]any{"cmd": "printf 'a\\nb\\n\\n'"})
	if r.Stdout != "a\nb" || !reflect.DeepEqual(r.Data["stdout_lines"], []any{"a", "b"}) {
		t.Errorf("stdout %q lines %v", r.Stdout, r.Data["stdout_lines"])
	}
	// A non-zero rc fails with rc, stdout and stderr kept.
	r = h.run("command", map[string]any{"argv": []any{"sh", "-c", "echo out; echo err >&2; exit 3"}})
	if !r.Failed || r.RC != 3 || r.Msg != "non-zero return code" || r.Stdout != "out" || r.Stderr != "err" {
		t.Errorf("failure: %+v", r)
	}
	// stdin, chdir, env.
	dir := t.TempDir()
	r = h.run("command", map[string]any{"argv": []any{"sh", "-c", `pwd; cat; echo "$PGPLAY_T"`}, "stdin": "it's $in", "chdir": dir, "env": map[string]any{"PGPLAY_T": "a b$c"}})
	if r.Stdout != dir+"\nit's $in\na b$c" {
		t.Errorf("stdin/chdir/env: %q", r.Stdout)
	}
}

func TestCommandCreatesRemovesAndCheckMode(t *testing.T) {
	h := newHarness(t, nil)
	dir := t.TempDir()
	marker := filepath.Join(dir, "initdb.done")
	args := map[string]any{"argv": []any{"touch", marker}, "creates": marker}

	// Check mode: not run, reported as a change.
	r, ch := h.check("command", args)
	if !r.Changed || exists(marker) || len(ch) != 1 || ch[0].Argv[0] != "touch" || !strings.Contains(r.Msg, "check mode") {
		t.Fatalf("check mode: %+v %v", r, ch)
	}
	if r := h.run("command", args); !r.Changed || !exists(marker) {
		t.Fatal("first run did not run")
	}
	r = h.run("command", args)
	if r.Changed || r.Failed || !strings.Contains(r.Stdout, "skipped, since "+marker+" exists") {
		t.Errorf("creates: %+v", r)
	}
	gone := filepath.Join(dir, "gone")
	r = h.run("command", map[string]any{"argv": []any{"false"}, "removes": gone})
	if r.Changed || r.Failed || !strings.Contains(r.Msg, "does not exist") {
		t.Errorf("removes: %+v", r)
	}
}

func TestCommandRefusesShellSyntax(t *testing.T) {
	for cmd, want := range map[string]string{
		"pg_lsclusters | grep online": `"|" would reach pg_lsclusters as a plain argument`,
		"echo x > /tmp/f":             `">"`,
		"a && b":                      `"&&"`,
		"echo 'unclosed":              "unterminated single quote",
	} {
		_, err := decode("command", map[string]any{"_raw": cmd})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", cmd, err, want)
		}
	}
	// Quoted, the characters are plain arguments.
	h := newHarness(t, nil)
	if r := h.run("command", map[string]any{"_raw": `echo 'a | b' "c > d"`}); r.Stdout != "a | b c > d" {
		t.Errorf("quoted operators: %q", r.Stdout)
	}
	if _, err := decode("command", map[string]any{"chdir": "/"}); err == nil || !strings.Contains(err.Error(), "no command given") {
		t.Errorf("no command: %v", err)
	}
}

func TestShell(t *testing.T) {
	h := newHarness(t, nil)
	r := h.run("shell", map[string]any{"_raw": `X='a b'; printf '%s\n' "$X" one two | wc -l; echo "$0"`})
	if r.Failed || r.Stdout != "3\n/bin/sh" {
		t.Errorf("shell: %q %s", r.Stdout, r.Stderr)
	}
	r = h.run("shell", map[string]any{"cmd": "exit 4"})
	if !r.Failed || r.RC != 4 {
		t.Errorf("shell rc: %+v", r)
	}
	r = h.run("shell", map[string]any{"cmd": `echo "$BASH_VERSION" | grep -q . && echo bash`, "executable": "/bin/bash"})
	if r.Stdout != "bash" {
		t.Errorf("executable: %q", r.Stdout)
	}
	r, ch := h.check("shell", map[string]any{"cmd": "touch " + filepath.Join(t.TempDir(), "x")})
	if !r.Changed || len(ch) != 1 || !reflect.DeepEqual(ch[0].Argv[:2], []string{"/bin/sh", "-c"}) {
		t.Errorf("shell check mode: %+v %v", r, ch)
	}
}

func TestDebugSetFactFailMeta(t *testing.T) {
	vars := map[string]any{"st": map[string]any{"stat": map[string]any{"exists": true}}, "nodes": []any{"n1", "n2"}}
	h := newHarness(t, vars)
	if r := h.run("debug", map[string]any{"msg": "hello"}); r.Msg != "hello" || r.Changed {
		t.Errorf("debug msg: %+v", r)
	}
	if r := h.run("debug", map[string]any{"_raw": `msg="two words"`}); r.Msg != "two words" {
		t.Errorf("debug k=v: %+v", r)
	}
	if r := h.run("debug", map[string]any{"var": "st.stat.exists"}); r.Msg != "st.stat.exists: true" || r.Data["st.stat.exists"] != true {
		t.Errorf("debug var: %+v", r)
	}
	if r := h.run("debug", map[string]any{"var": ".nodes.1"}); r.Msg != "nodes.1: n2" {
		t.Errorf("debug list index: %+v", r)
	}
	if r := h.run("debug", map[string]any{"var": "nope"}); !strings.Contains(r.Msg, "VARIABLE IS NOT DEFINED") || r.Failed {
		t.Errorf("debug undefined: %+v", r)
	}
	if r := h.run("debug", map[string]any{"msg": map[string]any{"a": 1}}); r.Msg != "a: 1" {
		t.Errorf("debug map: %q", r.Msg)
	}
	// A map under var= is nested under its name (it was printed at the
	// name's indentation), a list under its key.
	if r := h.run("debug", map[string]any{"var": "st"}); r.Msg != "st:\n  stat:\n    exists: true" {
		t.Errorf("debug var of a map: %q", r.Msg)
	}
	if r := h.run("debug", map[string]any{"msg": map[string]any{"a": []any{1, 2}}}); r.Msg != "a:\n  - 1\n  - 2" {
		t.Errorf("debug msg of a nested map: %q", r.Msg)
	}
	if r := h.run("debug", map[string]any{}); r.Msg != "Hello world!" {
		t.Errorf("debug default: %q", r.Msg)
	}

	r := h.run("set_fact", map[string]any{"pg_primary": "node1", "standbys": []any{"node2"}, "cacheable": true})
	if r.Changed || !reflect.DeepEqual(r.Facts, map[string]any{"pg_primary": "node1", "standbys": []any{"node2"}}) {
		t.Errorf("set_fact: %+v", r)
	}
	if r := h.run("set_fact", map[string]any{"_raw": "a=1 b='x y'"}); !reflect.DeepEqual(r.Facts, map[string]any{"a": "1", "b": "x y"}) {
		t.Errorf("set_fact k=v: %v", r.Facts)
	}
	if _, err := decode("set_fact", map[string]any{}); err == nil {
		t.Error("empty set_fact accepted")
	}

	if r := h.run("fail", map[string]any{"msg": "node1 runs PostgreSQL 14, want 15"}); !r.Failed || r.Msg != "node1 runs PostgreSQL 14, want 15" {
		t.Errorf("fail: %+v", r)
	}
	if r := h.run("fail", map[string]any{}); !r.Failed || r.Msg == "" {
		t.Errorf("fail default: %+v", r)
	}

	m, err := decode("meta", map[string]any{"_raw": "flush_handlers"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Run(context.Background(), newLocal(), h.env); err == nil || !strings.Contains(err.Error(), "handled by the runner") {
		t.Errorf("meta Run: %v", err)
	}
	if _, err := decode("meta", map[string]any{"_raw": "refresh_inventory"}); err == nil || !strings.Contains(err.Error(), "flush_handlers, end_play, noop") {
		t.Errorf("meta choices: %v", err)
	}
}

func TestAssert(t *testing.T) {
	h := newHarness(t, map[string]any{"pg_version": 15, "standbys": []any{"node2"}, "role": "primary"})
	r := h.run("assert", map[string]any{"that": []any{"eq .pg_version 15", `and (gt (len .standbys) 0) (eq .role "primary")`}})
	if r.Failed || r.Changed || r.Msg != "All assertions passed" {
		t.Errorf("passing assert: %+v", r)
	}
	// A single condition string with a comma is one condition.
	if r := h.run("assert", map[string]any{"that": `has "node2" (splitList "," "node1,node2")`, "quiet": true}); r.Failed || r.Msg != "" {
		t.Errorf("single condition: %+v", r)
	}
	r = h.run("assert", map[string]any{"that": []any{"eq .pg_version 15", "eq .pg_version 16"}})
	if !r.Failed || r.Msg != "assertion failed: eq .pg_version 16" || r.Data["assertion"] != "eq .pg_version 16" {
		t.Errorf("failing assert: %+v", r)
	}
	r = h.run("assert", map[string]any{"that": "false", "fail_msg": "need 16", "success_msg": "ok"})
	if !r.Failed || r.Msg != "need 16" {
		t.Errorf("fail_msg: %+v", r)
	}
	if r := h.run("assert", map[string]any{"that": "true", "msg": "x", "success_msg": "fine"}); r.Msg != "fine" {
		t.Errorf("success_msg: %+v", r)
	}
	_, err := h.try("assert", map[string]any{"that": "eq .pg_versoin 15"})
	if err == nil || !strings.Contains(err.Error(), `undefined variable "pg_versoin"`) || !strings.Contains(err.Error(), "did you mean .pg_version") {
		t.Errorf("undefined in assert: %v", err)
	}
}

// freePort returns a loopback port that nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

func TestWaitForPort(t *testing.T) {
	h := newHarness(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("SSH-2.0-pgplay-test\r\n"))
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port

	r := h.run("wait_for", map[string]any{"port": port, "timeout": 5})
	if r.Failed || r.Changed || r.Data["port"] != port {
		t.Errorf("open port: %+v", r)
	}
	r = h.run("wait_for", map[string]any{"port": strconv.Itoa(port), "host": "127.0.0.1", "search_regex": "^SSH-2", "timeout": "5s"})
	if r.Failed {
		t.Errorf("search_regex on port: %+v", r)
	}

	closed := freePort(t)
	start := time.Now()
	r = h.run("wait_for", map[string]any{"port": closed, "timeout": "1s", "sleep": "0.2"})
	if !r.Failed || !strings.Contains(r.Msg, "timeout when waiting for 127.0.0.1:"+strconv.Itoa(closed)) {
		t.Errorf("closed port: %+v", r)
	}
	if el := time.Since(start); el < 900*time.Millisecond || el > 4*time.Second {
		t.Errorf("timeout took %v, want about 1s", el)
	}
	if r := h.run("wait_for", map[string]any{"port": closed, "state": "stopped", "timeout": 2}); r.Failed {
		t.Errorf("stopped on a closed port: %+v", r)
	}
	if r := h.run("wait_for", map[string]any{"port": closed, "timeout": "0.3s", "sleep": "0.1s", "msg": "postgres did not start"}); r.Msg != "postgres did not start" {
		t.Errorf("custom msg: %+v", r)
	}
	// It runs even in check mode (it only reads).
	if r, ch := h.check("wait_for", map[string]any{"port": port, "timeout": 2}); r.Failed || len(ch) != 0 {
		t.Errorf("check mode: %+v %v", r, ch)
	}
}

func TestWaitForPathAndCancel(t *testing.T) {
	h := newHarness(t, nil)
	dir := t.TempDir()
	p := filepath.Join(dir, "postmaster.pid")
	go func() {
		time.Sleep(300 * time.Millisecond)
		_ = os.WriteFile(p+".tmp", []byte("123\nready\n"), 0o644)
		_ = os.Rename(p+".tmp", p)
	}()
	start := time.Now()
	r := h.run("wait_for", map[string]any{"path": p, "search_regex": "ready", "sleep": "0.1", "timeout": 5})
	if r.Failed || time.Since(start) < 250*time.Millisecond {
		t.Errorf("path appears: %+v after %v", r, time.Since(start))
	}
	go func() {
		time.Sleep(200 * time.Millisecond)
		_ = os.Remove(p)
	}()
	if r := h.run("wait_for", map[string]any{"path": p, "state": "absent", "sleep": "0.1", "timeout": 5}); r.Failed || exists(p) {
		t.Errorf("path goes: %+v", r)
	}
	if _, err := decode("wait_for", map[string]any{"port": 1, "path": p}); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("port and path: %v", err)
	}
	if _, err := decode("wait_for", map[string]any{}); err == nil {
		t.Error("neither port nor path accepted")
	}

	// Cancellation stops the wait.
	m, err := decode("wait_for", map[string]any{"path": filepath.Join(dir, "never"), "timeout": 60, "sleep": "0.1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = m.Run(ctx, newLocal(), h.env)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Errorf("cancelled wait: %v after %v", err, time.Since(start))
	}
}

// The runner asks modules for what it must know beyond Run through
// optional interfaces; these modules have them, a plain one none.
func TestAbilities(t *testing.T) {
	if _, ok := Ability[PlayAction]("meta"); !ok {
		t.Error("meta is not a PlayAction")
	}
	if vs, ok := Ability[VarSetter]("set_fact"); !ok {
		t.Error("set_fact is not a VarSetter")
	} else if got := vs.SetVarNames(map[string]any{"a": 1, "cacheable": true}); len(got) != 1 || got[0] != "a" {
		t.Errorf("set_fact sets %q, want [a] (cacheable is an option)", got)
	}
	if fg, ok := Ability[FactGatherer]("setup"); !ok {
		t.Error("setup is not a FactGatherer")
	} else if f := fg.HostFacts(&Result{Data: map[string]any{"facts": map[string]any{"hostname": "h"}}}); f["hostname"] != "h" {
		t.Errorf("setup's host facts %v", f)
	}
	if _, ok := Ability[MsgShower]("debug"); !ok {
		t.Error("debug is not a MsgShower")
	}
	if tu, ok := Ability[TemplateUser]("template"); !ok || tu.TemplateArg() != "src" {
		t.Error("template is not a TemplateUser of src")
	}
	if _, ok := Ability[PlayAction]("command"); ok {
		t.Error("command is a PlayAction")
	}
	if _, ok := Ability[MsgShower]("nosuch"); ok {
		t.Error("an unknown module has an ability")
	}
}
