package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"dealcredit/domain"
)

// Queries is the read side the API serves from (the projections). Results
// are JSON-encodable values; the CSV writers must produce the same bytes as
// the CLI export. The daemon adapts the projections package to it.
type Queries interface {
	// ReadModel returns how far the read model name (ModelAttribution,
	// ModelLeads) is: its position, the log's head, and the event it is
	// stopped at, if any.
	ReadModel(ctx context.Context, name string) (ReadModel, error)
	// Deals lists registrations; an empty partnerID or status means all.
	Deals(ctx context.Context, partnerID, status string) (any, error)
	// Attribution returns the ledger lines of quarter (of one partner when
	// partnerID is set).
	Attribution(ctx context.Context, quarter domain.Quarter, partnerID string) (any, error)
	// WriteAttributionCSV streams the same lines as CSV.
	WriteAttributionCSV(ctx context.Context, w io.Writer, quarter domain.Quarter, partnerID string) error
	// Statement returns a partner's statement for quarter; a partner that
	// does not exist is a *domain.Error with code NotFound.
	Statement(ctx context.Context, partnerID string, quarter domain.Quarter) (any, error)
	// WriteStatementCSV streams the statement as CSV.
	WriteStatementCSV(ctx context.Context, w io.Writer, partnerID string, quarter domain.Quarter) error
	// RevenueMix returns direct vs indirect revenue of quarter.
	RevenueMix(ctx context.Context, quarter domain.Quarter) (any, error)
	// Explain returns the credit of one invoice line and the events behind it.
	Explain(ctx context.Context, oemID, invoiceNumber string, line int) (any, error)
	// Exceptions returns a page of the exception queue: {"exceptions": [...],
	// "next": exception_id of the last row when the page is full, else ""}.
	Exceptions(ctx context.Context, q ExceptionQuery) (any, error)
	// ExceptionLine returns the invoice line an exception names; an unknown
	// id is a *domain.Error with code NotFound.
	ExceptionLine(ctx context.Context, id string) (domain.ExceptionLine, error)
	// ApprovedRebates returns the approved rebates per currency of a
	// partner's quarter statement, and whether the read model shows it
	// approved yet.
	ApprovedRebates(ctx context.Context, partnerID string, q domain.Quarter) (map[string]int64, bool, error)
	// WritePayoutsCSV streams the payouts of quarter ("" = all) as the
	// payout file for accounts payable.
	WritePayoutsCSV(ctx context.Context, w io.Writer, quarter string) error
	// Seats returns the used and free seats per tier of geography geo; a
	// geography without seats or holders is a *domain.Error with code
	// NotFound.
	Seats(ctx context.Context, geo string) (any, error)
}

// queryResult wraps a read model answer with the position it reflects,
// the log's head and, when the read model is stopped, the event it is
// stopped at (the answer is then stale by head - position events).
type queryResult struct {
	Position int64      `json:"position"`
	Head     int64      `json:"head"`
	Stopped  *StoppedAt `json:"stopped,omitempty"`
	Data     any        `json:"data"`
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
		return domain.Quarter{}, &Error{Code: CodeInvalid, Field: field, Rule: "format", Message: "must be a quarter like 2026Q1, got " + quoteShort(v)}
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

func quoteShort(v string) string {
	if r := []rune(v); len(r) > 40 {
		v = string(r[:40]) + "..."
	}
	return strconv.Quote(v)
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
		return "", errorf(CodeNotFound, "partner_id", "partner %s not found", quoteShort(id))
	}
	return p.PartnerID, nil
}

// serveQuery waits until the read model reached the requested position,
// runs q and writes its answer (JSON, or CSV when the client asks and csv
// is set) with the read model's staleness.
func (s *server) serveQuery(w http.ResponseWriter, r *http.Request, model string, q func(context.Context) (any, error), csv func(context.Context, io.Writer) error, csvName string) {
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
	writeJSON(w, http.StatusOK, queryResult{Position: rm.Position, Head: rm.Head, Stopped: rm.Stopped, Data: v})
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
		s.serveQuery(w, r, ModelAttribution,
			func(ctx context.Context) (any, error) { return s.Queries.Attribution(ctx, q, pid) },
			func(ctx context.Context, out io.Writer) error { return s.Queries.WriteAttributionCSV(ctx, out, q, pid) },
			"attribution-"+q.String()+".csv")
	}
}

func (s *server) statement() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pid := r.PathValue("id")
		if err := ownPartner(r, pid); err != nil {
			s.fail(w, r, err)
			return
		}
		q, err := s.queryQuarter(r.PathValue("quarter"), "quarter")
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.serveQuery(w, r, ModelAttribution,
			func(ctx context.Context) (any, error) { return s.Queries.Statement(ctx, pid, q) },
			func(ctx context.Context, out io.Writer) error { return s.Queries.WriteStatementCSV(ctx, out, pid, q) },
			"statement-"+pid+"-"+q.String()+".csv")
	}
}

func (s *server) revenueMix() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q, err := s.queryQuarter(r.URL.Query().Get("quarter"), "quarter")
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.serveQuery(w, r, ModelAttribution, func(ctx context.Context) (any, error) { return s.Queries.RevenueMix(ctx, q) }, nil, "")
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
		s.serveQuery(w, r, ModelAttribution, func(ctx context.Context) (any, error) { return s.Queries.Explain(ctx, oem, inv, int(line)) }, nil, "")
	}
}

func (s *server) listDeals() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pid, err := partnerScope(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		status := r.URL.Query().Get("status")
		redact := principalFrom(r.Context()).Role == RolePartner
		s.serveQuery(w, r, ModelAttribution, func(ctx context.Context) (any, error) {
			v, err := s.Queries.Deals(ctx, pid, status)
			if err != nil || !redact {
				return v, err
			}
			return redactConflicts(v)
		}, nil, "")
	}
}

// redactConflicts empties the "conflicts" list (the other partners' deal
// ids) of the registration(s) in v, for a partner's eyes: the status
// "conflict" stays, with a notice. The read model is served as any, so this
// goes through its JSON form (a list of registrations, or one).
func redactConflicts(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("redact conflicts: %w", err)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("redact conflicts: %w", err)
	}
	redact := func(x any) {
		g, ok := x.(map[string]any)
		if !ok {
			return
		}
		if c, ok := g["conflicts"].([]any); ok {
			if len(c) > 0 {
				g["conflict"] = conflictNotice
			}
			g["conflicts"] = []any{}
		}
	}
	if list, ok := doc.([]any); ok {
		for _, x := range list {
			redact(x)
		}
	} else {
		redact(doc)
	}
	return doc, nil
}
