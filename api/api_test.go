package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"dealcredit/api"
)

func TestLoadOrCreateTokens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "tokens.json")
	ts, created, err := api.LoadOrCreateTokens(path)
	if err != nil || !created {
		t.Fatalf("first load: created=%v err=%v", created, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	roles := map[api.Role]int{}
	for _, tk := range ts {
		roles[tk.Role]++
		if p, ok := ts.Lookup(tk.Token); !ok || p.Role != tk.Role || p.PartnerID != tk.PartnerID {
			t.Errorf("lookup %s: %+v %v", tk.Role, p, ok)
		}
	}
	for _, r := range api.Roles {
		if roles[r] != 1 {
			t.Errorf("role %s: %d tokens, want 1", r, roles[r])
		}
	}
	again, created, err := api.LoadOrCreateTokens(path)
	if err != nil || created {
		t.Fatalf("second load: created=%v err=%v", created, err)
	}
	if fmt.Sprint(again) != fmt.Sprint(ts) {
		t.Errorf("reloaded tokens differ")
	}
	if _, ok := ts.Lookup(ts[0].Token + "x"); ok {
		t.Error("a longer token matched")
	}
	if _, ok := ts.Lookup(""); ok {
		t.Error("the empty token matched")
	}

	bad := filepath.Join(t.TempDir(), "bad.json")
	for _, body := range []string{`[{"token":"short","role":"admin"}]`, `[{"token":"0123456789abcdefgh","role":"root"}]`, `[{"token":"0123456789abcdefgh","role":"partner"}]`, `{`} {
		if err := os.WriteFile(bad, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := api.LoadOrCreateTokens(bad); err == nil {
			t.Errorf("%s: loaded without error", body)
		}
	}
}

// TestOpenAPIMatchesRoutes fails when a route exists that the document
// lacks, or the reverse.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(api.OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi version %q", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for m := range ops {
			switch m {
			case "get", "put", "post", "delete", "patch":
				documented[strings.ToUpper(m)+" "+path] = true
			}
		}
	}
	routed := map[string]bool{}
	for _, rt := range api.Routes() {
		routed[rt.Method+" "+rt.Path] = true
	}
	var missing, extra []string
	for k := range routed {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !routed[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("routes missing from openapi.json: %v", missing)
	}
	if len(extra) > 0 {
		t.Errorf("openapi.json documents routes that do not exist: %v", extra)
	}
}

func TestHealthReadyMetricsOpenAPI(t *testing.T) {
	var mu sync.Mutex
	dbErr := error(nil)
	a := mustAPI(t, func(d *api.Deps) {
		d.Readiness = []api.Checker{{Name: "database", Check: func(ctx context.Context) error { mu.Lock(); defer mu.Unlock(); return dbErr }}}
	})
	a.must(t, 200, "GET", "/healthz", "", nil)
	a.must(t, 200, "GET", "/readyz", "", nil)
	mu.Lock()
	dbErr = fmt.Errorf("connection refused")
	mu.Unlock()
	r := a.must(t, 503, "GET", "/readyz", "", nil)
	if !strings.Contains(string(r.Body), "connection refused") {
		t.Errorf("readyz body %s does not name the failing check", r.Body)
	}
	// Not ready is an answer, expected while the daemon starts: not an ERROR.
	for _, line := range strings.Split(a.Logs.String(), "\n") {
		if strings.Contains(line, `"route":"GET /readyz"`) && strings.Contains(line, `"level":"ERROR"`) {
			t.Errorf("readyz 503 logged at ERROR: %s", line)
		}
	}
	r = a.must(t, 200, "GET", "/openapi.json", "", nil)
	if string(r.Body) != string(api.OpenAPI) {
		t.Error("/openapi.json differs from the embedded document")
	}
	a.must(t, 401, "GET", "/v1/events", "", nil)
	r = a.must(t, 200, "GET", "/metrics", "", nil)
	for _, want := range []string{`dealcredit_http_requests_total{code="401",route="GET /v1/events"} 1`, `dealcredit_http_request_duration_seconds_bucket{route="GET /healthz"`} {
		if !strings.Contains(string(r.Body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	r = a.must(t, 404, "GET", "/nope", "", nil)
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("404 content type %q", ct)
	}
}

func TestAccessLogHasNoSecrets(t *testing.T) {
	a := mustAPI(t)
	a.must(t, 200, "GET", "/v1/events", tokAuditor, nil)
	a.must(t, 401, "GET", "/v1/events", "not-a-known-token-123", nil)
	logs := a.Logs.String()
	if !strings.Contains(logs, `"route":"GET /v1/events"`) || !strings.Contains(logs, `"status":200`) {
		t.Fatalf("no access log line for the request:\n%s", logs)
	}
	for _, secret := range []string{tokAuditor, "not-a-known-token-123", "Bearer"} {
		if strings.Contains(logs, secret) {
			t.Errorf("access log contains %q", secret)
		}
	}
}

// TestAuthentication covers the 401 cells apart from the matrix.
func TestAuthentication(t *testing.T) {
	a := mustAPI(t)
	for _, h := range []string{"", "Bearer", "Bearer ", "Basic dG9rOnRvaw==", "Bearer " + tokAdmin + "x"} {
		req, _ := http.NewRequest("GET", a.URL+"/v1/policy", nil)
		if h != "" {
			req.Header.Set("Authorization", h)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("Authorization %q: status %d, want 401", h, resp.StatusCode)
		}
		if resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("Authorization %q: no WWW-Authenticate", h)
		}
	}
}

// TestPolicyCarriesOverOmittedParameters: a new policy version that omits
// the per-geography overrides and the lead acceptance window keeps those of
// the policy in force; an explicit empty object clears the overrides.
func TestPolicyCarriesOverOmittedParameters(t *testing.T) {
	a := mustAPI(t)
	base := func(from string) map[string]any {
		return map[string]any{"effective_from": from, "rebate_bps": map[string]int{"gold": 500, "platinum": 900},
			"registration_days": 90, "claim_grace_days": 30}
	}
	latest := func() map[string]any {
		var p struct {
			Versions []map[string]any `json:"versions"`
		}
		if err := json.Unmarshal(a.must(t, 200, "GET", "/v1/policy", tokAdmin, nil).Body, &p); err != nil || len(p.Versions) == 0 {
			t.Fatalf("GET /v1/policy: %v %+v", err, p)
		}
		return p.Versions[len(p.Versions)-1]
	}
	first := base("2026-06-01")
	first["geographies"] = map[string]any{"emea": map[string]any{"rebate_bps": map[string]int{"gold": 600}}}
	first["lead_accept_hours"] = 72
	a.must(t, 200, "PUT", "/v1/policy", tokAdmin, first)
	a.must(t, 200, "PUT", "/v1/policy", tokAdmin, base("2026-07-01"))
	v := latest()
	if v["geographies"] == nil || v["lead_accept_hours"] != float64(72) {
		t.Fatalf("omitted parameters were not carried over: %v", v)
	}
	cleared := base("2026-08-01")
	cleared["geographies"] = map[string]any{}
	a.must(t, 200, "PUT", "/v1/policy", tokAdmin, cleared)
	if v := latest(); v["geographies"] != nil {
		t.Fatalf("an explicit empty geographies object must clear the overrides: %v", v)
	}
}

// TestLoadOrCreateTokensConcurrently: daemons starting at once all end up
// with the one file that won; none reads a half-written file.
func TestLoadOrCreateTokensConcurrently(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.json")
	type result struct {
		ts      api.Tokens
		created bool
		err     error
	}
	results := make(chan result, 8)
	for range 8 {
		go func() {
			ts, created, err := api.LoadOrCreateTokens(path)
			results <- result{ts, created, err}
		}()
	}
	var first api.Tokens
	creators := 0
	for range 8 {
		r := <-results
		if r.err != nil {
			t.Fatalf("LoadOrCreateTokens: %v", r.err)
		}
		if r.created {
			creators++
		}
		if first == nil {
			first = r.ts
		} else if fmt.Sprint(r.ts) != fmt.Sprint(first) {
			t.Fatal("two callers got different tokens")
		}
	}
	if creators != 1 {
		t.Fatalf("%d callers created the file, want 1", creators)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("directory holds %d files, want only tokens.json (temporary files removed)", len(entries))
	}
}
