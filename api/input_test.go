package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"dealcredit/api"
)

// TestBadInput: each malformed request gets the right 4xx as problem+json,
// with the offending field named in field and detail.
func TestBadInput(t *testing.T) {
	a := mustAPI(t)
	a.seed(t)
	valid := `{"partner_id":"var-a","customer":{"name":"Acme","country":"US"},"geography":"us-west","segments":["client_management"],"expected_value_minor":100,"currency":"USD"}`
	swap := func(old, new string) string {
		if !strings.Contains(valid, old) {
			t.Fatalf("fixture lacks %q", old)
		}
		return strings.Replace(valid, old, new, 1)
	}
	cases := []struct {
		name, method, path, body string
		status                   int
		field                    string
	}{
		{"malformed json", "POST", "/v1/deals", `{"partner_id":`, 400, "body"},
		{"not an object", "POST", "/v1/deals", `[1,2]`, 400, "body"},
		{"empty body", "POST", "/v1/deals", ``, 400, "body"},
		{"trailing data", "POST", "/v1/deals", valid + `{}`, 400, "body"},
		{"unknown field", "POST", "/v1/deals", swap(`"currency"`, `"colour":"red","currency"`), 400, "colour"},
		{"unknown nested field", "POST", "/v1/deals", swap(`"country":"US"`, `"country":"US","vip":true`), 400, "vip"},
		{"duplicate key", "POST", "/v1/deals", swap(`"currency":"USD"`, `"currency":"USD","currency":"EUR"`), 400, "currency"},
		{"duplicate nested key", "POST", "/v1/deals", swap(`"name":"Acme"`, `"name":"Acme","name":"Evil"`), 400, "customer.name"},
		{"wrong type string for int", "POST", "/v1/deals", swap(`100`, `"100"`), 400, "expected_value_minor"},
		{"float amount", "POST", "/v1/deals", swap(`100`, `100.5`), 400, "expected_value_minor"},
		{"negative amount", "POST", "/v1/deals", swap(`100`, `-100`), 400, "expected_value_minor"},
		{"zero amount", "POST", "/v1/deals", swap(`100`, `0`), 400, "expected_value_minor"},
		{"huge amount", "POST", "/v1/deals", swap(`100`, `1e30`), 400, "expected_value_minor"},
		{"missing amount", "POST", "/v1/deals", swap(`"expected_value_minor":100,`, ``), 400, "expected_value_minor"},
		{"wrong type array", "POST", "/v1/deals", swap(`["client_management"]`, `"client_management"`), 400, "segments"},
		{"unknown segment", "POST", "/v1/deals", swap(`client_management`, `crypto_mining`), 400, "segments[0]"},
		{"bad currency", "POST", "/v1/deals", swap(`"USD"`, `"XXQ"`), 400, "currency"},
		{"bad country", "POST", "/v1/deals", swap(`"US"`, `"USA"`), 400, "customer.country"},
		{"null body", "POST", "/v1/deals", `null`, 400, "body"},
		{"too large body", "POST", "/v1/deals", swap(`"Acme"`, `"`+strings.Repeat("A", api.MaxBodyBytes)+`"`), 413, "body"},
		{"unknown kind", "POST", "/v1/partners", `{"id":"x1","name":"X","kind":"reseller","geography":"emea"}`, 400, "kind"},
		{"bad partner id", "POST", "/v1/partners", `{"id":"Not Valid!","name":"X","kind":"var","geography":"emea"}`, 400, "id"},
		{"unknown step", "POST", "/v1/deals/DEAL/engagements", `{"step":"golf","occurred_on":"2026-05-01"}`, 400, "step"},
		{"bad date", "POST", "/v1/deals/DEAL/engagements", `{"step":"deployment","occurred_on":"01/05/2026"}`, 400, "occurred_on"},
		{"future date", "POST", "/v1/deals/DEAL/engagements", `{"step":"deployment","occurred_on":"2027-01-01"}`, 400, "occurred_on"},
		{"reject without reason", "POST", "/v1/deals/DEAL/reject", `{}`, 400, "reason"},
		{"negative seats", "PUT", "/v1/geographies/emea/seats", `{"platinum":-1,"gold":2}`, 400, "platinum"},
		{"float seats", "PUT", "/v1/geographies/emea/seats", `{"platinum":1.5,"gold":2}`, 400, "platinum"},
		{"unknown tier", "POST", "/v1/partners/var-a/tier", `{"tier":"diamond","reason":"x"}`, 400, "tier"},
		{"commitment negative target", "POST", "/v1/partners/var-a/commitments", `{"segments":["client_management"],"quarterly_target_minor":-5,"currency":"USD"}`, 400, "quarterly_target_minor"},
		{"policy unknown tier", "PUT", "/v1/policy", `{"effective_from":"2026-06-01","rebate_bps":{"gold":500,"diamond":1},"registration_days":90,"claim_grace_days":30}`, 400, "rebate_bps.diamond"},
		{"policy null rebate", "PUT", "/v1/policy", `{"effective_from":"2026-06-01","rebate_bps":{"gold":null,"platinum":800},"registration_days":90,"claim_grace_days":30}`, 400, "rebate_bps.gold"},
		{"policy backdated", "PUT", "/v1/policy", `{"effective_from":"2026-01-01","rebate_bps":{"gold":500},"registration_days":90,"claim_grace_days":30}`, 422, "effective_from"},
		{"bad quarter", "POST", "/v1/quarters/2026Q5/close", ``, 400, "quarter"},
		{"open quarter", "POST", "/v1/quarters/2026Q2/close", ``, 422, "quarter"},
		{"events limit too big", "GET", "/v1/events?limit=100000", ``, 400, "limit"},
		{"events after not a number", "GET", "/v1/events?after=abc", ``, 400, "after"},
		{"unknown deal", "POST", "/v1/deals/no-such-deal/approve", ``, 404, "id"},
		// Issue 11: text that no projection can store, and absurd values, are refused naming the field.
		{"NUL in notes", "POST", "/v1/deals/DEAL/engagements", `{"step":"deployment","occurred_on":"2026-05-01","notes":"a\u0000b"}`, 400, "notes"},
		{"tab in reject reason", "POST", "/v1/deals/DEAL/reject", `{"reason":"a\tb"}`, 400, "reason"},
		{"C1 in override reason", "POST", "/v1/deals/DEAL/override", `{"reason":"a\u0085b"}`, 400, "reason"},
		{"NUL in tier reason", "POST", "/v1/partners/var-a/tier", `{"tier":"platinum","reason":"a\u0000"}`, 400, "reason"},
		{"DEL in engineer", "POST", "/v1/partners/var-a/certifications", `{"engineer":"a\u007f","segment":"client_management","certified_on":"2026-01-02"}`, 400, "engineer"},
		{"engagement in 1999", "POST", "/v1/deals/DEAL/engagements", `{"step":"deployment","occurred_on":"1999-12-31"}`, 400, "occurred_on"},
		{"seats above bound", "PUT", "/v1/geographies/emea/seats", `{"platinum":100001,"gold":2}`, 400, "platinum"},
		{"target above bound", "POST", "/v1/partners/var-a/commitments", `{"segments":["client_management"],"quarterly_target_minor":1000000000000001,"currency":"USD"}`, 400, "quarterly_target_minor"},
		{"review of a quarter before 2000", "POST", "/v1/reviews/1999Q4", ``, 400, "quarter"},
		{"review of the year 0001", "POST", "/v1/reviews/0001Q1", ``, 400, "quarter"},
		// Commands without a body refuse one with fields instead of ignoring it.
		{"close with a body field", "POST", "/v1/quarters/2026Q1/close", `{"force":true}`, 400, "force"},
		{"close with a malformed body", "POST", "/v1/quarters/2026Q1/close", `{"force"`, 400, "body"},
		{"review with a body field", "POST", "/v1/reviews/2026Q1", `{"quarter":"2026Q2"}`, 400, "quarter"},
		{"review apply with a body field", "POST", "/v1/reviews/2026Q1/apply", `{"only":"var-a"}`, 400, "only"},
		{"proposal apply with a body field", "POST", "/v1/reviews/2026Q1/proposals/var-a/apply", `{"tier":"platinum"}`, 400, "tier"},
		{"statement approve with a body field", "POST", "/v1/partners/var-a/statements/2026Q1/approve", `{"amount_minor":1}`, 400, "amount_minor"},
		{"quarter year 0026", "POST", "/v1/quarters/0026Q1/close", ``, 400, "quarter"},
		{"lone surrogate in name", "POST", "/v1/deals", swap(`"Acme"`, `"Ac\ud800me"`), 400, "customer.name"},
		{"name of spaces", "POST", "/v1/deals", swap(`"Acme"`, `"   "`), 400, "customer.name"},
		{"NUL in partner_id", "POST", "/v1/deals", swap(`"var-a"`, `"var\u0000a"`), 400, "partner_id"},
		{"NUL in country", "POST", "/v1/deals", swap(`"US"`, `"U\u0000"`), 400, "customer.country"},
		{"NUL in enroll id", "POST", "/v1/partners", `{"id":"x\u0000","name":"X","kind":"var","geography":"emea"}`, 400, "id"},
		{"NUL in enroll geography", "POST", "/v1/partners", `{"id":"x1","name":"X","kind":"var","geography":"em\u0000ea"}`, 400, "geography"},
		{"NUL in lead geography", "POST", "/v1/leads", `{"geography":"us\u0000","source":"campaign","source_name":"S","customer":{"name":"C","country":"US"}}`, 400, "geography"},
		{"NUL in handoff partner", "POST", "/v1/deals/DEAL/service-handoff", `{"oem_id":"hp","to_partner_id":"var\u0000b"}`, 400, "to_partner_id"},
		{"NUL in handoff oem", "POST", "/v1/deals/DEAL/service-handoff", `{"oem_id":"h\u0000p","to_partner_id":"var-b"}`, 400, "oem_id"},
		// A date that is not one names its field (it used to be "body", "malformed JSON").
		{"enroll joined_on not a date", "POST", "/v1/partners", `{"id":"x2","name":"X","kind":"var","geography":"emea","joined_on":"01/03/2019"}`, 400, "joined_on"},
		{"enroll joined_on Feb 30", "POST", "/v1/partners", `{"id":"x2","name":"X","kind":"var","geography":"emea","joined_on":"2026-02-30"}`, 400, "joined_on"},
		{"enroll joined_on NUL", "POST", "/v1/partners", `{"id":"x2","name":"X","kind":"var","geography":"emea","joined_on":"2019\u0000"}`, 400, "joined_on"},
		{"enroll tier_history from timestamp", "POST", "/v1/partners", `{"id":"x2","name":"X","kind":"var","geography":"emea","joined_on":"2019-03-01",
			"tier_history":[{"tier":"registered","from":"2019-03-01"},{"tier":"gold","from":"2024-01-01T00:00:00Z"}]}`, 400, "tier_history[1].from"},
		{"grandfather joined_on not a date", "POST", "/v1/partners:grandfather", `{"partners":[{"id":"x3","name":"X","kind":"var","geography":"emea"},
			{"id":"x4","name":"X","kind":"var","geography":"emea","joined_on":"2019-13-01"}]}`, 400, "partners[1].joined_on"},
		{"grandfather tier_history from", "POST", "/v1/partners:grandfather", `{"partners":[{"id":"x3","name":"X","kind":"var","geography":"emea",
			"tier_history":[{"tier":"gold","from":"2023-02-29"}]}]}`, 400, "partners[0].tier_history[0].from"},
	}
	deal := a.registerDeal(t, "var-a", "Bad Input Corp")
	tokens := map[string]string{"/v1/partners": tokAdmin, "/v1/geographies/emea/seats": tokAdmin, "/v1/policy": tokAdmin, "/v1/events": tokAuditor}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := strings.Replace(c.path, "DEAL", deal, 1)
			tok := tokCM
			if strings.HasPrefix(path, "/v1/quarters") || strings.HasSuffix(path, "/statements/2026Q1/approve") {
				tok = tokFinance
			}
			for prefix, tk := range tokens {
				if strings.HasPrefix(path, prefix) && !strings.HasPrefix(path, "/v1/partners/") {
					tok = tk
				}
			}
			var body any
			if c.body != "" {
				body = c.body
			}
			r := a.do(t, c.method, path, tok, body)
			if r.Status != c.status {
				t.Fatalf("status %d, want %d: %s", r.Status, c.status, r.Body)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("content type %q", ct)
			}
			var p api.Problem
			if err := json.Unmarshal(r.Body, &p); err != nil {
				t.Fatalf("problem body %s: %v", r.Body, err)
			}
			if p.Status != c.status || p.Title == "" || p.Type == "" {
				t.Errorf("problem %+v", p)
			}
			if p.Field != c.field || !strings.Contains(p.Detail, c.field) {
				t.Errorf("field %q detail %q, want field %q named in the detail", p.Field, p.Detail, c.field)
			}
		})
	}
	for _, ct := range []string{"text/plain", "application/json; charset=latin1", "application/json; charset=utf-16", "application/json; charset"} {
		t.Run("content type "+ct, func(t *testing.T) {
			r := a.do(t, "POST", "/v1/deals", tokCM, valid, "Content-Type", ct)
			if r.Status != 415 || !strings.Contains(string(r.Body), "Content-Type") {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
		})
	}
	t.Run("content type with charset utf-8", func(t *testing.T) {
		r := a.do(t, "POST", "/v1/deals", tokCM, valid, "Content-Type", `application/json; charset="UTF-8"`)
		if r.Status != 201 {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
	})
}

// TestRegisteredPartnerRefused: a Registered partner may not register deals;
// the refusal names the rule.
func TestRegisteredPartnerRefused(t *testing.T) {
	a := mustAPI(t)
	a.seed(t)
	for _, tok := range []string{tokVarReg, tokCM} {
		r := a.do(t, "POST", "/v1/deals", tok, dealBody("var-reg", "Acme"))
		if r.Status != 422 {
			t.Fatalf("status %d, want 422: %s", r.Status, r.Body)
		}
		var p api.Problem
		if err := json.Unmarshal(r.Body, &p); err != nil {
			t.Fatal(err)
		}
		if p.Rule != "registration.tier" || !strings.Contains(p.Detail, "registration.tier") || !strings.Contains(p.Detail, "gold or platinum") {
			t.Errorf("problem %+v does not name the rule registration.tier", p)
		}
	}
}

func TestWrongMethodIs405WithAllow(t *testing.T) {
	a := mustAPI(t)
	r := a.do(t, "DELETE", "/v1/deals", tokCM, nil)
	if r.Status != 405 || r.Header.Get("Allow") != "GET, POST" {
		t.Fatalf("DELETE /v1/deals = %d Allow %q, want 405 with Allow: GET, POST (%s)", r.Status, r.Header.Get("Allow"), r.Body)
	}
	if r := a.do(t, "GET", "/v1/nope", tokCM, nil); r.Status != 404 {
		t.Fatalf("GET /v1/nope = %d, want 404", r.Status)
	}
}

func TestInvalidUTF8PathIsAClientError(t *testing.T) {
	a := mustAPI(t)
	a.seed(t)
	for _, path := range []string{"/v1/partners/%ff", "/v1/deals/%ff", "/v1/deals/%ff/approve"} {
		method := "GET"
		if strings.HasSuffix(path, "/approve") {
			method = "POST"
		}
		r := a.do(t, method, path, tokCM, nil)
		if r.Status != 400 || !strings.Contains(string(r.Body), "UTF-8") {
			t.Errorf("%s %s = %d %s, want 400 naming UTF-8", method, path, r.Status, r.Body)
		}
	}
}

// TestConcurrentConflictingRegistrations: 50 gold partners register the same
// customer opportunity at once and a channel manager approves all 50 at
// once: exactly one approval wins, the other 49 are 409 naming the rule.
func TestConcurrentConflictingRegistrations(t *testing.T) {
	const n = 50
	a := mustAPI(t)
	var partners []map[string]any
	for i := range n {
		partners = append(partners, map[string]any{"id": fmt.Sprintf("var-%02d", i), "name": "V", "kind": "var", "geography": "us-west"})
	}
	a.must(t, 201, "POST", "/v1/partners:grandfather", tokAdmin, map[string]any{"partners": partners})

	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan string, 2*n)
	for i := range n {
		wg.Go(func() {
			// Spelling variants of one customer: the normalised key is the same.
			name := []string{"Acme Corp", "ACME Corp.", "acme corp"}[i%3]
			r := a.do(t, "POST", "/v1/deals", tokCM, dealBody(fmt.Sprintf("var-%02d", i), name))
			if r.Status != 201 {
				errs <- fmt.Sprintf("register %d: %d %s", i, r.Status, r.Body)
				return
			}
			ids[i], _ = r.json(t)["deal_id"].(string)
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}

	statuses := make([]int, n)
	bodies := make([][]byte, n)
	for i := range n {
		wg.Go(func() {
			r := a.do(t, "POST", "/v1/deals/"+ids[i]+"/approve", tokCM, nil)
			statuses[i], bodies[i] = r.Status, r.Body
		})
	}
	wg.Wait()
	won := 0
	for i, st := range statuses {
		switch st {
		case 200:
			won++
		case 409:
			if !bytes.Contains(bodies[i], []byte("conflict.first_approved_wins")) {
				t.Errorf("approval %d: 409 without the rule: %s", i, bodies[i])
			}
		default:
			t.Errorf("approval %d: status %d: %s", i, st, bodies[i])
		}
	}
	if won != 1 {
		t.Fatalf("%d approvals won, want exactly 1", won)
	}
}

// TestIdempotencyKeyReplay: a retry with the same key returns the first
// answer byte for byte and appends nothing; the same key with another body
// is refused.
func TestIdempotencyKeyReplay(t *testing.T) {
	a := mustAPI(t)
	a.seed(t)
	body := dealBody("", "Idem Corp")
	first := a.do(t, "POST", "/v1/deals", tokVarA, body, "Idempotency-Key", "k-1")
	if first.Status != 201 {
		t.Fatalf("first: %d %s", first.Status, first.Body)
	}
	headBefore := a.must(t, 200, "GET", "/v1/events?limit=1", tokAuditor, nil).json(t)["head"]
	for range 3 {
		again := a.do(t, "POST", "/v1/deals", tokVarA, body, "Idempotency-Key", "k-1")
		if again.Status != first.Status || !bytes.Equal(again.Body, first.Body) {
			t.Fatalf("replay: %d %s, want %d %s", again.Status, again.Body, first.Status, first.Body)
		}
		if again.Header.Get(api.PositionHeader) != first.Header.Get(api.PositionHeader) {
			t.Errorf("replayed position %q, first %q", again.Header.Get(api.PositionHeader), first.Header.Get(api.PositionHeader))
		}
	}
	if head := a.must(t, 200, "GET", "/v1/events?limit=1", tokAuditor, nil).json(t)["head"]; head != headBefore {
		t.Errorf("replays appended events: head %v -> %v", headBefore, head)
	}
	// The key is scoped to the caller: another partner's same key is a new request.
	other := a.do(t, "POST", "/v1/deals", tokVarB, body, "Idempotency-Key", "k-1")
	if other.Status != 201 || bytes.Equal(other.Body, first.Body) {
		t.Errorf("another caller's key: %d %s", other.Status, other.Body)
	}
	changed := dealBody("", "Other Corp")
	r := a.do(t, "POST", "/v1/deals", tokVarA, changed, "Idempotency-Key", "k-1")
	if r.Status != 422 || !bytes.Contains(r.Body, []byte("Idempotency-Key")) {
		t.Errorf("reused key with another body: %d %s", r.Status, r.Body)
	}
	// A client error is remembered too: the retry gets the same 4xx.
	bad := a.do(t, "POST", "/v1/deals", tokVarReg, dealBody("", "Reg Corp"), "Idempotency-Key", "k-2")
	bad2 := a.do(t, "POST", "/v1/deals", tokVarReg, dealBody("", "Reg Corp"), "Idempotency-Key", "k-2")
	if bad.Status != 422 || bad2.Status != 422 || !bytes.Equal(bad.Body, bad2.Body) {
		t.Errorf("replayed refusal: %d %s / %d %s", bad.Status, bad.Body, bad2.Status, bad2.Body)
	}
}

// TestIdempotencyKeyMustBeText: a key that Postgres cannot store as text
// (invalid UTF-8) or that holds a control character is 400 naming the
// header, never a 500, and appends nothing; a UTF-8 key works.
func TestIdempotencyKeyMustBeText(t *testing.T) {
	a := mustAPI(t)
	a.seed(t)
	tests := []struct {
		name, key string
		status    int
	}{
		{"latin-1 byte", "k\xe9y", 400},
		{"lone continuation byte", "\x80", 400},
		{"tab", "k\ty", 400},
		{"UTF-8", "clé-1", 201},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			head := a.must(t, 200, "GET", "/v1/events?limit=1", tokAuditor, nil).json(t)["head"]
			r := a.do(t, "POST", "/v1/deals", tokVarA, dealBody("", fmt.Sprintf("Key Corp %d", i)), "Idempotency-Key", tc.key)
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r.Body)
			}
			if tc.status != 400 {
				return
			}
			var p api.Problem
			if err := json.Unmarshal(r.Body, &p); err != nil || p.Field != "Idempotency-Key" || !strings.Contains(p.Detail, "Idempotency-Key") {
				t.Errorf("problem %s (%v), want field Idempotency-Key named in the detail", r.Body, err)
			}
			if after := a.must(t, 200, "GET", "/v1/events?limit=1", tokAuditor, nil).json(t)["head"]; after != head {
				t.Errorf("a refused key appended events: head %v -> %v", head, after)
			}
		})
	}
}
