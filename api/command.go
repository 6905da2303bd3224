package api

import (
	"context"
	"net/http"

	"dealcredit/app"
	"dealcredit/domain"
)

// meta is the command metadata of an HTTP request: the caller, the route
// and the request id.
func meta(r *http.Request) app.Meta {
	p := principalFrom(r.Context())
	md := app.Meta{
		Actor:         p.Actor(),
		Source:        "http " + r.Method + " " + r.URL.Path,
		CorrelationID: r.Header.Get("X-Request-Id"),
	}
	if p.Role == RolePartner {
		md.Partner = p.PartnerID
	}
	return md
}

// commandResult is the answer to a command.
type commandResult struct {
	Position int64    `json:"position"`
	ID       string   `json:"id,omitempty"`
	Status   string   `json:"status,omitempty"`
	Events   []string `json:"events"`
}

func (s *server) committed(w http.ResponseWriter, status int, pos int64, id, state string, events []domain.Event) {
	setPosition(w, pos)
	writeJSON(w, status, newCommandResult(pos, id, state, events))
}

// newCommandResult is the answer to a command that committed events at pos.
func newCommandResult(pos int64, id, state string, events []domain.Event) commandResult {
	out := commandResult{Position: pos, ID: id, Status: state, Events: make([]string, 0, len(events))}
	for _, e := range events {
		out.Events = append(out.Events, e.EventType())
	}
	return out
}

// reasonCommand is a command on the resource {id} whose request body is an
// optional {"reason": ...}.
type reasonCommand[R any] func(a *app.Service, ctx context.Context, md app.Meta, id, reason string) (R, error)

// withoutReason is a reasonCommand for a command that takes no reason.
func withoutReason[R any](cmd func(a *app.Service, ctx context.Context, md app.Meta, id string) (R, error)) reasonCommand[R] {
	return func(a *app.Service, ctx context.Context, md app.Meta, id, _ string) (R, error) {
		return cmd(a, ctx, md, id)
	}
}

// serveReasonCommand serves cmd: decode the optional reason, call, answer.
func serveReasonCommand[R any](cmd reasonCommand[R], answer func(s *server, w http.ResponseWriter, id string, res R)) func(*server) http.HandlerFunc {
	if cmd == nil {
		panic("api: a route names an action without a command") // Routes() is wrong: fail at start, not per request
	}
	return func(s *server) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			id := r.PathValue("id")
			var req reasonRequest
			if err := decodeOptional(w, r, &req); err != nil {
				s.fail(w, r, err)
				return
			}
			res, err := cmd(s.app, r.Context(), meta(r), id, req.Reason)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			answer(s, w, id, res)
		}
	}
}
