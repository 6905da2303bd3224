package api_test

import (
	"context"
	"testing"

	"dealcredit/api"
	"dealcredit/projections/attribution"
	"dealcredit/projections/runner"
)

// regQueries answers the registrations from the real read model (built by the test).
type regQueries struct {
	logQueries
	reader *attribution.Reader
}

func (q *regQueries) Registrations(ctx context.Context, f attribution.RegistrationFilter) ([]attribution.Registration, runner.ReadState, error) {
	return q.reader.Registrations(ctx, f)
}

// TestOutsideCommitmentFlagged: docs/rules.md rule 8a (issue 15 item 6): a Gold partner
// committed to one segment registering a deal in another segment is allowed, and the
// registration is flagged naming the rule and the segments: on the deal, in the
// registrations read model, in the channel manager's list and in the partner's own list,
// beside the customer size band. A registration within the commitment carries no flag.
func TestOutsideCommitmentFlagged(t *testing.T) {
	var deps api.Deps
	a := mustAPI(t, func(d *api.Deps) {
		d.Queries = &regQueries{logQueries{store: d.Store}, attribution.NewReader(d.Pool)}
		deps = *d
	})
	a.seed(t) // var-a: grandfathered gold, no commitment yet
	a.must(t, 201, "POST", "/v1/partners/var-a/commitments", tokVarA, map[string]any{
		"segments": []string{"client_management"}, "quarterly_target_minor": 6_000_000, "currency": "USD"})
	outside := dealBody("var-a", "Initech")
	outside["segments"], outside["size_band"] = []string{"server_management", "client_management"}, "enterprise"
	flagged := a.must(t, 201, "POST", "/v1/deals", tokVarA, outside).json(t)["deal_id"].(string)
	within := a.must(t, 201, "POST", "/v1/deals", tokVarA, dealBody("var-a", "Globex")).json(t)["deal_id"].(string)

	d := a.must(t, 200, "GET", "/v1/deals/"+flagged, tokVarA, nil).json(t)
	flag, _ := d["outside_commitment"].(map[string]any)
	if flag["rule"] != "registration.outside_commitment" || len(flag["segments"].([]any)) != 1 || flag["segments"].([]any)[0] != "server_management" {
		t.Fatalf("deal %s: outside_commitment %v, want the rule and server_management", flagged, d["outside_commitment"])
	}
	if d := a.must(t, 200, "GET", "/v1/deals/"+within, tokCM, nil).json(t); d["outside_commitment"] != nil {
		t.Fatalf("a registration within the commitment is flagged: %v", d["outside_commitment"])
	}

	if err := runner.Rebuild(context.Background(), deps.Pool, deps.Store, attribution.New(), 1000, nil); err != nil {
		t.Fatal(err)
	}
	for _, who := range []struct{ name, token, query string }{
		{"channel manager", tokCM, ""}, {"partner", tokVarA, "?partner_id=var-a"},
	} {
		got := a.must(t, 200, "GET", "/v1/deals"+who.query, who.token, nil).json(t)
		rows := map[string]map[string]any{}
		for _, r := range got["data"].([]any) {
			m := r.(map[string]any)
			rows[m["deal_id"].(string)] = m
		}
		f, _ := rows[flagged]["outside_commitment"].(map[string]any)
		if f["rule"] != "registration.outside_commitment" || rows[flagged]["size_band"] != "enterprise" {
			t.Errorf("%s's list: flagged row %v", who.name, rows[flagged])
		}
		if rows[within] == nil || rows[within]["outside_commitment"] != nil || rows[within]["size_band"] != "" {
			t.Errorf("%s's list: row within the commitment %v", who.name, rows[within])
		}
	}
}
