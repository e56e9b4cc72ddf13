package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
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
