package modules

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgplay/pgplay/internal/sshtest"
	"github.com/pgplay/pgplay/internal/tmpl"
	"github.com/pgplay/pgplay/internal/transport"
)

// Modules on a converged host, over SSH to a real sshd on loopback
// (internal/sshtest): what a second run costs per task. Besides time each
// benchmark reports round trips, SFTP requests and commands per operation
// from the connection pool's counters; docs/performance.md lists them.
//
//	go test -run '^$' -bench . ./modules/
//
// Commands run through the login user's shell: sshtest logs in as the user
// running the tests, so their time includes that user's shell start-up
// (~/.bashrc for bash).

// benchEnv is a Target on a fresh sshd, a directory to work in, and an Env
// whose content lookup finds files/ and templates/ in that directory.
func benchEnv(b *testing.B) (transport.Target, *transport.Pool, string, *Env) {
	b.Helper()
	s := sshtest.Start(b)
	p := transport.NewPool()
	b.Cleanup(func() { _ = p.Close() })
	tg, err := p.Target(context.Background(), s.Config("bench"), "")
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	vars := map[string]any{
		"inventory_hostname": "pg001", "ssh_host": "127.0.0.2", "pg_root": dir, "pg_port": 5432,
		"pg_settings": map[string]any{"max_wal_size": "2GB", "random_page_cost": 1.1, "work_mem": "16MB"},
	}
	eng := tmpl.New()
	content := filepath.Join(dir, "content")
	env := &Env{
		Host: "pg001",
		Vars: vars,
		Render: func(name, text string) (string, error) {
			return eng.Render(name, text, vars)
		},
		Find: func(kind, name string) ([]byte, string, error) {
			p := filepath.Join(content, kind, name)
			b, err := os.ReadFile(p)
			return b, p, err
		},
	}
	for name, text := range map[string]string{
		"files/pg_ident.conf": "# MAPNAME SYSTEM-USERNAME PG-USERNAME\nadmins root postgres\n",
		"templates/postgresql.conf.tmpl": "# for {{ .inventory_hostname }} ({{ .ssh_host }})\nport = {{ .pg_port }}\n" +
			"{{- range $k, $v := .pg_settings }}\n{{ $k }} = {{ $v }}\n{{- end }}\n",
	} {
		p := filepath.Join(content, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return tg, p, dir, env
}

// BenchmarkConverged runs each kind of workload A task on a host where it
// has nothing left to do.
func BenchmarkConverged(b *testing.B) {
	cases := []struct {
		name   string
		module string
		args   func(dir string) map[string]any
	}{
		{"copy", "copy", func(dir string) map[string]any {
			return map[string]any{"src": "pg_ident.conf", "dest": dir + "/pg_ident.conf", "mode": "0640"}
		}},
		{"template", "template", func(dir string) map[string]any {
			return map[string]any{"src": "postgresql.conf.tmpl", "dest": dir + "/postgresql.conf", "mode": "0640"}
		}},
		{"lineinfile", "lineinfile", func(dir string) map[string]any {
			return map[string]any{"path": dir + "/auto.conf", "create": true, "mode": "0644", "regexp": `^work_mem\s*=`, "line": "work_mem = '16MB'"}
		}},
		{"file-directory", "file", func(dir string) map[string]any {
			return map[string]any{"path": dir + "/data", "state": "directory", "mode": "0700"}
		}},
		{"stat", "stat", func(dir string) map[string]any {
			return map[string]any{"path": dir + "/content/files/pg_ident.conf"}
		}},
		{"command", "command", func(dir string) map[string]any {
			return map[string]any{"_raw": "cat /proc/loadavg"}
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			tg, p, dir, env := benchEnv(b)
			ctx := context.Background()
			spec, ok := Lookup(c.module)
			if !ok {
				b.Fatalf("no module %s", c.module)
			}
			run := func() *Result {
				m := spec.New()
				if err := Decode(spec, c.args(dir), m); err != nil {
					b.Fatal(err)
				}
				res, err := m.Run(ctx, tg, env)
				if err != nil || res.Failed {
					b.Fatalf("%s: %v %+v", c.name, err, res)
				}
				return res
			}
			// Converge, then once more: the SFTP session is open and the
			// user and group names are read before the timing starts.
			run()
			run()
			before := p.Stats()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if res := run(); res.Changed && c.module != "command" {
					b.Fatalf("%s changed on a converged host", c.name)
				}
			}
			b.StopTimer()
			reportCosts(b, p, before)
		})
	}
}

// BenchmarkFacts gathers facts (the setup module): one command.
func BenchmarkFacts(b *testing.B) {
	tg, p, _, env := benchEnv(b)
	ctx := context.Background()
	before := p.Stats()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := (&Setup{}).Run(ctx, tg, env)
		if err != nil || res.Failed {
			b.Fatalf("setup: %v %+v", err, res)
		}
		f, _ := res.Data["facts"].(map[string]any)
		if strings.TrimSpace(fmt.Sprint(f["kernel"])) == "" {
			b.Fatalf("no kernel fact in %v", f)
		}
	}
	b.StopTimer()
	reportCosts(b, p, before)
}

func reportCosts(b *testing.B, p *transport.Pool, before transport.Stats) {
	b.Helper()
	after := p.Stats()
	n := float64(b.N)
	b.ReportMetric(float64(after.RoundTrips-before.RoundTrips)/n, "roundtrips/op")
	b.ReportMetric(float64(after.SFTPRequests-before.SFTPRequests)/n, "sftpreqs/op")
	b.ReportMetric(float64(after.Commands-before.Commands)/n, "commands/op")
}
