package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
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

func (s *server) leadCommitted(w http.ResponseWriter, status int, pos int64, l domain.LeadState, events []domain.Event) {
	out := leadResult{Position: pos, ID: l.LeadID, Status: leadStatus(l), Events: make([]string, 0, len(events))}
	switch {
	case l.AcceptedBy != "":
		out.PartnerID = l.AcceptedBy
	case l.Current != nil:
		out.PartnerID, out.Tier = l.Current.PartnerID, string(l.Current.Tier)
		out.Deadline = l.Current.Deadline.UTC().Format(time.RFC3339)
	}
	for _, e := range events {
		out.Events = append(out.Events, e.EventType())
	}
	setPosition(w, pos)
	writeJSON(w, status, out)
}

// decideLead decides a lead command through the command layer (see
// app.Service.OnLead) and returns the lead as the committed events leave it.
func (s *server) decideLead(r *http.Request, id string, cmd func(l domain.LeadState) (any, error)) (int64, []domain.Event, domain.LeadState, error) {
	res, err := s.app.OnLead(r.Context(), meta(r), id, cmd)
	return res.Position, res.Events, res.Lead, err
}

// leadFor returns the lead for the caller: a partner token sees only a
// lead that was offered to it; anything else is 404 (its existence is not
// revealed).
func leadFor(r *http.Request, l domain.LeadState, id string) error {
	p := principalFrom(r.Context())
	if l.LeadID == "" || (p.Role == RolePartner && !slices.Contains(l.Offered, p.PartnerID)) {
		return errorf(CodeNotFound, "id", "lead %s not found", quoteShort(id))
	}
	return nil
}

func (s *server) createLead() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req createLeadRequest
		if err := decodeJSON(w, r, &req); err != nil {
			s.fail(w, r, err)
			return
		}
		if err := checkLeadRequest(&req); err != nil {
			s.fail(w, r, err)
			return
		}
		if req.ID == "" {
			req.ID = s.NewID().String()
		}
		pos, evs, l, err := s.decideLead(r, req.ID, func(domain.LeadState) (any, error) {
			return domain.CreateLead{LeadID: req.ID, Geography: req.Geography, Source: req.Source, SourceName: req.SourceName,
				Participants: req.Participants, Customer: req.Customer}, nil
		})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		w.Header().Set("Location", "/v1/leads/"+req.ID)
		s.leadCommitted(w, http.StatusCreated, pos, l, evs)
	}
}

// checkLeadRequest checks what the decider does not: sizes, the
// participants list and the customer's name.
func checkLeadRequest(req *createLeadRequest) error {
	if req.ID != "" {
		if err := checkID("id", req.ID); err != nil {
			return err
		}
	}
	if err := checkID("geography", req.Geography); err != nil {
		return err
	}
	if req.Source != domain.LeadFromCampaign && req.Source != domain.LeadFromEvent {
		return &Error{Code: CodeInvalid, Field: "source", Rule: "enum", Message: "source must be campaign or event, got " + quoteShort(string(req.Source))}
	}
	if len(req.Participants) > 0 && req.Source != domain.LeadFromEvent {
		return &Error{Code: CodeInvalid, Field: "participants", Rule: "event_only", Message: "participants are only for leads from an event"}
	}
	if len(req.Participants) > MaxLeadParticipants {
		return &Error{Code: CodeInvalid, Field: "participants", Rule: "max_items", Message: fmt.Sprintf("participants may list at most %d partners", MaxLeadParticipants)}
	}
	seen := map[string]bool{}
	for i, p := range req.Participants {
		field := fmt.Sprintf("participants[%d]", i)
		if err := checkID(field, p); err != nil {
			return err
		}
		if seen[p] {
			return &Error{Code: CodeInvalid, Field: field, Rule: "unique", Message: "partner " + p + " is listed twice"}
		}
		seen[p] = true
	}
	if req.Customer.Name == "" {
		return &Error{Code: CodeInvalid, Field: "customer.name", Rule: "required", Message: "customer.name is required"}
	}
	return nil
}

// leadAction serves accept, reject and cascade. A partner token acts for
// itself on a lead offered to it; a channel manager acts for the partner
// the lead is offered to now.
func leadAction(action string) func(*server) http.HandlerFunc {
	return func(s *server) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			id := r.PathValue("id")
			var req reasonRequest
			if err := decodeOptional(w, r, &req); err != nil {
				s.fail(w, r, err)
				return
			}
			if len(id) > 64 {
				s.fail(w, r, errorf(CodeNotFound, "id", "lead not found"))
				return
			}
			p := principalFrom(r.Context())
			pos, evs, l, err := s.decideLead(r, id, func(l domain.LeadState) (any, error) {
				if err := leadFor(r, l, id); err != nil {
					return nil, err
				}
				partnerID := p.PartnerID
				if p.Role != RolePartner && l.Current != nil {
					partnerID = l.Current.PartnerID
				}
				switch action {
				case "accept":
					return domain.AcceptLead{PartnerID: partnerID}, nil
				case "reject":
					return domain.DeclineLead{PartnerID: partnerID, Reason: req.Reason}, nil
				}
				return domain.CascadeLead{}, nil
			})
			if err != nil {
				s.fail(w, r, err)
				return
			}
			s.leadCommitted(w, http.StatusOK, pos, l, evs)
		}
	}
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
		if err := leadFor(r, l, id); err != nil {
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

// seats serves GET /v1/geographies/{geo}/seats from the leads-and-seats
// read model.
func (s *server) seats() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		geo := r.PathValue("geo")
		if !validGeo(geo) {
			s.fail(w, r, &Error{Code: CodeInvalid, Field: "geo", Rule: "format", Message: "geo must be 1-64 characters of a-z, 0-9, '_' or '-'"})
			return
		}
		s.serveQuery(w, r, ModelLeads, func(ctx context.Context) (any, error) { return s.Queries.Seats(ctx, geo) }, nil, "")
	}
}
