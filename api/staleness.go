package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"dealcredit/projections/runner"
)

// Read models the queries are served from (the projections' names).
const (
	ModelAttribution = "attribution" // ledger, statements, revenue mix, registrations, explain
	ModelLeads       = "leads"       // seats
)

// LogHeadHeader carries, on a query's answer, the log's head when the
// query was served: Dealcredit-Position below it means the read model is
// that many events behind.
const LogHeadHeader = "Dealcredit-Log-Head"

// StoppedHeader is set on a query's answer when its read model is stopped
// at an event it cannot apply: its value is that event's position.
const StoppedHeader = "Dealcredit-Projection-Stopped"

// ReadModel is how far a read model is.
type ReadModel struct {
	Name string `json:"name"`
	// Position is the log position the read model reflects.
	Position int64 `json:"position"`
	// Head is the log's head when the state was read.
	Head int64 `json:"head"`
	// Stopped is set while the read model is stopped at an event it cannot
	// apply: it stays at Position until an operator skips the event.
	Stopped *StoppedAt `json:"stopped,omitempty"`
}

// StoppedAt is the event a read model is stopped at.
type StoppedAt struct {
	Position int64  `json:"position"`
	EventID  string `json:"event_id,omitempty"`
	Type     string `json:"type"`
	Reason   string `json:"reason"`
}

// ReadModelOf is the state st of the read model name as the API reports it.
func ReadModelOf(name string, st runner.ReadState) ReadModel {
	rm := ReadModel{Name: name, Position: st.Position, Head: max(st.Head, st.Position)}
	if st.Status == runner.StateFailed {
		rm.Stopped = &StoppedAt{Position: st.FailedPosition, EventID: st.FailedEventID, Type: st.FailedType, Reason: st.Error}
	}
	return rm
}

// readModel waits (bounded by WaitTimeout) until the read model name
// reached the requested minimum position and returns its state. A minimum
// the model cannot reach because it is stopped before it answers at once
// with a projection_stopped problem (503) naming the event.
func (s *server) readModel(r *http.Request, name string) (ReadModel, error) {
	if s.Queries == nil {
		return ReadModel{}, errorf(CodeUnavailable, "", "the read models are not available in this process")
	}
	min, err := minPosition(r)
	if err != nil {
		return ReadModel{}, err
	}
	return s.readModelAt(r.Context(), name, min)
}

// readModelAt is readModel with the minimum position given.
func (s *server) readModelAt(ctx context.Context, name string, min int64) (ReadModel, error) {
	if s.Queries == nil {
		return ReadModel{}, errorf(CodeUnavailable, "", "the read models are not available in this process")
	}
	ctx, cancel := context.WithTimeout(ctx, s.WaitTimeout)
	defer cancel()
	delay := 5 * time.Millisecond
	for {
		rm, err := s.Queries.ReadModel(ctx, name)
		if err != nil {
			if ctx.Err() != nil && min > 0 {
				return rm, errorf(CodeTimeout, "min_position", "the %s read model did not reach position %d within %s", name, min, s.WaitTimeout)
			}
			return rm, err
		}
		if rm.Position >= min {
			return rm, nil
		}
		if st := rm.Stopped; st != nil && min >= st.Position {
			return rm, &stoppedError{readModel: rm, err: errorf(CodeProjectionStopped, "min_position",
				"the %s read model is stopped at position %d (%s, event %s): %s; it reflects position %d of %d and cannot reach %d until an operator skips that event",
				name, st.Position, st.Type, st.EventID, st.Reason, rm.Position, rm.Head, min)}
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return rm, errorf(CodeTimeout, "min_position", "the %s read model did not reach position %d within %s (at %d)", name, min, s.WaitTimeout, rm.Position)
		case <-t.C:
		}
		delay = min64(delay*2, 100*time.Millisecond)
	}
}

// setStaleness writes the read model's position, the log head and, when it
// is stopped, the stopped event's position as headers.
func setStaleness(w http.ResponseWriter, rm ReadModel) {
	setPosition(w, rm.Position)
	w.Header().Set(LogHeadHeader, strconv.FormatInt(rm.Head, 10))
	if rm.Stopped != nil {
		w.Header().Set(StoppedHeader, strconv.FormatInt(rm.Stopped.Position, 10))
	}
}
