package attribution

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"
)

// PayoutCSVHeader is the stable header of the payout file for accounts
// payable (docs/finance.md, "Payout file").
var PayoutCSVHeader = []string{"position", "partner_id", "quarter", "currency", "amount_minor", "reference", "paid_on",
	"recorded_by", "event_id"}

// WritePayoutsCSV writes the payouts recorded for quarter (all when empty)
// in log order as CSV with PayoutCSVHeader, and returns the position it
// reflects.
func (r *Reader) WritePayoutsCSV(ctx context.Context, w io.Writer, quarter string) (int64, error) {
	cw := csv.NewWriter(w)
	if err := cw.Write(PayoutCSVHeader); err != nil {
		return 0, fmt.Errorf("attribution: write payouts csv: %w", err)
	}
	pos, err := r.snapshot(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT position, partner_id, quarter, currency, amount_minor, reference, paid_on, recorded_by,
			event_id FROM `+r.table("payouts")+` WHERE ($1 = '' OR quarter = $1) ORDER BY position`, quarter)
		if err != nil {
			return fmt.Errorf("attribution: payouts: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var pos, amount int64
			var partner, q, cur, ref, paidOn, by, id string
			if err := rows.Scan(&pos, &partner, &q, &cur, &amount, &ref, &paidOn, &by, &id); err != nil {
				return fmt.Errorf("attribution: payouts: %w", err)
			}
			if err := cw.Write([]string{i64(pos), partner, q, cur, i64(amount), ref, paidOn, by, id}); err != nil {
				return fmt.Errorf("attribution: write payouts csv: %w", err)
			}
		}
		return rows.Err()
	})
	cw.Flush()
	if err == nil {
		err = cw.Error()
	}
	return pos, err
}
