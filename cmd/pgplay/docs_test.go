package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/pgplay/pgplay/internal/playbook"
	"github.com/pgplay/pgplay/internal/tmpl"
	"github.com/pgplay/pgplay/modules"
)

// TestModulesDocIsCurrent fails when docs/modules.md no longer matches the
// modules' metadata; `make docs` regenerates it.
func TestModulesDocIsCurrent(t *testing.T) {
	var b bytes.Buffer
	if err := writeModulesMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile("../../docs/modules.md")
	if err != nil {
		t.Fatalf("docs/modules.md: %v (run `make docs`)", err)
	}
	if !bytes.Equal(have, b.Bytes()) {
		t.Errorf("docs/modules.md is stale: run `make docs`")
	}
}

func TestDocCommand(t *testing.T) {
	code, out, _ := cli(t, "doc")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, n := range modules.Names() {
		if !strings.Contains(out, n) {
			t.Errorf("doc list lacks %s", n)
		}
	}
	code, out, _ = cli(t, "doc", "copy")
	if code != 0 || !strings.Contains(out, "dest") || !strings.Contains(out, "REQUIRED") {
		t.Errorf("doc copy: exit %d\n%s", code, out)
	}
	// Every example of the module's spec is shown, after "Examples:".
	spec, _ := modules.Lookup("copy")
	_, examples, _ := strings.Cut(out, "\nExamples:\n")
	for _, ex := range spec.Examples {
		if !strings.Contains(examples, indentLines(ex, "  ")) {
			t.Errorf("doc copy lacks the example\n%s\nin\n%s", ex, out)
		}
	}
	code, _, errs := cli(t, "doc", "copyy")
	if code != 5 || !strings.Contains(errs, "no module") || !strings.Contains(errs, `did you mean "copy"?`) {
		t.Errorf("doc of a misspelled module: exit %d %s", code, errs)
	}
	code, _, errs = cli(t, "doc", "systemd")
	if code != 5 || !strings.Contains(errs, "use `service`") {
		t.Errorf("doc of an Ansible module pgplay names differently: exit %d %s", code, errs)
	}
	// Ansible's fully qualified names are aliases.
	code, out, _ = cli(t, "doc", "ansible.builtin.copy")
	if code != 0 || !strings.HasPrefix(out, "copy: ") {
		t.Errorf("doc ansible.builtin.copy: exit %d\n%s", code, out)
	}
	// Return values: the common ones and the module's own; setup lists
	// the facts instead of an empty argument table.
	code, out, _ = cli(t, "doc", "command")
	if code != 0 || !strings.Contains(out, "Returns (the registered result") || !strings.Contains(out, "  changed: ") || !strings.Contains(out, "  rc: ") || !strings.Contains(out, "stdout_lines") {
		t.Errorf("doc command: no return values\n%s", out)
	}
	code, out, _ = cli(t, "doc", "setup")
	if code != 0 || !strings.Contains(out, "Arguments: none") || strings.Contains(out, "NAME") || !strings.Contains(out, "facts.os.id") || !strings.Contains(out, "facts.default_ipv4") {
		t.Errorf("doc setup: want no empty table and the facts\n%s", out)
	}
}

// TestReadmeListsRunFlags fails when a flag of `pgplay run` is missing from
// README.md's flag list.
func TestReadmeListsRunFlags(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	run := findCmd(newRootCmd(), "run")
	run.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Name == "help" || f.Name == "verbose" || f.Name == "check" || f.Name == "diff" || f.Name == "forks" {
			return // listed by their short names: -v -C -D -f
		}
		if !bytes.Contains(readme, []byte("--"+f.Name)) && !bytes.Contains(readme, []byte("`-"+f.Shorthand+" ")) {
			t.Errorf("README.md does not list --%s", f.Name)
		}
	})
}

// pgplay doc -t keyword documents every keyword the loader accepts, and
// -t function every function of pgplay's own.
func TestDocKeywordsAndFunctions(t *testing.T) {
	code, out, errs := cli(t, "doc", "-t", "keyword")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	for _, k := range append(playbook.PlayKeywords(), playbook.TaskKeywords()...) {
		if keywordDocs[k] == "" || !strings.Contains(out, "  "+k+" ") {
			t.Errorf("keyword %q is not documented", k)
		}
	}
	code, out, _ = cli(t, "doc", "-t", "keyword", "until")
	if code != 0 || !strings.HasPrefix(out, "until: retry") {
		t.Errorf("doc -t keyword until: exit %d\n%s", code, out)
	}
	code, _, errs = cli(t, "doc", "-t", "keyword", "whne")
	if code != exitOptions || !strings.Contains(errs, `did you mean "when"?`) {
		t.Errorf("doc -t keyword whne: exit %d\n%s", code, errs)
	}
	code, out, _ = cli(t, "doc", "-t", "function")
	if code != 0 || !strings.Contains(out, "docs/templates.md") {
		t.Errorf("doc -t function: exit %d\n%s", code, out)
	}
	for name := range tmpl.Funcs() {
		if !strings.Contains(out, "  "+name+" ") {
			t.Errorf("doc -t function lacks %s", name)
		}
	}
	code, _, errs = cli(t, "doc", "-t", "filter")
	if code != exitOptions || !strings.Contains(errs, "want module, keyword or function") {
		t.Errorf("doc -t filter: exit %d\n%s", code, errs)
	}
}

// The README's install commands work from a clone: each `make TARGET` is
// a target of the Makefile, each `go install PATH` a package directory of
// this module (the module is not published: `go install ...@latest`
// fails), with a main package.
func TestReadmeInstallCommands(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	_, install, ok := strings.Cut(string(readme), "\n## Install\n")
	if !ok {
		t.Fatal("README.md has no ## Install section")
	}
	install, _, _ = strings.Cut(install, "\n## ")
	var makes, gos int
	for _, l := range strings.Split(install, "\n") {
		if !strings.HasPrefix(l, "    ") { // commands are indented blocks
			continue
		}
		f := strings.Fields(l)
		switch {
		case len(f) >= 2 && f[0] == "make":
			makes++
			if !bytes.Contains(mk, []byte("\n"+f[1]+":")) {
				t.Errorf("README: `make %s`: no such Makefile target", f[1])
			}
		case len(f) >= 3 && f[0] == "go" && f[1] == "install":
			gos++
			if !strings.HasPrefix(f[2], "./") || strings.Contains(f[2], "@") {
				t.Errorf("README: `go install %s` is not a path in the clone (the module is not published)", f[2])
				continue
			}
			src, err := os.ReadFile(filepath.Join("../..", f[2], "main.go"))
			if err != nil || !bytes.Contains(src, []byte("package main")) {
				t.Errorf("README: `go install %s`: no main package there (%v)", f[2], err)
			}
		}
	}
	if makes == 0 || gos == 0 {
		t.Errorf("README's Install section lists %d make and %d go install commands, want both", makes, gos)
	}
}

// README.md shows `pgplay exec` with each of its own flags (those `run`
// does not have), and says how the recap counts (ok includes changed).
func TestReadmeShowsExecAndRecap(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	if !strings.Contains(readme, "pgplay exec PATTERN -i INV -m MODULE -a ARGS") {
		t.Error("README.md does not show pgplay exec's usage")
	}
	run := findCmd(newRootCmd(), "run")
	findCmd(newRootCmd(), "exec").Flags().VisitAll(func(f *pflag.Flag) {
		if f.Name == "help" || run.Flags().Lookup(f.Name) != nil {
			return
		}
		if !strings.Contains(readme, "--"+f.Name) && !strings.Contains(readme, "`-"+f.Shorthand) && !strings.Contains(readme, " -"+f.Shorthand+" ") {
			t.Errorf("README.md does not show exec's -%s (--%s)", f.Shorthand, f.Name)
		}
	})
	if !strings.Contains(readme, "`ok=` includes the changed tasks") {
		t.Error("README.md does not say that the recap's ok= includes the changed tasks")
	}
}
