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
// reflects: one statement, streamed (the checkpoint's position read in the
// same snapshot as the rows).
func (r *Reader) WritePayoutsCSV(ctx context.Context, w io.Writer, quarter string) (int64, error) {
	cw := csv.NewWriter(w)
	if err := cw.Write(PayoutCSVHeader); err != nil {
		return 0, fmt.Errorf("attribution: write payouts csv: %w", err)
	}
	where, args := filter(cond{"quarter", quarter})
	pos, err := r.each(ctx, "payouts", `SELECT `+r.posColumn()+`, position, partner_id, quarter, currency, amount_minor, reference,
		paid_on, recorded_by, event_id FROM `+r.table("payouts")+where+` ORDER BY position`, args,
		func(read *int64, rows pgx.Rows) error {
			var pos, amount int64
			var partner, q, cur, ref, paidOn, by, id string
			if err := rows.Scan(read, &pos, &partner, &q, &cur, &amount, &ref, &paidOn, &by, &id); err != nil {
				return err
			}
			if err := cw.Write([]string{i64(pos), text(partner), q, cur, i64(amount), text(ref), paidOn, text(by), id}); err != nil {
				return fmt.Errorf("write payouts csv: %w", err)
			}
			return nil
		})
	cw.Flush()
	if err == nil {
		err = cw.Error()
	}
	return pos, err
}
