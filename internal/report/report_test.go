package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY returns the two ends of a new pseudo-terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pts: %v", err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

func TestUseColor(t *testing.T) {
	t.Setenv("TERM", "xterm")
	os.Unsetenv("NO_COLOR")
	_, tty := openPTY(t)
	if !UseColor(tty) {
		t.Errorf("a terminal should get color")
	}
	r, w, _ := os.Pipe()
	defer r.Close()
	defer w.Close()
	if UseColor(w) {
		t.Errorf("a pipe should not get color")
	}
	if UseColor(&bytes.Buffer{}) {
		t.Errorf("a buffer should not get color")
	}
	t.Setenv("NO_COLOR", "1")
	if UseColor(tty) {
		t.Errorf("NO_COLOR must disable color on a terminal")
	}
}

func sampleEvents() []Event {
	return []Event{
		{Kind: PlayStart, Play: "deploy"},
		{Kind: TaskStart, Task: "render config", Role: "postgres"},
		{Kind: HostResult, Host: "node1", Status: Changed, Diffs: []Diff{{Path: "/etc/x.conf", Before: "a=1\n", After: "a=2\n"}}},
		{Kind: HostResult, Host: "node2", Status: OK},
		{Kind: HostResult, Host: "node3", Status: Failed, Msg: "non-zero return code", Result: map[string]any{"rc": 3, "stderr": "boom"}},
		{Kind: HostResult, Host: "node4", Status: Skipped, Item: "x", HasItem: true},
		{Kind: Recap, Hosts: []string{"node1", "node2", "node3", "node4"}, Stats: map[string]*Stats{
			"node1": {OK: 1, Changed: 1}, "node2": {OK: 1}, "node3": {Failed: 1}, "node4": {Skipped: 1},
		}},
	}
}

func TestHumanOutput(t *testing.T) {
	var b bytes.Buffer
	h := NewHuman(&b, false, 0)
	for _, e := range sampleEvents() {
		h.Emit(e)
	}
	out := b.String()
	for _, want := range []string{
		"PLAY [deploy] ***",
		"TASK [postgres : render config] ***",
		"changed: [node1]",
		"-a=1", "+a=2",
		"ok: [node2]",
		"failed: [node3]", "non-zero return code", "rc=3", "boom",
		"skipping: [node4] => (item=x)",
		"PLAY RECAP ***",
		// ok counts changed results too, as Ansible's recap does.
		"node1 : ok=2    changed=1    unreachable=0    failed=0",
		"node3 : ok=0    changed=0    unreachable=0    failed=1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("uncolored output has escape sequences:\n%q", out)
	}
	var c bytes.Buffer
	hc := NewHuman(&c, true, 0)
	for _, e := range sampleEvents() {
		hc.Emit(e)
	}
	if !strings.Contains(c.String(), "\x1b[33mchanged: [node1]") || !strings.Contains(c.String(), "\x1b[31mfailed: [node3]") {
		t.Errorf("colored output lacks colors:\n%q", c.String())
	}
}

// The recap's ok= is Ansible's: ok and changed results and ignored
// failures, in the human recap and in the JSON recap event alike; its
// changed= counts an ignored failure that changed something, as Ansible's.
func TestRecapOKCountsAsAnsible(t *testing.T) {
	st := map[string]*Stats{"n1": {OK: 2, Changed: 3, Skipped: 4, Ignored: 1, IgnoredChanged: 1, Failed: 1, Rescued: 1}}
	ev := Event{Kind: Recap, Hosts: []string{"n1"}, Stats: st}
	var hb, jb bytes.Buffer
	NewHuman(&hb, false, 0).Emit(ev)
	NewJSON(&jb).Emit(ev)
	want := "n1 : ok=6    changed=4    unreachable=0    failed=1    skipped=4    rescued=1    ignored=1\n"
	if !strings.Contains(hb.String(), want) {
		t.Errorf("human recap\n%s\nwant the line\n%s", hb.String(), want)
	}
	var m struct {
		Stats map[string]map[string]int `json:"stats"`
	}
	if err := json.Unmarshal(jb.Bytes(), &m); err != nil {
		t.Fatalf("JSON sink wrote %q: %v", jb.String(), err)
	}
	wantJSON := map[string]int{"ok": 6, "changed": 4, "unreachable": 0, "failed": 1, "skipped": 4, "rescued": 1, "ignored": 1}
	if got := m.Stats["n1"]; fmt.Sprint(got) != fmt.Sprint(wantJSON) {
		t.Errorf("JSON recap stats %v, want %v", got, wantJSON)
	}
	if st["n1"].OK != 2 {
		t.Errorf("writing the recap changed the counters: %+v", *st["n1"])
	}
}

func TestRedactionInEverySink(t *testing.T) {
	red := NewRedactor()
	red.Add("Pa$$w0rd 'x'", "tok-123456")
	ev := Event{Kind: HostResult, Host: "h", Status: Failed, Task: "set tok-123456",
		Msg:    "auth failed for Pa$$w0rd 'x'",
		Item:   map[string]any{"password": "Pa$$w0rd 'x'"},
		Result: map[string]any{"stdout": "tok-123456\n", "nested": []any{"Pa$$w0rd 'x'"}},
		Diffs:  []Diff{{Path: "/root/.pgpass", Before: "", After: "*:*:*:u:Pa$$w0rd 'x'\n"}}}
	var hb, jb bytes.Buffer
	sink := Multi{Redacting(NewHuman(&hb, false, 4), red), Redacting(NewJSON(&jb), red)}
	sink.Emit(ev)
	for name, out := range map[string]string{"human": hb.String(), "json": jb.String()} {
		if strings.Contains(out, "Pa$$w0rd") || strings.Contains(out, "tok-123456") {
			t.Errorf("%s output leaks a secret:\n%s", name, out)
		}
		if !strings.Contains(out, Mask) {
			t.Errorf("%s output shows no mask:\n%s", name, out)
		}
	}
	var m map[string]any
	if err := json.Unmarshal(jb.Bytes(), &m); err != nil {
		t.Fatalf("JSON sink wrote %q: %v", jb.String(), err)
	}
	if m["event"] != "host_result" || m["host"] != "h" || m["status"] != "failed" {
		t.Errorf("JSON event fields: %v", m)
	}
}

func TestRedactorIgnoresTrivialValues(t *testing.T) {
	red := NewRedactor()
	red.Add("", "x")
	if got := red.String("x marks"); got != "x marks" {
		t.Errorf("one-character secret masked output: %q", got)
	}
	red.Add("ab", "abcd")
	if got := red.String("abcd ab"); got != Mask+" "+Mask {
		t.Errorf("longest-first masking: %q", got)
	}
}
