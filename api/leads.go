package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"dealcredit/app"
	"dealcredit/domain"
)

// MaxLeadParticipants caps the participants of an event lead.
const MaxLeadParticipants = domain.MaxLeadParticipants

type createLeadRequest struct {
	ID           string            `json:"id"`
	Geography    string            `json:"geography"`
	Source       domain.LeadSource `json:"source"`
	SourceName   string            `json:"source_name"`
	Participants []string          `json:"participants"`
	Customer     domain.Customer   `json:"customer"`
	// RespondBy (RFC 3339, optional) is the first offer's deadline when sooner
	// than the policy's lead_accept_hours (domain.CreateLead.RespondBy).
	RespondBy string `json:"respond_by"`
}

// parseTimestamp parses an RFC 3339 request field; empty is the zero time
// (the decider says where it is required).
func parseTimestamp(field, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return t, &Error{Code: CodeInvalid, Field: field, Rule: "format", Message: "must be an RFC 3339 timestamp like 2026-02-14T17:00:00Z, got " + domain.Quote(v)}
	}
	return t, nil
}

// leadResult is the answer to a lead command: the lead's state after it.
type leadResult struct {
	Position  int64    `json:"position"`
	ID        string   `json:"id"`
	Status    string   `json:"status"`
	PartnerID string   `json:"partner_id,omitempty"`
	Tier      string   `json:"tier,omitempty"`
	Deadline  string   `json:"deadline,omitempty"`
	Events    []string `json:"events"`
}

// leadStatus names a lead's state: offered, accepted or unassigned.
func leadStatus(l domain.LeadState) string {
	switch {
	case l.AcceptedBy != "":
		return "accepted"
	case l.Unassigned:
		return "unassigned"
	case l.Current != nil:
		return "offered"
	}
	return "open"
}

func (s *server) leadCommitted(w http.ResponseWriter, status int, res app.LeadDone) {
	l := res.Lead
	out := leadResult{Position: res.Position, ID: l.LeadID, Status: leadStatus(l), Events: res.EventTypes()}
	switch {
	case l.AcceptedBy != "":
		out.PartnerID = l.AcceptedBy
	case l.Current != nil:
		out.PartnerID, out.Tier = l.Current.PartnerID, string(l.Current.Tier)
		out.Deadline = l.Current.Deadline.UTC().Format(time.RFC3339)
	}
	setPosition(w, res.Position)
	writeJSON(w, status, out)
}

func (s *server) createLead() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req createLeadRequest
		if err := decodeJSON(w, r, &req); err != nil {
			s.fail(w, r, err)
			return
		}
		by, err := parseTimestamp("respond_by", req.RespondBy)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		res, err := s.app.CreateLead(r.Context(), meta(r), domain.CreateLead{LeadID: req.ID, Geography: req.Geography, Source: req.Source,
			SourceName: req.SourceName, Participants: req.Participants, Customer: req.Customer, RespondBy: by})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		w.Header().Set("Location", "/v1/leads/"+res.Lead.LeadID)
		s.leadCommitted(w, http.StatusCreated, res)
	}
}

// leadActions are the lead commands leadAction serves, by action. A
// partner token acts for itself on a lead offered to it; a channel manager
// acts for the partner the lead is offered to now.
var leadActions = map[string]reasonCommand[app.LeadDone]{
	"accept":  withoutReason((*app.Service).AcceptLead),
	"reject":  (*app.Service).DeclineLead,
	"cascade": withoutReason((*app.Service).CascadeLead),
}

// leadAction serves accept, reject and cascade.
func leadAction(action string) func(*server) http.HandlerFunc {
	return serveReasonCommand(leadActions[action], func(s *server, w http.ResponseWriter, _ string, res app.LeadDone) {
		s.leadCommitted(w, http.StatusOK, res)
	})
}

// leadOffer is one offer of a lead.
type leadOffer struct {
	PartnerID string      `json:"partner_id"`
	Tier      domain.Tier `json:"tier"`
	Round     int         `json:"round"`
	OfferedAt time.Time   `json:"offered_at"`
	Deadline  time.Time   `json:"deadline"`
	// Outcome is offered, accepted, declined or expired.
	Outcome string     `json:"outcome"`
	Reason  string     `json:"reason,omitempty"`
	At      *time.Time `json:"at,omitempty"`
}

// leadView is GET /v1/leads/{id}.
type leadView struct {
	ID           string            `json:"id"`
	Geography    string            `json:"geography"`
	Source       domain.LeadSource `json:"source"`
	SourceName   string            `json:"source_name"`
	Participants []string          `json:"participants"`
	Customer     domain.Customer   `json:"customer"`
	CreatedAt    time.Time         `json:"created_at"`
	Status       string            `json:"status"`
	PartnerID    string            `json:"partner_id,omitempty"`
	Offers       []leadOffer       `json:"offers"`
	Position     int64             `json:"position"`
}

// getLead reads the lead from its stream (always current). A partner sees
// a lead offered to it, with its own offers only.
func (s *server) getLead() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if len(id) > 64 {
			s.fail(w, r, errorf(CodeNotFound, "id", "lead not found"))
			return
		}
		head, err := s.Store.Head(r.Context())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		v, l, err := s.readLead(r.Context(), id)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if err := app.LeadVisible(meta(r), l, id); err != nil {
			s.fail(w, r, err)
			return
		}
		if p := principalFrom(r.Context()); p.Role == RolePartner {
			own := []leadOffer{}
			for _, o := range v.Offers {
				if o.PartnerID == p.PartnerID {
					own = append(own, o)
				}
			}
			v.Offers, v.Participants = own, []string{}
			if v.PartnerID != p.PartnerID {
				v.PartnerID = ""
				if v.Status != "unassigned" {
					v.Status = "closed"
				}
			}
		}
		v.Position = head
		setPosition(w, head)
		writeJSON(w, http.StatusOK, v)
	}
}

// readLead folds the lead's stream into its view and state.
func (s *server) readLead(ctx context.Context, id string) (leadView, domain.LeadState, error) {
	recs, err := s.Store.ReadStream(ctx, domain.LeadStream(id), 0)
	if err != nil {
		return leadView{}, domain.LeadState{}, fmt.Errorf("read %s: %w", domain.LeadStream(id), err)
	}
	var l domain.LeadState
	v := leadView{Offers: []leadOffer{}}
	for _, rec := range recs {
		e, err := domain.Decode(rec.Type, rec.SchemaVersion, rec.Data)
		if err != nil {
			return leadView{}, l, fmt.Errorf("decode %s at position %d: %w", rec.Type, rec.Position, app.Internal(err))
		}
		l = domain.EvolveLead(l, e)
		last := len(v.Offers) - 1
		switch e := e.(type) {
		case domain.LeadOffered:
			v.Offers = append(v.Offers, leadOffer{PartnerID: e.PartnerID, Tier: e.Tier, Round: e.Round, OfferedAt: e.OfferedAt,
				Deadline: e.Deadline, Outcome: "offered"})
		case domain.LeadAccepted:
			if last >= 0 {
				at := e.At
				v.Offers[last].Outcome, v.Offers[last].At = "accepted", &at
			}
		case domain.LeadDeclined:
			if last >= 0 {
				at := e.At
				v.Offers[last].Outcome, v.Offers[last].Reason, v.Offers[last].At = "declined", e.Reason, &at
				if e.Expired {
					v.Offers[last].Outcome = "expired"
				}
			}
		}
	}
	c := l.LeadCreated
	v.ID, v.Geography, v.Source, v.SourceName, v.Customer, v.CreatedAt = c.LeadID, c.Geography, c.Source, c.SourceName, c.Customer, c.CreatedAt
	v.Participants = nonNil(c.Participants)
	v.Status = leadStatus(l)
	switch {
	case l.AcceptedBy != "":
		v.PartnerID = l.AcceptedBy
	case l.Current != nil:
		v.PartnerID = l.Current.PartnerID
	}
	return v, l, nil
}
