// Package scheduler appends the partner program's scheduled facts when they
// are due, without anyone calling an endpoint: a registration's expiry after
// its protection's last day, a lead offer lapsing at its deadline (the lead
// cascades to the next eligible partner) and a freed seat's offer to the
// head of the waitlist lapsing after its last day.
//
// The due set comes from the read models (attribution's registrations,
// leads' lead_offers and seats): they already hold every end date, and a
// read model that lags only delays a fact to a later tick. Every fact goes
// through the command layer, which decides it again on the log: a fact that
// is no longer due (extended, accepted, taken) is refused by the domain and
// skipped. Several schedulers (one per daemon) may run at once: the
// decision is appended with the stream versions it read and with event ids
// derived from the fact (app.Meta.IdempotencyKey), so the same fact is
// stored once whoever appends it first, and a restart re-derives the same
// due set from the read models.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"dealcredit/app"
	"dealcredit/domain"
	"dealcredit/projections/attribution"
	"dealcredit/projections/leads"
	"dealcredit/projections/runner"
)

// Kinds of scheduled facts (the metrics' kind label).
const (
	KindDealExpiry = "deal_expiry"
	KindLeadLapse  = "lead_offer_lapse"
	KindSeatLapse  = "seat_offer_lapse"
)

// The scheduler's tick: DefaultInterval unless configured, within
// MinInterval..MaxInterval. A tick is three indexed-or-small queries on the
// read models, so a few seconds costs little and keeps a lapse close to its
// deadline (the demo sees one within seconds).
const (
	DefaultInterval = 5 * time.Second
	MinInterval     = 100 * time.Millisecond
	MaxInterval     = time.Hour
)

// batchLimit bounds the facts of one kind handled per tick.
const batchLimit = 500

// Options configure a Scheduler.
type Options struct {
	// Interval between ticks of Run (default DefaultInterval).
	Interval time.Duration
	// Logger receives one line per fact appended or failed; nil discards.
	Logger *slog.Logger
	// Registerer receives the metrics; nil registers nothing.
	Registerer prometheus.Registerer
}

// Scheduler finds due facts in the read models and issues them as commands.
type Scheduler struct {
	pool     *pgxpool.Pool
	app      *app.Service
	interval time.Duration
	log      *slog.Logger
	due      *prometheus.GaugeVec
	applied  *prometheus.CounterVec
	skipped  *prometheus.CounterVec
	failed   *prometheus.CounterVec
	attrRegs string
	offers   string
	seats    string
}

// New returns a scheduler reading the live read models through pool and
// issuing commands through svc (whose clock says what is due).
func New(pool *pgxpool.Pool, svc *app.Service, o Options) (*Scheduler, error) {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Scheduler{pool: pool, app: svc, interval: o.Interval, log: o.Logger,
		due: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "dealcredit_scheduler_due",
			Help: "Scheduled facts found due at the last tick, by kind."}, []string{"kind"}),
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dealcredit_scheduler_applied_total",
			Help: "Scheduled facts this scheduler appended, by kind."}, []string{"kind"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dealcredit_scheduler_skipped_total",
			Help: "Due facts the log no longer called for (another scheduler appended them, or the read model lagged), by kind."}, []string{"kind"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dealcredit_scheduler_errors_total",
			Help: "Scheduled facts that failed (retried at the next tick), by kind."}, []string{"kind"}),
		attrRegs: pgx.Identifier{runner.Schema(attribution.Name), "registrations"}.Sanitize(),
		offers:   pgx.Identifier{runner.Schema(leads.Name), "lead_offers"}.Sanitize(),
		seats:    pgx.Identifier{runner.Schema(leads.Name), "seats"}.Sanitize(),
	}
	for _, k := range []string{KindDealExpiry, KindLeadLapse, KindSeatLapse} {
		s.due.WithLabelValues(k)
		s.applied.WithLabelValues(k)
		s.skipped.WithLabelValues(k)
		s.failed.WithLabelValues(k)
	}
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{s.due, s.applied, s.skipped, s.failed} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("scheduler metrics: %w", err)
			}
		}
	}
	return s, nil
}

// Run ticks at once and then every interval until ctx ends. A failed tick
// (database unavailable) is logged as a warning and retried at the next
// one; read models whose tables do not exist yet (a fresh database) are
// logged once at info and warned about only after readModelsGrace.
func (s *Scheduler) Run(ctx context.Context) error {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	var waiting time.Time // since when the read models' tables are missing
	for {
		_, err := s.Tick(ctx)
		var pgErr *pgconn.PgError
		switch {
		case err == nil || ctx.Err() != nil:
			waiting = time.Time{}
		case errors.As(err, &pgErr) && pgErr.Code == undefinedTable && (waiting.IsZero() || time.Since(waiting) < readModelsGrace):
			// A fresh database: the projection runners create their
			// tables moments after the scheduler's first tick.
			if waiting.IsZero() {
				waiting = time.Now()
				s.log.Info("scheduler: waiting for the read models to be created", "err", err)
			}
		default:
			s.log.Warn("scheduler: tick failed; retrying at the next", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// readModelsGrace is how long missing read-model tables are taken for a
// fresh start before each tick warns again.
const readModelsGrace = time.Minute

// undefinedTable is Postgres's SQLSTATE for a missing relation.
const undefinedTable = "42P01"

// fact is one due fact: its kind, what it is about, the idempotency key that
// names it and the command that appends it.
type fact struct {
	kind, subject, key string
	issue              func(ctx context.Context, md app.Meta) (app.Result, error)
}

// Tick finds the facts due at the service's clock and issues each. It
// returns how many this scheduler appended; an error means the due set
// could not be read (each fact's own failure is logged, counted and left
// to the next tick).
func (s *Scheduler) Tick(ctx context.Context) (int, error) {
	now := s.app.Now().UTC()
	facts, err := s.dueFacts(ctx, now)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, f := range facts {
		md := app.Meta{Actor: "scheduler", Source: "scheduler " + f.kind, CorrelationID: f.key, IdempotencyKey: f.key}
		res, err := f.issue(ctx, md)
		var de *domain.Error
		switch {
		case err == nil && res.Replayed:
			s.skipped.WithLabelValues(f.kind).Inc()
			s.log.Debug("scheduler: already appended", "kind", f.kind, "subject", f.subject, "key", f.key)
		case err == nil:
			n++
			s.applied.WithLabelValues(f.kind).Inc()
			s.log.Info("scheduler: appended", "kind", f.kind, "subject", f.subject, "key", f.key)
		case errors.As(err, &de) && (de.Code == domain.Unprocessable || de.Code == domain.Conflict):
			s.skipped.WithLabelValues(f.kind).Inc()
			s.log.Debug("scheduler: no longer due", "kind", f.kind, "subject", f.subject, "rule", de.Rule)
		case ctx.Err() != nil:
			return n, ctx.Err()
		default:
			s.failed.WithLabelValues(f.kind).Inc()
			s.log.Error("scheduler: fact failed; retrying at the next tick", "kind", f.kind, "subject", f.subject, "err", err)
		}
	}
	return n, nil
}

// dueExpiriesSQL selects the registrations of table (qualified) that are
// due to expire before the day $1, at most $2, in order: the attribution
// projection's index registrations_due (same predicate) reads only them.
func dueExpiriesSQL(table string) string {
	return `SELECT deal_id, expires_on FROM ` + table + `
		WHERE status IN ('approved', 'won') AND expires_on <> '' AND expires_on < $1
		ORDER BY expires_on, deal_id LIMIT $2`
}

// dueFacts reads the due set from the read models and sets the due gauge.
func (s *Scheduler) dueFacts(ctx context.Context, now time.Time) ([]fact, error) {
	today := domain.DateOf(now)
	var out []fact
	count := map[string]int{}
	add := func(f fact) { out = append(out, f); count[f.kind]++ }

	rows, err := s.pool.Query(ctx, dueExpiriesSQL(s.attrRegs), today.String(), batchLimit)
	if err != nil {
		return nil, fmt.Errorf("scheduler: due expiries: %w", err)
	}
	var id, until string
	if _, err := pgx.ForEachRow(rows, []any{&id, &until}, func() error {
		deal := id
		add(fact{kind: KindDealExpiry, subject: deal, key: "scheduler/deal-expiry/" + deal + "/" + until,
			issue: func(ctx context.Context, md app.Meta) (app.Result, error) {
				r, err := s.app.ExpireDeal(ctx, md, deal)
				return r.Result, err
			}})
		return nil
	}); err != nil {
		return nil, fmt.Errorf("scheduler: due expiries: %w", err)
	}

	rows, err = s.pool.Query(ctx, `SELECT lead_id, round FROM `+s.offers+`
		WHERE outcome = 'offered' AND deadline <= $1 ORDER BY deadline, lead_id LIMIT $2`, now, batchLimit)
	if err != nil {
		return nil, fmt.Errorf("scheduler: due lead offers: %w", err)
	}
	var round int
	if _, err := pgx.ForEachRow(rows, []any{&id, &round}, func() error {
		lead := id
		add(fact{kind: KindLeadLapse, subject: lead, key: fmt.Sprintf("scheduler/lead-lapse/%s/%d", lead, round),
			issue: func(ctx context.Context, md app.Meta) (app.Result, error) {
				r, err := s.app.CascadeLead(ctx, md, lead)
				return r.Result, err
			}})
		return nil
	}); err != nil {
		return nil, fmt.Errorf("scheduler: due lead offers: %w", err)
	}

	rows, err = s.pool.Query(ctx, `SELECT geography, tier, offered_to, offer_until::text FROM `+s.seats+`
		WHERE offered_to <> '' AND offer_until < $1::date ORDER BY offer_until, geography, tier LIMIT $2`, today.String(), batchLimit)
	if err != nil {
		return nil, fmt.Errorf("scheduler: due seat offers: %w", err)
	}
	var tier, partner string
	if _, err := pgx.ForEachRow(rows, []any{&id, &tier, &partner, &until}, func() error {
		geo, t := id, domain.Tier(tier)
		add(fact{kind: KindSeatLapse, subject: geo + "/" + tier, key: "scheduler/seat-lapse/" + geo + "/" + tier + "/" + partner + "/" + until,
			issue: func(ctx context.Context, md app.Meta) (app.Result, error) {
				return s.app.LapseSeatOffer(ctx, md, geo, t)
			}})
		return nil
	}); err != nil {
		return nil, fmt.Errorf("scheduler: due seat offers: %w", err)
	}
	for _, k := range []string{KindDealExpiry, KindLeadLapse, KindSeatLapse} {
		s.due.WithLabelValues(k).Set(float64(count[k]))
	}
	return out, nil
}
