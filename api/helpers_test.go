package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"dealcredit/api"
	"dealcredit/eventstore/pgstore"
	"dealcredit/internal/pgdb"
	"dealcredit/internal/testkit/logbuf"
	"dealcredit/internal/testkit/logtest"
	"dealcredit/internal/testkit/openapicheck"
)

// testNow is the fixed clock of the tests: 2026Q1 has ended, 2026Q2 is open.
var testNow = time.Date(2026, 5, 15, 12, 0, 0, 0, time.UTC)

// Test tokens: one per role plus partners "var-a" (own), "var-b" (other)
// and "var-reg" (stays at tier registered).
var testTokens = api.Tokens{
	{Token: "tok-admin-0123456789", Role: api.RoleAdmin},
	{Token: "tok-cm-0123456789abc", Role: api.RoleChannelManager},
	{Token: "tok-finance-01234567", Role: api.RoleFinance},
	{Token: "tok-auditor-01234567", Role: api.RoleAuditor},
	{Token: "tok-var-a-0123456789", Role: api.RolePartner, PartnerID: "var-a"},
	{Token: "tok-var-b-0123456789", Role: api.RolePartner, PartnerID: "var-b"},
	{Token: "tok-var-reg-01234567", Role: api.RolePartner, PartnerID: "var-reg"},
}

const (
	tokAdmin   = "tok-admin-0123456789"
	tokCM      = "tok-cm-0123456789abc"
	tokFinance = "tok-finance-01234567"
	tokAuditor = "tok-auditor-01234567"
	tokVarA    = "tok-var-a-0123456789"
	tokVarB    = "tok-var-b-0123456789"
	tokVarReg  = "tok-var-reg-01234567"
)

type testAPI struct {
	URL      string
	Logs     *logbuf.Buffer
	Registry *prometheus.Registry
}

type apiOption func(*api.Deps)

// mustAPI starts the API against a fresh migrated database.
func mustAPI(tb testing.TB, opts ...apiOption) *testAPI {
	tb.Helper()
	dsn := logtest.MigratedDatabase(tb)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pgdb.Migrate(ctx, dsn, api.Migrations(), api.VersionTable); err != nil {
		tb.Fatalf("migrate api: %v", err)
	}
	pool, err := pgdb.OpenPool(ctx, dsn)
	if err != nil {
		tb.Fatalf("open pool: %v", err)
	}
	tb.Cleanup(pool.Close)
	store, err := pgstore.New(pool, pgstore.Options{Registerer: prometheus.NewRegistry()})
	if err != nil {
		tb.Fatalf("new store: %v", err)
	}
	tb.Cleanup(store.Close)
	logs := &logbuf.Buffer{}
	reg := prometheus.NewRegistry()
	d := api.Deps{
		Store: store, Pool: pool, Tokens: testTokens,
		Logger:     slog.New(slog.NewJSONHandler(logs, nil)),
		Registerer: reg, Gatherer: reg,
		Clock: func() time.Time { return testNow },
	}
	for _, o := range opts {
		o(&d)
	}
	h, err := api.NewServer(d)
	if err != nil {
		tb.Fatalf("new server: %v", err)
	}
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return &testAPI{URL: srv.URL, Logs: logs, Registry: reg}
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) json(tb testing.TB) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		tb.Fatalf("decode %s: %v", r.Body, err)
	}
	return m
}

// do sends a request; body may be a string (sent as is), nil or a value
// encoded as JSON.
func (a *testAPI) do(tb testing.TB, method, path, token string, body any, headers ...string) response {
	tb.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			tb.Fatalf("encode body: %v", err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, a.URL+path, rd)
	if err != nil {
		tb.Fatalf("new request: %v", err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("read body: %v", err)
	}
	r := response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	openapicheck.Body(tb, method, path, r.Status, r.Header, r.Body)
	return r
}

// must sends a request and fails the test unless it answers want.
func (a *testAPI) must(tb testing.TB, want int, method, path, token string, body any) response {
	tb.Helper()
	r := a.do(tb, method, path, token, body)
	if r.Status != want {
		tb.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, want, r.Body)
	}
	return r
}

// seed enrolls var-a and var-b as grandfathered gold partners and var-reg
// at tier registered, plus the OEM hp.
func (a *testAPI) seed(tb testing.TB) {
	tb.Helper()
	a.must(tb, 201, "POST", "/v1/partners:grandfather", tokAdmin, map[string]any{"partners": []map[string]any{
		{"id": "var-a", "name": "VAR A", "kind": "var", "geography": "us-west"},
		{"id": "var-b", "name": "VAR B", "kind": "var", "geography": "us-west"},
	}})
	a.must(tb, 201, "POST", "/v1/partners", tokCM, map[string]any{"id": "var-reg", "name": "VAR Reg", "kind": "var", "geography": "us-west"})
	a.must(tb, 201, "POST", "/v1/partners", tokAdmin, map[string]any{"id": "hp", "name": "HP", "kind": "oem", "geography": "us-west"})
}

// registerDeal registers a deal for partner (as the channel manager) for
// customer and returns its id.
func (a *testAPI) registerDeal(tb testing.TB, partner, customer string) string {
	tb.Helper()
	r := a.must(tb, 201, "POST", "/v1/deals", tokCM, dealBody(partner, customer))
	id, _ := r.json(tb)["deal_id"].(string)
	if id == "" {
		tb.Fatalf("no deal_id in %s", r.Body)
	}
	return id
}

func dealBody(partner, customer string) map[string]any {
	b := map[string]any{
		"customer":             map[string]any{"name": customer, "country": "US", "domain": strings.ToLower(strings.ReplaceAll(customer, " ", "")) + ".example"},
		"geography":            "us-west",
		"segments":             []string{"client_management"},
		"expected_value_minor": 450000,
		"currency":             "USD",
	}
	if partner != "" {
		b["partner_id"] = partner
	}
	return b
}
