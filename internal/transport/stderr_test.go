package transport

import (
	"strings"
	"testing"
)

// feed writes s to a new pidWriter in pieces of n bytes and returns the
// pid it found (0: none) and the stderr it kept.
func feed(s string, n int) (int, string) {
	w := &pidWriter{pid: make(chan int, 1)}
	for b := []byte(s); len(b) > 0; {
		k := min(n, len(b))
		_, _ = w.Write(b[:k])
		b = b[k:]
	}
	w.finish()
	pid := 0
	select {
	case pid = <-w.pid:
	default:
	}
	return pid, w.buf.String()
}

func TestPidWriter(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		pid      int
		stderr   string
	}{
		{"marker first", "pgplay-pid 123\noops\n", 123, "oops\n"},
		{"login noise first", "Could not chdir to home directory /x: No such file or directory\nWelcome!\npgplay-pid 77\noops\n", 77, "oops\n"},
		{"after an unterminated line", "motd without newline" + "pgplay-pid 42\n", 42, ""},
		{"no marker", "bash: sh: not found\n", 0, "bash: sh: not found\n"},
		{"no marker, no newline", "partial", 0, "partial"},
		{"not a pid", "pgplay-pid x\nreal error\n", 0, "pgplay-pid x\nreal error\n"},
		{"only the first marker", "pgplay-pid 5\npgplay-pid 6\n", 5, "pgplay-pid 6\n"},
	} {
		for _, n := range []int{1, 3, 1 << 20} {
			pid, stderr := feed(tc.in, n)
			if pid != tc.pid || stderr != tc.stderr {
				t.Errorf("%s (pieces of %d): pid %d stderr %q, want %d %q", tc.name, n, pid, stderr, tc.pid, tc.stderr)
			}
		}
	}
	// A preamble beyond maxPreamble without a marker is all kept.
	long := strings.Repeat("noise line\n", maxPreamble/10)
	pid, stderr := feed(long+"pgplay-pid 9\nx\n", 4096)
	if pid != 0 || stderr != long+"pgplay-pid 9\nx\n" {
		t.Errorf("long preamble: pid %d, kept %d bytes, want 0 and all %d", pid, len(stderr), len(long)+15)
	}
}

func TestSudoFailure(t *testing.T) {
	const pw = "sudo: a password is required\n"
	for _, tc := range []struct {
		name, become, stderr string
		rc                   int
		want                 string // "" = nil
	}{
		{"password", "pg", pw, 1, "sudo asks for a password"},
		{"after a warning", "pg", "sudo: unable to resolve host db1: Name or service not known\n" + pw, 1, "sudo asks for a password"},
		{"after a banner", "pg", "Could not chdir to home directory /home/x\n\n" + pw, 1, "sudo asks for a password"},
		{"terminal", "pg", "sudo: a terminal is required to read the password; either use the -S option\n", 1, "sudo asks for a password"},
		{"not in sudoers", "pg", "alice is not in the sudoers file.\n", 1, "sudo refused: alice is not in the sudoers file;"},
		{"not allowed", "pg", "Sorry, user alice is not allowed to execute '/bin/id' as pg on db1.\n", 1, "sudo refused: Sorry, user alice is not allowed to execute '/bin/id' as pg on db1;"},
		{"unknown user", "pg", "sudo: unknown user pg\nsudo: error initializing audit plugin sudoers_audit\n", 1, "no such user"},
		{"no sudo", "pg", "sh: 1: sudo: not found\n", 127, "sudo is not installed"},
		{"command failed", "pg", "psql: error: connection refused\n", 2, ""},
		{"command's own text, own rc", "pg", pw, 3, ""},
		{"no become", "", pw, 1, ""},
		{"success", "pg", pw, 0, ""},
		{"beyond the scan bound", "pg", strings.Repeat("x", sudoScanMax) + "\n" + pw, 1, ""},
	} {
		err := sudoFailure("db1", "alice", tc.become, tc.rc, []byte(tc.stderr))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want nil", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "host db1: become user pg: ")):
			t.Errorf("%s: %v, want host db1, become user pg and %q", tc.name, err, tc.want)
		}
	}
	err := sudoFailure("db1", "alice", "pg", 1, []byte(pw))
	if want := `"alice ALL=(ALL:ALL) NOPASSWD: ALL" in /etc/sudoers.d/alice`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%v: want the sudoers hint %s", err, want)
	}
	err = sudoFailure("db1", "j.doe", "pg", 1, []byte(pw))
	if want := `"j.doe ALL=(ALL:ALL) NOPASSWD: ALL" in /etc/sudoers.d/j_doe`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%v: want the sudoers hint %s (sudo skips file names with a dot)", err, want)
	}
}

func TestIsTempOf(t *testing.T) {
	long := strings.Repeat("n", 250)
	for _, tc := range []struct {
		name, base string
		want       bool
	}{
		{".a.conf.pgplay-Ab3dE9", "a.conf", true},
		{".a.conf.pgplay-Ab3dE", "a.conf", false},
		{".a.conf.pgplay-Ab3dE99", "a.conf", false},
		{".a.conf.pgplay-Ab3d.9", "a.conf", false},
		{".a.conf.pgplay-Ab3d-9", "a.conf", false},
		{"a.conf.pgplay-Ab3dE9", "a.conf", false},
		{".b.conf.pgplay-Ab3dE9", "a.conf", false},
		{".x.a.conf.pgplay-Ab3dE9", "a.conf", false},
		{"." + long[:200] + ".pgplay-zzzzzz", long, true},
	} {
		if got := isTempOf(tc.name, tc.base); got != tc.want {
			t.Errorf("isTempOf(%q, %q) = %t", tc.name, tc.base, got)
		}
	}
	// What tempName makes, isTempOf knows.
	for _, p := range []string{"/etc/a.conf", "/x/" + long} {
		dir, base := p[:strings.LastIndexByte(p, '/')+1], p[strings.LastIndexByte(p, '/')+1:]
		tmp := tempName(p)
		if !strings.HasPrefix(tmp, dir) || !isTempOf(tmp[len(dir):], base) {
			t.Errorf("tempName(%q) = %q: not recognised", p, tmp)
		}
	}
}
