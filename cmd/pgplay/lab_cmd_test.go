package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pgplay/pgplay/internal/lab"
)

// Bad lab options are refused before anything is touched, with the "bad
// options" exit code, whoever runs the test.
func TestLabUpBadOptions(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"up", "--subnet", "1.2.3"}, "--subnet"},
		{[]string{"up", "--nodes", "0"}, "--nodes 0"},
		{[]string{"up", "--nodes", "12"}, "1 to 9"},
		{[]string{"up", "--vip", "nope"}, "--vip"},
		{[]string{"up", "--subnet", "198.51.100.0/24", "--vip", "198.51.100.12"}, "node2's address"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			cmd := newLabCmd()
			cmd.SetArgs(append(c.args, "--state-dir", t.TempDir()))
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SilenceUsage, cmd.SilenceErrors = true, true
			err := cmd.Execute()
			var ce *codeError
			if !errors.As(err, &ce) || ce.code != exitOptions {
				t.Fatalf("err = %v (%T), want exit code %d", err, err, exitOptions)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want it to mention %q", err, c.want)
			}
		})
	}
}

func TestLabHelpListsSubcommands(t *testing.T) {
	cmd := newLabCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--help"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"up", "down", "status", "--state-dir", "systemd-container"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("lab --help lacks %q:\n%s", want, out.String())
		}
	}
}

// Every lab state directory the Makefile, the README or the docs use (and
// the default of --state-dir) is ignored by git: it holds the lab's
// private key and an inventory with every password in clear, and one
// `git add -A` would commit them.
func TestLabStateDirsIgnoredByGit(t *testing.T) {
	dirs := map[string]string{lab.DefaultStateDir: "lab.DefaultStateDir"}
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`(?m)^LAB_STATE \?= (\S+)$`).FindSubmatch(mk); m != nil {
		dirs[string(m[1])] = "Makefile's LAB_STATE"
	} else {
		t.Error("Makefile: no LAB_STATE ?= default (the test reads it)")
	}
	files, _ := filepath.Glob("../../docs/*.md")
	files = append(files, "../../README.md", "../../Makefile")
	stateDir := regexp.MustCompile(`--state-dir[ =]([^\s$)` + "`" + `'"]+)`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range stateDir.FindAllSubmatch(b, -1) {
			if d := string(m[1]); !filepath.IsAbs(d) && !strings.HasPrefix(d, "~") {
				dirs[d] = f
			}
		}
	}
	for d, from := range dirs {
		for _, file := range []string{"inventory.yaml", "id_ed25519"} {
			p := filepath.Join(d, file)
			cmd := exec.Command("git", "check-ignore", "-q", "--no-index", p)
			cmd.Dir = "../.."
			if err := cmd.Run(); err != nil {
				t.Errorf("%s (state directory of %s) is not ignored by .gitignore (git check-ignore: %v)", p, from, err)
			}
		}
	}
}
