package api

import (
	"fmt"
	"net/http"

	"dealcredit/app"
	"dealcredit/domain"
)

type enrollRequest struct {
	ID          string             `json:"id"`
	Name        string             `json:"name"`
	Kind        domain.PartnerKind `json:"kind"`
	Geography   string             `json:"geography"`
	JoinedOn    string             `json:"joined_on"`
	TierHistory []pastTierRequest  `json:"tier_history"`
}

// pastTierRequest is one tier_history entry as sent; its date is parsed by
// dates so that a bad one is refused naming its field.
type pastTierRequest struct {
	Tier domain.Tier `json:"tier"`
	From string      `json:"from"`
}

// dates parses joined_on and each tier_history[i].from; a value that is not
// a date is 400 naming the field under prefix (e.g. "partners[1].joined_on").
func (q enrollRequest) dates(prefix string) (domain.Date, []domain.PastTier, error) {
	joined, err := parseDate(prefix+"joined_on", q.JoinedOn)
	if err != nil {
		return domain.Date{}, nil, err
	}
	var past []domain.PastTier
	for i, h := range q.TierHistory {
		from, err := parseDate(fmt.Sprintf("%stier_history[%d].from", prefix, i), h.From)
		if err != nil {
			return domain.Date{}, nil, err
		}
		past = append(past, domain.PastTier{Tier: h.Tier, From: from})
	}
	return joined, past, nil
}

// MaxGrandfatherBatch caps POST /v1/partners:grandfather.
const MaxGrandfatherBatch = 500

// validGeo keeps stream ids sane before the decider validates the id: a
// stream is read only for a valid id (domain.ValidID).
func validGeo(g string) bool { return domain.ValidID(g) }

func (s *server) enrollPartner() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req enrollRequest
		if err := decodeJSON(w, r, &req); err != nil {
			s.fail(w, r, err)
			return
		}
		joined, past, err := req.dates("")
		if err != nil {
			s.fail(w, r, err)
			return
		}
		res, err := s.app.EnrollPartner(r.Context(), meta(r), domain.Enroll{PartnerID: req.ID, Name: req.Name, Kind: req.Kind,
			Geography: req.Geography, JoinedOn: joined, TierHistory: past})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		w.Header().Set("Location", "/v1/partners/"+req.ID)
		s.committed(w, http.StatusCreated, res.Position, req.ID, string(domain.TierRegistered), res.Events)
	}
}

// grandfathered is the answer to POST /v1/partners:grandfather: the
// highest position committed and one result per partner.
type grandfathered struct {
	Position int64               `json:"position"`
	Results  []grandfatherResult `json:"results"`
}

// grandfatherResult is one partner's outcome: 201 with its position, or
// the problem that refused it.
type grandfatherResult struct {
	ID       string   `json:"id"`
	Status   int      `json:"status"`
	Position int64    `json:"position,omitempty"`
	Problem  *Problem `json:"problem,omitempty"`
}

func (s *server) grandfatherPartners() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Partners []enrollRequest `json:"partners"`
		}
		if err := decodeJSON(w, r, &req); err != nil {
			s.fail(w, r, err)
			return
		}
		switch {
		case len(req.Partners) == 0:
			s.fail(w, r, &Error{Code: CodeInvalid, Field: "partners", Rule: "required", Message: "partners needs at least one partner"})
			return
		case len(req.Partners) > MaxGrandfatherBatch:
			s.fail(w, r, &Error{Code: CodeInvalid, Field: "partners", Rule: "max_items", Message: fmt.Sprintf("partners may list at most %d partners", MaxGrandfatherBatch)})
			return
		}
		seen := map[string]bool{}
		joined := make([]domain.Date, len(req.Partners))
		past := make([][]domain.PastTier, len(req.Partners))
		for i, p := range req.Partners {
			var err error
			if joined[i], past[i], err = p.dates(fmt.Sprintf("partners[%d].", i)); err != nil {
				s.fail(w, r, err)
				return
			}
			field := fmt.Sprintf("partners[%d].id", i)
			if err := checkID(field, p.ID); err != nil {
				s.fail(w, r, err)
				return
			}
			if seen[p.ID] {
				s.fail(w, r, &Error{Code: CodeInvalid, Field: field, Rule: "unique", Message: "partner " + p.ID + " is listed twice"})
				return
			}
			seen[p.ID] = true
		}
		// Each partner is its own decision: one already enrolled does not stop the others.
		out := grandfathered{Results: make([]grandfatherResult, 0, len(req.Partners))}
		status := http.StatusCreated
		for i, p := range req.Partners {
			res, err := s.app.GrandfatherPartner(r.Context(), meta(r), domain.Grandfather{PartnerID: p.ID, Name: p.Name, Kind: p.Kind,
				Geography: p.Geography, JoinedOn: joined[i], TierHistory: past[i]})
			pos := res.Position
			if err != nil {
				pr := classify(prefixField(err, fmt.Sprintf("partners[%d]", i)))
				if pr.Status >= 500 {
					s.fail(w, r, err)
					return
				}
				status = http.StatusMultiStatus
				out.Results = append(out.Results, grandfatherResult{ID: p.ID, Status: pr.Status, Problem: &pr})
				continue
			}
			out.Position = max(out.Position, pos)
			out.Results = append(out.Results, grandfatherResult{ID: p.ID, Status: http.StatusCreated, Position: pos})
		}
		if out.Position == 0 {
			head, err := s.Store.Head(r.Context())
			if err != nil {
				s.fail(w, r, err)
				return
			}
			out.Position = head
		}
		setPosition(w, out.Position)
		writeJSON(w, status, out)
	}
}

// prefixField names a nested field in an error (e.g. "partners[2].name").
func prefixField(err error, prefix string) error {
	p := classify(err)
	f := p.Field
	if f == "" {
		f = prefix
	} else {
		f = prefix + "." + f
	}
	return &Error{Code: Code(p.Type[len("urn:dealcredit:problem:"):]), Field: f, Rule: p.Rule, Message: p.Detail}
}

// checkID checks an id before a stream named by it is read (the domain's
// id rule, domain.CheckID).
func checkID(field, id string) error {
	if id == "" {
		return &Error{Code: CodeInvalid, Field: field, Rule: "required", Message: field + " is required"}
	}
	if err := domain.CheckID(field, id); err != nil {
		return &Error{Code: CodeInvalid, Field: field, Rule: "format", Message: err.Error()}
	}
	return nil
}

func (s *server) certify() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if err := ownPartner(r, id); err != nil {
			s.fail(w, r, err)
			return
		}
		var req struct {
			Engineer    string         `json:"engineer"`
			Segment     domain.Segment `json:"segment"`
			CertifiedOn string         `json:"certified_on"`
		}
		if err := decodeJSON(w, r, &req); err != nil {
			s.fail(w, r, err)
			return
		}
		on, err := parseDate("certified_on", req.CertifiedOn)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		res, err := s.app.Certify(r.Context(), meta(r), domain.Certify{PartnerID: id, Engineer: req.Engineer, Segment: req.Segment, CertifiedOn: on})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.certCommitted(w, http.StatusCreated, id, certIDOf(res.Events), res)
	}
}

// certDecision serves POST /v1/partners/{id}/certifications/{cert}/confirm
// (refuse false) and /refuse (refuse true, with a reason).
func certDecision(refuse bool) func(*server) http.HandlerFunc {
	return func(s *server) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			id, cert := r.PathValue("id"), r.PathValue("cert")
			var req reasonRequest
			if err := decodeOptional(w, r, &req); err != nil {
				s.fail(w, r, err)
				return
			}
			var res app.Result
			var err error
			if refuse {
				res, err = s.app.RefuseCertification(r.Context(), meta(r), domain.RefuseCertification{PartnerID: id, CertID: cert, Reason: req.Reason})
			} else {
				res, err = s.app.ConfirmCertification(r.Context(), meta(r), domain.ConfirmCertification{PartnerID: id, CertID: cert})
			}
			if err != nil {
				s.fail(w, r, err)
				return
			}
			s.certCommitted(w, http.StatusOK, id, cert, res)
		}
	}
}

// certResult answers a certification command: the command's answer with id
// the partner's, as before certifications had ids of their own (CONTRACT),
// plus the certification's id and its status after the command.
type certResult struct {
	commandResult
	CertificationID string `json:"certification_id"`
}

// certCommitted writes certResult for a certification command's res.
func (s *server) certCommitted(w http.ResponseWriter, status int, partnerID, certID string, res app.Result) {
	out := certResult{CertificationID: certID, commandResult: newCommandResult(res.Position, partnerID, string(certStatusOf(res.Events)), res.Events)}
	setPosition(w, res.Position)
	writeJSON(w, status, out)
}

// certIDOf returns the certification id a certification command's events name.
func certIDOf(evs []domain.Event) string {
	for _, e := range evs {
		switch e := e.(type) {
		case domain.EngineerCertified:
			return e.CertID
		case domain.CertificationSubmitted:
			return e.CertID
		}
	}
	return ""
}

// certStatusOf returns the status a certification command's events leave it in.
func certStatusOf(evs []domain.Event) domain.CertStatus {
	for _, e := range evs {
		switch e.(type) {
		case domain.EngineerCertified, domain.CertificationConfirmed:
			return domain.CertConfirmed
		case domain.CertificationSubmitted:
			return domain.CertPending
		case domain.CertificationRefused:
			return domain.CertRefused
		}
	}
	return ""
}

func (s *server) commit() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if err := ownPartner(r, id); err != nil {
			s.fail(w, r, err)
			return
		}
		var req struct {
			Segments             []domain.Segment `json:"segments"`
			QuarterlyTargetMinor *int64           `json:"quarterly_target_minor"`
			Currency             string           `json:"currency"`
		}
		if err := decodeJSON(w, r, &req); err != nil {
			s.fail(w, r, err)
			return
		}
		if req.QuarterlyTargetMinor == nil {
			s.fail(w, r, &Error{Code: CodeInvalid, Field: "quarterly_target_minor", Rule: "required", Message: "quarterly_target_minor is required"})
			return
		}
		res, err := s.app.Commit(r.Context(), meta(r), domain.Commit{PartnerID: id, Segments: req.Segments,
			QuarterlyTarget: domain.Money{Amount: *req.QuarterlyTargetMinor, Currency: req.Currency}})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.committed(w, http.StatusCreated, res.Position, id, "", res.Events)
	}
}

func (s *server) changeTier() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		var req struct {
			Tier     domain.Tier `json:"tier"`
			Reason   string      `json:"reason"`
			Override bool        `json:"override"`
		}
		if err := decodeJSON(w, r, &req); err != nil {
			s.fail(w, r, err)
			return
		}
		if req.Override && principalFrom(r.Context()).Role != RoleAdmin {
			s.fail(w, r, &Error{Code: CodeForbidden, Field: "override", Rule: "tier.override.admin",
				Message: "only an admin may override a grandfathered partner's review date"})
			return
		}
		res, err := s.app.ChangeTier(r.Context(), meta(r), domain.ChangeTier{PartnerID: id, Tier: req.Tier, Reason: req.Reason, Override: req.Override})
		if err != nil {
			if res.Position > 0 {
				setPosition(w, res.Position) // the refusal itself was recorded (waitlist)
			}
			s.fail(w, r, err)
			return
		}
		s.committed(w, http.StatusOK, res.Position, id, string(req.Tier), res.Events)
	}
}

func (s *server) setSeats() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		geo := r.PathValue("geo")
		var req struct {
			Platinum *int `json:"platinum"`
			Gold     *int `json:"gold"`
		}
		if err := decodeJSON(w, r, &req); err != nil {
			s.fail(w, r, err)
			return
		}
		for _, f := range []struct {
			name string
			v    *int
		}{{"platinum", req.Platinum}, {"gold", req.Gold}} {
			if f.v == nil {
				s.fail(w, r, &Error{Code: CodeInvalid, Field: f.name, Rule: "required", Message: f.name + " is required"})
				return
			}
		}
		if !validGeo(geo) {
			s.fail(w, r, &Error{Code: CodeInvalid, Field: "geo", Rule: "format", Message: "geo must be 1-64 characters of a-z, 0-9, '_' or '-'"})
			return
		}
		res, err := s.app.SetSeats(r.Context(), meta(r), domain.SetSeats{Geography: geo, Platinum: *req.Platinum, Gold: *req.Gold})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.committed(w, http.StatusOK, res.Position, geo, "", res.Events)
	}
}

// partnerView is GET /v1/partners/{id}.
type partnerView struct {
	ID              string                   `json:"id"`
	Name            string                   `json:"name"`
	Kind            domain.PartnerKind       `json:"kind"`
	Geography       string                   `json:"geography"`
	Tier            domain.Tier              `json:"tier"`
	EnrolledOn      domain.Date              `json:"enrolled_on"`
	Grandfathered   bool                     `json:"grandfathered"`
	ReviewOn        *domain.Date             `json:"review_on,omitempty"`
	Certifications  []domain.Certification   `json:"certifications"`
	Segments        []domain.Segment         `json:"segments"`
	QuarterlyTarget *domain.Money            `json:"quarterly_target,omitempty"`
	TierProgress    map[domain.Tier][]string `json:"tier_progress"`
	Position        int64                    `json:"position"`
}

// getPartner reads the partner from its stream (always current) and
// reports the requirements it still misses for gold and platinum.
func (s *server) getPartner() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if err := ownPartner(r, id); err != nil {
			s.fail(w, r, err)
			return
		}
		head, err := s.Store.Head(r.Context())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		st, err := app.Load(r.Context(), s.app, domain.PartnerStream(id), domain.PartnerState{}, domain.EvolvePartner)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		p := st
		if !p.Exists() {
			s.fail(w, r, &Error{Code: CodeNotFound, Field: "id", Message: "partner " + domain.Quote(id) + " is not enrolled"})
			return
		}
		h, err := app.Load(r.Context(), s.app, domain.PolicyStream(), domain.PolicyHistory{}, domain.EvolvePolicy)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		pol := h.At(domain.DateOf(s.app.Now()))
		v := partnerView{ID: p.ID, Name: p.Name, Kind: p.Kind, Geography: p.Geography, Tier: p.Tier, EnrolledOn: p.EnrolledOn,
			Grandfathered: p.Grandfathered, Certifications: p.Certifications, Segments: p.Segments,
			TierProgress: map[domain.Tier][]string{}, Position: head}
		if !p.ReviewOn.IsZero() {
			v.ReviewOn = &p.ReviewOn
		}
		if !p.QuarterlyTarget.IsZero() {
			v.QuarterlyTarget = &p.QuarterlyTarget
		}
		if v.Certifications == nil {
			v.Certifications = []domain.Certification{}
		}
		if v.Segments == nil {
			v.Segments = []domain.Segment{}
		}
		for _, t := range []domain.Tier{domain.TierGold, domain.TierPlatinum} {
			unmet := []string{}
			for _, u := range domain.TierUnmet(p, t, pol) {
				unmet = append(unmet, u.Rule+": "+u.Message)
			}
			v.TierProgress[t] = unmet
		}
		setPosition(w, head)
		writeJSON(w, http.StatusOK, v)
	}
}
