package domain

import (
	"slices"
	"time"
)

// DealStatus is a registration's lifecycle status.
type DealStatus string

// Registration statuses.
const (
	StatusPending   DealStatus = "pending"
	StatusConflict  DealStatus = "conflict"
	StatusReturned  DealStatus = "returned"
	StatusApproved  DealStatus = "approved"
	StatusRejected  DealStatus = "rejected"
	StatusWithdrawn DealStatus = "withdrawn"
	StatusExpired   DealStatus = "expired"
	StatusWon       DealStatus = "won"
	StatusLost      DealStatus = "lost"
)

// DealState is one registration folded from its stream. The zero value is "not registered".
type DealState struct {
	DealRegistered
	Status        DealStatus
	ApprovedOn    Date
	ExpiresOn     Date
	Extensions    int
	Conflicts     []DealConflicted
	Engagements   []EngagementLogged
	Handoffs      []ServiceHandedOff
	PolicyVersion int
	Overridden    bool
	Reason        string
}

// Exists reports whether the deal was registered.
func (d DealState) Exists() bool { return d.DealID != "" }

// Protected reports whether the registration is approved (or won) and day falls within
// its protection window.
func (d DealState) Protected(day Date) bool {
	return (d.Status == StatusApproved || d.Status == StatusWon) && !day.Before(d.ApprovedOn) && !day.After(d.ExpiresOn)
}

// EvolveDeal folds one deal event.
func EvolveDeal(d DealState, e Event) DealState {
	switch e := e.(type) {
	case DealRegistered:
		d = DealState{DealRegistered: e, Status: StatusPending}
	case DealConflicted:
		d.Status = StatusConflict
		d.Conflicts = append(append([]DealConflicted(nil), d.Conflicts...), e)
	case DealApproved:
		d.Status, d.ApprovedOn, d.ExpiresOn, d.PolicyVersion = StatusApproved, e.ApprovedOn, e.ExpiresOn, e.PolicyVersion
	case DealOverridden:
		d.Status, d.ApprovedOn, d.ExpiresOn, d.PolicyVersion = StatusApproved, e.ApprovedOn, e.ExpiresOn, e.PolicyVersion
		d.Overridden, d.Reason = true, e.Reason
	case DealRejected:
		d.Status, d.Reason = StatusRejected, e.Reason
	case DealReturned:
		d.Status, d.Reason = StatusReturned, e.Reason
	case DealWithdrawn:
		d.Status = StatusWithdrawn
	case DealExtended:
		d.ExpiresOn, d.Extensions = e.ExpiresOn, e.Extensions
	case DealExpired:
		d.Status = StatusExpired
	case DealWon:
		d.Status, d.Reason = StatusWon, e.Reason
	case DealLost:
		d.Status, d.Reason = StatusLost, e.Reason
	case DealResubmitted:
		d.Status, d.Reason = StatusPending, ""
		if len(d.Conflicts) > 0 {
			d.Status = StatusConflict
		}
	case EngagementLogged:
		d.Engagements = append(append([]EngagementLogged(nil), d.Engagements...), e)
	case ServiceHandedOff:
		d.Handoffs = append(append([]ServiceHandedOff(nil), d.Handoffs...), e)
	}
	return d
}

// Hold is one deal's protection of some segments of a customer key.
type Hold struct {
	DealID    string
	PartnerID string
	Segments  []Segment
	From      Date
	Until     Date
}

// Reservation is the state of a customer key's reservation stream: who holds which
// segments. It is the cross-stream guard of the conflict rule: an approval appends to the
// deal stream and to this stream atomically, each with its expected version, so two
// concurrent approvals for the same key cannot both succeed.
type Reservation struct {
	Key   string
	Holds []Hold // in the order they were reserved
}

// EvolveReservation folds one reservation event.
func EvolveReservation(r Reservation, e Event) Reservation {
	switch e := e.(type) {
	case CustomerKeyReserved:
		r.Key = e.CustomerKey
		holds := make([]Hold, 0, len(r.Holds)+1)
		for _, h := range r.Holds {
			if h.DealID != e.DealID && indexOf(e.Displaced, h.DealID) < 0 {
				holds = append(holds, h)
			}
		}
		r.Holds = append(holds, Hold{DealID: e.DealID, PartnerID: e.PartnerID, Segments: e.Segments, From: e.From, Until: e.Until})
	case CustomerKeyReleased:
		holds := make([]Hold, 0, len(r.Holds))
		for _, h := range r.Holds {
			if h.DealID != e.DealID {
				holds = append(holds, h)
			}
		}
		r.Holds = holds
	}
	return r
}

// Blocking returns the holds of other deals that protect any of segs on day, oldest first.
func (r Reservation) Blocking(dealID string, segs []Segment, day Date) []Hold {
	var out []Hold
	for _, h := range r.Holds {
		if h.DealID == dealID || day.Before(h.From) || day.After(h.Until) {
			continue
		}
		for _, s := range segs {
			if hasSegment(h.Segments, s) {
				out = append(out, h)
				break
			}
		}
	}
	return out
}

func hasSegment(segs []Segment, s Segment) bool {
	for _, x := range segs {
		if x == s {
			return true
		}
	}
	return false
}

func overlap(a, b []Segment) []Segment {
	var out []Segment
	for _, s := range a {
		if hasSegment(b, s) {
			out = append(out, s)
		}
	}
	return out
}

// Deal commands.
type (
	// Register a deal for PartnerID.
	Register struct {
		DealID, PartnerID string
		Customer          Customer
		Geography         string
		SizeBand          string
		Segments          []Segment
		ExpectedValue     Money
		OEMID             string
	}
	// Approve a pending (or returned) registration.
	Approve struct{ By string }
	// Reject a registration with a reason.
	Reject struct{ Reason, By string }
	// ReturnForInfo sends the registration back to the partner with a question.
	ReturnForInfo struct{ Reason, By string }
	// Withdraw the registration (the partner's own choice).
	Withdraw struct{ By string }
	// Extend the protection window by the policy's registration days.
	Extend struct{ By string }
	// Expire ends the protection window after its last day.
	Expire struct{}
	// MarkWon records that the opportunity closed won, with a reason.
	MarkWon struct{ Reason, By string }
	// MarkLost records that the opportunity was lost, with a reason.
	MarkLost struct{ Reason, By string }
	// Resubmit answers a return for information (Info) and submits the registration again.
	Resubmit struct{ Info, By string }
	// Override approves the registration over a conflict, displacing the holders.
	Override struct{ Reason, By string }
	// LogEngagement records an engagement step.
	LogEngagement struct {
		PartnerID  string
		Step       Step
		OccurredOn Date
		OEMID      string
		Notes      string
	}
	// HandOffService records that the OEM declined the service side and ToPartnerID takes it.
	HandOffService struct{ OEMID, ToPartnerID string }
)

// DealContext is what a deal decision reads besides the deal itself: the registering
// partner, the customer key's reservations and the policy in force today; for a service
// handoff, the partner taking the service side.
type DealContext struct {
	Partner     PartnerState
	Reservation Reservation
	Policy      Policy
	Recipient   PartnerState
}

// DecideDeal decides a registration command. Events go to DealStream and, for approvals,
// overrides, extensions and releases, to CustomerKeyStream(CustomerKey(customer)) (see
// StreamOf): append both atomically with expected versions.
func DecideDeal(d DealState, x DealContext, cmd any, now time.Time) ([]Event, error) {
	today := DateOf(now)
	if _, ok := cmd.(Register); !ok && !d.Exists() {
		return nil, Errorf(NotFound, "deal_id", "deal.exists", "deal registration not found")
	}
	switch c := cmd.(type) {
	case Register:
		return decideRegister(d, x, c, today)
	case Approve:
		return decideApprove(d, x, c, today)
	case Override:
		return decideOverride(d, x, c, today)
	case Reject:
		return decideReject(d, x, c, today)
	case ReturnForInfo:
		return decideReturnForInfo(d, x, c, today)
	case Withdraw:
		return decideWithdraw(d, x, c, today)
	case Extend:
		return decideExtend(d, x, c, today)
	case Expire:
		return decideExpire(d, x, c, today)
	case MarkWon:
		return decideMarkWon(d, x, c, today)
	case MarkLost:
		return decideMarkLost(d, x, c, today)
	case Resubmit:
		return decideResubmit(d, x, c, today)
	case LogEngagement:
		return decideLogEngagement(d, x, c, today)
	case HandOffService:
		return decideHandOffService(d, x, c, today)
	}
	return nil, invalidf("command", "unknown deal command %T", cmd)
}

// decideApprove decides Approve (see DecideDeal).
func decideApprove(d DealState, x DealContext, c Approve, today Date) ([]Event, error) {
	if err := needStatus(d, "approve", StatusPending, StatusConflict, StatusReturned); err != nil {
		return nil, err
	}
	if b := x.Reservation.Blocking(d.DealID, d.Segments, today); len(b) > 0 {
		h := b[0]
		return nil, Errorf(Conflict, "deal_id", "conflict.first_approved_wins",
			"customer %s segment %s is protected by deal %s of partner %s until %s; the first approved registration wins unless a channel manager overrides it with a reason",
			d.CustomerKey, overlap(d.Segments, h.Segments)[0], h.DealID, h.PartnerID, h.Until)
	}
	exp := today.AddDays(x.Policy.RegistrationDaysFor(d.Geography) - 1)
	return []Event{
		DealApproved{DealID: d.DealID, ApprovedOn: today, ExpiresOn: exp, PolicyVersion: x.Policy.Version, By: c.By},
		CustomerKeyReserved{CustomerKey: d.CustomerKey, DealID: d.DealID, PartnerID: d.PartnerID, Segments: d.Segments, From: today, Until: exp},
	}, nil
}

// decideOverride decides Override (see DecideDeal).
func decideOverride(d DealState, x DealContext, c Override, today Date) ([]Event, error) {
	if err := CheckRequiredText("reason", c.Reason, MaxReasonLen); err != nil {
		return nil, err
	}
	if err := needStatus(d, "override", StatusPending, StatusConflict, StatusReturned); err != nil {
		return nil, err
	}
	var displaced []string
	for _, h := range x.Reservation.Blocking(d.DealID, d.Segments, today) {
		displaced = append(displaced, h.DealID)
	}
	if len(displaced) == 0 {
		return nil, Errorf(Unprocessable, "deal_id", "override.no_conflict", "deal %s has no conflicting protected registration; approve it instead", d.DealID)
	}
	exp := today.AddDays(x.Policy.RegistrationDaysFor(d.Geography) - 1)
	return []Event{
		DealOverridden{DealID: d.DealID, Reason: c.Reason, Displaced: displaced, ApprovedOn: today, ExpiresOn: exp, PolicyVersion: x.Policy.Version, By: c.By},
		CustomerKeyReserved{CustomerKey: d.CustomerKey, DealID: d.DealID, PartnerID: d.PartnerID, Segments: d.Segments, From: today, Until: exp, Displaced: displaced},
	}, nil
}

// decideReject decides Reject (see DecideDeal).
func decideReject(d DealState, x DealContext, c Reject, today Date) ([]Event, error) {
	if err := CheckRequiredText("reason", c.Reason, MaxReasonLen); err != nil {
		return nil, err
	}
	if err := needStatus(d, "reject", StatusPending, StatusConflict, StatusReturned); err != nil {
		return nil, err
	}
	return []Event{DealRejected{DealID: d.DealID, Reason: c.Reason, On: today, By: c.By}}, nil
}

// decideReturnForInfo decides ReturnForInfo (see DecideDeal).
func decideReturnForInfo(d DealState, x DealContext, c ReturnForInfo, today Date) ([]Event, error) {
	if err := CheckRequiredText("reason", c.Reason, MaxReasonLen); err != nil {
		return nil, err
	}
	if err := needStatus(d, "return", StatusPending, StatusConflict); err != nil {
		return nil, err
	}
	return []Event{DealReturned{DealID: d.DealID, Reason: c.Reason, On: today, By: c.By}}, nil
}

// decideWithdraw decides Withdraw (see DecideDeal).
func decideWithdraw(d DealState, x DealContext, c Withdraw, today Date) ([]Event, error) {
	if err := needStatus(d, "withdraw", StatusPending, StatusConflict, StatusReturned, StatusApproved); err != nil {
		return nil, err
	}
	evs := []Event{DealWithdrawn{DealID: d.DealID, On: today, By: c.By}}
	return append(evs, release(d, today, "withdrawn")...), nil
}

// decideExtend decides Extend (see DecideDeal).
func decideExtend(d DealState, x DealContext, c Extend, today Date) ([]Event, error) {
	if err := needStatus(d, "extend", StatusApproved, StatusWon); err != nil {
		return nil, err
	}
	if today.After(d.ExpiresOn) {
		return nil, refusef("registration.expired", "deal %s expired on %s; an expired registration cannot be extended", d.DealID, d.ExpiresOn)
	}
	if d.Extensions >= x.Policy.MaxExtensions {
		return nil, refusef("registration.max_extensions", "deal %s was already extended %d time(s); the policy allows %d", d.DealID, d.Extensions, x.Policy.MaxExtensions)
	}
	exp := d.ExpiresOn.AddDays(x.Policy.RegistrationDaysFor(d.Geography))
	return []Event{
		DealExtended{DealID: d.DealID, ExpiresOn: exp, Extensions: d.Extensions + 1, On: today},
		CustomerKeyReserved{CustomerKey: d.CustomerKey, DealID: d.DealID, PartnerID: d.PartnerID, Segments: d.Segments, From: d.ApprovedOn, Until: exp},
	}, nil
}

// decideExpire decides Expire (see DecideDeal).
func decideExpire(d DealState, x DealContext, c Expire, today Date) ([]Event, error) {
	if err := needStatus(d, "expire", StatusApproved, StatusWon); err != nil {
		return nil, err
	}
	if !today.After(d.ExpiresOn) {
		return nil, refusef("registration.not_expired", "deal %s is protected until %s", d.DealID, d.ExpiresOn)
	}
	return append([]Event{DealExpired{DealID: d.DealID, On: d.ExpiresOn.AddDays(1)}}, release(d, today, "expired")...), nil
}

// decideMarkWon decides MarkWon (see DecideDeal).
func decideMarkWon(d DealState, x DealContext, c MarkWon, today Date) ([]Event, error) {
	if err := CheckRequiredText("reason", c.Reason, MaxReasonLen); err != nil {
		return nil, err
	}
	if err := needStatus(d, "mark won", StatusApproved); err != nil {
		return nil, err
	}
	if today.After(d.ExpiresOn) {
		return nil, refusef("registration.expired", "deal %s expired on %s; an expired registration cannot be won", d.DealID, d.ExpiresOn)
	}
	return []Event{DealWon{DealID: d.DealID, On: today, Reason: c.Reason, By: c.By}}, nil
}

// decideMarkLost decides MarkLost (see DecideDeal).
func decideMarkLost(d DealState, x DealContext, c MarkLost, today Date) ([]Event, error) {
	if err := CheckRequiredText("reason", c.Reason, MaxReasonLen); err != nil {
		return nil, err
	}
	if err := needStatus(d, "mark lost", StatusPending, StatusConflict, StatusReturned, StatusApproved, StatusWon); err != nil {
		return nil, err
	}
	return append([]Event{DealLost{DealID: d.DealID, Reason: c.Reason, On: today, By: c.By}}, release(d, today, "lost")...), nil
}

// decideResubmit decides Resubmit (see DecideDeal).
func decideResubmit(d DealState, x DealContext, c Resubmit, today Date) ([]Event, error) {
	if err := CheckRequiredText("info", c.Info, MaxReasonLen); err != nil {
		return nil, err
	}
	if err := needStatus(d, "resubmit", StatusReturned); err != nil {
		return nil, err
	}
	return []Event{DealResubmitted{DealID: d.DealID, Info: c.Info, On: today, By: c.By}}, nil
}

// decideLogEngagement decides LogEngagement (see DecideDeal).
func decideLogEngagement(d DealState, x DealContext, c LogEngagement, today Date) ([]Event, error) {
	switch {
	case d.Status == StatusRejected || d.Status == StatusWithdrawn:
		return nil, refusef("engagement.open_deal", "deal %s is %s; engagement steps are recorded on open deals", d.DealID, d.Status)
	case !c.Step.Valid():
		return nil, invalidf("step", "step %q is not a known engagement step", c.Step)
	case c.OccurredOn.IsZero():
		return nil, invalidf("occurred_on", "occurred_on is required")
	case c.OccurredOn.After(today):
		return nil, invalidf("occurred_on", "occurred_on %s is in the future", c.OccurredOn)
	}
	if err := checkEngagement(c); err != nil {
		return nil, err
	}
	pid := c.PartnerID
	if pid == "" {
		pid = d.PartnerID
	}
	return []Event{EngagementLogged{DealID: d.DealID, PartnerID: pid, Step: c.Step, OccurredOn: c.OccurredOn, OEMID: c.OEMID, Notes: c.Notes}}, nil
}

// decideHandOffService decides HandOffService (see DecideDeal).
func decideHandOffService(d DealState, x DealContext, c HandOffService, today Date) ([]Event, error) {
	if err := CheckID("oem_id", c.OEMID); err != nil {
		return nil, err
	}
	if err := CheckID("to_partner_id", c.ToPartnerID); err != nil {
		return nil, err
	}
	if !x.Recipient.Exists() {
		return nil, Errorf(Unprocessable, "to_partner_id", "partner.exists", "partner %s is not enrolled", Quote(c.ToPartnerID))
	}
	if err := needStatus(d, "hand off service on", StatusApproved, StatusWon); err != nil {
		return nil, err
	}
	for _, h := range d.Handoffs {
		if h.OEMID == c.OEMID {
			return nil, Errorf(Conflict, "oem_id", "handoff.once", "the service side of deal %s from %s was already handed to %s", d.DealID, h.OEMID, h.ToPartnerID)
		}
	}
	return []Event{ServiceHandedOff{DealID: d.DealID, OEMID: c.OEMID, ToPartnerID: c.ToPartnerID, On: today}}, nil
}

func decideRegister(d DealState, x DealContext, c Register, today Date) ([]Event, error) {
	p := x.Partner
	switch {
	case !validID(c.DealID):
		return nil, invalidf("deal_id", "deal id %q is not a valid id", c.DealID)
	case d.Exists():
		return nil, Errorf(Conflict, "deal_id", "deal.unique", "deal %s is already registered", c.DealID)
	case !p.Exists():
		return nil, Errorf(NotFound, "partner_id", "partner.exists", "partner %s is not enrolled", c.PartnerID)
	case p.Kind == KindOEM:
		return nil, refusef("registration.kind", "partner %s is an oem; deal registration is for var and si partners", p.ID)
	case p.Tier != TierGold && p.Tier != TierPlatinum:
		return nil, refusef("registration.tier", "partner %s is %s tier; deal registration needs gold or platinum", p.ID, p.Tier)
	}
	if err := checkRegistration(c); err != nil {
		return nil, err
	}
	segs, err := checkSegments("segments", c.Segments)
	if err != nil {
		return nil, err
	}
	cust := c.Customer
	cust.Domain = NormalizeDomain(cust.Domain)
	key := CustomerKey(cust)
	evs := []Event{DealRegistered{DealID: c.DealID, PartnerID: c.PartnerID, Customer: cust, CustomerKey: key,
		Geography: c.Geography, SizeBand: c.SizeBand, Segments: segs, ExpectedValue: c.ExpectedValue, OEMID: c.OEMID, RegisteredOn: today,
		OutsideCommitment: OutsideCommitment(p, segs)}}
	for _, h := range x.Reservation.Blocking(c.DealID, segs, today) {
		evs = append(evs, DealConflicted{DealID: c.DealID, PartnerID: c.PartnerID, WithDealID: h.DealID, WithPartnerID: h.PartnerID,
			Segments: overlap(segs, h.Segments), On: today})
	}
	return evs, nil
}

// RuleOutsideCommitment names the flag of a registration in a software segment its
// partner is not committed to (docs/rules.md rule 8a): allowed, flagged, counted in the
// partner's scorecard.
const RuleOutsideCommitment = "registration.outside_commitment"

// OutsideCommitment returns the software segments of segs the partner is not committed
// to (rule 8a), in segs' order; none when the partner has no commitment recorded (a
// grandfathered partner before its first commitment) or is committed to them all.
func OutsideCommitment(p PartnerState, segs []Segment) []Segment {
	if len(p.Segments) == 0 {
		return nil
	}
	var out []Segment
	for _, s := range segs {
		if s.Software() && !slices.Contains(p.Segments, s) {
			out = append(out, s)
		}
	}
	return out
}

// checkRegistration checks a registration's input fields (see input.go).
func checkRegistration(c Register) error {
	if err := CheckCustomer("customer", c.Customer); err != nil {
		return err
	}
	switch {
	case NormalizeName(c.Customer.Name) == "":
		return invalidf("customer.name", "customer.name needs a letter or digit besides legal suffixes")
	case !validID(c.Geography):
		return invalidf("geography", "geography %s is not a valid id", Quote(c.Geography))
	case !ValidCurrency(c.ExpectedValue.Currency):
		return invalidf("currency", "currency %s is not a supported ISO 4217 code", Quote(c.ExpectedValue.Currency))
	}
	if err := CheckAmount("expected_value_minor", c.ExpectedValue.Amount, 1); err != nil {
		return err
	}
	if err := CheckText("size_band", c.SizeBand, MaxRefLen); err != nil {
		return err
	}
	return CheckOptionalID("oem_id", c.OEMID)
}

// checkEngagement checks an engagement step's input fields.
func checkEngagement(c LogEngagement) error {
	if err := CheckDate("occurred_on", c.OccurredOn); err != nil {
		return err
	}
	if err := CheckOptionalID("partner_id", c.PartnerID); err != nil {
		return err
	}
	if err := CheckOptionalID("oem_id", c.OEMID); err != nil {
		return err
	}
	return CheckText("notes", c.Notes, MaxNotesLen)
}

func release(d DealState, today Date, reason string) []Event {
	if d.Status != StatusApproved && d.Status != StatusWon {
		return nil
	}
	return []Event{CustomerKeyReleased{CustomerKey: d.CustomerKey, DealID: d.DealID, On: today, Reason: reason}}
}

func needStatus(d DealState, verb string, ok ...DealStatus) error {
	for _, s := range ok {
		if d.Status == s {
			return nil
		}
	}
	return Errorf(Conflict, "status", "registration.status", "cannot %s deal %s: it is %s", verb, d.DealID, d.Status)
}
