package api

import (
	"net/http"

	"dealcredit/app"
	"dealcredit/domain"
)

// meta is the command metadata of an HTTP request: the caller, the route
// and the request id.
func meta(r *http.Request) app.Meta {
	return app.Meta{
		Actor:         principalFrom(r.Context()).Actor(),
		Source:        "http " + r.Method + " " + r.URL.Path,
		CorrelationID: r.Header.Get("X-Request-Id"),
	}
}

// decide runs a decision through the command layer with the request's
// metadata (see app.Service.Decide).
func (s *server) decide(r *http.Request, fn func(t *app.Txn) ([]domain.Event, error)) (int64, []domain.Event, error) {
	res, err := s.app.Decide(r.Context(), meta(r), fn)
	return res.Position, res.Events, err
}

// update is a decision on one stream, guarded by its version.
func update[S any](s *server, r *http.Request, stream string, zero S, evolve func(S, domain.Event) S,
	decide func(S) ([]domain.Event, error)) (int64, []domain.Event, error) {
	return s.decide(r, func(t *app.Txn) ([]domain.Event, error) {
		st, err := app.LoadIn(t, stream, zero, evolve)
		if err != nil {
			return nil, err
		}
		return decide(st)
	})
}

// commandResult is the answer to a command.
type commandResult struct {
	Position int64    `json:"position"`
	ID       string   `json:"id,omitempty"`
	Status   string   `json:"status,omitempty"`
	Events   []string `json:"events"`
}

func (s *server) committed(w http.ResponseWriter, status int, pos int64, id, state string, events []domain.Event) {
	out := commandResult{Position: pos, ID: id, Status: state, Events: make([]string, 0, len(events))}
	for _, e := range events {
		out.Events = append(out.Events, e.EventType())
	}
	setPosition(w, pos)
	writeJSON(w, status, out)
}
