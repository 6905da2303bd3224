package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"dealcredit/domain"
	"dealcredit/eventstore"
	"dealcredit/eventstore/pgstore"
	"dealcredit/internal/pgdb"
	"dealcredit/internal/testkit/daemontest"
)

// TestStoppedProjectionStopsOnlyItselfUntilSkipped appends, straight through
// the store (as an old log or a bug would have), a deal whose customer name
// holds a NUL byte, which Postgres refuses to store in the attribution
// tables. Against a real daemon: attribution stops at that event and says
// so (status, metrics, /readyz body) while /readyz stays 200, its lag grows,
// the leads projection goes on, reads say how stale they are, a
// min_position beyond the stop answers 503 at once, and after the audited
// skip attribution goes on and equals a clean rebuild (verify --projections).
func TestStoppedProjectionStopsOnlyItselfUntilSkipped(t *testing.T) {
	d := daemontest.Start(t, nil)
	ctx := context.Background()
	pool, err := pgdb.OpenPool(ctx, d.Env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	store, err := pgstore.New(pool, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close(); pool.Close() })
	appendEvent := func(e domain.Event) int64 {
		t.Helper()
		typ, ver, data, err := domain.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		res, err := store.Append(ctx, domain.StreamOf(e), eventstore.Any, eventstore.Event{ID: uuid.New(), Type: typ,
			SchemaVersion: ver, Data: data, OccurredAt: time.Now(), Metadata: eventstore.Metadata{Actor: "test", Source: "test"}})
		if err != nil {
			t.Fatal(err)
		}
		return res.LastPosition()
	}
	seats := func(platinum int) int64 {
		return appendEvent(domain.SeatsSet{Geography: "us-west", Platinum: platinum, Gold: 5, On: domain.NewDate(2026, 1, 1)})
	}
	seats(1)
	bad := appendEvent(domain.DealRegistered{DealID: "nul-deal", PartnerID: "var-x",
		Customer: domain.Customer{Name: "Nul\x00Corp", Country: "US"}, CustomerKey: "nulcorp|us", Geography: "us-west",
		Segments: []domain.Segment{domain.SegmentClientManagement}, ExpectedValue: domain.Money{Amount: 100, Currency: "USD"},
		RegisteredOn: domain.NewDate(2026, 1, 2)})
	head := seats(2)
	badText := strconv.FormatInt(bad, 10)

	// attribution stops at the event and says where and why.
	waitUntil(t, "attribution stopped", func() bool {
		out, err := cli(t, d, "projection", "status")
		return err != nil && strings.Contains(out, "attribution  STOPPED at position "+badText+" (deal.registered")
	})
	out, _ := cli(t, d, "projection", "status")
	if !strings.Contains(out, "22021") {
		t.Errorf("status does not give the reason:\n%s", out)
	}
	if m := metric(t, d, `dealcredit_projection_stopped{projection="attribution"}`); m != 1 {
		t.Errorf("stopped gauge %v, want 1", m)
	}
	if m := metric(t, d, `dealcredit_projection_stopped_position{projection="attribution"}`); m != float64(bad) {
		t.Errorf("stopped position gauge %v, want %d", m, bad)
	}
	// Its lag grows with the log while leads keeps up.
	for i := 3; i < 8; i++ {
		head = seats(i)
	}
	waitUntil(t, "attribution lag grows", func() bool {
		return metric(t, d, `dealcredit_projection_lag_events{projection="attribution"}`) == float64(head-bad+1)
	})
	admin, finance := d.Token(t, "admin"), d.Token(t, "finance")
	resp, body := get(t, d, "/v1/geographies/us-west/seats?min_position="+strconv.FormatInt(head, 10), admin)
	if resp.StatusCode != 200 || !strings.Contains(body, `"capacity":7`) {
		t.Errorf("leads read at the head: %d %s", resp.StatusCode, body)
	}

	// Ready: serving works; the body names the stopped projection.
	resp, body = get(t, d, "/readyz", "")
	if resp.StatusCode != 200 || !strings.Contains(body, "projection attribution stopped at position "+badText) {
		t.Errorf("/readyz: %d %s", resp.StatusCode, body)
	}
	// Reads say how stale they are; a position beyond the stop fails at once.
	resp, body = get(t, d, "/v1/deals", finance)
	if resp.StatusCode != 200 || resp.Header.Get("Dealcredit-Projection-Stopped") != badText ||
		resp.Header.Get("Dealcredit-Position") != strconv.FormatInt(bad-1, 10) || resp.Header.Get("Dealcredit-Log-Head") == "" ||
		!strings.Contains(body, `"stopped":{"position":`+badText) {
		t.Errorf("stale read: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	start := time.Now()
	resp, body = get(t, d, "/v1/deals?min_position="+strconv.FormatInt(head, 10), finance)
	var p struct {
		Type      string `json:"type"`
		ReadModel struct {
			Stopped struct {
				Position int64  `json:"position"`
				Reason   string `json:"reason"`
			} `json:"stopped"`
		} `json:"read_model"`
	}
	_ = json.Unmarshal([]byte(body), &p)
	if resp.StatusCode != 503 || p.Type != "urn:dealcredit:problem:projection_stopped" || p.ReadModel.Stopped.Position != bad ||
		!strings.Contains(p.ReadModel.Stopped.Reason, "22021") {
		t.Errorf("min_position beyond the stop: %d %s", resp.StatusCode, body)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("min_position beyond the stop took %s, want an answer at once", took)
	}

	// The way out: only the position it is stopped at can be skipped.
	if out, err := cli(t, d, "projection", "skip", "--projection", "attribution", "--position", strconv.FormatInt(bad+1, 10),
		"--reason", "NUL in customer name", "--actor", "ops"); err == nil || !strings.Contains(out+err.Error(), "not stopped at position") {
		t.Errorf("skip of another position: %v %s", err, out)
	}
	if out, err := cli(t, d, "projection", "skip", "--projection", "attribution", "--position", badText,
		"--reason", "NUL in customer name", "--actor", "ops"); err != nil {
		t.Fatalf("skip: %v %s", err, out)
	}
	head++ // the skip fact
	waitUntil(t, "attribution resumed", func() bool {
		resp, _ := get(t, d, "/v1/deals?min_position="+strconv.FormatInt(head, 10), finance)
		return resp.StatusCode == 200
	})
	if m := metric(t, d, `dealcredit_projection_stopped{projection="attribution"}`); m != 0 {
		t.Errorf("stopped gauge %v after the skip, want 0", m)
	}
	resp, body = get(t, d, "/readyz", "")
	if resp.StatusCode != 200 || strings.Contains(body, "stopped") {
		t.Errorf("/readyz after the skip: %d %s", resp.StatusCode, body)
	}
	if out, err := cli(t, d, "verify", "--projections"); err != nil || !strings.Contains(out, "ok   projection attribution") {
		t.Errorf("verify --projections after the skip: %v\n%s", err, out)
	}
	// A replay from the log alone leaves the event out too.
	if out, err := cli(t, d, "replay", "--as-of", strconv.FormatInt(head, 10), "--out", t.TempDir()); err != nil {
		t.Errorf("replay after the skip: %v\n%s", err, out)
	}
	// The fact is in the log for auditors, with its actor and reason.
	recs, err := store.ReadStream(ctx, domain.ProjectionStream("attribution"), 0)
	if err != nil || len(recs) != 1 || recs[0].Type != "projection.event_skipped" ||
		!strings.Contains(string(recs[0].Data), `"reason":"NUL in customer name"`) || !strings.Contains(string(recs[0].Data), `"actor":"ops"`) {
		t.Errorf("skip fact: %v %+v", err, recs)
	}
}

func get(t *testing.T, d *daemontest.Daemon, path, token string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", d.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// metric reads one sample (name with its labels) from /metrics; -1 when absent.
func metric(t *testing.T, d *daemontest.Daemon, sample string) float64 {
	t.Helper()
	_, body := get(t, d, "/metrics", "")
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", sample, err)
			}
			return f
		}
	}
	return -1
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline, not synchronisation
	}
}
