package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestInventoryMatchesAnsible runs `pgplay inventory --list` and `--graph`
// and ansible-inventory (Debian's ansible-core, 2.14) on the same
// inventories, in the shapes of Ansible's documentation
// (testdata/ansible-inventory/*/, each with its arguments in `args`), and
// compares the parsed JSON and the graph: ansible-inventory is the
// reference for what an inventory means. Without ansible-inventory the
// test skips, except in CI (CI set), where it fails.
func TestInventoryMatchesAnsible(t *testing.T) {
	bin, err := exec.LookPath("ansible-inventory")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("ansible-inventory is not installed (CI must install ansible-core: .ci/run)")
		}
		t.Skip("ansible-inventory not installed (apt-get install ansible-core)")
	}
	cases, err := filepath.Glob("testdata/ansible-inventory/*/args")
	if err != nil || len(cases) < 6 {
		t.Fatalf("want at least 6 cases, found %d (%v)", len(cases), err)
	}
	for _, argsFile := range cases {
		dir := filepath.Dir(argsFile)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			b, err := os.ReadFile(argsFile)
			if err != nil {
				t.Fatal(err)
			}
			args := strings.Fields(string(b))
			// pgplay runs in this process: its paths are relative to the
			// case directory.
			var ours []string
			for i, a := range args {
				if i > 0 && (args[i-1] == "-i" || args[i-1] == "--playbook-dir") {
					a = filepath.Join(dir, a)
				}
				ours = append(ours, a)
			}
			for _, mode := range []string{"--list", "--graph"} {
				want := ansibleInventory(t, bin, dir, append(append([]string{}, args...), mode))
				var out, errb bytes.Buffer
				if code := run(context.Background(), append(append([]string{"inventory"}, ours...), mode), &out, &errb); code != 0 {
					t.Fatalf("pgplay inventory %s %s: exit %d\n%s", strings.Join(ours, " "), mode, code, errb.String())
				}
				if mode == "--graph" {
					if got := strings.TrimSpace(out.String()); got != strings.TrimSpace(want) {
						t.Errorf("--graph differs\npgplay:\n%s\nansible-inventory:\n%s", got, want)
					}
					continue
				}
				var got, ref any
				if err := json.Unmarshal(out.Bytes(), &got); err != nil {
					t.Fatalf("pgplay --list is not JSON: %v\n%s", err, out.String())
				}
				if err := json.Unmarshal([]byte(want), &ref); err != nil {
					t.Fatalf("ansible-inventory --list is not JSON: %v\n%s", err, want)
				}
				if !reflect.DeepEqual(got, ref) {
					t.Errorf("--list differs\npgplay:\n%s\nansible-inventory:\n%s", out.String(), want)
				}
			}
		})
	}
}

func ansibleInventory(t *testing.T, bin, dir string, args []string) string {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	// No user or machine configuration, no cache in the real home.
	cmd.Env = append(os.Environ(), "HOME="+home, "ANSIBLE_CONFIG="+filepath.Join(home, "none.cfg"),
		"ANSIBLE_LOCAL_TEMP="+filepath.Join(home, "tmp"), "ANSIBLE_HOME="+filepath.Join(home, ".ansible"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ansible-inventory %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	if e := stderr.String(); strings.Contains(e, "Unable to parse") || strings.Contains(e, "No inventory was parsed") {
		t.Fatalf("ansible-inventory %s did not read the whole inventory:\n%s", strings.Join(args, " "), e)
	}
	return stdout.String()
}
