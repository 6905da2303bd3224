package api

import (
	"bytes"
	"net/http"

	"dealcredit/app"
	"dealcredit/domain"
)

type registerRequest struct {
	PartnerID          string           `json:"partner_id"`
	Customer           domain.Customer  `json:"customer"`
	Geography          string           `json:"geography"`
	SizeBand           string           `json:"size_band"`
	Segments           []domain.Segment `json:"segments"`
	ExpectedValueMinor *int64           `json:"expected_value_minor"`
	Currency           string           `json:"currency"`
	OEMID              string           `json:"oem_id"`
}

type dealCreated struct {
	DealID   string            `json:"deal_id"`
	Status   domain.DealStatus `json:"status"`
	Position int64             `json:"position"`
	// ConflictsWith names the conflicting deals for a channel manager; a
	// partner gets an empty list (another partner's deal is not its business).
	ConflictsWith []string `json:"conflicts_with"`
	// Conflict says, to every caller, that another partner holds the customer.
	Conflict string `json:"conflict,omitempty"`
}

// conflictNotice is what a conflict says to a partner: never the other
// partner or its deal.
const conflictNotice = "another partner has registered this customer"

// conflictView is one conflict of a deal. A partner sees the segments and
// the date only; the conflicting deal and partner are for the channel.
type conflictView struct {
	WithDealID    string           `json:"with_deal_id,omitempty"`
	WithPartnerID string           `json:"with_partner_id,omitempty"`
	Segments      []domain.Segment `json:"segments"`
	On            domain.Date      `json:"on"`
	Detail        string           `json:"detail"`
}

// conflictViews shows a deal's conflicts to the caller's role.
func conflictViews(r *http.Request, cs []domain.DealConflicted) []conflictView {
	partner := principalFrom(r.Context()).Role == RolePartner
	out := make([]conflictView, 0, len(cs))
	for _, c := range cs {
		v := conflictView{Segments: c.Segments, On: c.On, Detail: conflictNotice}
		if !partner {
			v.WithDealID, v.WithPartnerID = c.WithDealID, c.WithPartnerID
		}
		out = append(out, v)
	}
	return out
}

// registerDeal registers a deal. A partner token registers for its own
// partner (partner_id may be omitted; another id is refused with 403); a
// channel manager names the partner.
func (s *server) registerDeal() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req registerRequest
		if err := decodeJSON(w, r, &req); err != nil {
			s.fail(w, r, err)
			return
		}
		p := principalFrom(r.Context())
		if p.Role == RolePartner {
			if req.PartnerID != "" && req.PartnerID != p.PartnerID {
				s.fail(w, r, &Error{Code: CodeForbidden, Field: "partner_id", Rule: "partner.own",
					Message: "a partner token registers deals for its own partner only"})
				return
			}
			req.PartnerID = p.PartnerID
		}
		if err := checkID("partner_id", req.PartnerID); err != nil {
			s.fail(w, r, err)
			return
		}
		if req.ExpectedValueMinor == nil {
			s.fail(w, r, &Error{Code: CodeInvalid, Field: "expected_value_minor", Rule: "required", Message: "expected_value_minor is required"})
			return
		}
		if *req.ExpectedValueMinor <= 0 {
			s.fail(w, r, &Error{Code: CodeInvalid, Field: "expected_value_minor", Rule: "positive", Message: "expected_value_minor must be a positive integer in minor units"})
			return
		}
		for i, seg := range req.Segments {
			if !seg.Valid() {
				s.fail(w, r, &Error{Code: CodeInvalid, Field: "segments[" + itoa(i) + "]", Rule: "enum",
					Message: "unknown segment " + quoteShort(string(seg)) + " (client_management, server_management, asset_management)"})
				return
			}
		}
		res, err := s.app.RegisterDeal(r.Context(), meta(r), domain.Register{PartnerID: req.PartnerID, Customer: req.Customer,
			Geography: req.Geography, SizeBand: req.SizeBand, Segments: req.Segments, OEMID: req.OEMID,
			ExpectedValue: domain.Money{Amount: *req.ExpectedValueMinor, Currency: req.Currency}})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		dealID, pos, evs := res.ID, res.Position, res.Events
		out := dealCreated{DealID: dealID, Status: domain.StatusPending, Position: pos, ConflictsWith: []string{}}
		partner := principalFrom(r.Context()).Role == RolePartner
		for _, e := range evs {
			if c, ok := e.(domain.DealConflicted); ok {
				out.Status, out.Conflict = domain.StatusConflict, conflictNotice
				if !partner {
					out.ConflictsWith = append(out.ConflictsWith, c.WithDealID)
				}
			}
		}
		setPosition(w, pos)
		w.Header().Set("Location", "/v1/deals/"+dealID)
		writeJSON(w, http.StatusCreated, out)
	}
}

// loadDealFor loads a deal for the caller: missing, or another partner's
// deal for a partner token, is 404.
func loadDealFor(t *app.Txn, r *http.Request, id string) (domain.DealState, error) {
	if len(id) > 64 {
		return domain.DealState{}, errorf(CodeNotFound, "id", "deal not found")
	}
	d, err := app.LoadIn(t, domain.DealStream(id), domain.DealState{}, domain.EvolveDeal)
	if err != nil {
		return d, err
	}
	if !d.Exists() || ownPartner(r, d.PartnerID) != nil {
		return d, errorf(CodeNotFound, "id", "deal %s not found", quoteShort(id))
	}
	return d, nil
}

type reasonRequest struct {
	Reason string `json:"reason"`
}

// decodeOptional decodes a body that may be absent.
func decodeOptional(w http.ResponseWriter, r *http.Request, dst any) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	return decodeJSON(w, r, dst)
}

// dealAction serves approve, reject, withdraw, extend and override.
func dealAction(action string) func(*server) http.HandlerFunc {
	return func(s *server) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			id := r.PathValue("id")
			var req reasonRequest
			if err := decodeOptional(w, r, &req); err != nil {
				s.fail(w, r, err)
				return
			}
			by := principalFrom(r.Context()).Actor()
			var cmd any
			switch action {
			case "approve":
				cmd = domain.Approve{By: by}
			case "reject":
				cmd = domain.Reject{Reason: req.Reason, By: by}
			case "withdraw":
				cmd = domain.Withdraw{By: by}
			case "extend":
				cmd = domain.Extend{By: by}
			case "override":
				cmd = domain.Override{Reason: req.Reason, By: by}
			}
			var status domain.DealStatus
			pos, evs, err := s.decide(r, func(t *app.Txn) ([]domain.Event, error) {
				d, err := loadDealFor(t, r, id)
				if err != nil {
					return nil, err
				}
				x, err := app.DealContext(t, d.PartnerID, d.CustomerKey)
				if err != nil {
					return nil, err
				}
				evs, err := domain.DecideDeal(d, x, cmd, s.Clock())
				for _, e := range evs {
					d = domain.EvolveDeal(d, e)
				}
				status = d.Status
				return evs, err
			})
			if err != nil {
				s.fail(w, r, err)
				return
			}
			s.committed(w, http.StatusOK, pos, id, string(status), evs)
		}
	}
}

func (s *server) logEngagement() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		var req struct {
			Step       domain.Step `json:"step"`
			OccurredOn string      `json:"occurred_on"`
			OEMID      string      `json:"oem_id"`
			Notes      string      `json:"notes"`
		}
		if err := decodeJSON(w, r, &req); err != nil {
			s.fail(w, r, err)
			return
		}
		on, err := parseDate("occurred_on", req.OccurredOn)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if !req.Step.Valid() {
			s.fail(w, r, &Error{Code: CodeInvalid, Field: "step", Rule: "enum", Message: "unknown step " + quoteShort(string(req.Step)) +
				" (presales_support, proof_of_concept, sales_integration, knowledge_transfer, deployment, post_sales_implementation)"})
			return
		}
		if len(req.Notes) > 4000 {
			s.fail(w, r, &Error{Code: CodeInvalid, Field: "notes", Rule: "max_length", Message: "notes must be at most 4000 bytes"})
			return
		}
		p := principalFrom(r.Context())
		pos, evs, err := s.decide(r, func(t *app.Txn) ([]domain.Event, error) {
			d, err := loadDealFor(t, r, id)
			if err != nil {
				return nil, err
			}
			x, err := app.DealContext(t, d.PartnerID, "")
			if err != nil {
				return nil, err
			}
			return domain.DecideDeal(d, x, domain.LogEngagement{PartnerID: p.PartnerID, Step: req.Step, OccurredOn: on,
				OEMID: req.OEMID, Notes: req.Notes}, s.Clock())
		})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.committed(w, http.StatusCreated, pos, id, "", evs)
	}
}

func (s *server) serviceHandoff() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		var req struct {
			OEMID       string `json:"oem_id"`
			ToPartnerID string `json:"to_partner_id"`
		}
		if err := decodeJSON(w, r, &req); err != nil {
			s.fail(w, r, err)
			return
		}
		pos, evs, err := s.decide(r, func(t *app.Txn) ([]domain.Event, error) {
			d, err := loadDealFor(t, r, id)
			if err != nil {
				return nil, err
			}
			if req.ToPartnerID != "" {
				if err := checkID("to_partner_id", req.ToPartnerID); err != nil {
					return nil, err
				}
				to, err := app.Peek(t, domain.PartnerStream(req.ToPartnerID), domain.PartnerState{}, domain.EvolvePartner)
				if err != nil {
					return nil, err
				}
				if !to.Exists() {
					return nil, &Error{Code: CodeUnprocessable, Field: "to_partner_id", Rule: "partner.exists", Message: "partner " + quoteShort(req.ToPartnerID) + " is not enrolled"}
				}
			}
			x, err := app.DealContext(t, d.PartnerID, "")
			if err != nil {
				return nil, err
			}
			return domain.DecideDeal(d, x, domain.HandOffService{OEMID: req.OEMID, ToPartnerID: req.ToPartnerID}, s.Clock())
		})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.committed(w, http.StatusOK, pos, id, "", evs)
	}
}

// dealView is GET /v1/deals/{id}.
type dealView struct {
	DealID        string                    `json:"deal_id"`
	PartnerID     string                    `json:"partner_id"`
	Status        domain.DealStatus         `json:"status"`
	Customer      domain.Customer           `json:"customer"`
	Geography     string                    `json:"geography"`
	Segments      []domain.Segment          `json:"segments"`
	ExpectedValue domain.Money              `json:"expected_value"`
	OEMID         string                    `json:"oem_id,omitempty"`
	RegisteredOn  domain.Date               `json:"registered_on"`
	ApprovedOn    *domain.Date              `json:"approved_on,omitempty"`
	ExpiresOn     *domain.Date              `json:"expires_on,omitempty"`
	Extensions    int                       `json:"extensions"`
	Overridden    bool                      `json:"overridden"`
	Reason        string                    `json:"reason,omitempty"`
	Conflicts     []conflictView            `json:"conflicts"`
	Engagements   []domain.EngagementLogged `json:"engagements"`
	Handoffs      []domain.ServiceHandedOff `json:"service_handoffs"`
	Position      int64                     `json:"position"`
}

// getDeal reads the registration from its stream (always current).
func (s *server) getDeal() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		head, err := s.Store.Head(r.Context())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		t := s.app.Reader(r.Context())
		d, err := loadDealFor(t, r, id)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		v := dealView{DealID: d.DealID, PartnerID: d.PartnerID, Status: d.Status, Customer: d.Customer, Geography: d.Geography,
			Segments: d.Segments, ExpectedValue: d.ExpectedValue, OEMID: d.OEMID, RegisteredOn: d.RegisteredOn,
			Extensions: d.Extensions, Overridden: d.Overridden, Reason: d.Reason,
			Conflicts: conflictViews(r, d.Conflicts), Engagements: nonNil(d.Engagements), Handoffs: nonNil(d.Handoffs), Position: head}
		if !d.ApprovedOn.IsZero() {
			v.ApprovedOn, v.ExpiresOn = &d.ApprovedOn, &d.ExpiresOn
		}
		setPosition(w, head)
		writeJSON(w, http.StatusOK, v)
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (s *server) closeQuarter() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q, err := quarterParam(r.PathValue("quarter"), "quarter")
		if err != nil {
			s.fail(w, r, err)
			return
		}
		by := principalFrom(r.Context()).Actor()
		pos, evs, err := update(s, r, domain.QuarterStream(q), domain.QuarterState{}, domain.EvolveQuarter,
			func(st domain.QuarterState) ([]domain.Event, error) {
				return domain.DecideCloseQuarter(st, domain.CloseQuarter{Quarter: q, By: by}, s.Clock())
			})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.committed(w, http.StatusOK, pos, q.String(), "closed", evs)
	}
}
