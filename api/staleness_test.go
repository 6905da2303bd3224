package api_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"dealcredit/api"
)

// stoppedQueries is logQueries whose attribution model is stopped at the
// event after its position.
type stoppedQueries struct{ logQueries }

func (q *stoppedQueries) ReadModel(ctx context.Context, name string) (api.ReadModel, error) {
	rm, err := q.logQueries.ReadModel(ctx, name)
	if name == api.ModelAttribution {
		rm.Position = rm.Head - 3
		rm.Stopped = &api.StoppedAt{Position: rm.Head - 2, EventID: "e-1", Type: "deal.registered", Reason: "SQLSTATE 22021"}
	}
	return rm, err
}

// A stopped read model: /readyz stays 200 (the projections check is
// informational) and names it; reads from it say how stale they are; a
// min_position beyond the stop is a prompt 503 naming the event, while
// the other read model still serves min_position reads.
func TestStoppedReadModel(t *testing.T) {
	q := &stoppedQueries{}
	q.model = q.ReadModel // the one-statement reads answer the stopped state too
	a := mustAPI(t, func(d *api.Deps) {
		q.store = d.Store
		d.Queries = q
		d.WaitTimeout = 5 * time.Second
		d.Readiness = []api.Checker{
			{Name: "database", Check: func(context.Context) error { return nil }},
			{Name: "projections", Informational: true, Check: func(context.Context) error {
				return errors.New("projection attribution stopped at position 7")
			}},
		}
	})
	a.seed(t)
	r := a.must(t, 200, "GET", "/readyz", "", nil)
	if !strings.Contains(string(r.Body), `"status":"degraded"`) || !strings.Contains(string(r.Body), "attribution stopped at position 7") {
		t.Errorf("readyz: %s", r.Body)
	}

	r = a.must(t, 200, "GET", "/v1/deals", tokFinance, nil)
	head := r.Header.Get(api.LogHeadHeader)
	if head == "" || r.Header.Get(api.StoppedHeader) == "" || !strings.Contains(string(r.Body), `"stopped":{"position":`) {
		t.Errorf("stale read: %v %s", r.Header, r.Body)
	}
	start := time.Now()
	r = a.do(t, "GET", "/v1/deals?min_position="+head, tokFinance, nil)
	if took := time.Since(start); took > time.Second {
		t.Errorf("min_position beyond a stopped model took %s", took)
	}
	if r.Status != 503 || !strings.Contains(string(r.Body), "urn:dealcredit:problem:projection_stopped") ||
		!strings.Contains(string(r.Body), `"reason":"SQLSTATE 22021"`) || !strings.Contains(string(r.Body), "deal.registered") {
		t.Errorf("min_position beyond the stop: %d %s", r.Status, r.Body)
	}
	// Before the stop, min_position is served.
	r = a.do(t, "GET", "/v1/deals?min_position=1", tokFinance, nil)
	if r.Status != 200 {
		t.Errorf("min_position before the stop: %d %s", r.Status, r.Body)
	}
	// The leads read model is not stopped: it serves the head.
	a.must(t, 200, "PUT", "/v1/geographies/us-west/seats", tokAdmin, map[string]int{"platinum": 1, "gold": 2})
	r = a.do(t, "GET", "/v1/geographies/us-west/seats?min_position="+head, tokAdmin, nil)
	if r.Status != 200 || r.Header.Get(api.StoppedHeader) != "" {
		t.Errorf("leads read: %d %v %s", r.Status, r.Header, r.Body)
	}
}
