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
)

// logQueries is a read side that is always caught up with the log (its
// position is the log's head); its answers are canned. It exercises the
// API's query plumbing: read-your-writes waits, JSON and CSV, scoping.
type logQueries struct {
	store eventstore.Reader
	lag   int64 // reported position = head - lag
}

func (q *logQueries) ReadModel(ctx context.Context, name string) (api.ReadModel, error) {
	h, err := q.store.Head(ctx)
	return api.ReadModel{Name: name, Position: h - q.lag, Head: h}, err
}
func (q *logQueries) Deals(ctx context.Context, partnerID, status string) (any, error) {
	return map[string]string{"partner_id": partnerID, "status": status}, nil
}
func (q *logQueries) Attribution(ctx context.Context, qr domain.Quarter, partnerID string) (any, error) {
	return []map[string]string{{"quarter": qr.String(), "partner_id": partnerID}}, nil
}
func (q *logQueries) WriteAttributionCSV(ctx context.Context, w io.Writer, qr domain.Quarter, partnerID string) error {
	_, err := fmt.Fprintf(w, "quarter,partner_id\n%s,%s\n", qr, partnerID)
	return err
}
func (q *logQueries) Statement(ctx context.Context, partnerID string, qr domain.Quarter) (any, error) {
	if partnerID == "nobody" {
		return nil, domain.Errorf(domain.NotFound, "id", "partner.exists", "partner nobody is not enrolled")
	}
	return map[string]string{"partner_id": partnerID}, nil
}
func (q *logQueries) WriteStatementCSV(ctx context.Context, w io.Writer, partnerID string, qr domain.Quarter) error {
	_, err := fmt.Fprintf(w, "partner_id\n%s\n", partnerID)
	return err
}
func (q *logQueries) RevenueMix(ctx context.Context, qr domain.Quarter) (any, error) {
	return map[string]int{"direct": 1}, nil
}
func (q *logQueries) Explain(ctx context.Context, oemID, inv string, line int) (any, error) {
	return map[string]any{"oem_id": oemID, "line": line}, nil
}

func (q *logQueries) Exceptions(ctx context.Context, f api.ExceptionQuery) (any, error) {
	return map[string]any{"status": f.Status, "visible_to": f.VisibleTo, "limit": f.Limit}, nil
}
func (q *logQueries) ApprovedRebates(ctx context.Context, partnerID string, qr domain.Quarter) (map[string]int64, bool, error) {
	return nil, false, nil
}
func (q *logQueries) WritePayoutsCSV(ctx context.Context, w io.Writer, quarter string) error {
	_, err := fmt.Fprintf(w, "quarter\n%s\n", quarter)
	return err
}
func (q *logQueries) ExceptionLine(ctx context.Context, id string) (domain.ExceptionLine, error) {
	return domain.ExceptionLine{}, domain.Errorf(domain.NotFound, "id", "", "exception %s not found", id)
}

func (q *logQueries) Seats(ctx context.Context, geo string) (any, error) {
	if geo == "nowhere" {
		return nil, domain.Errorf(domain.NotFound, "geo", "geography.exists", "geography nowhere has no seats")
	}
	return map[string]any{"geography": geo}, nil
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
