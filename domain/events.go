package domain

import "time"

// Event is a domain fact. EventType names it in the log ("deal.registered").
type Event interface{ EventType() string }

// PartnerKind is var, si or oem.
type PartnerKind string

// Partner kinds.
const (
	KindVAR PartnerKind = "var"
	KindSI  PartnerKind = "si"
	KindOEM PartnerKind = "oem"
)

// Valid reports whether k is a known partner kind.
func (k PartnerKind) Valid() bool { return k == KindVAR || k == KindSI || k == KindOEM }

// Tier is a partner level.
type Tier string

// Tiers, lowest first.
const (
	TierRegistered Tier = "registered"
	TierGold       Tier = "gold"
	TierPlatinum   Tier = "platinum"
)

// Valid reports whether t is a known tier.
func (t Tier) Valid() bool { return t == TierRegistered || t == TierGold || t == TierPlatinum }

// Rank orders tiers: registered 0, gold 1, platinum 2 (-1 for unknown).
func (t Tier) Rank() int {
	switch t {
	case TierRegistered:
		return 0
	case TierGold:
		return 1
	case TierPlatinum:
		return 2
	}
	return -1
}

// Step is an engagement step a partner performs on a deal.
type Step string

// Engagement steps.
const (
	StepPresalesSupport         Step = "presales_support"
	StepProofOfConcept          Step = "proof_of_concept"
	StepSalesIntegration        Step = "sales_integration"
	StepKnowledgeTransfer       Step = "knowledge_transfer"
	StepDeployment              Step = "deployment"
	StepPostSalesImplementation Step = "post_sales_implementation"
)

// Valid reports whether s is a known engagement step.
func (s Step) Valid() bool {
	switch s {
	case StepPresalesSupport, StepProofOfConcept, StepSalesIntegration, StepKnowledgeTransfer,
		StepDeployment, StepPostSalesImplementation:
		return true
	}
	return false
}

// PartnerEnrolled: a partner joined the program at tier registered ("partner.enrolled").
type PartnerEnrolled struct {
	PartnerID  string      `json:"partner_id"`
	Name       string      `json:"name"`
	Kind       PartnerKind `json:"kind"`
	Geography  string      `json:"geography"`
	Tier       Tier        `json:"tier"`
	EnrolledOn Date        `json:"enrolled_on"`
	// JoinedOn and TierHistory tell the partner's time in the program before its
	// enrolment in the system (zero and empty: none known; see PartnerState.TierHistory).
	JoinedOn    Date       `json:"joined_on,omitzero"`
	TierHistory []PastTier `json:"tier_history,omitempty"`
}

// PartnerGrandfathered: an existing business partner entered the program directly as Gold,
// exempt from tier reviews until ReviewOn ("partner.grandfathered").
type PartnerGrandfathered struct {
	PartnerID  string      `json:"partner_id"`
	Name       string      `json:"name"`
	Kind       PartnerKind `json:"kind"`
	Geography  string      `json:"geography"`
	Tier       Tier        `json:"tier"`
	EnrolledOn Date        `json:"enrolled_on"`
	ReviewOn   Date        `json:"review_on"`
	// JoinedOn and TierHistory: as in PartnerEnrolled.
	JoinedOn    Date       `json:"joined_on,omitzero"`
	TierHistory []PastTier `json:"tier_history,omitempty"`
}

// PastTier is a tier a partner held from a date before its enrolment in the system.
type PastTier struct {
	Tier Tier `json:"tier"`
	From Date `json:"from"`
}

// EngineerCertified: one of the partner's people is certified on a segment, recorded by a
// channel manager or an admin, so confirmed at once ("partner.certified"). CertID names
// the certification (empty in events recorded before certifications had ids: the event's
// id names them, see WithProvenance). Such an event recorded by a partner itself before
// confirmations existed counts only once confirmed (docs/rules.md rule 3a).
type EngineerCertified struct {
	PartnerID   string  `json:"partner_id"`
	Engineer    string  `json:"engineer"`
	Segment     Segment `json:"segment"`
	CertifiedOn Date    `json:"certified_on"`
	CertID      string  `json:"cert_id,omitempty"`
}

// CertificationSubmitted: a partner submitted one of its people's certifications; it
// counts for tier requirements only once a channel manager confirms it
// ("partner.certification_submitted").
type CertificationSubmitted struct {
	PartnerID   string  `json:"partner_id"`
	Engineer    string  `json:"engineer"`
	Segment     Segment `json:"segment"`
	CertifiedOn Date    `json:"certified_on"`
	CertID      string  `json:"cert_id"`
	SubmittedOn Date    `json:"submitted_on,omitzero"`
}

// CertificationConfirmed: a channel manager confirmed a submitted certification; from
// then on it counts for tier requirements ("partner.certification_confirmed").
type CertificationConfirmed struct {
	PartnerID string `json:"partner_id"`
	CertID    string `json:"cert_id"`
	On        Date   `json:"on"`
}

// CertificationRefused: a channel manager refused a submitted certification with a
// reason; it never counts ("partner.certification_refused").
type CertificationRefused struct {
	PartnerID string `json:"partner_id"`
	CertID    string `json:"cert_id"`
	Reason    string `json:"reason"`
	On        Date   `json:"on"`
}

// CommitmentMade: the partner committed to segments and a quarterly revenue target
// ("partner.committed"); it replaces the previous commitment.
type CommitmentMade struct {
	PartnerID       string    `json:"partner_id"`
	Segments        []Segment `json:"segments"`
	QuarterlyTarget Money     `json:"quarterly_target"`
	On              Date      `json:"on"`
}

// TierChanged: the partner's tier changed ("partner.tier_changed"). Review is true when a
// quarterly tier review decided it; Scorecard then explains the decision.
type TierChanged struct {
	PartnerID   string     `json:"partner_id"`
	From        Tier       `json:"from"`
	To          Tier       `json:"to"`
	Reason      string     `json:"reason"`
	EffectiveOn Date       `json:"effective_on"`
	Review      bool       `json:"review,omitempty"`
	Scorecard   *Scorecard `json:"scorecard,omitempty"`
	// Override is true when an admin demoted a grandfathered partner before its review
	// date (rule 5); Reason then says why.
	Override bool `json:"override,omitempty"`
	// ReviewID is the quarterly review whose proposal this change applies ("2026Q1-r1").
	ReviewID string `json:"review_id,omitempty"`
}

// TierReviewed: a quarterly review kept the partner's tier ("partner.tier_reviewed").
type TierReviewed struct {
	PartnerID string    `json:"partner_id"`
	Tier      Tier      `json:"tier"`
	Outcome   string    `json:"outcome"`
	On        Date      `json:"on"`
	Scorecard Scorecard `json:"scorecard"`
	// ReviewID is the quarterly review whose proposal this applies, if any.
	ReviewID string `json:"review_id,omitempty"`
}

// SeatsSet: a geography's capacity of Platinum and Gold seats ("geo.seats_set").
type SeatsSet struct {
	Geography string `json:"geography"`
	Platinum  int    `json:"platinum"`
	Gold      int    `json:"gold"`
	On        Date   `json:"on"`
}

// SeatTaken: a partner holds a seat of Tier in the geography ("geo.seat_taken").
type SeatTaken struct {
	Geography string `json:"geography"`
	Tier      Tier   `json:"tier"`
	PartnerID string `json:"partner_id"`
	On        Date   `json:"on"`
}

// SeatReleased: a partner gave up its seat of Tier ("geo.seat_released").
type SeatReleased struct {
	Geography string `json:"geography"`
	Tier      Tier   `json:"tier"`
	PartnerID string `json:"partner_id"`
	On        Date   `json:"on"`
}

// SeatWaitlisted: a tier change was refused because the geography's seats of Tier are
// full; the partner waits at Position (1 = next) ("geo.seat_waitlisted").
type SeatWaitlisted struct {
	Geography string `json:"geography"`
	Tier      Tier   `json:"tier"`
	PartnerID string `json:"partner_id"`
	Position  int    `json:"position"`
	On        Date   `json:"on"`
}

// SeatOfferLapsed: the freed seat held for PartnerID, head of Tier's waitlist, through
// Until was not taken; from On (the day after Until) it goes to whoever asks first, and
// PartnerID stays on the waitlist ("geo.seat_offer_lapsed", appended by the scheduler).
type SeatOfferLapsed struct {
	Geography string `json:"geography"`
	Tier      Tier   `json:"tier"`
	PartnerID string `json:"partner_id"`
	Until     Date   `json:"until"`
	On        Date   `json:"on"`
}

// DealRegistered: a Gold or Platinum partner registered a customer opportunity
// ("deal.registered"); it is pending until approved.
type DealRegistered struct {
	DealID        string    `json:"deal_id"`
	PartnerID     string    `json:"partner_id"`
	Customer      Customer  `json:"customer"`
	CustomerKey   string    `json:"customer_key"`
	Geography     string    `json:"geography"`
	SizeBand      string    `json:"size_band,omitempty"`
	Segments      []Segment `json:"segments"`
	ExpectedValue Money     `json:"expected_value"`
	OEMID         string    `json:"oem_id,omitempty"`
	RegisteredOn  Date      `json:"registered_on"`
	// OutsideCommitment lists the registration's software segments the partner was not
	// committed to when it registered (rule 8a, RuleOutsideCommitment): the registration
	// is allowed and flagged. Empty: within its commitment, or no commitment recorded.
	OutsideCommitment []Segment `json:"outside_commitment,omitempty"`
}

// DealConflicted: the registration collides with another protected or pending registration
// for the same customer key and segments; both partners are recorded ("deal.conflicted").
type DealConflicted struct {
	DealID        string    `json:"deal_id"`
	PartnerID     string    `json:"partner_id"`
	WithDealID    string    `json:"with_deal_id"`
	WithPartnerID string    `json:"with_partner_id"`
	Segments      []Segment `json:"segments"`
	On            Date      `json:"on"`
}

// DealApproved: a channel manager approved the registration; it is protected from
// ApprovedOn to ExpiresOn inclusive ("deal.approved").
type DealApproved struct {
	DealID        string `json:"deal_id"`
	ApprovedOn    Date   `json:"approved_on"`
	ExpiresOn     Date   `json:"expires_on"`
	PolicyVersion int    `json:"policy_version"`
	By            string `json:"by,omitempty"`
}

// DealOverridden: a channel manager approved the registration over a conflict, with a
// written reason; the displaced registrations lose protection ("deal.overridden").
type DealOverridden struct {
	DealID        string   `json:"deal_id"`
	Reason        string   `json:"reason"`
	Displaced     []string `json:"displaced"`
	ApprovedOn    Date     `json:"approved_on"`
	ExpiresOn     Date     `json:"expires_on"`
	PolicyVersion int      `json:"policy_version"`
	By            string   `json:"by,omitempty"`
}

// DealRejected: the registration was refused with a reason ("deal.rejected").
type DealRejected struct {
	DealID string `json:"deal_id"`
	Reason string `json:"reason"`
	On     Date   `json:"on"`
	By     string `json:"by,omitempty"`
}

// DealReturned: the registration was returned to the partner for more information
// ("deal.returned"); it can be approved or rejected afterwards.
type DealReturned struct {
	DealID string `json:"deal_id"`
	Reason string `json:"reason"`
	On     Date   `json:"on"`
	By     string `json:"by,omitempty"`
}

// DealWithdrawn: the partner withdrew the registration ("deal.withdrawn").
type DealWithdrawn struct {
	DealID string `json:"deal_id"`
	On     Date   `json:"on"`
	By     string `json:"by,omitempty"`
}

// DealExtended: the protection window was extended to ExpiresOn; Extensions counts them
// ("deal.extended").
type DealExtended struct {
	DealID     string `json:"deal_id"`
	ExpiresOn  Date   `json:"expires_on"`
	Extensions int    `json:"extensions"`
	On         Date   `json:"on"`
}

// DealExpired: the protection window ended ("deal.expired").
type DealExpired struct {
	DealID string `json:"deal_id"`
	On     Date   `json:"on"`
}

// DealWon: the opportunity closed won ("deal.won"); protection stays until expiry so the
// OEM invoice that follows still matches. Reason and By are empty in events recorded
// before outcomes were reported through the API.
type DealWon struct {
	DealID string `json:"deal_id"`
	On     Date   `json:"on"`
	Reason string `json:"reason,omitempty"`
	By     string `json:"by,omitempty"`
}

// DealLost: the opportunity was lost ("deal.lost"); protection ends.
type DealLost struct {
	DealID string `json:"deal_id"`
	Reason string `json:"reason,omitempty"`
	On     Date   `json:"on"`
	By     string `json:"by,omitempty"`
}

// DealResubmitted: the partner answered a return for information and submitted the
// registration again ("deal.resubmitted"); Info is its answer. The registration is
// pending (or in conflict, when it was) until a channel manager decides again.
type DealResubmitted struct {
	DealID string `json:"deal_id"`
	Info   string `json:"info"`
	On     Date   `json:"on"`
	By     string `json:"by,omitempty"`
}

// EngagementLogged: a partner performed an engagement step on the deal, optionally with an
// OEM ("deal.engagement_logged").
type EngagementLogged struct {
	DealID     string `json:"deal_id"`
	PartnerID  string `json:"partner_id"`
	Step       Step   `json:"step"`
	OccurredOn Date   `json:"occurred_on"`
	OEMID      string `json:"oem_id,omitempty"`
	Notes      string `json:"notes,omitempty"`
}

// ServiceHandedOff: the OEM declined the service side of the deal and ToPartnerID takes it
// ("deal.service_handoff").
type ServiceHandedOff struct {
	DealID      string `json:"deal_id"`
	OEMID       string `json:"oem_id"`
	ToPartnerID string `json:"to_partner_id"`
	On          Date   `json:"on"`
}

// CustomerKeyReserved: the deal holds protection for Segments of the customer key from
// From to Until inclusive ("customerkey.reserved"). A later reservation by the same deal
// replaces the earlier one (extension); Displaced lists deals it overrides.
type CustomerKeyReserved struct {
	CustomerKey string    `json:"customer_key"`
	DealID      string    `json:"deal_id"`
	PartnerID   string    `json:"partner_id"`
	Segments    []Segment `json:"segments"`
	From        Date      `json:"from"`
	Until       Date      `json:"until"`
	Displaced   []string  `json:"displaced,omitempty"`
}

// CustomerKeyReleased: the deal no longer holds the customer key (withdrawn, lost, rejected
// after override, expired) ("customerkey.released").
type CustomerKeyReleased struct {
	CustomerKey string `json:"customer_key"`
	DealID      string `json:"deal_id"`
	On          Date   `json:"on"`
	Reason      string `json:"reason"`
}

// GeoPolicy overrides parts of the policy in one geography; zero fields inherit.
type GeoPolicy struct {
	RebateBPS        map[Tier]int64 `json:"rebate_bps,omitempty"`
	RegistrationDays int            `json:"registration_days,omitempty"`
	ClaimGraceDays   int            `json:"claim_grace_days,omitempty"`
}

// PolicySet: a new policy version in force from EffectiveFrom ("policy.set", schema v2; v1
// had no claim_grace_days and max_extensions, upcast with defaults 30 and 2).
type PolicySet struct {
	Version           int                  `json:"version"`
	EffectiveFrom     Date                 `json:"effective_from"`
	RebateBPS         map[Tier]int64       `json:"rebate_bps"`
	RegistrationDays  int                  `json:"registration_days"`
	MaxExtensions     int                  `json:"max_extensions"`
	ClaimGraceDays    int                  `json:"claim_grace_days"`
	PlatinumMinTarget Money                `json:"platinum_min_target"`
	GoldMinTarget     Money                `json:"gold_min_target"`
	LeadAcceptHours   int                  `json:"lead_accept_hours"`
	FieldRepBPS       int64                `json:"field_rep_bps"`
	Geographies       map[string]GeoPolicy `json:"geographies,omitempty"`
	Reason            string               `json:"reason,omitempty"`
	// ReportingCurrency is the one currency the revenue mix and the scorecards are
	// also shown in (empty: none; absent from policies set before it existed).
	ReportingCurrency string `json:"reporting_currency,omitempty"`
}

// QuarterClosed: finance closed the quarter; its statements never change afterwards
// ("quarter.closed").
type QuarterClosed struct {
	Quarter  Quarter `json:"quarter"`
	ClosedOn Date    `json:"closed_on"`
	By       string  `json:"by,omitempty"`
}

// LeadSource says where a lead came from.
type LeadSource string

// Lead sources.
const (
	LeadFromCampaign LeadSource = "campaign"
	LeadFromEvent    LeadSource = "event"
)

// LeadCreated: a sales lead from a campaign or a marketing event in a geography
// ("lead.created"). Participants are the partners that took part in the event.
type LeadCreated struct {
	LeadID       string     `json:"lead_id"`
	Geography    string     `json:"geography"`
	Source       LeadSource `json:"source"`
	SourceName   string     `json:"source_name"`
	Participants []string   `json:"participants,omitempty"`
	Customer     Customer   `json:"customer"`
	CreatedAt    time.Time  `json:"created_at"`
}

// LeadOffered: the lead is offered to a partner until Deadline ("lead.offered").
type LeadOffered struct {
	LeadID    string    `json:"lead_id"`
	PartnerID string    `json:"partner_id"`
	Tier      Tier      `json:"tier"`
	Round     int       `json:"round"`
	OfferedAt time.Time `json:"offered_at"`
	Deadline  time.Time `json:"deadline"`
}

// LeadAccepted: the partner accepted the offered lead ("lead.accepted").
type LeadAccepted struct {
	LeadID    string    `json:"lead_id"`
	PartnerID string    `json:"partner_id"`
	At        time.Time `json:"at"`
}

// LeadDeclined: the partner declined the lead with a reason, or let the deadline pass
// (Expired) ("lead.declined").
type LeadDeclined struct {
	LeadID    string    `json:"lead_id"`
	PartnerID string    `json:"partner_id"`
	Reason    string    `json:"reason"`
	Expired   bool      `json:"expired,omitempty"`
	At        time.Time `json:"at"`
}

// LeadUnassigned: every eligible partner declined or let the offer lapse ("lead.unassigned").
type LeadUnassigned struct {
	LeadID string    `json:"lead_id"`
	At     time.Time `json:"at"`
}

// FieldRepAssigned: a field sales rep covers a territory, geography plus customer size band,
// and optionally named accounts ("fieldrep.assigned"); a later assignment replaces it.
// Accounts are customer keys (CustomerKey), sorted and distinct: a registration of a named
// account credits the reps naming it instead of the territory's (rule 17).
type FieldRepAssigned struct {
	RepID     string   `json:"rep_id"`
	Name      string   `json:"name"`
	Geography string   `json:"geography"`
	SizeBand  string   `json:"size_band"`
	On        Date     `json:"on"`
	Accounts  []string `json:"accounts,omitempty"`
}

// ProjectionEventSkipped: an operator recorded that the projection named Projection
// passes over the event at Position (whose id is EventID and type Type), which it cannot apply
// ("projection.event_skipped"). It is the audited way out of a stopped read model: every
// fold of that projection (live, rebuild, verify, replay) leaves the event out, so they
// all agree. The event itself stays in the log, unchanged.
type ProjectionEventSkipped struct {
	Projection string    `json:"projection"`
	Position   int64     `json:"position"`
	EventID    string    `json:"event_id"`
	Type       string    `json:"event_type"`
	Reason     string    `json:"reason"`
	Actor      string    `json:"actor"`
	SkippedAt  time.Time `json:"skipped_at"`
}

// EventType implementations.
func (PartnerEnrolled) EventType() string        { return "partner.enrolled" }
func (PartnerGrandfathered) EventType() string   { return "partner.grandfathered" }
func (EngineerCertified) EventType() string      { return "partner.certified" }
func (CertificationSubmitted) EventType() string { return "partner.certification_submitted" }
func (CertificationConfirmed) EventType() string { return "partner.certification_confirmed" }
func (CertificationRefused) EventType() string   { return "partner.certification_refused" }
func (CommitmentMade) EventType() string         { return "partner.committed" }
func (TierChanged) EventType() string            { return "partner.tier_changed" }
func (TierReviewed) EventType() string           { return "partner.tier_reviewed" }
func (SeatsSet) EventType() string               { return "geo.seats_set" }
func (SeatTaken) EventType() string              { return "geo.seat_taken" }
func (SeatReleased) EventType() string           { return "geo.seat_released" }
func (SeatWaitlisted) EventType() string         { return "geo.seat_waitlisted" }
func (SeatOfferLapsed) EventType() string        { return "geo.seat_offer_lapsed" }
func (DealRegistered) EventType() string         { return "deal.registered" }
func (DealConflicted) EventType() string         { return "deal.conflicted" }
func (DealApproved) EventType() string           { return "deal.approved" }
func (DealOverridden) EventType() string         { return "deal.overridden" }
func (DealRejected) EventType() string           { return "deal.rejected" }
func (DealReturned) EventType() string           { return "deal.returned" }
func (DealWithdrawn) EventType() string          { return "deal.withdrawn" }
func (DealExtended) EventType() string           { return "deal.extended" }
func (DealExpired) EventType() string            { return "deal.expired" }
func (DealWon) EventType() string                { return "deal.won" }
func (DealLost) EventType() string               { return "deal.lost" }
func (DealResubmitted) EventType() string        { return "deal.resubmitted" }
func (EngagementLogged) EventType() string       { return "deal.engagement_logged" }
func (ServiceHandedOff) EventType() string       { return "deal.service_handoff" }
func (CustomerKeyReserved) EventType() string    { return "customerkey.reserved" }
func (CustomerKeyReleased) EventType() string    { return "customerkey.released" }
func (PolicySet) EventType() string              { return "policy.set" }
func (QuarterClosed) EventType() string          { return "quarter.closed" }
func (LeadCreated) EventType() string            { return "lead.created" }
func (LeadOffered) EventType() string            { return "lead.offered" }
func (LeadAccepted) EventType() string           { return "lead.accepted" }
func (LeadDeclined) EventType() string           { return "lead.declined" }
func (LeadUnassigned) EventType() string         { return "lead.unassigned" }
func (FieldRepAssigned) EventType() string       { return "fieldrep.assigned" }
func (InvoiceReceived) EventType() string        { return "invoice.received" }
func (InvoiceRejected) EventType() string        { return "invoice.rejected" }
func (ProjectionEventSkipped) EventType() string {
	return "projection.event_skipped"
}

// StreamOf returns the stream an event belongs in, computed from its own fields, so a
// caller appending a decider's events knows where each goes.
func StreamOf(e Event) string {
	switch e := e.(type) {
	case PartnerEnrolled:
		return PartnerStream(e.PartnerID)
	case PartnerGrandfathered:
		return PartnerStream(e.PartnerID)
	case EngineerCertified:
		return PartnerStream(e.PartnerID)
	case CertificationSubmitted:
		return PartnerStream(e.PartnerID)
	case CertificationConfirmed:
		return PartnerStream(e.PartnerID)
	case CertificationRefused:
		return PartnerStream(e.PartnerID)
	case CommitmentMade:
		return PartnerStream(e.PartnerID)
	case TierChanged:
		return PartnerStream(e.PartnerID)
	case TierReviewed:
		return PartnerStream(e.PartnerID)
	case SeatsSet:
		return GeographyStream(e.Geography)
	case SeatTaken:
		return GeographyStream(e.Geography)
	case SeatReleased:
		return GeographyStream(e.Geography)
	case SeatWaitlisted:
		return GeographyStream(e.Geography)
	case SeatOfferLapsed:
		return GeographyStream(e.Geography)
	case DealRegistered:
		return DealStream(e.DealID)
	case DealConflicted:
		return DealStream(e.DealID)
	case DealApproved:
		return DealStream(e.DealID)
	case DealOverridden:
		return DealStream(e.DealID)
	case DealRejected:
		return DealStream(e.DealID)
	case DealReturned:
		return DealStream(e.DealID)
	case DealWithdrawn:
		return DealStream(e.DealID)
	case DealExtended:
		return DealStream(e.DealID)
	case DealExpired:
		return DealStream(e.DealID)
	case DealWon:
		return DealStream(e.DealID)
	case DealLost:
		return DealStream(e.DealID)
	case DealResubmitted:
		return DealStream(e.DealID)
	case EngagementLogged:
		return DealStream(e.DealID)
	case ServiceHandedOff:
		return DealStream(e.DealID)
	case CustomerKeyReserved:
		return CustomerKeyStream(e.CustomerKey)
	case CustomerKeyReleased:
		return CustomerKeyStream(e.CustomerKey)
	case PolicySet:
		return PolicyStream()
	case QuarterClosed:
		return QuarterStream(e.Quarter)
	case ReviewRun:
		return ReviewStream(e.Quarter)
	case ProposalApplied:
		return ReviewStream(e.Quarter)
	case LeadCreated:
		return LeadStream(e.LeadID)
	case LeadOffered:
		return LeadStream(e.LeadID)
	case LeadAccepted:
		return LeadStream(e.LeadID)
	case LeadDeclined:
		return LeadStream(e.LeadID)
	case LeadUnassigned:
		return LeadStream(e.LeadID)
	case FieldRepAssigned:
		return FieldRepStream(e.RepID)
	case InvoiceReceived:
		return InvoiceStream(e.OEMID, e.InvoiceNumber)
	case InvoiceRejected:
		return RejectionStream(e.OEMID)
	case ProjectionEventSkipped:
		return ProjectionStream(e.Projection)
	case FXRateSet:
		return FXStream()
	case ExceptionAssigned:
		return ExceptionStream(e.OEMID, e.InvoiceNumber, e.Line)
	case ExceptionDismissed:
		return ExceptionStream(e.OEMID, e.InvoiceNumber, e.Line)
	case ExceptionReopened:
		return ExceptionStream(e.OEMID, e.InvoiceNumber, e.Line)
	case StatementApproved:
		return StatementStream(e.PartnerID, e.Quarter)
	case PayoutRecorded:
		return StatementStream(e.PartnerID, e.Quarter)
	}
	return ""
}
