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
	"dealcredit/projections/runner"
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
// credit. A quarter or partner id left empty means all. Statements,
// Registrations and RepStatements return the read model's state (position, log head, stopped
// event) read by the same statement as their rows, and the API reports it:
// one query per request. The other answers return the position their
// snapshot reflects; the API reports the state ReadModels gave before the
// read (the one min_position waited for).
type AttributionReader interface {
	// Registrations lists the deal registrations matching f, with the read
	// model's state read by the same statement.
	Registrations(ctx context.Context, f attribution.RegistrationFilter) ([]attribution.Registration, runner.ReadState, error)
	// Ledger passes the ledger lines of quarter and partnerID to fn, in log order.
	Ledger(ctx context.Context, quarter, partnerID string, fn func(attribution.LedgerLine) error) (int64, error)
	// WriteLedgerCSV writes the same lines as CSV.
	WriteLedgerCSV(ctx context.Context, w io.Writer, quarter, partnerID string) (int64, error)
	// Statements returns the statement rows of partnerID in quarter, one per
	// currency, with the read model's state read by the same statement.
	Statements(ctx context.Context, partnerID, quarter string) ([]attribution.Statement, runner.ReadState, error)
	// WriteStatementsCSV writes the same rows as CSV.
	WriteStatementsCSV(ctx context.Context, w io.Writer, partnerID, quarter string) (int64, error)
	// RevenueMix returns direct vs indirect revenue of quarter, one row per currency.
	RevenueMix(ctx context.Context, quarter string) ([]attribution.Mix, int64, error)
	// Explain returns the credits of one invoice line and the events behind
	// them; an error for which attribution.IsNoLine holds when there are none.
	Explain(ctx context.Context, oemID, invoiceNumber string, line int) (attribution.Explanation, error)

	// RepStatements returns a field rep's channel credit in quarter, one row
	// per currency (issue 15 item 4), with the read model's state read by
	// the same statement.
	RepStatements(ctx context.Context, repID, quarter string) ([]attribution.RepStatement, runner.ReadState, error)
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

	// Partners returns every enrolled partner, by id: who a quarterly tier
	// review scores (issue 15 item 3).
	Partners(ctx context.Context) ([]leads.Partner, error)
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

// quarterParam parses a quarter path or query value ("2026Q1") in the
// accepted years (domain.CheckQuarter); anything else is 400 naming field.
func quarterParam(v, field string) (domain.Quarter, error) {
	if v == "" {
		return domain.Quarter{}, &Error{Code: CodeInvalid, Field: field, Rule: "required", Message: "quarter is required, e.g. 2026Q1"}
	}
	q, err := domain.ParseQuarter(v)
	if err != nil {
		return domain.Quarter{}, &Error{Code: CodeInvalid, Field: field, Rule: "format", Message: "must be a quarter like 2026Q1, got " + domain.Quote(v)}
	}
	// The accepted years, checked before any read model is asked (a review
	// reads them before its decider would refuse the quarter).
	if err := domain.CheckQuarter(field, q); err != nil {
		return domain.Quarter{}, err
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
		s.serveCSV(w, r, rm, csv, csvName)
		return
	}
	v, err := q(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeQueryResult(w, rm, v)
}

// writeQueryResult writes v as a query's answer: the read model's
// staleness as headers and around the data.
func writeQueryResult[T any](w http.ResponseWriter, rm ReadModel, v T) {
	setStaleness(w, rm)
	writeJSON(w, http.StatusOK, queryResult[T]{Position: rm.Position, Head: rm.Head, Stopped: rm.Stopped, Data: v})
}

// readFresh runs read, one statement that answers the rows and the read
// model's state together (one round trip), and returns the rows and that
// state. When the state is below the requested min_position it waits as
// readModel does (bounded; a stopped read model answers at once) and reads
// again: the answer reflects at least min_position, and the position it
// reports is the one its rows reflect.
func readFresh[T any](s *server, r *http.Request, model string, read func(context.Context) (T, runner.ReadState, error)) (T, ReadModel, error) {
	var zero T
	if s.Queries == nil {
		return zero, ReadModel{}, errorf(CodeUnavailable, "", "the read models are not available in this process")
	}
	min, err := minPosition(r)
	if err != nil {
		return zero, ReadModel{}, err
	}
	v, st, err := read(r.Context())
	if err != nil || st.Position >= min {
		return v, ReadModelOf(model, st), err
	}
	if _, err := s.readModelAt(r.Context(), model, min); err != nil {
		return zero, ReadModel{}, err
	}
	v, st, err = read(r.Context())
	return v, ReadModelOf(model, st), err
}

// serveCSV writes csv's output as the answer, with the read model's
// staleness rm; an error before the first byte is a problem answer, after
// it the stream is aborted.
func (s *server) serveCSV(w http.ResponseWriter, r *http.Request, rm ReadModel, csv func(context.Context, io.Writer) error, csvName string) {
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
		if wantsCSV(r) {
			s.statementCSV(w, r, pid, q)
			return
		}
		ss, rm, err := readFresh(s, r, ModelAttribution, func(ctx context.Context) ([]attribution.Statement, runner.ReadState, error) {
			return s.Queries.Statements(ctx, pid, q.String())
		})
		if err == nil && len(ss) == 0 {
			// Only an enrolled partner has statement rows: the log is asked
			// only when there are none.
			err = s.partnerExists(r.Context(), pid)
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeRows(w, rm, ss, appendStatement, "")
	}
}

// statementCSV serves a statement as CSV.
func (s *server) statementCSV(w http.ResponseWriter, r *http.Request, pid string, q domain.Quarter) {
	rm, err := s.readModel(r, ModelAttribution)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.serveCSV(w, r, rm, func(ctx context.Context, out io.Writer) error {
		if err := s.partnerExists(ctx, pid); err != nil {
			return err
		}
		_, err := s.Queries.WriteStatementsCSV(ctx, out, pid, q.String())
		return err
	}, "statement-"+pid+"-"+q.String()+".csv")
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

// dealRow is a registration as GET /v1/deals serves it (written by
// appendDealRow). For a partner the conflicting deals are redacted:
// Conflicts is empty and Conflict says that another partner holds the
// customer (never which).
type dealRow struct {
	attribution.Registration
	Conflict string `json:"conflict,omitempty"`
}

// dealsAnswer is GET /v1/deals's answer (written by writeRows): a query's
// answer and, when a limit was given and more deals follow, the after of
// the next page.
type dealsAnswer struct {
	queryResult[[]dealRow]
	NextAfter string `json:"next_after,omitempty"`
}

// maxDealsLimit bounds the limit of GET /v1/deals.
const maxDealsLimit = 1000

// listDeals serves GET /v1/deals: every matching deal by deal id, or, with
// limit (and after, the previous page's next_after), one page of them.
func (s *server) listDeals() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pid, err := partnerScope(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		limit, err := queryInt(r, "limit", 0, 1, maxDealsLimit)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		f := attribution.RegistrationFilter{PartnerID: pid, Status: r.URL.Query().Get("status"), After: r.URL.Query().Get("after")}
		if limit > 0 {
			f.Limit = int(limit) + 1 // one more says whether a next page follows
		}
		regs, rm, err := readFresh(s, r, ModelAttribution, func(ctx context.Context) ([]attribution.Registration, runner.ReadState, error) {
			return s.Queries.Registrations(ctx, f)
		})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		var next string
		if limit > 0 && len(regs) > int(limit) {
			regs = regs[:limit]
			next = regs[limit-1].DealID
		}
		partner := principalFrom(r.Context()).Role == RolePartner
		writeRows(w, rm, regs, func(b []byte, g *attribution.Registration) []byte { return appendDealRow(b, g, partner) }, next)
	}
}
