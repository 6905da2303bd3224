package api_test

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"dealcredit/api"
	"dealcredit/domain"
	"dealcredit/eventstore"
	"dealcredit/projections/attribution"
	"dealcredit/projections/leads"
	"dealcredit/projections/runner"
)

// logQueries is a read side that is always caught up with the log (its
// position is the log's head); its answers are canned. It exercises the
// API's query plumbing: read-your-writes waits, JSON and CSV, scoping.
type logQueries struct {
	store eventstore.Reader
	lag   int64 // reported position = head - lag
	// model, when set, replaces ReadModel as the source of the state the
	// one-statement reads (Registrations, Statements) answer with.
	model func(ctx context.Context, name string) (api.ReadModel, error)
}

func (q *logQueries) ReadModel(ctx context.Context, name string) (api.ReadModel, error) {
	h, err := q.store.Head(ctx)
	return api.ReadModel{Name: name, Position: h - q.lag, Head: h}, err
}

// state is the attribution read model's state as a one-statement read
// answers it: the one ReadModel (or model) gives.
func (q *logQueries) state(ctx context.Context) (runner.ReadState, error) {
	model := q.ReadModel
	if q.model != nil {
		model = q.model
	}
	rm, err := model(ctx, api.ModelAttribution)
	st := runner.ReadState{Checkpoint: runner.Checkpoint{Name: rm.Name, Position: rm.Position, Status: "running"}, Head: rm.Head}
	if rm.Stopped != nil {
		st.Status, st.FailedPosition, st.FailedEventID, st.FailedType, st.Error = runner.StateFailed, rm.Stopped.Position, rm.Stopped.EventID, rm.Stopped.Type, rm.Stopped.Reason
	}
	return st, err
}

// Registrations answers one row named after the filter, or none after the
// deal id "~" (the end of a list).
func (q *logQueries) Registrations(ctx context.Context, f attribution.RegistrationFilter) ([]attribution.Registration, runner.ReadState, error) {
	st, err := q.state(ctx)
	if f.After == "~" {
		return []attribution.Registration{}, st, err
	}
	return []attribution.Registration{{PartnerID: f.PartnerID, Status: f.Status, Segments: []string{}, Conflicts: []string{}}}, st, err
}
func (q *logQueries) Ledger(ctx context.Context, quarter, partnerID string, fn func(attribution.LedgerLine) error) (int64, error) {
	return 0, fn(attribution.LedgerLine{Quarter: quarter, PartnerID: partnerID, EventIDs: []string{}})
}
func (q *logQueries) WriteLedgerCSV(ctx context.Context, w io.Writer, quarter, partnerID string) (int64, error) {
	_, err := fmt.Fprintf(w, "quarter,partner_id\n%s,%s\n", quarter, partnerID)
	return 0, err
}

// Statements answers a row for a partner whose stream has events and none
// for any other, as the read model (only an enrolled partner has rows).
func (q *logQueries) Statements(ctx context.Context, partnerID, quarter string) ([]attribution.Statement, runner.ReadState, error) {
	st, err := q.state(ctx)
	if err != nil {
		return nil, st, err
	}
	recs, err := q.store.ReadStream(ctx, domain.PartnerStream(partnerID), 0)
	if err != nil || len(recs) == 0 {
		return []attribution.Statement{}, st, err
	}
	return []attribution.Statement{{PartnerID: partnerID, Quarter: quarter, Segments: []string{}, Unmet: []string{}}}, st, nil
}
func (q *logQueries) WriteStatementsCSV(ctx context.Context, w io.Writer, partnerID, quarter string) (int64, error) {
	_, err := fmt.Fprintf(w, "partner_id\n%s\n", partnerID)
	return 0, err
}
func (q *logQueries) RevenueMix(ctx context.Context, quarter string) ([]attribution.Mix, int64, error) {
	return []attribution.Mix{{Quarter: quarter, DirectMinor: 1}}, 0, nil
}
func (q *logQueries) Explain(ctx context.Context, oemID, inv string, line int) (attribution.Explanation, error) {
	l := attribution.LedgerLine{OEMID: oemID, InvoiceNumber: inv, Line: line, EventIDs: []string{}}
	return attribution.Explanation{OEMID: oemID, InvoiceNumber: inv, Line: line,
		Credits: []attribution.ExplainedCredit{{LedgerLine: l, Events: []attribution.ExplainedEvent{}}}}, nil
}

func (q *logQueries) Exceptions(ctx context.Context, f attribution.ExceptionFilter) ([]attribution.ExceptionRow, int64, error) {
	return []attribution.ExceptionRow{}, 0, nil
}
func (q *logQueries) Exception(ctx context.Context, id string) (attribution.ExceptionRow, error) {
	return attribution.ExceptionRow{}, domain.Errorf(domain.NotFound, "id", "", "exception %s not found", id)
}
func (q *logQueries) WritePayoutsCSV(ctx context.Context, w io.Writer, quarter string) (int64, error) {
	_, err := fmt.Fprintf(w, "quarter\n%s\n", quarter)
	return 0, err
}

// Seats knows every geography but "nowhere".
// Leads answers one lead whose id is the filter it was given.
func (q *logQueries) Leads(ctx context.Context, f leads.Filter) (leads.Page, error) {
	return leads.Page{Leads: []leads.Lead{{LeadID: fmt.Sprintf("%+v", f), Source: "campaign", Status: "open", Offers: []leads.Offer{}}}}, nil
}

func (q *logQueries) Partners(ctx context.Context) ([]leads.Partner, error) {
	return []leads.Partner{}, nil
}

func (q *logQueries) RepStatements(ctx context.Context, repID, quarter string) ([]attribution.RepStatement, runner.ReadState, error) {
	st, err := q.state(ctx)
	return []attribution.RepStatement{{RepID: repID, Quarter: quarter}}, st, err
}

func (q *logQueries) Seats(ctx context.Context, geo string) (leads.GeoSeats, error) {
	gs := leads.GeoSeats{Geography: geo, Tiers: []leads.TierSeats{}}
	if geo != "nowhere" {
		gs.Tiers = append(gs.Tiers, leads.TierSeats{Tier: "platinum", Unlimited: true})
	}
	return gs, nil
}

func TestQueries(t *testing.T) {
	q := &logQueries{}
	a := mustAPI(t, func(d *api.Deps) {
		q.store = d.Store
		d.Queries = q
		d.WaitTimeout = 300 * time.Millisecond
	})
	a.seed(t)

	// A partner sees only its own lines: no partner_id means its own, another's is 404.
	r := a.must(t, 200, "GET", "/v1/attribution?quarter=2026Q1", tokVarA, nil)
	if !strings.Contains(string(r.Body), `"partner_id":"var-a"`) || r.Header.Get(api.PositionHeader) == "" {
		t.Errorf("own attribution: %s %v", r.Body, r.Header)
	}
	a.must(t, 404, "GET", "/v1/attribution?quarter=2026Q1&partner_id=var-b", tokVarA, nil)
	a.must(t, 400, "GET", "/v1/attribution", tokFinance, nil)

	r = a.do(t, "GET", "/v1/attribution?quarter=2026Q1", tokFinance, nil, "Accept", "text/csv")
	if r.Status != 200 || r.Header.Get("Content-Type") != "text/csv; charset=utf-8" || string(r.Body) != "quarter,partner_id\n2026Q1,\n" {
		t.Errorf("csv: %d %q %q", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	r = a.do(t, "GET", "/v1/partners/var-a/statements/2026Q1", tokVarA, nil, "Accept", "text/csv")
	if r.Status != 200 || string(r.Body) != "partner_id\nvar-a\n" {
		t.Errorf("statement csv: %d %q", r.Status, r.Body)
	}
	a.must(t, 404, "GET", "/v1/partners/nobody/statements/2026Q1", tokFinance, nil)
	// Reads take "current" and "previous", relative to the server's clock.
	cur := domain.DateOf(testNow.UTC()).Quarter()
	for rel, want := range map[string]domain.Quarter{"current": cur, "previous": cur.Prev()} {
		r = a.do(t, "GET", "/v1/attribution?quarter="+rel, tokFinance, nil, "Accept", "text/csv")
		if r.Status != 200 || string(r.Body) != "quarter,partner_id\n"+want.String()+",\n" {
			t.Errorf("quarter=%s: %d %q, want the lines of %s", rel, r.Status, r.Body, want)
		}
	}
	a.must(t, 400, "GET", "/v1/revenue-mix?quarter=last", tokAuditor, nil)
	a.must(t, 200, "GET", "/v1/revenue-mix?quarter=2026Q1", tokAuditor, nil)
	a.must(t, 400, "GET", "/v1/attribution/explain?oem_id=hp&invoice_number=1&line=x", tokAuditor, nil)
	a.must(t, 200, "GET", "/v1/attribution/explain?oem_id=hp&invoice_number=1&line=1", tokAuditor, nil)
	a.must(t, 200, "GET", "/v1/deals?status=pending", tokVarB, nil)

	// Read-your-writes: a command's position is reachable at once here...
	pos := a.must(t, 201, "POST", "/v1/deals", tokVarA, dealBody("", "RYW Corp")).Header.Get(api.PositionHeader)
	r = a.must(t, 200, "GET", "/v1/deals?min_position="+pos, tokVarA, nil)
	got, _ := strconv.ParseInt(r.Header.Get(api.PositionHeader), 10, 64)
	want, _ := strconv.ParseInt(pos, 10, 64)
	if got < want {
		t.Errorf("query reflects %d, asked for %s", got, pos)
	}
	// ...and a position the read side does not reach within the bound is 504.
	q.lag = 1
	r = a.do(t, "GET", "/v1/deals", tokVarA, nil, api.MinPositionHeader, pos)
	if r.Status != 504 || !strings.Contains(string(r.Body), "min_position") {
		t.Errorf("lagging read side: %d %s", r.Status, r.Body)
	}
	a.must(t, 400, "GET", "/v1/deals?min_position=-1", tokVarA, nil)
}

// TestEventsPaging reads the whole log in pages, in order.
func TestEventsPaging(t *testing.T) {
	a := mustAPI(t)
	a.seed(t)
	var positions []float64
	after := 0.0
	for {
		r := a.must(t, 200, "GET", fmt.Sprintf("/v1/events?after=%d&limit=2", int64(after)), tokAuditor, nil).json(t)
		evs := r["events"].([]any)
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			m := e.(map[string]any)
			positions = append(positions, m["position"].(float64))
			if md := m["metadata"].(map[string]any); !strings.HasPrefix(md["actor"].(string), "admin#") && !strings.HasPrefix(md["actor"].(string), "channel_manager#") {
				t.Errorf("event %v actor %v", m["type"], md["actor"])
			}
		}
		after = r["next_after"].(float64)
	}
	if len(positions) < 5 {
		t.Fatalf("only %d events", len(positions))
	}
	for i, p := range positions {
		if p != float64(i+1) {
			t.Fatalf("positions %v are not 1..n", positions)
		}
	}
}
