package api

import (
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
	out := commandResult{Position: pos, ID: id, Status: state, Events: make([]string, 0, len(events))}
	for _, e := range events {
		out.Events = append(out.Events, e.EventType())
	}
	setPosition(w, pos)
	writeJSON(w, status, out)
}
