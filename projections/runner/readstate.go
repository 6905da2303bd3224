package runner

import (
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// ReadState is how far a read model is, read by the same statement (and so
// in the same snapshot) as the rows it comes with: the projection's
// checkpoint (position, status, the event it is stopped at) and the log's
// head.
type ReadState struct {
	Checkpoint
	// Head is the position of the log's last event in that snapshot (0 for
	// an empty log); never below the checkpoint's position.
	Head int64

	scratch scratch
}

// ReadStateColumns is the number of columns ReadStateFrom selects, before
// the columns of the rows a query joins to it.
const ReadStateColumns = 7

// ReadStateFrom returns the SQL of a one-row derived table (no row when the
// projection named name has no checkpoint yet) with the projection's state
// as ReadStateDest scans it: put it first in the FROM of a query and LEFT
// JOIN the rows to it, so the one statement answers the state and the rows
// together, and the state even when there are no rows. fixed >= 0 is the
// state of a replay schema, which has no checkpoint row: that position, idle,
// and the head at it.
func ReadStateFrom(name string, fixed int64) string {
	if fixed >= 0 {
		p := strconv.FormatInt(fixed, 10)
		return `(SELECT ` + p + `::bigint AS rs_position, 'idle'::text AS rs_status, NULL::text AS rs_error,
			NULL::bigint AS rs_failed_position, NULL::text AS rs_failed_type, NULL::text AS rs_failed_event_id,
			` + p + `::bigint AS rs_head) rs`
	}
	return `(SELECT position AS rs_position, status AS rs_status, error AS rs_error, failed_position AS rs_failed_position,
			failed_type AS rs_failed_type, failed_event_id AS rs_failed_event_id,
			coalesce((SELECT e.position FROM public.events e ORDER BY e.position DESC LIMIT 1), 0) AS rs_head
		FROM projection_checkpoints WHERE name = ` + quoteLiteral(name) + `) rs`
}

// ReadStateSelect is the select list of ReadStateFrom's columns, in
// ReadStateDest's order.
const ReadStateSelect = `rs.rs_position, rs.rs_status, rs.rs_error, rs.rs_failed_position, rs.rs_failed_type, rs.rs_failed_event_id, rs.rs_head`

// ReadStateDest returns the scan destinations of ReadStateSelect's columns
// for st, to put first in a row's Scan; call st.Finish after the scan.
func (st *ReadState) ReadStateDest(name string) []any {
	st.Checkpoint = Checkpoint{Name: name}
	st.scratch = scratch{}
	return []any{&st.Position, &st.Status, &st.scratch.err, &st.scratch.failedPos, &st.scratch.failedType, &st.scratch.failedID, &st.Head}
}

// Finish moves the nullable columns ReadStateDest scanned into the
// checkpoint and keeps Head at or above its position.
func (st *ReadState) Finish() {
	s := st.scratch
	if s.err != nil {
		st.Error = *s.err
	}
	if s.failedPos != nil {
		st.FailedPosition = *s.failedPos
	}
	if s.failedType != nil {
		st.FailedType = *s.failedType
	}
	if s.failedID != nil {
		st.FailedEventID = *s.failedID
	}
	st.Head = max(st.Head, st.Position)
}

// scratch holds ReadStateDest's nullable columns until Finish.
type scratch struct {
	err, failedType, failedID *string
	failedPos                 *int64
}

// NoCheckpoint is the error of a read whose projection has no checkpoint
// row (not set up yet), as ReadCheckpoint returns it.
func NoCheckpoint(name string) error {
	_, err := scanCheckpoint(noRow{}, name)
	return err
}

// noRow is a pgx.Row without a row.
type noRow struct{}

func (noRow) Scan(...any) error { return pgx.ErrNoRows }

func quoteLiteral(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }
