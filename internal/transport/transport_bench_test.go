package transport_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgplay/pgplay/internal/sshtest"
	"github.com/pgplay/pgplay/internal/transport"
)

// The benchmarks run against a real sshd on loopback (internal/sshtest).
// Besides time they report what each operation cost on the wire, from the
// pool's counters: round trips, SFTP requests and commands per operation.
//
//	go test -run '^$' -bench . ./internal/transport/

// benchHost is a Target on a fresh sshd and a directory it may write in.
func benchHost(b *testing.B) (transport.Target, *transport.Pool, string) {
	b.Helper()
	s := sshtest.Start(b)
	p := transport.NewPool()
	b.Cleanup(func() { _ = p.Close() })
	ctx := context.Background()
	tg, err := p.Target(ctx, s.Config("bench"), "")
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	// Open the SFTP session and resolve the owner names now, not in the
	// timed loop.
	if _, err := tg.Stat(ctx, dir); err != nil {
		b.Fatal(err)
	}
	return tg, p, dir
}

// costs reports the pool's counters per operation since before.
func costs(b *testing.B, p *transport.Pool, before transport.Stats) {
	b.Helper()
	after := p.Stats()
	n := float64(b.N)
	b.ReportMetric(float64(after.RoundTrips-before.RoundTrips)/n, "roundtrips/op")
	b.ReportMetric(float64(after.SFTPRequests-before.SFTPRequests)/n, "sftpreqs/op")
	b.ReportMetric(float64(after.Commands-before.Commands)/n, "commands/op")
}

// configText is a small configuration file, like workload A's.
var configText = []byte(strings.Repeat("shared_buffers = 512MB # a setting line\n", 12))

// BenchmarkCommand runs one command (`true`) per operation.
func BenchmarkCommand(b *testing.B) {
	tg, p, _ := benchHost(b)
	ctx := context.Background()
	before := p.Stats()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := tg.Query(ctx, transport.Cmd{Argv: []string{"true"}})
		if err != nil || res.RC != 0 {
			b.Fatalf("true: rc %d, %v", res.RC, err)
		}
	}
	b.StopTimer()
	costs(b, p, before)
}

// BenchmarkStat describes a file (lstat; owner names are cached).
func BenchmarkStat(b *testing.B) {
	tg, p, dir := benchHost(b)
	ctx := context.Background()
	f := filepath.Join(dir, "postgresql.conf")
	if err := os.WriteFile(f, configText, 0o644); err != nil {
		b.Fatal(err)
	}
	before := p.Stats()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if fi, err := tg.Stat(ctx, f); err != nil || !fi.Exists {
			b.Fatalf("stat: %+v %v", fi, err)
		}
	}
	b.StopTimer()
	costs(b, p, before)
}

// BenchmarkCompareAndWrite is what copy and template do: read the file's
// state and content (transport.StatRead), compare, and write it
// atomically only when it differs. "unchanged" is the converged case
// (the second run), "changed" writes every time.
func BenchmarkCompareAndWrite(b *testing.B) {
	for _, mode := range []string{"unchanged", "changed"} {
		b.Run(mode, func(b *testing.B) {
			tg, p, dir := benchHost(b)
			ctx := context.Background()
			f := filepath.Join(dir, "postgresql.conf")
			if err := os.WriteFile(f, configText, 0o640); err != nil {
				b.Fatal(err)
			}
			want := [2][]byte{configText, bytes.ToUpper(configText)}
			before := p.Stats()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				data := want[0]
				if mode == "changed" {
					data = want[(i+1)%2]
				}
				fi, old, err := transport.StatRead(ctx, tg, f, 1<<20)
				if err != nil || !fi.Exists || old == nil {
					b.Fatalf("StatRead: %+v, %d bytes, %v", fi, len(old), err)
				}
				if bytes.Equal(old, data) && fi.Mode == 0o640 {
					continue
				}
				if mode == "unchanged" {
					b.Fatal("the unchanged file differs")
				}
				if err := tg.WriteFile(ctx, f, data, transport.Attrs{Mode: 0o640}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			costs(b, p, before)
		})
	}
}

// BenchmarkReadFile reads a small file whole.
func BenchmarkReadFile(b *testing.B) {
	tg, p, dir := benchHost(b)
	ctx := context.Background()
	f := filepath.Join(dir, "postgresql.conf")
	if err := os.WriteFile(f, configText, 0o644); err != nil {
		b.Fatal(err)
	}
	before := p.Stats()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		got, err := tg.ReadFile(ctx, f)
		if err != nil || !bytes.Equal(got, configText) {
			b.Fatalf("read %d bytes, %v", len(got), err)
		}
	}
	b.StopTimer()
	costs(b, p, before)
}
