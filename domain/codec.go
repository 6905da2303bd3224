package domain

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// codecEntry describes one event type: its current schema version, a constructor of its
// zero value and the upcasters from older versions (from version v to v+1, on raw JSON).
type codecEntry struct {
	version  int
	decode   func([]byte) (Event, error)
	upcaster map[int]func(map[string]any) error
}

func decoder[E Event]() func([]byte) (Event, error) {
	return func(b []byte) (Event, error) {
		var e E
		d := json.NewDecoder(bytes.NewReader(b))
		d.DisallowUnknownFields()
		if err := d.Decode(&e); err != nil {
			return nil, err
		}
		return e, nil
	}
}

// codecTable is the fixed table of event types; it is never modified after init.
var codecTable = map[string]codecEntry{
	"partner.enrolled":                {version: 1, decode: decoder[PartnerEnrolled]()},
	"partner.grandfathered":           {version: 1, decode: decoder[PartnerGrandfathered]()},
	"partner.certified":               {version: 1, decode: decoder[EngineerCertified]()},
	"partner.certification_submitted": {version: 1, decode: decoder[CertificationSubmitted]()},
	"partner.certification_confirmed": {version: 1, decode: decoder[CertificationConfirmed]()},
	"partner.certification_refused":   {version: 1, decode: decoder[CertificationRefused]()},
	"partner.committed":               {version: 1, decode: decoder[CommitmentMade]()},
	"partner.tier_changed":            {version: 1, decode: decoder[TierChanged]()},
	"partner.tier_reviewed":           {version: 1, decode: decoder[TierReviewed]()},
	"geo.seats_set":                   {version: 1, decode: decoder[SeatsSet]()},
	"geo.seat_taken":                  {version: 1, decode: decoder[SeatTaken]()},
	"geo.seat_released":               {version: 1, decode: decoder[SeatReleased]()},
	"geo.seat_waitlisted":             {version: 1, decode: decoder[SeatWaitlisted]()},
	"geo.seat_offer_lapsed":           {version: 1, decode: decoder[SeatOfferLapsed]()},
	"deal.registered":                 {version: 1, decode: decoder[DealRegistered]()},
	"deal.conflicted":                 {version: 1, decode: decoder[DealConflicted]()},
	"deal.approved":                   {version: 1, decode: decoder[DealApproved]()},
	"deal.overridden":                 {version: 1, decode: decoder[DealOverridden]()},
	"deal.rejected":                   {version: 1, decode: decoder[DealRejected]()},
	"deal.returned":                   {version: 1, decode: decoder[DealReturned]()},
	"deal.withdrawn":                  {version: 1, decode: decoder[DealWithdrawn]()},
	"deal.extended":                   {version: 1, decode: decoder[DealExtended]()},
	"deal.expired":                    {version: 1, decode: decoder[DealExpired]()},
	"deal.won":                        {version: 1, decode: decoder[DealWon]()},
	"deal.lost":                       {version: 1, decode: decoder[DealLost]()},
	"deal.resubmitted":                {version: 1, decode: decoder[DealResubmitted]()},
	"deal.engagement_logged":          {version: 1, decode: decoder[EngagementLogged]()},
	"deal.service_handoff":            {version: 1, decode: decoder[ServiceHandedOff]()},
	"customerkey.reserved":            {version: 1, decode: decoder[CustomerKeyReserved]()},
	"customerkey.released":            {version: 1, decode: decoder[CustomerKeyReleased]()},
	"policy.set": {version: 2, decode: decoder[PolicySet](), upcaster: map[int]func(map[string]any) error{
		1: upcastPolicyV1,
	}},
	"quarter.closed":          {version: 1, decode: decoder[QuarterClosed]()},
	"review.run":              {version: 1, decode: decoder[ReviewRun]()},
	"review.proposal_applied": {version: 1, decode: decoder[ProposalApplied]()},
	"lead.created":            {version: 1, decode: decoder[LeadCreated]()},
	"lead.offered":            {version: 1, decode: decoder[LeadOffered]()},
	"lead.accepted":           {version: 1, decode: decoder[LeadAccepted]()},
	"lead.declined":           {version: 1, decode: decoder[LeadDeclined]()},
	"lead.unassigned":         {version: 1, decode: decoder[LeadUnassigned]()},
	"fieldrep.assigned":       {version: 1, decode: decoder[FieldRepAssigned]()},
	"invoice.received":        {version: 1, decode: decoder[InvoiceReceived]()},
	"invoice.rejected":        {version: 1, decode: decoder[InvoiceRejected]()},

	"fx.rate_set":         {version: 1, decode: decoder[FXRateSet]()},
	"exception.assigned":  {version: 1, decode: decoder[ExceptionAssigned]()},
	"exception.dismissed": {version: 1, decode: decoder[ExceptionDismissed]()},
	"exception.reopened":  {version: 1, decode: decoder[ExceptionReopened]()},

	"statement.approved":        {version: 1, decode: decoder[StatementApproved]()},
	"statement.payout_recorded": {version: 1, decode: decoder[PayoutRecorded]()},

	"projection.event_skipped": {version: 1, decode: decoder[ProjectionEventSkipped]()},
}

// Policy v1 defaults for the fields v2 added.
const (
	defaultClaimGraceDays = 30
	defaultMaxExtensions  = 2
)

// upcastPolicyV1 turns a policy.set v1 body into v2: v2 added claim_grace_days and
// max_extensions; v1 policies had neither, which the program ran as 30 days and 2.
func upcastPolicyV1(m map[string]any) error {
	if _, ok := m["claim_grace_days"]; !ok {
		m["claim_grace_days"] = defaultClaimGraceDays
	}
	if _, ok := m["max_extensions"]; !ok {
		m["max_extensions"] = defaultMaxExtensions
	}
	return nil
}

// Encode returns e's type, current schema version and JSON body. The body is deterministic:
// the same event always gives the same bytes (struct fields in declaration order, map keys
// sorted).
func Encode(e Event) (typ string, schemaVersion int, data []byte, err error) {
	if e == nil {
		return "", 0, nil, invalidf("event", "domain: cannot encode a nil event")
	}
	typ = e.EventType()
	entry, ok := codecTable[typ]
	if !ok {
		return "", 0, nil, invalidf("type", "domain: unknown event type %q", typ)
	}
	if inv, ok := e.(InvoiceReceived); ok {
		if data, ok := encodeInvoiceFast(inv); ok {
			return typ, entry.version, data, nil
		}
	}
	data, err = json.Marshal(e)
	if err != nil {
		return "", 0, nil, fmt.Errorf("domain: encode %s: %w", typ, err)
	}
	return typ, entry.version, data, nil
}

// Decode turns a stored (type, schema version, body) back into an Event, upcasting older
// schema versions step by step to the current one. Unknown types, versions newer than this
// code knows and bodies with unknown fields are a *Error (Invalid).
func Decode(typ string, schemaVersion int, data []byte) (Event, error) {
	entry, ok := codecTable[typ]
	if !ok {
		return nil, invalidf("type", "domain: unknown event type %q", typ)
	}
	if schemaVersion < 1 || schemaVersion > entry.version {
		return nil, invalidf("schema_version", "domain: %s has no schema version %d (current %d)", typ, schemaVersion, entry.version)
	}
	if schemaVersion < entry.version {
		var m map[string]any
		d := json.NewDecoder(bytes.NewReader(data))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			return nil, invalidf("data", "domain: decode %s v%d: %v", typ, schemaVersion, err)
		}
		for v := schemaVersion; v < entry.version; v++ {
			up, ok := entry.upcaster[v]
			if !ok {
				return nil, invalidf("schema_version", "domain: no upcaster for %s v%d", typ, v)
			}
			if err := up(m); err != nil {
				return nil, fmt.Errorf("domain: upcast %s v%d: %w", typ, v, err)
			}
		}
		b, err := json.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("domain: upcast %s: %w", typ, err)
		}
		data = b
	}
	if typ == "invoice.received" && schemaVersion == entry.version {
		if inv, ok := decodeInvoiceFast(data); ok {
			return inv, nil
		}
	}
	e, err := entry.decode(data)
	if err != nil {
		return nil, invalidf("data", "domain: decode %s v%d: %v", typ, schemaVersion, err)
	}
	return e, nil
}
