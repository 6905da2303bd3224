package api_test

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"testing"

	"dealcredit/api"
	"dealcredit/projections/attribution"
	"dealcredit/projections/runner"
)

// GET /v1/deals pages by deal id when asked (limit, after = the previous
// page's next_after), from the real read model: the pages put together are
// the whole list, the last page has no next_after, and without limit the
// whole list comes in one answer as before. Each answer reports the read
// model's position and head. A bad limit is 400 naming it.
func TestDealPages(t *testing.T) {
	var deps api.Deps
	a := mustAPI(t, func(d *api.Deps) {
		d.Queries = &regQueries{logQueries{store: d.Store}, attribution.NewReader(d.Pool)}
		deps = *d
	})
	a.seed(t)
	for i := range 5 {
		a.must(t, 201, "POST", "/v1/deals", tokVarA, dealBody("var-a", fmt.Sprintf("Paged Corp %d", i)))
	}
	head, err := deps.Store.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := runner.Rebuild(context.Background(), deps.Pool, deps.Store, attribution.New(), 1000, nil); err != nil {
		t.Fatal(err)
	}
	ids := func(body map[string]any) []string {
		var out []string
		for _, r := range body["data"].([]any) {
			out = append(out, r.(map[string]any)["deal_id"].(string))
		}
		return out
	}
	whole := a.must(t, 200, "GET", "/v1/deals", tokVarA, nil).json(t)
	all := ids(whole)
	if len(all) < 5 || !slices.IsSorted(all) || whole["next_after"] != nil || whole["position"] != float64(head) || whole["head"] != float64(head) {
		t.Fatalf("whole list: %d deals, next_after %v, position %v head %v (want %d)", len(all), whole["next_after"], whole["position"], whole["head"], head)
	}
	for _, limit := range []int{1, 2, len(all)} {
		var got []string
		after := ""
		for page := 0; page <= len(all); page++ {
			path := "/v1/deals?limit=" + strconv.Itoa(limit)
			if after != "" {
				path += "&after=" + url.QueryEscape(after)
			}
			r := a.must(t, 200, "GET", path, tokVarA, nil)
			if r.Header.Get(api.PositionHeader) != strconv.FormatInt(head, 10) || r.Header.Get(api.LogHeadHeader) != strconv.FormatInt(head, 10) {
				t.Errorf("%s: position %q, head %q, want %d", path, r.Header.Get(api.PositionHeader), r.Header.Get(api.LogHeadHeader), head)
			}
			body := r.json(t)
			rows := ids(body)
			if len(rows) > limit {
				t.Fatalf("%s: %d rows", path, len(rows))
			}
			got = append(got, rows...)
			next, _ := body["next_after"].(string)
			if next == "" {
				break
			}
			if next != rows[len(rows)-1] {
				t.Fatalf("%s: next_after %q is not the page's last deal %q", path, next, rows[len(rows)-1])
			}
			after = next
		}
		if !slices.Equal(got, all) {
			t.Errorf("limit %d: pages %v, want %v", limit, got, all)
		}
	}
	for _, bad := range []string{"0", "1001", "x"} {
		if p := a.must(t, 400, "GET", "/v1/deals?limit="+bad, tokVarA, nil).json(t); p["field"] != "limit" {
			t.Errorf("limit=%s: %v", bad, p)
		}
	}
}
