package leads

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"dealcredit/projections/runner"
)

// Reader answers queries from the leads-and-seats tables.
type Reader struct {
	pool   *pgxpool.Pool
	schema string
}

// NewReader returns a Reader of the live tables.
func NewReader(pool *pgxpool.Pool) *Reader {
	return &Reader{pool: pool, schema: runner.Schema(Name)}
}

// TierSeats is one tier's seats in a geography.
type TierSeats struct {
	Tier string `json:"tier"`
	// Unlimited is true when no capacity was set; Capacity and Free are then nil.
	Unlimited  bool `json:"unlimited"`
	Capacity   *int `json:"capacity"`
	Used       int  `json:"used"`
	Free       *int `json:"free"`
	Waitlisted int  `json:"waitlisted"`
	// OfferedTo is the head of the waitlist a freed seat is held for through
	// OfferUntil (docs/rules.md rule 4, a date); both empty when no seat is offered.
	OfferedTo  string `json:"offered_to,omitempty"`
	OfferUntil string `json:"offer_until,omitempty"`
}

// GeoSeats is a geography's seats per tier, platinum first. Tiers is empty
// (not nil) for a geography without seats set and without holders.
type GeoSeats struct {
	Geography string      `json:"geography"`
	Tiers     []TierSeats `json:"tiers"`
}

// Seats returns the seats of geography geo.
func (r *Reader) Seats(ctx context.Context, geo string) (GeoSeats, error) {
	rows, err := r.pool.Query(ctx, `SELECT tier, capacity, used, free, waitlisted, offered_to,
		coalesce(to_char(offer_until, 'YYYY-MM-DD'), '') FROM `+pgx.Identifier{r.schema, "seats"}.Sanitize()+`
		WHERE geography = $1 ORDER BY CASE tier WHEN 'platinum' THEN 0 ELSE 1 END, tier`, geo)
	if err != nil {
		return GeoSeats{}, fmt.Errorf("leads: seats of %s: %w", geo, err)
	}
	defer rows.Close()
	out := GeoSeats{Geography: geo, Tiers: []TierSeats{}}
	for rows.Next() {
		var t TierSeats
		var capacity, free int
		if err := rows.Scan(&t.Tier, &capacity, &t.Used, &free, &t.Waitlisted, &t.OfferedTo, &t.OfferUntil); err != nil {
			return GeoSeats{}, fmt.Errorf("leads: seats of %s: %w", geo, err)
		}
		if capacity < 0 {
			t.Unlimited = true
		} else {
			t.Capacity, t.Free = &capacity, &free
		}
		out.Tiers = append(out.Tiers, t)
	}
	if err := rows.Err(); err != nil {
		return GeoSeats{}, fmt.Errorf("leads: seats of %s: %w", geo, err)
	}
	return out, nil
}

// Partner is one enrolled partner as the leads read model knows it.
type Partner struct {
	ID        string `json:"id"`
	Geography string `json:"geography"`
	Kind      string `json:"kind"`
	Tier      string `json:"tier"`
}

// Partners returns every enrolled partner (OEMs too), by id: who a
// quarterly tier review scores.
func (r *Reader) Partners(ctx context.Context) ([]Partner, error) {
	rows, err := r.pool.Query(ctx, `SELECT partner_id, geography, kind, tier FROM `+
		pgx.Identifier{r.schema, "lead_partners"}.Sanitize()+` ORDER BY partner_id`)
	if err != nil {
		return nil, fmt.Errorf("leads: partners: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Partner])
	if err != nil {
		return nil, fmt.Errorf("leads: partners: %w", err)
	}
	return out, nil
}
