package tmpl

import (
	"fmt"
	"os"
	"testing"
)

// Template rendering, the controller-side work of every task argument
// and template file.
//
//	go test -run '^$' -bench . -benchmem ./internal/tmpl/

// benchVars are workload A's play vars for one host.
func benchVars() map[string]any {
	return map[string]any{
		"inventory_hostname": "pg001", "ssh_host": "127.0.0.2", "pg_root": "/srv/pg001",
		"pg_version": 15, "pg_port": 5432, "pg_listen": "*", "pg_shared_buffers": "512MB",
		"pg_settings": map[string]any{
			"effective_cache_size": "2GB", "maintenance_work_mem": "128MB", "checkpoint_completion_target": 0.9,
			"random_page_cost": 1.1, "log_min_duration_statement": 500, "max_wal_size": "2GB",
		},
		"item": map[string]any{"name": "etc", "mode": "0755"},
	}
}

// BenchmarkRenderFile renders workload A's postgresql.conf template
// (cached parse: the same text for every host).
func BenchmarkRenderFile(b *testing.B) {
	text, err := os.ReadFile("../../bench/workload-a/templates/postgresql.conf.tmpl")
	if err != nil {
		b.Fatal(err)
	}
	e := New()
	vars := benchVars()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.Render("postgresql.conf.tmpl", string(text), vars); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderArgs renders a task's arguments (a map with templated
// strings, one of them a native value), as the runner does per host.
func BenchmarkRenderArgs(b *testing.B) {
	e := New()
	vars := benchVars()
	args := map[string]any{
		"path":  "{{ .pg_root }}/{{ .item.name }}",
		"state": "directory",
		"mode":  `{{ get .item "mode" }}`,
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.RenderValue("task", args, vars); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEval evaluates a `when:` condition.
func BenchmarkEval(b *testing.B) {
	e := New()
	vars := benchVars()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if ok, err := e.Eval("when", `and (eq .pg_port 5432) (ne .inventory_hostname "none")`, vars); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkParse is the first use of a text: parsing it (every run parses
// each distinct text once; the Engine caches the result).
func BenchmarkParse(b *testing.B) {
	e := New()
	vars := benchVars()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		text := fmt.Sprintf("{{ .pg_root }}/etc/%d.conf", i) // a new text each time
		if _, err := e.Render("task", text, vars); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRefs lists the variables a task's text reads, as Prepare does
// for every templated text of a run (a new text each time: no cache).
func BenchmarkRefs(b *testing.B) {
	e := New()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		text := fmt.Sprintf(`{{ .pg_root }}/etc/{{ if hasKey . "x" }}{{ .x }}{{ end }}%d.conf`, i)
		if refs := e.Refs(text, false); len(refs) != 1 || refs[0] != "pg_root" {
			b.Fatal(refs)
		}
	}
}
