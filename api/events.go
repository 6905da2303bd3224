package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/google/uuid"
)

// MaxEventsPage caps GET /v1/events?limit=.
const MaxEventsPage = 1000

type eventJSON struct {
	Position      int64           `json:"position"`
	StreamID      string          `json:"stream_id"`
	StreamVersion int64           `json:"stream_version"`
	ID            uuid.UUID       `json:"id"`
	Type          string          `json:"type"`
	SchemaVersion int             `json:"schema_version"`
	Data          json.RawMessage `json:"data"`
	Metadata      json.RawMessage `json:"metadata"`
	OccurredAt    time.Time       `json:"occurred_at"`
	RecordedAt    time.Time       `json:"recorded_at"`
	PrevHash      []byte          `json:"prev_hash"`
	Hash          []byte          `json:"hash"`
}

// eventPage is GET /v1/events: a page of the log and where the next starts.
type eventPage struct {
	Events []eventJSON `json:"events"`
	Next   int64       `json:"next_after"`
	Head   int64       `json:"head"`
}

// events serves the log in order to auditors, one page at a time.
func (s *server) events() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		after, err := queryInt(r, "after", 0, 0, 1<<62)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		limit, err := queryInt(r, "limit", 100, 1, MaxEventsPage)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		head, err := s.Store.Head(r.Context())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		recs, err := s.Store.ReadAll(r.Context(), after, int(limit))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		out := eventPage{Events: make([]eventJSON, 0, len(recs)), Next: after, Head: head}
		for _, rec := range recs {
			md := rec.Metadata
			if len(md) == 0 {
				md = json.RawMessage("{}")
			}
			out.Events = append(out.Events, eventJSON{rec.Position, rec.StreamID, rec.StreamVersion, rec.ID, rec.Type,
				rec.SchemaVersion, rec.Data, md, rec.OccurredAt, rec.RecordedAt, rec.PrevHash, rec.Hash})
			out.Next = rec.Position
		}
		if out.Head < out.Next {
			out.Head = out.Next
		}
		setPosition(w, out.Head)
		writeJSON(w, http.StatusOK, out)
	}
}
