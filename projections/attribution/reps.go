package attribution

import (
	"context"

	"dealcredit/projections/runner"
)

// RepStatement is a field rep's channel credit in one quarter and currency
// (docs/rules.md rule 17): quota credit, not paid revenue.
type RepStatement struct {
	RepID   string `json:"rep_id"`
	Quarter string `json:"quarter"`
	// Currency of the credits; never added across currencies.
	Currency string `json:"currency"`
	// CreditMinor is the net field_rep credit (reversals and clawbacks included).
	CreditMinor int64 `json:"credit_minor"`
	// AdjustmentMinor is the part booked as an adjustment of a closed quarter.
	AdjustmentMinor int64 `json:"adjustment_minor"`
	// Lines counts the ledger rows; Deals the distinct registrations credited.
	Lines int `json:"lines"`
	Deals int `json:"deals"`
}

// RepStatements returns rep's field_rep credits booked in quarter, one row
// per currency, sorted by currency, and the read model's state, read by the
// same statement.
func (r *Reader) RepStatements(ctx context.Context, repID, quarter string) ([]RepStatement, runner.ReadState, error) {
	out := []RepStatement{}
	s := RepStatement{RepID: repID, Quarter: quarter}
	// Large: the sums read every field_rep row of the rep's quarter.
	st, err := r.withState(ctx, large, "rep statements", `SELECT currency, coalesce(sum(amount_minor), 0)::bigint AS credit,
			coalesce(sum(amount_minor) FILTER (WHERE adjustment), 0)::bigint AS adjustment, count(*) AS lines,
			count(DISTINCT registration_id) AS deals
		FROM `+r.table("ledger")+` WHERE kind = 'field_rep' AND partner_id = $1 AND quarter = $2 GROUP BY currency`,
		`s.currency`, []any{repID, quarter}, []any{&s.Currency, &s.CreditMinor, &s.AdjustmentMinor, &s.Lines, &s.Deals},
		func() error {
			out = append(out, s)
			return nil
		})
	return out, st, err
}
