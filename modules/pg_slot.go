package modules

import (
	"context"
	"fmt"
	"regexp"

	"github.com/pgplay/pgplay/internal/transport"
)

func init() {
	Register(Spec{
		Name:    "pg_slot",
		Returns: "name, state: the slot\nactive: whether a client streams from it\nrestart_lsn: the oldest WAL it keeps",
		Purpose: "Create or drop a physical replication slot.",
		Examples: []string{
			`- name: A slot for barman's WAL streaming, keeping WAL from now on
  pg_slot:
    name: barman
    immediately_reserve: true`,
			`- name: Drop the slot of the decommissioned node3 (else WAL piles up)
  pg_slot:
    name: node3
    state: absent`,
		},
		New: func() Module { return &PGSlot{} },
	})
}

// PGSlot manages a physical replication slot.
type PGSlot struct {
	Name               string `arg:"name,required" aliases:"slot_name" doc:"slot name: lower-case letters, digits and _"`
	State              string `arg:"state" default:"present" choices:"present|absent" doc:"present: the slot exists; absent: it is dropped (refused while a client streams from it)"`
	ImmediatelyReserve bool   `arg:"immediately_reserve" default:"false" doc:"reserve WAL from creation on (otherwise from the first client's connection)"`
	PGConn
}

var slotName = regexp.MustCompile(`^[a-z0-9_]{1,63}$`)

// Validate checks the slot name.
func (m *PGSlot) Validate() error {
	if err := m.PGConn.validate(); err != nil {
		return err
	}
	if !slotName.MatchString(m.Name) {
		return &ArgError{Arg: "name", Msg: fmt.Sprintf("%q is not a valid replication slot name", m.Name),
			Hint: "PostgreSQL allows lower-case letters, digits and underscores, up to 63 characters"}
	}
	return nil
}

// Run brings the slot to the wanted state.
func (m *PGSlot) Run(ctx context.Context, t transport.Target, env *Env) (*Result, error) {
	rows, err := pgRows(ctx, t, m.PGConn,
		"SELECT slot_name, slot_type, active, coalesce(active_pid::text, '') AS active_pid, coalesce(restart_lsn::text, '') AS restart_lsn FROM pg_replication_slots WHERE slot_name = "+sqlLiteral(m.Name)+";\n")
	if err != nil {
		return pgFailed(err)
	}
	res := &Result{Data: map[string]any{"name": m.Name, "state": m.State}}
	var sql string
	switch {
	case len(rows) == 0 && m.State == "absent":
		return res, nil
	case len(rows) == 0:
		sql = fmt.Sprintf("SELECT pg_create_physical_replication_slot(%s, %t);\n", sqlLiteral(m.Name), m.ImmediatelyReserve)
		res.Msg = "slot created"
	case rows[0]["slot_type"] != "physical":
		return failed(res, "slot %q exists but is a %s slot, not a physical one; drop it first (pg_query: SELECT pg_drop_replication_slot('%s'))",
			m.Name, rows[0]["slot_type"], m.Name), nil
	case m.State == "present":
		res.Data["active"] = pgBool(rows[0]["active"])
		res.Data["restart_lsn"] = rows[0]["restart_lsn"]
		return res, nil
	case pgBool(rows[0]["active"]):
		return failed(res, "slot %q is in use by the process %s (a standby or pg_receivewal streaming from it); stop that client first, then drop the slot",
			m.Name, rows[0]["active_pid"]), nil
	default:
		sql = fmt.Sprintf("SELECT pg_drop_replication_slot(%s);\n", sqlLiteral(m.Name))
		res.Msg = "slot dropped"
	}
	if _, err := pgExec(ctx, t, m.PGConn, sql); err != nil {
		return pgFailed(err)
	}
	res.Changed = true
	return res, nil
}
