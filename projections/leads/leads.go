// Package leads is the leads-and-seats read model (projection "leads",
// schema proj_leads): lead offers and acceptances per partner, and seats
// used and free per geography and tier. See docs/read-models.md.
package leads

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"dealcredit/domain"
	"dealcredit/eventstore"
	"dealcredit/projections/runner"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Name is the projection's name.
const Name = "leads"

// Projection is the leads-and-seats projection.
type Projection struct{}

// New returns the leads-and-seats projection.
func New() *Projection { return &Projection{} }

// Name returns "leads".
func (*Projection) Name() string { return Name }

// Version is 5: lead_offers_due indexes the open offers by deadline (the
// scheduler's due query); version 4 had no such index. Version 4:
// lead_partners lists every partner's geography, kind and tier
// (the registered partners a lead cascades to last); version 3 had no such
// table; version 2 had no seat offers (offered_to, offer_until); version 1
// kept the holders in memory.
func (*Projection) Version() int { return 5 }

// Tables returns the tables compared by runner.Verify.
func (*Projection) Tables() []string {
	return []string{"leads", "lead_offers", "seats", "lead_partners"}
}

// Setup creates the tables.
func (*Projection) Setup(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `
CREATE TABLE leads (
	lead_id     text PRIMARY KEY,
	geography   text NOT NULL,
	source      text NOT NULL,
	source_name text NOT NULL,
	customer    text NOT NULL,
	status      text NOT NULL,
	partner_id  text NOT NULL,
	created_at  timestamptz NOT NULL,
	position    bigint NOT NULL
);
CREATE TABLE lead_offers (
	lead_id    text NOT NULL,
	partner_id text NOT NULL,
	round      int  NOT NULL,
	tier       text NOT NULL,
	offered_at timestamptz NOT NULL,
	deadline   timestamptz NOT NULL,
	outcome    text NOT NULL,
	reason     text NOT NULL,
	position   bigint NOT NULL,
	PRIMARY KEY (lead_id, partner_id, round)
);
CREATE INDEX lead_offers_partner ON lead_offers (partner_id, outcome);
CREATE INDEX lead_offers_due ON lead_offers (deadline, lead_id) WHERE outcome = 'offered';
CREATE TABLE seats (
	geography  text NOT NULL,
	tier       text NOT NULL,
	capacity   int  NOT NULL,
	used       int  NOT NULL,
	free       int  NOT NULL,
	waitlisted int  NOT NULL,
	-- The partner a freed seat is held for (rule 4), '' for none, and the last day
	-- of the offer (NULL for none); an offer past its day is shown until the seat
	-- is taken: readers compare offer_until with today.
	offered_to  text NOT NULL,
	offer_until date,
	position   bigint NOT NULL,
	PRIMARY KEY (geography, tier)
);
-- Every partner's geography, kind and current tier: the registered partners of a
-- geography receive the leads the upper tiers passed on (rule 24).
CREATE TABLE lead_partners (
	partner_id text PRIMARY KEY,
	geography  text NOT NULL,
	kind       text NOT NULL,
	tier       text NOT NULL,
	position   bigint NOT NULL
);
CREATE INDEX lead_partners_geo ON lead_partners (geography, tier);
-- The folded seats of each geography (holders and waitlists), from which
-- LoadState restores the projection's state.
CREATE TABLE geo_state (
	geography text PRIMARY KEY,
	state     json NOT NULL
)`)
	if err != nil {
		return fmt.Errorf("leads: create tables: %w", err)
	}
	return nil
}

// LoadState returns the seats of every geography as geo_state stores them.
func (*Projection) LoadState(ctx context.Context, tx pgx.Tx) (runner.State, error) {
	rows, err := tx.Query(ctx, "SELECT geography, state FROM geo_state")
	if err != nil {
		return nil, fmt.Errorf("leads: load state: %w", err)
	}
	geos := map[string]domain.GeoState{}
	var geo string
	var data []byte
	_, err = pgx.ForEachRow(rows, []any{&geo, &data}, func() error {
		var g domain.GeoState
		if err := json.Unmarshal(data, &g); err != nil {
			return fmt.Errorf("geography %s: %w", geo, err)
		}
		geos[geo] = g
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("leads: load state: %w", err)
	}
	return &state{geos: geos}, nil
}

type state struct {
	geos map[string]domain.GeoState
}

// Apply folds lead and geography events and writes their rows.
func (s *state) Apply(ctx context.Context, tx pgx.Tx, batch []eventstore.Record) error {
	b := &pgx.Batch{}
	touched := map[string]int64{}
	for _, r := range batch {
		cat := domain.Category(r.StreamID)
		if cat != "lead" && cat != "geo" && cat != "partner" {
			continue
		}
		env, err := runner.Decode(r)
		if err != nil {
			return err
		}
		switch e := env.Event.(type) {
		case domain.SeatsSet, domain.SeatTaken, domain.SeatReleased, domain.SeatWaitlisted, domain.SeatOfferLapsed:
			geo := r.StreamID[len("geo-"):]
			s.geos[geo] = domain.EvolveGeo(s.geos[geo], e)
			touched[geo] = r.Position
		default:
			queueRows(b, e, r.Position)
		}
	}
	if err := s.queueGeos(b, touched); err != nil {
		return err
	}
	if b.Len() == 0 {
		return nil
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("leads: write batch ending %d: %w", batch[len(batch)-1].Position, err)
	}
	return nil
}

// queueRows queues the writes of a partner or lead event at position pos.
func queueRows(b *pgx.Batch, ev domain.Event, pos int64) {
	switch e := ev.(type) {
	case domain.PartnerEnrolled:
		b.Queue(`INSERT INTO lead_partners VALUES ($1,$2,$3,$4,$5)`, e.PartnerID, e.Geography, string(e.Kind), string(e.Tier), pos)
	case domain.PartnerGrandfathered:
		b.Queue(`INSERT INTO lead_partners VALUES ($1,$2,$3,$4,$5)`, e.PartnerID, e.Geography, string(e.Kind), string(e.Tier), pos)
	case domain.TierChanged:
		b.Queue(`UPDATE lead_partners SET tier = $2, position = $3 WHERE partner_id = $1`, e.PartnerID, string(e.To), pos)
	case domain.LeadCreated:
		b.Queue(`INSERT INTO leads VALUES ($1,$2,$3,$4,$5,'open','',$6,$7)`, e.LeadID, e.Geography, string(e.Source),
			e.SourceName, e.Customer.Name, e.CreatedAt, pos)
	case domain.LeadOffered:
		b.Queue(`INSERT INTO lead_offers VALUES ($1,$2,$3,$4,$5,$6,'offered','',$7)`, e.LeadID, e.PartnerID, e.Round,
			string(e.Tier), e.OfferedAt, e.Deadline, pos)
		b.Queue(`UPDATE leads SET status = 'offered', partner_id = $2, position = $3 WHERE lead_id = $1`, e.LeadID, e.PartnerID, pos)
	case domain.LeadAccepted:
		b.Queue(`UPDATE lead_offers SET outcome = 'accepted', position = $3 WHERE lead_id = $1 AND partner_id = $2 AND outcome = 'offered'`,
			e.LeadID, e.PartnerID, pos)
		b.Queue(`UPDATE leads SET status = 'accepted', partner_id = $2, position = $3 WHERE lead_id = $1`, e.LeadID, e.PartnerID, pos)
	case domain.LeadDeclined:
		outcome := "declined"
		if e.Expired {
			outcome = "expired"
		}
		b.Queue(`UPDATE lead_offers SET outcome = $3, reason = $4, position = $5 WHERE lead_id = $1 AND partner_id = $2 AND outcome = 'offered'`,
			e.LeadID, e.PartnerID, outcome, e.Reason, pos)
	case domain.LeadUnassigned:
		b.Queue(`UPDATE leads SET status = 'unassigned', partner_id = '', position = $2 WHERE lead_id = $1`, e.LeadID, pos)
	}
}

// queueGeos queues the state and seat rows of the touched geographies
// (each with the position of its last event).
func (s *state) queueGeos(b *pgx.Batch, touched map[string]int64) error {
	geos := make([]string, 0, len(touched))
	for g := range touched {
		geos = append(geos, g)
	}
	sort.Strings(geos)
	for _, g := range geos {
		gs := s.geos[g]
		data, err := json.Marshal(gs)
		if err != nil {
			return fmt.Errorf("leads: geography %s: %w", g, err)
		}
		b.Queue(`INSERT INTO geo_state VALUES ($1, $2) ON CONFLICT (geography) DO UPDATE SET state = EXCLUDED.state`, g, string(data))
		for _, t := range []domain.Tier{domain.TierPlatinum, domain.TierGold} {
			capacity, limited := gs.Capacity[t]
			used := len(gs.Holders[t])
			free := -1 // unlimited
			if limited {
				free = max(capacity-used, 0)
			} else {
				capacity = -1
			}
			o := gs.Offers[t]
			var until *time.Time
			if o.PartnerID != "" {
				u := o.Until.Time()
				until = &u
			}
			b.Queue(`INSERT INTO seats VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT (geography, tier) DO UPDATE SET
				capacity = EXCLUDED.capacity, used = EXCLUDED.used, free = EXCLUDED.free, waitlisted = EXCLUDED.waitlisted,
				offered_to = EXCLUDED.offered_to, offer_until = EXCLUDED.offer_until,
				position = EXCLUDED.position`, g, string(t), capacity, used, free, len(gs.Waitlist[t]), o.PartnerID, until, touched[g])
		}
	}
	return nil
}

// RegisteredPartners returns the partners (never OEMs) of geography geo at
// tier registered, by id, as the live read model knows them: the last
// candidates of a lead (rule 24). The caller checks each against its own
// stream before offering it a lead.
func RegisteredPartners(pool *pgxpool.Pool) func(ctx context.Context, geo string) ([]string, error) {
	table := pgx.Identifier{runner.Schema(Name), "lead_partners"}.Sanitize()
	return func(ctx context.Context, geo string) ([]string, error) {
		rows, err := pool.Query(ctx, `SELECT partner_id FROM `+table+` WHERE geography = $1 AND tier = 'registered' AND kind <> 'oem' ORDER BY partner_id`, geo)
		if err != nil {
			return nil, fmt.Errorf("leads: registered partners of %s: %w", geo, err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, fmt.Errorf("leads: registered partners of %s: %w", geo, err)
		}
		return ids, nil
	}
}
