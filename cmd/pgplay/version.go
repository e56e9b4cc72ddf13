package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// versionLine is pgplay's version: the one given at build time
// (-ldflags "-X main.version=..."; `make build` uses git describe), else
// the module version `go install ...@vX` records, else "dev".
func versionLine() string {
	info, _ := debug.ReadBuildInfo()
	return versionOf(version, info)
}

func versionOf(ldflags string, info *debug.BuildInfo) string {
	if ldflags != "" && ldflags != "dev" {
		return ldflags
	}
	if info != nil && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "dev"
}

// versionText is what `pgplay version` and `--version` print: the version,
// the VCS commit the binary was built from (Go records it in the build
// info when built inside a git checkout), and the Go toolchain.
func versionText() string {
	info, _ := debug.ReadBuildInfo()
	return versionTextOf(version, info)
}

func versionTextOf(ldflags string, info *debug.BuildInfo) string {
	var b strings.Builder
	fmt.Fprintf(&b, "pgplay %s\n", versionOf(ldflags, info))
	var rev, at string
	modified := false
	goVersion := runtime.Version()
	if info != nil {
		if info.GoVersion != "" {
			goVersion = info.GoVersion
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	switch {
	case rev == "":
		b.WriteString("  commit   unknown (built without VCS information)\n")
	default:
		var notes []string
		if at != "" {
			notes = append(notes, at)
		}
		if modified {
			notes = append(notes, "with uncommitted changes")
		}
		fmt.Fprintf(&b, "  commit   %s", rev)
		if len(notes) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(notes, ", "))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "  go       %s %s/%s", goVersion, runtime.GOOS, runtime.GOARCH)
	return b.String()
}
