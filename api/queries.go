package api

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"dealcredit/domain"
	"dealcredit/projections/attribution"
	"dealcredit/projections/leads"
)

// Queries is the read side the API serves from: how far each read model is,
// and one typed reader per read model. The daemon wires the projections'
// readers in (attribution.Reader, leads.Reader); the CSV writers produce the
// same bytes as the CLI export.
type Queries interface {
	ReadModels
	AttributionReader
	SeatsReader
}

// ReadModels says how far the read models are.
type ReadModels interface {
	// ReadModel returns how far the read model name (ModelAttribution,
	// ModelLeads) is: its position, the log's head, and the event it is
	// stopped at, if any.
	ReadModel(ctx context.Context, name string) (ReadModel, error)
}

// AttributionReader is the attribution read model (attribution.Reader):
// ledger, statements, revenue mix, registrations and the explanation of a
// credit. A quarter or partner id left empty means all. Each answer also
// returns the log position its snapshot reflects; the API reports the
// position ReadModels gave before the read (the one min_position waited for).
type AttributionReader interface {
	// Registrations lists the deal registrations matching f.
	Registrations(ctx context.Context, f attribution.RegistrationFilter) ([]attribution.Registration, int64, error)
	// Ledger passes the ledger lines of quarter and partnerID to fn, in log order.
	Ledger(ctx context.Context, quarter, partnerID string, fn func(attribution.LedgerLine) error) (int64, error)
	// WriteLedgerCSV writes the same lines as CSV.
	WriteLedgerCSV(ctx context.Context, w io.Writer, quarter, partnerID string) (int64, error)
	// Statements returns the statement rows of partnerID in quarter, one per currency.
	Statements(ctx context.Context, partnerID, quarter string) ([]attribution.Statement, int64, error)
	// WriteStatementsCSV writes the same rows as CSV.
	WriteStatementsCSV(ctx context.Context, w io.Writer, partnerID, quarter string) (int64, error)
	// RevenueMix returns direct vs indirect revenue of quarter, one row per currency.
	RevenueMix(ctx context.Context, quarter string) ([]attribution.Mix, int64, error)
	// Explain returns the credits of one invoice line and the events behind
	// them; an error for which attribution.IsNoLine holds when there are none.
	Explain(ctx context.Context, oemID, invoiceNumber string, line int) (attribution.Explanation, error)

	// RepStatements returns a field rep's channel credit in quarter, one row
	// per currency (issue 15 item 4).
	RepStatements(ctx context.Context, repID, quarter string) ([]attribution.RepStatement, int64, error)
	// Exceptions returns one page of the exception queue matching f.
	Exceptions(ctx context.Context, f attribution.ExceptionFilter) ([]attribution.ExceptionRow, int64, error)
	// Exception returns the exception with id; an unknown id is a
	// *domain.Error with code NotFound.
	Exception(ctx context.Context, id string) (attribution.ExceptionRow, error)
	// WritePayoutsCSV writes the payout file of quarter ("" = all).
	WritePayoutsCSV(ctx context.Context, w io.Writer, quarter string) (int64, error)
}

// SeatsReader is the leads-and-seats read model (leads.Reader).
type SeatsReader interface {
	// Seats returns the seats per tier of geography geo (no tiers when the
	// geography has no seats set and no holders).
	Seats(ctx context.Context, geo string) (leads.GeoSeats, error)

	// Leads returns one page of the leads matching f (issue 15 item 5).
	Leads(ctx context.Context, f leads.Filter) (leads.Page, error)
}

// queryResult wraps a read model answer with the position it reflects,
// the log's head and, when the read model is stopped, the event it is
// stopped at (the answer is then stale by head - position events).
type queryResult[T any] struct {
	Position int64      `json:"position"`
	Head     int64      `json:"head"`
	Stopped  *StoppedAt `json:"stopped,omitempty"`
	Data     T          `json:"data"`
}

// wantsCSV reports whether the Accept header prefers text/csv.
func wantsCSV(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err == nil && mt == "text/csv" {
			// q=0 means "not acceptable" (RFC 9110 12.4.2).
			q, err := strconv.ParseFloat(params["q"], 64)
			return params["q"] == "" || (err == nil && q > 0)
		}
	}
	return false
}

func quarterParam(v, field string) (domain.Quarter, error) {
	if v == "" {
		return domain.Quarter{}, &Error{Code: CodeInvalid, Field: field, Rule: "required", Message: "quarter is required, e.g. 2026Q1"}
	}
	q, err := domain.ParseQuarter(v)
	if err != nil {
		return domain.Quarter{}, &Error{Code: CodeInvalid, Field: field, Rule: "format", Message: "must be a quarter like 2026Q1, got " + domain.Quote(v)}
	}
	return q, nil
}

// queryQuarter is quarterParam for reads, which also take "current" and
// "previous" (the quarter of the server's today, UTC, and the one before).
func (s *server) queryQuarter(v, field string) (domain.Quarter, error) {
	if v == domain.QuarterCurrent || v == domain.QuarterPrevious {
		return domain.ResolveQuarter(v, domain.DateOf(s.Clock().UTC()))
	}
	return quarterParam(v, field)
}

// partnerScope returns the partner a query is about: a partner token sees
// only its own (another id answers 404), other roles may name any or none.
func partnerScope(r *http.Request) (string, error) {
	id := r.URL.Query().Get("partner_id")
	p := principalFrom(r.Context())
	if p.Role != RolePartner {
		return id, nil
	}
	if id != "" && id != p.PartnerID {
		return "", errorf(CodeNotFound, "partner_id", "partner %s not found", domain.Quote(id))
	}
	return p.PartnerID, nil
}

// serveQuery waits until the read model reached the requested position,
// runs q and writes its answer (JSON, or CSV when the client asks and csv
// is set) with the read model's staleness.
func serveQuery[T any](s *server, w http.ResponseWriter, r *http.Request, model string, q func(context.Context) (T, error), csv func(context.Context, io.Writer) error, csvName string) {
	rm, err := s.readModel(r, model)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if csv != nil && wantsCSV(r) {
		setStaleness(w, rm)
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="`+csvName+`"`)
		cw := &lazyWriter{w: w}
		if err := csv(r.Context(), cw); err != nil {
			if !cw.started {
				w.Header().Del("Content-Disposition")
				s.fail(w, r, err)
				return
			}
			// Headers are gone: abort the stream so the client sees a broken body, not a short file.
			s.Logger.ErrorContext(r.Context(), "api: csv stream failed", "path", r.URL.Path, "err", err)
			panic(http.ErrAbortHandler)
		}
		return
	}
	v, err := q(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	setStaleness(w, rm)
	writeJSON(w, http.StatusOK, queryResult[T]{Position: rm.Position, Head: rm.Head, Stopped: rm.Stopped, Data: v})
}

// lazyWriter defers the status line until the first byte, so an error
// before any output can still be a problem+json answer.
type lazyWriter struct {
	w       http.ResponseWriter
	started bool
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	if !l.started {
		l.started = true
		l.w.WriteHeader(http.StatusOK)
	}
	return l.w.Write(p)
}

func (s *server) attribution() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pid, err := partnerScope(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		q, err := s.queryQuarter(r.URL.Query().Get("quarter"), "quarter")
		if err != nil {
			s.fail(w, r, err)
			return
		}
		serveQuery(s, w, r, ModelAttribution,
			func(ctx context.Context) ([]attribution.LedgerLine, error) {
				lines := []attribution.LedgerLine{}
				_, err := s.Queries.Ledger(ctx, q.String(), pid, func(l attribution.LedgerLine) error {
					lines = append(lines, l)
					return nil
				})
				return lines, err
			},
			func(ctx context.Context, out io.Writer) error {
				_, err := s.Queries.WriteLedgerCSV(ctx, out, q.String(), pid)
				return err
			},
			"attribution-"+q.String()+".csv")
	}
}

// ownStatementPath reads {id} and {quarter} of a statement read: a partner
// token reads its own partner's only; the quarter may be "current" or
// "previous".
func (s *server) ownStatementPath(r *http.Request) (string, domain.Quarter, error) {
	pid := r.PathValue("id")
	if err := ownPartner(r, pid); err != nil {
		return "", domain.Quarter{}, err
	}
	q, err := s.queryQuarter(r.PathValue("quarter"), "quarter")
	return pid, q, err
}

func (s *server) statement() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pid, q, err := s.ownStatementPath(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		serveQuery(s, w, r, ModelAttribution,
			func(ctx context.Context) ([]attribution.Statement, error) {
				ss, _, err := s.Queries.Statements(ctx, pid, q.String())
				if err == nil && len(ss) == 0 {
					// Only an enrolled partner has statement rows: the log is
					// asked only when there are none.
					err = s.partnerExists(ctx, pid)
				}
				return ss, err
			},
			func(ctx context.Context, out io.Writer) error {
				if err := s.partnerExists(ctx, pid); err != nil {
					return err
				}
				_, err := s.Queries.WriteStatementsCSV(ctx, out, pid, q.String())
				return err
			},
			"statement-"+pid+"-"+q.String()+".csv")
	}
}

// partnerExists answers 404 for a partner that was never enrolled (its
// statement would otherwise be an empty list).
func (s *server) partnerExists(ctx context.Context, partnerID string) error {
	recs, err := s.Store.ReadStream(ctx, domain.PartnerStream(partnerID), 0)
	if err != nil {
		return fmt.Errorf("partner %s: %w", partnerID, err)
	}
	if len(recs) == 0 {
		return &domain.Error{Code: domain.NotFound, Field: "id", Rule: "partner.exists",
			Message: fmt.Sprintf("partner %s not found", partnerID)}
	}
	return nil
}

func (s *server) revenueMix() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q, err := s.queryQuarter(r.URL.Query().Get("quarter"), "quarter")
		if err != nil {
			s.fail(w, r, err)
			return
		}
		serveQuery(s, w, r, ModelAttribution, func(ctx context.Context) ([]attribution.Mix, error) {
			mix, _, err := s.Queries.RevenueMix(ctx, q.String())
			return mix, err
		}, nil, "")
	}
}

func (s *server) explain() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		qv := r.URL.Query()
		oem, inv := qv.Get("oem_id"), qv.Get("invoice_number")
		if oem == "" {
			s.fail(w, r, &Error{Code: CodeInvalid, Field: "oem_id", Rule: "required", Message: "oem_id is required"})
			return
		}
		if inv == "" {
			s.fail(w, r, &Error{Code: CodeInvalid, Field: "invoice_number", Rule: "required", Message: "invoice_number is required"})
			return
		}
		if qv.Get("line") == "" {
			s.fail(w, r, &Error{Code: CodeInvalid, Field: "line", Rule: "required", Message: "line is required"})
			return
		}
		line, err := queryInt(r, "line", 0, 1, 1<<31-1)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		serveQuery(s, w, r, ModelAttribution, func(ctx context.Context) (attribution.Explanation, error) {
			ex, err := s.Queries.Explain(ctx, oem, inv, int(line))
			if attribution.IsNoLine(err) {
				return ex, &domain.Error{Code: domain.NotFound, Field: "line", Rule: "explain.no_credit",
					Message: fmt.Sprintf("no credit booked for line %d of %s invoice %s", line, oem, inv)}
			}
			return ex, err
		}, nil, "")
	}
}

// seats serves GET /v1/geographies/{geo}/seats from the leads-and-seats
// read model.
func (s *server) seats() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		geo := r.PathValue("geo")
		if !validGeo(geo) {
			s.fail(w, r, &Error{Code: CodeInvalid, Field: "geo", Rule: "format", Message: "geo must be 1-64 characters of a-z, 0-9, '_' or '-'"})
			return
		}
		serveQuery(s, w, r, ModelLeads, func(ctx context.Context) (leads.GeoSeats, error) {
			gs, err := s.Queries.Seats(ctx, geo)
			if err == nil && len(gs.Tiers) == 0 {
				err = &domain.Error{Code: domain.NotFound, Field: "geo", Rule: "geography.exists",
					Message: fmt.Sprintf("geography %s has no seats set and no partners holding one", geo)}
			}
			return gs, err
		}, nil, "")
	}
}

// dealRow is a registration as GET /v1/deals serves it. For a partner the
// conflicting deals are redacted: Conflicts is empty and Conflict says that
// another partner holds the customer (never which).
type dealRow struct {
	attribution.Registration
	Conflict string `json:"conflict,omitempty"`
}

func (s *server) listDeals() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pid, err := partnerScope(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		status := r.URL.Query().Get("status")
		partner := principalFrom(r.Context()).Role == RolePartner
		serveQuery(s, w, r, ModelAttribution, func(ctx context.Context) ([]dealRow, error) {
			regs, _, err := s.Queries.Registrations(ctx, attribution.RegistrationFilter{PartnerID: pid, Status: status})
			if err != nil {
				return nil, err
			}
			out := make([]dealRow, len(regs))
			for i, g := range regs {
				out[i] = dealRow{Registration: g}
				if partner {
					out[i].redactConflicts()
				}
			}
			return out, nil
		}, nil, "")
	}
}

// redactConflicts readies the row for a partner's eyes: the other
// partners' deal ids are gone, the status "conflict" stays, with a notice.
func (d *dealRow) redactConflicts() {
	if len(d.Conflicts) > 0 {
		d.Conflict = conflictNotice
	}
	d.Conflicts = []string{}
}
