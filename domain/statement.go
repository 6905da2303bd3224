package domain

import (
	"strings"
	"time"
)

// The rebate lifecycle: finance approves a partner's quarter statement (its figures
// freeze: every later credit of that partner for that quarter lands as an adjustment in
// the first quarter after it that is neither closed nor approved for the partner, as after
// a quarter close), then records payouts against the approved rebates, per currency, never
// more than approved.

// StatementApproved: finance approved the partner's statement of the quarter
// ("statement.approved").
type StatementApproved struct {
	PartnerID  string  `json:"partner_id"`
	Quarter    Quarter `json:"quarter"`
	ApprovedOn Date    `json:"approved_on"`
	By         string  `json:"by"`
}

// PayoutRecorded: a payment of the partner's approved rebates of the quarter
// ("statement.payout_recorded").
type PayoutRecorded struct {
	PartnerID string  `json:"partner_id"`
	Quarter   Quarter `json:"quarter"`
	Amount    Money   `json:"amount"`
	Reference string  `json:"reference"`
	PaidOn    Date    `json:"paid_on"`
	By        string  `json:"by"`
}

// EventType implementations of the rebate lifecycle.
func (StatementApproved) EventType() string { return "statement.approved" }
func (PayoutRecorded) EventType() string    { return "statement.payout_recorded" }

// StatementStream returns "statement-<partner>-<quarter>".
func StatementStream(partnerID string, q Quarter) string {
	return "statement-" + partnerID + "-" + q.String()
}

// StatementState is a partner's quarter statement folded from its stream.
type StatementState struct {
	Approved bool
	Paid     map[string]int64 // currency -> paid so far
}

// EvolveStatement folds a statement event.
func EvolveStatement(s StatementState, e Event) StatementState {
	switch e := e.(type) {
	case StatementApproved:
		s.Approved = true
	case PayoutRecorded:
		paid := make(map[string]int64, len(s.Paid)+1)
		for k, v := range s.Paid {
			paid[k] = v
		}
		paid[e.Amount.Currency] += e.Amount.Amount
		s.Paid = paid
	}
	return s
}

// ApproveStatement is the command to approve a partner's quarter statement.
type ApproveStatement struct {
	PartnerID string
	Quarter   Quarter
	By        string
}

// DecideApproveStatement approves the statement of an ended quarter of an enrolled
// partner, once.
func DecideApproveStatement(s StatementState, partner PartnerState, c ApproveStatement, now time.Time) ([]Event, error) {
	today := DateOf(now)
	switch {
	case CheckID("partner_id", c.PartnerID) != nil:
		return nil, CheckID("partner_id", c.PartnerID)
	case CheckQuarter("quarter", c.Quarter) != nil:
		return nil, CheckQuarter("quarter", c.Quarter)
	case !partner.Exists():
		return nil, Errorf(NotFound, "partner_id", "", "partner %s not found", c.PartnerID)
	case s.Approved:
		return nil, Errorf(Conflict, "quarter", "statement.approved_once", "the %s statement of %s is already approved", c.Quarter, c.PartnerID)
	case !today.After(c.Quarter.End()):
		return nil, Errorf(Unprocessable, "quarter", "statement.quarter_ended", "quarter %s has not ended (it ends %s)", c.Quarter, c.Quarter.End())
	}
	return []Event{StatementApproved{PartnerID: c.PartnerID, Quarter: c.Quarter, ApprovedOn: today, By: c.By}}, nil
}

// RecordPayout is the command to record a payment of approved rebates.
type RecordPayout struct {
	PartnerID string
	Quarter   Quarter
	Amount    Money
	Reference string
	PaidOn    Date
	By        string
}

// DecidePayout records a payout of the approved statement: a positive amount in a
// currency the statement has approved rebates in, paid on a day not after today, so that
// the payouts of that currency never exceed what was approved (approved: currency ->
// approved rebates, from the read model at or after the approval).
func DecidePayout(s StatementState, approved map[string]int64, c RecordPayout, now time.Time) ([]Event, error) {
	today := DateOf(now)
	cur := c.Amount.Currency
	switch {
	case CheckID("partner_id", c.PartnerID) != nil:
		return nil, CheckID("partner_id", c.PartnerID)
	case CheckQuarter("quarter", c.Quarter) != nil:
		return nil, CheckQuarter("quarter", c.Quarter)
	case CheckAmount("amount_minor", c.Amount.Amount, 1) != nil:
		return nil, CheckAmount("amount_minor", c.Amount.Amount, 1)
	case !ValidCurrency(cur):
		return nil, invalidf("currency", "currency %q is not an ISO 4217 code", cur)
	case CheckRequiredText("reference", c.Reference, MaxRefLen) != nil:
		return nil, CheckRequiredText("reference", c.Reference, MaxRefLen)
	case c.PaidOn.IsZero():
		return nil, invalidf("paid_on", "paid_on is required")
	case CheckDate("paid_on", c.PaidOn) != nil:
		return nil, CheckDate("paid_on", c.PaidOn)
	case c.PaidOn.After(today):
		return nil, invalidf("paid_on", "paid_on %s is after today (%s)", c.PaidOn, today)
	case !s.Approved:
		return nil, Errorf(Unprocessable, "quarter", "payout.approved_statement",
			"the %s statement of %s is not approved; approve it before paying", c.Quarter, c.PartnerID)
	}
	room := approved[cur] - s.Paid[cur]
	if c.Amount.Amount > room {
		return nil, Errorf(Unprocessable, "amount_minor", "payout.over_approved",
			"a payout of %s would exceed the approved rebates of %s in %s: approved %s, paid %s, outstanding %s",
			c.Amount.Major(), c.PartnerID, c.Quarter, Money{approved[cur], cur}.Major(), Money{s.Paid[cur], cur}.Major(),
			Money{max(room, 0), cur}.Major())
	}
	return []Event{PayoutRecorded{PartnerID: c.PartnerID, Quarter: c.Quarter, Amount: c.Amount,
		Reference: strings.TrimSpace(c.Reference), PaidOn: c.PaidOn, By: c.By}}, nil
}
