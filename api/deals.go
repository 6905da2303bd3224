package api

import (
	"bytes"
	"net/http"

	"dealcredit/app"
	"dealcredit/domain"
	"dealcredit/projections/attribution"
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
		if req.ExpectedValueMinor == nil {
			s.fail(w, r, &Error{Code: CodeInvalid, Field: "expected_value_minor", Rule: "required", Message: "expected_value_minor is required"})
			return
		}
		res, err := s.app.RegisterDeal(r.Context(), meta(r), domain.Register{PartnerID: req.PartnerID, Customer: req.Customer,
			Geography: req.Geography, SizeBand: req.SizeBand, Segments: req.Segments, OEMID: req.OEMID,
			ExpectedValue: domain.Money{Amount: *req.ExpectedValueMinor, Currency: req.Currency}})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		out := dealCreated{DealID: res.ID, Status: domain.StatusPending, Position: res.Position, ConflictsWith: []string{}}
		partner := principalFrom(r.Context()).Role == RolePartner
		for _, e := range res.Events {
			if c, ok := e.(domain.DealConflicted); ok {
				out.Status, out.Conflict = domain.StatusConflict, conflictNotice
				if !partner {
					out.ConflictsWith = append(out.ConflictsWith, c.WithDealID)
				}
			}
		}
		setPosition(w, res.Position)
		w.Header().Set("Location", "/v1/deals/"+res.ID)
		writeJSON(w, http.StatusCreated, out)
	}
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

// decodeNone checks the body of a command that takes none: absent or {} is
// fine; a field (which it would otherwise ignore) or malformed JSON is 400
// naming it.
func decodeNone(w http.ResponseWriter, r *http.Request) error {
	return decodeOptional(w, r, &struct{}{})
}

// dealActions are the deal commands dealAction serves, by action.
var dealActions = map[string]reasonCommand[app.DealDone]{
	"approve":  withoutReason((*app.Service).ApproveDeal),
	"reject":   (*app.Service).RejectDeal,
	"withdraw": withoutReason((*app.Service).WithdrawDeal),
	"extend":   withoutReason((*app.Service).ExtendDeal),
	"override": (*app.Service).OverrideDeal,
}

// dealAction serves approve, reject, withdraw, extend and override.
func dealAction(action string) func(*server) http.HandlerFunc {
	return serveReasonCommand(dealActions[action], func(s *server, w http.ResponseWriter, id string, res app.DealDone) {
		s.committed(w, http.StatusOK, res.Position, id, string(res.Deal.Status), res.Events)
	})
}

func (s *server) logEngagement() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
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
		id := r.PathValue("id")
		res, err := s.app.LogEngagement(r.Context(), meta(r), id, domain.LogEngagement{Step: req.Step, OccurredOn: on, OEMID: req.OEMID, Notes: req.Notes})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.committed(w, http.StatusCreated, res.Position, id, "", res.Events)
	}
}

func (s *server) serviceHandoff() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			OEMID       string `json:"oem_id"`
			ToPartnerID string `json:"to_partner_id"`
		}
		if err := decodeJSON(w, r, &req); err != nil {
			s.fail(w, r, err)
			return
		}
		id := r.PathValue("id")
		res, err := s.app.HandOffService(r.Context(), meta(r), id, domain.HandOffService{OEMID: req.OEMID, ToPartnerID: req.ToPartnerID})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.committed(w, http.StatusOK, res.Position, id, "", res.Events)
	}
}

// dealView is GET /v1/deals/{id}.
type dealView struct {
	DealID        string            `json:"deal_id"`
	PartnerID     string            `json:"partner_id"`
	Status        domain.DealStatus `json:"status"`
	Customer      domain.Customer   `json:"customer"`
	Geography     string            `json:"geography"`
	SizeBand      string            `json:"size_band,omitempty"`
	Segments      []domain.Segment  `json:"segments"`
	ExpectedValue domain.Money      `json:"expected_value"`
	OEMID         string            `json:"oem_id,omitempty"`
	RegisteredOn  domain.Date       `json:"registered_on"`
	ApprovedOn    *domain.Date      `json:"approved_on,omitempty"`
	ExpiresOn     *domain.Date      `json:"expires_on,omitempty"`
	Extensions    int               `json:"extensions"`
	Overridden    bool              `json:"overridden"`
	Reason        string            `json:"reason,omitempty"`
	Conflicts     []conflictView    `json:"conflicts"`
	// OutsideCommitment flags a registration in segments its partner was not
	// committed to (docs/rules.md rule 8a).
	OutsideCommitment *attribution.CommitmentFlag `json:"outside_commitment,omitempty"`
	Engagements       []domain.EngagementLogged   `json:"engagements"`
	Handoffs          []domain.ServiceHandedOff   `json:"service_handoffs"`
	Position          int64                       `json:"position"`
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
		d, err := s.app.Deal(r.Context(), meta(r), id)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		v := dealView{DealID: d.DealID, PartnerID: d.PartnerID, Status: d.Status, Customer: d.Customer, Geography: d.Geography, SizeBand: d.SizeBand,
			Segments: d.Segments, ExpectedValue: d.ExpectedValue, OEMID: d.OEMID, RegisteredOn: d.RegisteredOn,
			Extensions: d.Extensions, Overridden: d.Overridden, Reason: d.Reason,
			Conflicts: conflictViews(r, d.Conflicts), Engagements: nonNil(d.Engagements), Handoffs: nonNil(d.Handoffs), Position: head}
		if !d.ApprovedOn.IsZero() {
			v.ApprovedOn, v.ExpiresOn = &d.ApprovedOn, &d.ExpiresOn
		}
		if len(d.OutsideCommitment) > 0 {
			v.OutsideCommitment = &attribution.CommitmentFlag{Rule: domain.RuleOutsideCommitment, Segments: segmentNames(d.OutsideCommitment)}
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
		if err := decodeNone(w, r); err != nil {
			s.fail(w, r, err)
			return
		}
		res, err := s.app.CloseQuarter(r.Context(), meta(r), q)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.committed(w, http.StatusOK, res.Position, q.String(), "closed", res.Events)
	}
}

// segmentNames returns the segments' names.
func segmentNames(segs []domain.Segment) []string {
	out := make([]string, len(segs))
	for i, x := range segs {
		out[i] = string(x)
	}
	return out
}
