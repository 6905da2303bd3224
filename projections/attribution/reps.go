package attribution

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
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
// per currency, sorted by currency.
func (r *Reader) RepStatements(ctx context.Context, repID, quarter string) ([]RepStatement, int64, error) {
	out := []RepStatement{}
	pos, err := r.snapshot(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT currency, coalesce(sum(amount_minor), 0)::bigint,
			coalesce(sum(amount_minor) FILTER (WHERE adjustment), 0)::bigint, count(*), count(DISTINCT registration_id)
			FROM `+r.table("ledger")+` WHERE kind = 'field_rep' AND partner_id = $1 AND quarter = $2
			GROUP BY currency ORDER BY currency`, repID, quarter)
		if err != nil {
			return fmt.Errorf("attribution: rep statements: %w", err)
		}
		s := RepStatement{RepID: repID, Quarter: quarter}
		_, err = pgx.ForEachRow(rows, []any{&s.Currency, &s.CreditMinor, &s.AdjustmentMinor, &s.Lines, &s.Deals}, func() error {
			out = append(out, s)
			return nil
		})
		if err != nil {
			return fmt.Errorf("attribution: rep statements: %w", err)
		}
		return nil
	})
	return out, pos, err
}
