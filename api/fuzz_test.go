package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"dealcredit/domain"
)

// FuzzRegisterDeal sends arbitrary bodies to POST /v1/deals (the HTTP
// command decoder, then the decider, then the append, against Postgres).
// Whatever is accepted must be projectable: the stored event has no NUL,
// decodes, passes the shared input checks again and folds into the
// attribution program. The seeds run as a unit test; `go test -fuzz
// FuzzRegisterDeal ./api/` explores.
func FuzzRegisterDeal(f *testing.F) {
	for _, seed := range []string{
		`{"customer":{"name":"Acme","country":"US","domain":"acme.example"},"geography":"us-west","segments":["client_management"],"expected_value_minor":100,"currency":"USD"}`,
		`{"customer":{"name":"Nul\u0000Corp","country":"US"},"geography":"us-west","segments":["client_management"],"expected_value_minor":100,"currency":"USD"}`,
		`{"customer":{"name":"Acme \ud800","country":"ZZ"},"geography":"us-west","segments":["asset_management"],"expected_value_minor":9223372036854775807,"currency":"USD"}`,
		"{\"customer\":{\"name\":\"Acme \xff\",\"country\":\"us\"},\"geography\":\"us-west\",\"segments\":[\"server_management\"],\"expected_value_minor\":1,\"currency\":\"JPY\",\"oem_id\":\"hp\"}",
	} {
		f.Add([]byte(seed))
	}
	a := mustAPI(f)
	a.seed(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		r := a.do(t, "POST", "/v1/deals", tokVarA, body)
		if r.Status >= 500 {
			t.Fatalf("status %d for %q: %s", r.Status, body, r.Body)
		}
		if r.Status != 201 {
			return
		}
		pos := r.json(t)["position"].(float64)
		page := a.must(t, 200, "GET", fmt.Sprintf("/v1/events?after=%d&limit=10", int64(pos)-2), tokAuditor, nil)
		var out struct {
			Events []struct {
				Position int64           `json:"position"`
				Type     string          `json:"type"`
				Version  int             `json:"schema_version"`
				Stream   string          `json:"stream_id"`
				Data     json.RawMessage `json:"data"`
			} `json:"events"`
		}
		if err := json.Unmarshal(page.Body, &out); err != nil {
			t.Fatal(err)
		}
		p := domain.NewProgram()
		for _, e := range out.Events {
			if bytes.Contains(e.Data, []byte(`\u0000`)) {
				t.Fatalf("accepted %s with a NUL: %s", e.Type, e.Data)
			}
			ev, err := domain.Decode(e.Type, e.Version, e.Data)
			if err != nil {
				t.Fatalf("decode %s: %v", e.Type, err)
			}
			if reg, ok := ev.(domain.DealRegistered); ok {
				if err := domain.CheckCustomer("customer", reg.Customer); err != nil {
					t.Fatalf("stored customer fails the input check: %v", err)
				}
				if err := domain.CheckAmount("expected_value_minor", reg.ExpectedValue.Amount, 1); err != nil {
					t.Fatal(err)
				}
				if _, err := p.Apply(domain.Envelope{Position: e.Position, EventID: fmt.Sprint(e.Position), StreamID: e.Stream, Type: e.Type, Event: ev}); err != nil {
					t.Fatalf("fold: %v", err)
				}
			}
		}
	})
}
