package status

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// syncWaitLimit is how long a commit may wait for a synchronous standby
// before the cluster counts as degraded.
const syncWaitLimit = 5.0

// checkAdvice says what to do about each of pgplay-check's verdicts that
// make a node unfit to hold the VIP (fenced is reported on its own).
var checkAdvice = map[string]string{
	"hold":     "pgplay-promote declined to promote it; the hold lifts by itself after DECLINE_HOLD s (journalctl -t pgplay-promote)",
	"paused":   "it cannot take over while its WAL replay is paused: resume it with select pg_wal_replay_resume()",
	"stuck":    "its promotion failed: see journalctl -t pgplay-promote and -u keepalived on it",
	"isolated": "a primary cut off from the other nodes: pgplay-watch stops it; check its network",
	"stale":    "a primary left behind by a failover: pgplay-watch fences it; then bring it back with playbooks/rejoin.yaml",
	"down":     "PostgreSQL does not answer its health check: see journalctl -u postgresql on it",
}

// judge fills Primary, Problems (level 2), Warnings (level 1), Level and
// State.
func (r *Report) judge() {
	if r.Problems == nil {
		r.Problems = []string{}
	}
	if r.Warnings == nil {
		r.Warnings = []string{}
	}
	down := func(format string, a ...any) { r.Problems = append(r.Problems, fmt.Sprintf(format, a...)) }
	degraded := func(format string, a ...any) { r.Warnings = append(r.Warnings, fmt.Sprintf(format, a...)) }

	byAddr := map[string]string{}
	for _, n := range r.Nodes {
		byAddr[n.Addr] = n.Name
	}
	var primaries, vipHolders []string
	for _, n := range r.Nodes {
		if n.Role == "primary" {
			primaries = append(primaries, n.Name)
		}
		if n.HasVIP {
			vipHolders = append(vipHolders, n.Name)
		}
		if name, ok := byAddr[n.Upstream]; ok {
			n.Upstream = name
		}
	}
	sort.Strings(primaries)
	// Several primaries: those that cannot commit (synchronous standbys
	// named, none attached) and do not hold the VIP are failed-over
	// primaries left running (cut off, or thawed): each stops when it
	// sees the newer primary. Two that can commit are a split brain.
	if len(primaries) > 1 {
		var live []string
		for _, name := range primaries {
			if n := r.node(name); n.HasVIP || canCommit(n) {
				live = append(live, name)
			}
		}
		if len(live) == 1 {
			for _, name := range primaries {
				if name != live[0] {
					degraded("%s runs as a primary but cannot commit (no synchronous standby attached) and does not hold the VIP: it was failed over; it stops once it reaches %s (pgplay-watch), or bring it back with: pgplay run playbooks/rejoin.yaml -i INVENTORY --limit %s",
						name, live[0], name)
				}
			}
			primaries = live
		}
	}
	switch len(primaries) {
	case 0:
		refused := false
		for _, n := range r.Nodes {
			if n.Reachable && n.PromoteRefused != "" {
				refused = true
				down("no primary: %s refuses to promote: %s; to promote it anyway (it may lose acknowledged commits): pgplay run playbooks/promote.yaml -i INVENTORY --limit %s -e force=true",
					n.Name, n.PromoteRefused, n.Name)
			}
		}
		if !refused {
			down("no primary: no node answers pg_is_in_recovery() = false; see why no standby took over: journalctl -t pgplay-promote on the standbys")
		}
	case 1:
		r.Primary = primaries[0]
	default:
		down("%d primaries (%s): split brain; fence all but one (see docs/operations.md)", len(primaries), strings.Join(primaries, ", "))
	}
	primary := r.node(r.Primary)
	// keepalived stopped on the primary takes the VIP with it: say so
	// once, as the cause of the missing VIP.
	vipLeftWithKeepalived := false
	if r.VIP != "" {
		switch {
		case len(vipHolders) == 0 && primary != nil && primary.Keepalived != "" && primary.Keepalived != "active":
			vipLeftWithKeepalived = true
			down("the VIP %s is on no node: keepalived is %s on the primary %s: the VIP left with it; start it on %s: systemctl start keepalived",
				r.VIP, primary.Keepalived, primary.Name, primary.Name)
		case len(vipHolders) == 0:
			down("the VIP %s is on no node: clients cannot connect; see journalctl -u keepalived and pgplay-check's verdict on the nodes", r.VIP)
		case len(vipHolders) > 1:
			down("the VIP %s is on %d nodes (%s): keepalived on them cannot hear each other; check the network between them and journalctl -u keepalived",
				r.VIP, len(vipHolders), strings.Join(vipHolders, ", "))
		case primary != nil && vipHolders[0] != primary.Name:
			down("the VIP %s is on %s, which is not the primary (%s): clients reach the wrong node; see journalctl -u keepalived on %s and %s",
				r.VIP, vipHolders[0], primary.Name, vipHolders[0], primary.Name)
		}
	}

	r.judgeMaintenance(degraded)
	for _, n := range r.Nodes {
		r.judgeNode(n, degraded, vipLeftWithKeepalived && n == primary)
	}
	if primary != nil {
		r.judgePrimary(primary, down, degraded)
	}
	for _, b := range r.Barman {
		switch {
		case !b.Reachable:
			degraded("barman host %s is unreachable: %s", b.Host, b.Error)
		case !b.CheckOK:
			degraded("barman check on %s: %s; details: barman check all (as barman) on %s", b.Host, dash(nagiosText(b.Check)), b.Host)
		case b.Backups == 0:
			degraded("barman has no backup yet on %s; take one: barman backup all (as barman) on %s", b.Host, b.Host)
		}
	}

	switch {
	case len(r.Problems) > 0:
		r.Level, r.State = LevelDown, "down"
	case len(r.Warnings) > 0:
		r.Level, r.State = LevelDegraded, "degraded"
	default:
		r.Level, r.State = LevelHealthy, "healthy"
	}
}

// judgeNode adds the level-1 reasons one node gives. keepalivedReported
// is true when its stopped keepalived is already a level-2 reason.
func (r *Report) judgeNode(n *Node, degraded func(string, ...any), keepalivedReported bool) {
	if !n.Reachable {
		degraded("%s is unreachable: %s", n.Name, n.Error)
		return
	}
	switch {
	case n.Fenced:
		reason := n.FenceReason
		if reason == "" {
			reason = "no reason recorded"
		}
		degraded("%s is fenced (%s); PostgreSQL is %s: bring it back with: pgplay run playbooks/rejoin.yaml -i INVENTORY --limit %s",
			n.Name, reason, map[bool]string{true: "stopped", false: "running"}[n.Role == "stopped"], n.Name)
	case n.Role == "stopped":
		degraded("%s: PostgreSQL is not answering (%s); a failed primary comes back with: pgplay run playbooks/rejoin.yaml -i INVENTORY --limit %s", n.Name, n.Error, n.Name)
	case n.Role == "standby" && !n.Streaming:
		degraded("%s: standby is not streaming; see its log (journalctl -u postgresql), or bring it back with: pgplay run playbooks/rejoin.yaml -i INVENTORY --limit %s", n.Name, n.Name)
	case n.Role == "standby" && r.Primary != "" && n.Upstream != r.Primary:
		degraded("%s streams from %s, not from the primary %s; pgplay-watch makes it follow within seconds, else: pgplay run playbooks/rejoin.yaml -i INVENTORY --limit %s",
			n.Name, dash(n.Upstream), r.Primary, n.Name)
	}
	if n.Keepalived != "" && n.Keepalived != "active" && !keepalivedReported {
		degraded("keepalived is %s on %s: it cannot take the VIP over; start it on %s: systemctl start keepalived", n.Keepalived, n.Name, n.Name)
	}
	// A stopped PostgreSQL is reported above; its "down" verdict says the same.
	if advice, ok := checkAdvice[n.Check]; ok && !(n.Check == "down" && n.Role == "stopped") {
		detail := dropEpoch(n.CheckDetail)
		if detail != "" {
			detail = " (" + detail + ")"
		}
		degraded("%s: its health check says %s%s: %s", n.Name, n.Check, detail, advice)
	}
	if n.PromoteRefused != "" && r.Primary != "" {
		degraded("%s refused to promote (%s), but %s is the primary now; clear the stale record on %s: rm /run/pgplay/promote.refused",
			n.Name, n.PromoteRefused, r.Primary, n.Name)
	}
}

// judgePrimary copies the primary's view of each standby (sync state and
// lag) to the standby's Node, and adds the reasons about commits waiting
// for a synchronous standby.
func (r *Report) judgePrimary(p *Node, down, degraded func(string, ...any)) {
	synced := false
	var streaming []string
	for _, rp := range p.Replicas {
		if rp.State == "streaming" && (rp.SyncState == "sync" || rp.SyncState == "quorum") {
			synced = true
		}
		for _, n := range r.Nodes {
			if n.Name == rp.Name || (rp.Addr != "" && n.Addr == rp.Addr && strings.HasPrefix(rp.Name, n.Name)) {
				n.SyncState = rp.SyncState
				if rp.LagBytes != nil {
					n.LagBytes = rp.LagBytes
				}
				if rp.LagSeconds != nil {
					n.LagSeconds = rp.LagSeconds
				}
				if rp.State == "streaming" {
					streaming = append(streaming, n.Name)
				}
			}
		}
	}
	if strings.TrimSpace(p.SyncNames) != "" && !synced {
		todo := "bring a standby back: pgplay run playbooks/rejoin.yaml -i INVENTORY --limit NODE"
		if len(streaming) > 0 {
			todo = "name a streaming standby: pgplay role sync_standby -i INVENTORY -e sync_standbys=" + strings.Join(streaming, ",")
		}
		down("writes hang: no synchronous standby is attached to %s (synchronous_standby_names = '%s'); %s", p.Name, p.SyncNames, todo)
		return
	}
	if w := p.SyncWaitSeconds; w != nil && *w > syncWaitLimit {
		degraded("commits on %s have waited %.1f s for a synchronous standby; see the SYNC and LAG columns, or name another: pgplay role sync_standby -i INVENTORY -e sync_standbys=NODE",
			p.Name, *w)
	}
}

// node returns the node called name, or nil.
func (r *Report) node(name string) *Node {
	for _, n := range r.Nodes {
		if name != "" && n.Name == name {
			return n
		}
	}
	return nil
}

// nagiosText is a Nagios plugin line without its performance data (the
// part after "|").
func nagiosText(line string) string {
	text, _, _ := strings.Cut(line, "|")
	return strings.TrimSpace(text)
}

// canCommit says whether primary p can acknowledge a commit: no
// synchronous standby named, or one attached and streaming.
func canCommit(p *Node) bool {
	if strings.TrimSpace(p.SyncNames) == "" {
		return true
	}
	for _, rp := range p.Replicas {
		if rp.State == "streaming" && (rp.SyncState == "sync" || rp.SyncState == "quorum") {
			return true
		}
	}
	return false
}

// judgeMaintenance adds one level-1 reason when maintenance mode is on on
// any node: automatic failover is paused there.
func (r *Report) judgeMaintenance(degraded func(string, ...any)) {
	var on, off []string
	var why string
	var since *time.Time
	for _, n := range r.Nodes {
		switch {
		case n.Maintenance != "":
			on = append(on, n.Name)
			why = n.Maintenance
			if n.MaintenanceSince != nil && (since == nil || n.MaintenanceSince.Before(*since)) {
				since = n.MaintenanceSince
			}
		case n.Reachable:
			off = append(off, n.Name)
		}
	}
	if len(on) == 0 {
		return
	}
	when := ""
	if since != nil {
		when = ", since " + since.Format("2006-01-02 15:04 MST")
	}
	where := "for every node (" + strings.Join(on, ", ") + ")"
	if len(off) > 0 {
		where = "for " + strings.Join(on, ", ") + " only (not for " + strings.Join(off, ", ") + ")"
	}
	degraded("maintenance mode is on %s%s: %s; automatic failover is paused there (a failed primary is not replaced); end it with: pgplay run playbooks/maintenance.yaml -i INVENTORY -e maintenance=off",
		where, when, why)
}
