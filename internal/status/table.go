package status

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteTable prints the report as one table, a line per barman host, the
// reasons the cluster is down ("down: ...") or degraded ("degraded:
// ..."), one a line, and last the cluster's state ("cluster: healthy
// (...)", "cluster: degraded (...): N problem(s)" or "cluster: DOWN:
// REASON").
func (r *Report) WriteTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tROLE\tTL\tUPSTREAM\tLAG_BYTES\tLAG_S\tSYNC\tVIP\tKEEPALIVED")
	for _, n := range r.Nodes {
		lb, ls := fmtLag(n.LagBytes, n.LagSeconds)
		role := n.Role
		if !n.Reachable {
			role = "unreachable"
		}
		tl := "-"
		if n.Timeline > 0 {
			tl = fmt.Sprint(n.Timeline)
		}
		up := dash(n.Upstream)
		if n.Role == "standby" && !n.Streaming {
			up += " (not streaming)"
		}
		vip := "-"
		if n.HasVIP {
			vip = "yes"
		}
		ka := n.Keepalived
		if n.VRRPState != "" {
			ka += "/" + n.VRRPState
		}
		switch {
		case n.Fenced:
			ka += " fenced"
		case n.Check == "stale" || n.Check == "isolated" || n.Check == "hold" || n.Check == "stuck" || n.Check == "paused":
			ka += " " + n.Check
		}
		if !n.Reachable {
			ka = "?"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, role, tl, up, lb, ls, dash(n.SyncState), vip, ka)
	}
	tw.Flush()
	for _, b := range r.Barman {
		switch {
		case !b.Reachable:
			fmt.Fprintf(w, "\nbarman %s: unreachable\n", b.Host)
		default:
			fmt.Fprintf(w, "\nbarman %s: %d backup(s), last %s; check: %s\n", b.Host, b.Backups, dash(b.LastBackup), dash(nagiosText(b.Check)))
		}
	}
	fmt.Fprintln(w)
	for _, p := range r.Problems {
		fmt.Fprintln(w, "down: "+p)
	}
	for _, x := range r.Warnings {
		fmt.Fprintln(w, "degraded: "+x)
	}
	fmt.Fprintln(w, r.summary())
}

// summary is the table's last line: the cluster's state, and the primary
// and the VIP while it serves, or the first reason it is down.
func (r *Report) summary() string {
	if r.Level >= LevelDown && len(r.Problems) > 0 {
		return "cluster: DOWN: " + r.Problems[0]
	}
	where := "primary " + dash(r.Primary)
	if r.VIP != "" {
		where += ", VIP " + r.VIP + " on it"
	}
	if r.Level == LevelDegraded {
		return fmt.Sprintf("cluster: degraded (%s): %d problem(s)", where, len(r.Warnings))
	}
	return "cluster: healthy (" + where + ")"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
