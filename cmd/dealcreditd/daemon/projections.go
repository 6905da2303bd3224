package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"dealcredit/api"
	"dealcredit/domain"
	"dealcredit/eventstore"
	"dealcredit/projections"
	"dealcredit/projections/attribution"
	"dealcredit/projections/runner"
)

// startProjections starts the projection runners (when enabled) and returns
// the read side for the API and the projections' readiness checks: one that
// holds readiness back only until every runner has started (created its
// tables), and an informational one that names a stopped or retrying
// projection without making the instance unready (docs/operations.md,
// "Stopped projections").
func startProjections(pool *pgxpool.Pool, store eventstore.Store, reg prometheus.Registerer, logger *slog.Logger,
	enabled bool, goRun func(string, func(context.Context) error)) (api.Queries, []api.Checker) {
	q := &queries{pool: pool, store: store, reader: attribution.NewReader(pool)}
	if !enabled {
		return q, nil
	}
	m := projections.NewManager(pool, store, logger.With("component", "projections"), reg)
	goRun("projections", m.Run)
	started := func(context.Context) error {
		st := m.Status()
		if len(st) < len(m.Names()) {
			return errors.New("projection runners starting")
		}
		for _, s := range st {
			if s.State == runner.StateStarting {
				return fmt.Errorf("projection %s starting", s.Name)
			}
		}
		return nil
	}
	health := func(context.Context) error {
		var bad []string
		for _, s := range m.Status() {
			if !s.Ready() {
				bad = append(bad, statusDetail(s))
			}
		}
		if len(bad) > 0 {
			return errors.New(strings.Join(bad, "; "))
		}
		return nil
	}
	return q, []api.Checker{
		{Name: "projections started", Check: started},
		{Name: "projections", Check: health, Informational: true},
	}
}

// statusDetail describes a projection that is not following the log, for
// the /readyz body: "projection attribution stopped at position 23
// (deal.registered, event ...): reason".
func statusDetail(s runner.Status) string {
	if s.State == runner.StateFailed {
		return fmt.Sprintf("projection %s stopped at position %d (%s, event %s), %d events behind the head: %s",
			s.Name, s.FailedPosition, s.FailedType, s.FailedEventID, max(s.Head-s.Position, 0), s.Error)
	}
	detail := "projection " + s.Name + " " + s.State
	if s.Error != "" {
		detail += ": " + s.Error
	}
	return detail
}

// queries adapts the projections' read side to the API.
type queries struct {
	pool   *pgxpool.Pool
	store  eventstore.Store
	reader *attribution.Reader
}

var _ api.Queries = (*queries)(nil)

// ReadModel reads how far the projection name is from its checkpoint row
// and the log's head.
func (q *queries) ReadModel(ctx context.Context, name string) (api.ReadModel, error) {
	cp, err := runner.ReadCheckpoint(ctx, q.pool, name)
	if err != nil {
		return api.ReadModel{}, fmt.Errorf("read model %s: %w", name, err)
	}
	head, err := q.store.Head(ctx)
	if err != nil {
		return api.ReadModel{}, fmt.Errorf("read model %s: %w", name, err)
	}
	rm := api.ReadModel{Name: name, Position: cp.Position, Head: max(head, cp.Position)}
	if cp.Status == runner.StateFailed {
		rm.Stopped = &api.StoppedAt{Position: cp.FailedPosition, EventID: cp.FailedEventID, Type: cp.FailedType, Reason: cp.Error}
	}
	return rm, nil
}

func (q *queries) Deals(ctx context.Context, partnerID, status string) (any, error) {
	regs, _, err := q.reader.Registrations(ctx, attribution.RegistrationFilter{PartnerID: partnerID, Status: status})
	if regs == nil {
		regs = []attribution.Registration{}
	}
	return regs, err
}

func (q *queries) Attribution(ctx context.Context, quarter domain.Quarter, partnerID string) (any, error) {
	lines := []attribution.LedgerLine{}
	_, err := q.reader.Ledger(ctx, quarter.String(), partnerID, func(l attribution.LedgerLine) error {
		lines = append(lines, l)
		return nil
	})
	return lines, err
}

func (q *queries) WriteAttributionCSV(ctx context.Context, w io.Writer, quarter domain.Quarter, partnerID string) error {
	_, err := q.reader.WriteLedgerCSV(ctx, w, quarter.String(), partnerID)
	return err
}

func (q *queries) Statement(ctx context.Context, partnerID string, quarter domain.Quarter) (any, error) {
	if err := q.partnerExists(ctx, partnerID); err != nil {
		return nil, err
	}
	ss, _, err := q.reader.Statements(ctx, partnerID, quarter.String())
	if ss == nil {
		ss = []attribution.Statement{}
	}
	return ss, err
}

func (q *queries) WriteStatementCSV(ctx context.Context, w io.Writer, partnerID string, quarter domain.Quarter) error {
	if err := q.partnerExists(ctx, partnerID); err != nil {
		return err
	}
	_, err := q.reader.WriteStatementsCSV(ctx, w, partnerID, quarter.String())
	return err
}

func (q *queries) RevenueMix(ctx context.Context, quarter domain.Quarter) (any, error) {
	mix, _, err := q.reader.RevenueMix(ctx, quarter.String())
	if mix == nil {
		mix = []attribution.Mix{}
	}
	return mix, err
}

func (q *queries) Explain(ctx context.Context, oemID, invoiceNumber string, line int) (any, error) {
	ex, err := q.reader.Explain(ctx, oemID, invoiceNumber, line)
	if attribution.IsNoLine(err) {
		return nil, &domain.Error{Code: domain.NotFound, Field: "line", Rule: "explain.no_credit",
			Message: fmt.Sprintf("no credit booked for line %d of %s invoice %s", line, oemID, invoiceNumber)}
	}
	return ex, err
}

// partnerExists returns a NotFound *domain.Error when the partner was never enrolled.
func (q *queries) partnerExists(ctx context.Context, partnerID string) error {
	recs, err := q.store.ReadStream(ctx, domain.PartnerStream(partnerID), 0)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return &domain.Error{Code: domain.NotFound, Field: "id", Rule: "partner.exists",
			Message: fmt.Sprintf("partner %s not found", partnerID)}
	}
	return nil
}

// TierSeats is one tier's seats in a geography (GET /v1/geographies/{geo}/seats).
type TierSeats struct {
	Tier string `json:"tier"`
	// Unlimited is true when no capacity was set; Capacity and Free are then null.
	Unlimited  bool `json:"unlimited"`
	Capacity   *int `json:"capacity"`
	Used       int  `json:"used"`
	Free       *int `json:"free"`
	Waitlisted int  `json:"waitlisted"`
	// OfferedTo is the head of the waitlist a freed seat is held for through OfferUntil
	// (docs/rules.md rule 4); both omitted when no seat is offered.
	OfferedTo  string `json:"offered_to,omitempty"`
	OfferUntil string `json:"offer_until,omitempty"`
}

// GeoSeats is a geography's seats per tier, platinum first.
type GeoSeats struct {
	Geography string      `json:"geography"`
	Tiers     []TierSeats `json:"tiers"`
}

// Seats reads a geography's seats from the leads-and-seats read model.
func (q *queries) Seats(ctx context.Context, geo string) (any, error) {
	rows, err := q.pool.Query(ctx, `SELECT tier, capacity, used, free, waitlisted, offered_to,
		coalesce(to_char(offer_until, 'YYYY-MM-DD'), '') FROM proj_leads.seats
		WHERE geography = $1 ORDER BY CASE tier WHEN 'platinum' THEN 0 ELSE 1 END, tier`, geo)
	if err != nil {
		return nil, fmt.Errorf("seats of %s: %w", geo, err)
	}
	defer rows.Close()
	out := GeoSeats{Geography: geo, Tiers: []TierSeats{}}
	for rows.Next() {
		var t TierSeats
		var capacity, free int
		if err := rows.Scan(&t.Tier, &capacity, &t.Used, &free, &t.Waitlisted, &t.OfferedTo, &t.OfferUntil); err != nil {
			return nil, fmt.Errorf("seats of %s: %w", geo, err)
		}
		if capacity < 0 {
			t.Unlimited = true
		} else {
			t.Capacity, t.Free = &capacity, &free
		}
		out.Tiers = append(out.Tiers, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("seats of %s: %w", geo, err)
	}
	if len(out.Tiers) == 0 {
		return nil, &domain.Error{Code: domain.NotFound, Field: "geo", Rule: "geography.exists",
			Message: fmt.Sprintf("geography %s has no seats set and no partners holding one", geo)}
	}
	return out, nil
}

func (q *queries) Exceptions(ctx context.Context, f api.ExceptionQuery) (any, error) {
	rows, _, err := q.reader.Exceptions(ctx, attribution.ExceptionFilter{Status: f.Status, OEMID: f.OEMID, Quarter: f.Quarter,
		PartnerID: f.PartnerID, Customer: f.Customer, VisibleTo: f.VisibleTo, After: f.After, Limit: f.Limit})
	if err != nil {
		return nil, err
	}
	next := ""
	if len(rows) == f.Limit && len(rows) > 0 {
		next = rows[len(rows)-1].ExceptionID
	}
	return struct {
		Exceptions []attribution.ExceptionRow `json:"exceptions"`
		Next       string                     `json:"next"`
	}{rows, next}, nil
}

func (q *queries) ExceptionLine(ctx context.Context, id string) (domain.ExceptionLine, error) {
	e, err := q.reader.Exception(ctx, id)
	if err != nil {
		return domain.ExceptionLine{}, err
	}
	return domain.ExceptionLine{OEMID: e.OEMID, InvoiceNumber: e.InvoiceNumber, Line: e.Line, Segment: domain.Segment(e.Segment),
		CreditMemo: e.CreditMemo}, nil
}

func (q *queries) ApprovedRebates(ctx context.Context, partnerID string, quarter domain.Quarter) (map[string]int64, bool, error) {
	stmts, _, err := q.reader.Statements(ctx, partnerID, quarter.String())
	if err != nil {
		return nil, false, err
	}
	out, approved := map[string]int64{}, false
	for _, s := range stmts {
		if s.Status == "approved" {
			approved, out[s.Currency] = true, s.ApprovedRebates
		}
	}
	return out, approved, nil
}

func (q *queries) WritePayoutsCSV(ctx context.Context, w io.Writer, quarter string) error {
	_, err := q.reader.WritePayoutsCSV(ctx, w, quarter)
	return err
}
