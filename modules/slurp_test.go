package modules

import (
	"encoding/base64"
	"strings"
	"testing"
)

// slurp returns the file's bytes base64-encoded, runs no program, fails
// on a missing file with Ansible's message and refuses a relative path.
func TestSlurp(t *testing.T) {
	h := debianCluster()
	h.file("/var/lib/pgplay/fence", "1 fenced\n$x 'y'\n", 0o644, "root")
	res := runOn(t, newModule(t, "slurp", map[string]any{"src": "/var/lib/pgplay/fence"}), h)
	if res.Failed || res.Changed {
		t.Fatalf("slurp: %+v", res)
	}
	b, err := base64.StdEncoding.DecodeString(res.Data["content"].(string))
	if err != nil || string(b) != "1 fenced\n$x 'y'\n" || res.Data["encoding"] != "base64" || res.Data["source"] != "/var/lib/pgplay/fence" {
		t.Errorf("slurp: %v (%q, %v)", res.Data, b, err)
	}
	if q := h.log("query"); len(q) != 0 {
		t.Errorf("ran %v; want no program on the host", q[0].cmdline())
	}
	res = runOn(t, newModule(t, "slurp", map[string]any{"src": "/var/lib/pgplay/nothing"}), h)
	if !res.Failed || res.Msg != "file not found: /var/lib/pgplay/nothing" {
		t.Errorf("a missing file: %+v", res)
	}
	if _, err := decodeModule("slurp", map[string]any{"src": "fence"}); err == nil || !strings.Contains(err.Error(), "not an absolute path") {
		t.Errorf("a relative src: %v", err)
	}
}
