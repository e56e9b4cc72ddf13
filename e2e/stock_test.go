//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/pgplay/pgplay/internal/lab"
)

// TestStockDebian deploys on stock Debian 12 hosts (`pgplay lab up --image
// stock`): login admin with sudo, root login refused, none of the
// database packages, apt from the lab's local repository. site.yaml from
// zero installs the packages, copes with the `main` cluster
// postgresql-15's installation creates and starts (rebuilt on the
// primary, replaced by the clone on the standbys), and converges; a
// second run changes nothing; a failover and a rejoin work as on the
// default image. Last, a node holding a cluster with data that is not
// part of this one stops site.yaml before anything is changed.
func TestStockDebian(t *testing.T) {
	c := labCluster(t, func(o *lab.Options) { o.Image = lab.ImageStock })
	h := c.h

	t.Run("BareHosts", func(t *testing.T) {
		h := c.hosts(t)
		for _, n := range []string{"node1", "node2", "node3", "backup1"} {
			if out, rc := h.try(n, "dpkg-query", "-W", "-f=${db:Status-Status}", "postgresql-15", "keepalived", "barman"); rc == 0 || strings.Contains(out, "installed") && !strings.Contains(out, "not-installed") {
				t.Errorf("%s: database packages installed before site.yaml: %s", n, out)
			}
			if got := h.run(n, "sh", "-c", "echo $SUDO_USER"); got != lab.StockUser {
				t.Errorf("%s: commands run through sudo from %q, want %s", n, got, lab.StockUser)
			}
			if src := h.run(n, "cat", "/etc/apt/sources.list.d/pgplay-local.sources"); !strings.Contains(src, "file:"+lab.StockRepoMount) {
				t.Errorf("%s: pgplay-local.sources: %s", n, src)
			}
		}
		if out := h.run("node1", "sshd", "-T"); !strings.Contains(out, "permitrootlogin no") {
			t.Errorf("node1: sshd allows root logins:\n%s", out)
		}
	})

	var first time.Duration
	if !t.Run("DeployFromZero", func(t *testing.T) {
		first = c.deploy(t)
		for _, n := range []string{"node1", "node2", "node3"} {
			if v := c.hosts(t).sql(n, "postgres", "SHOW data_checksums"); v != "on" {
				t.Errorf("%s: data_checksums = %s: the package's main cluster was kept, not rebuilt as pgplay creates clusters", n, v)
			}
		}
		c.expectHealthy(t, "node1", "node2", "node3")
	}) {
		return
	}

	t.Run("SecondRunChangesNothing", func(t *testing.T) {
		start := time.Now()
		r := pgplayRun(t, c.work, "playbooks/site.yaml", "-i", c.inv)
		r.requireOK(t, "second run")
		for host, n := range r.changed(t) {
			if n != 0 {
				t.Errorf("second run: %s changed=%d: %v", host, n, r.changes())
			}
		}
		t.Logf("first deploy on stock hosts (packages from the local repository included): %s; second run: %s",
			first.Round(100*time.Millisecond), time.Since(start).Round(100*time.Millisecond))
	})

	if !t.Run("FailoverWhenPostgresStops", func(t *testing.T) {
		l := c.startLoad(t, 500)
		at := time.Now()
		c.hosts(t).run("node1", "systemctl", "stop", "postgresql@15-main")
		if p := c.newPrimary(t, "node2", "node3"); p != "node2" {
			t.Errorf("new primary %s, want node2 (the synchronous standby, higher priority)", p)
		}
		l.failover(t, at, "node2")
		c.expectHealthy(t, "node2", "node3")
	}) {
		t.Logf("node1:\n%s\nnode2:\n%s", c.logs(t, "node1"), c.logs(t, "node2"))
		return
	}

	if !t.Run("Rejoin", func(t *testing.T) {
		c.rejoin(t, "node1", "node2", "node3")
	}) {
		return
	}

	t.Run("ClusterWithDataIsNeverReplaced", func(t *testing.T) {
		hh := c.hosts(t)
		// node3 leaves the cluster and runs a cluster of its own, with a
		// database in it. (Its keepalived and pgplay-watch stop first:
		// they would fence a cluster that runs as a primary beside node2.)
		hh.run("node3", "systemctl", "stop", "keepalived", "pgplay-watch")
		hh.run("node3", "pg_dropcluster", "--stop", "15", "main")
		hh.run("node3", "pg_createcluster", "--start", "15", "main")
		hh.run("node3", "runuser", "-u", "postgres", "--", "createdb", "shop")
		r := pgplayRun(t, c.work, "playbooks/site.yaml", "-i", c.inv)
		if r.code != 2 {
			t.Fatalf("site.yaml with node3's own cluster: exit %d, want 2\n%s", r.code, r.raw)
		}
		msg := r.failures()
		for _, w := range []string{"node3: PostgreSQL cluster 15/main (data directory /var/lib/postgresql/15/main) runs and holds data",
			"nothing was changed", "psql -p 5432 -l", "pg_dropcluster --stop 15 main"} {
			if !strings.Contains(msg, w) {
				t.Errorf("the refusal does not say %q:\n%s", w, msg)
			}
		}
		for _, role := range []string{"postgres", "repmgr", "keepalived", "barman"} {
			if n := r.hostResults(role); n != 0 {
				t.Errorf("%d task results of role %s after the refusal: hosts were touched", n, role)
			}
		}
		if got := hh.sql("node3", "postgres", "SELECT count(*) FROM pg_database WHERE datname = 'shop'"); got != "1" {
			t.Errorf("node3's database shop is gone")
		}
		// Removed as the message says, node3 is cloned again.
		hh.run("node3", "pg_dropcluster", "--stop", "15", "main")
		r = pgplayRun(t, c.work, "playbooks/site.yaml", "-i", c.inv)
		r.requireOK(t, "site.yaml after node3's cluster was removed")
		c.expectHealthy(t, "node2", "node1", "node3")
	})
	_ = h
}
