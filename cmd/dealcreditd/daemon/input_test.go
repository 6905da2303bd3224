package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"dealcredit/internal/testkit/daemontest"
	"dealcredit/internal/testkit/openapicheck"
)

// TestNothingUnprojectableIsAppended is issue 11's finding 1 and the input
// parts of finding 7, end to end through the real daemon (HTTP API, OEM feed
// on the embedded JetStream, Postgres, projections): each input that used to
// be appended and then stop a projection for good (or was stored as an
// absurd value) is now refused with a 400 or a dead letter naming the field,
// nothing but the rejection fact is appended, and the projections keep
// advancing (a read with min_position after the bad inputs answers 200, and
// /readyz stays 200).
func TestNothingUnprojectableIsAppended(t *testing.T) {
	dir := t.TempDir()
	toks := []daemontest.Token{
		{Token: "e2e-admin-0123456789", Role: "admin"},
		{Token: "e2e-cm-0123456789abc", Role: "channel_manager"},
		{Token: "e2e-finance-01234567", Role: "finance"},
		{Token: "e2e-auditor-01234567", Role: "auditor"},
		{Token: "e2e-var-a-0123456789", Role: "partner", PartnerID: "var-a"},
		{Token: "e2e-var-b-0123456789", Role: "partner", PartnerID: "var-b"},
	}
	b, _ := json.Marshal(toks)
	if err := os.WriteFile(filepath.Join(dir, "tokens.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	d := daemontest.Start(t, map[string]string{"DEALCREDIT_DATA_DIR": dir})
	c := &client{t: t, url: d.URL}
	const (
		admin, cm, finance, auditor = "e2e-admin-0123456789", "e2e-cm-0123456789abc", "e2e-finance-01234567", "e2e-auditor-01234567"
		varA, varB                  = "e2e-var-a-0123456789", "e2e-var-b-0123456789"
	)
	c.must(201, "POST", "/v1/partners:grandfather", admin, `{"partners":[
		{"id":"var-a","name":"VAR A","kind":"var","geography":"us-west"},
		{"id":"var-b","name":"VAR B","kind":"var","geography":"us-west"}]}`)
	c.must(201, "POST", "/v1/partners", admin, `{"id":"hp","name":"HP","kind":"oem","geography":"us-west"}`)
	today := time.Now().UTC().Format(time.DateOnly)
	quarter := fmt.Sprintf("%dQ%d", time.Now().UTC().Year(), (int(time.Now().UTC().Month())-1)/3+1)

	// A lead offered to var-a (gold, first by id), so var-a can try to reject it.
	lead := c.must(201, "POST", "/v1/leads", cm, `{"geography":"us-west","source":"campaign","source_name":"Spring",
		"customer":{"name":"Lead Corp","country":"US"}}`).json()["id"].(string)
	deal := `{"customer":{"name":"Acme Corp","country":"US","domain":"acme.example"},"geography":"us-west",
		"segments":["client_management"],"expected_value_minor":450000,"currency":"USD"}`
	swap := func(old, new string) string {
		if !strings.Contains(deal, old) {
			t.Fatalf("fixture lacks %q", old)
		}
		return strings.Replace(deal, old, new, 1)
	}
	head := c.head(auditor)
	bad := []struct {
		name, method, path, token, body, field string
		header                                 []string
	}{
		// Finding 1: each of these was appended and stopped the attribution projection.
		{"NUL in customer.name", "POST", "/v1/deals", varA, swap(`"Acme Corp"`, `"Nul\u0000Corp"`), "customer.name", nil},
		{"NUL in customer.domain", "POST", "/v1/deals", varA, swap(`"acme.example"`, `"acme\u0000.example"`), "customer.domain", nil},
		{"NUL in oem_id", "POST", "/v1/deals", varA, swap(`"currency":"USD"`, `"currency":"USD","oem_id":"h\u0000p"`), "oem_id", nil},
		{"NUL in lead reject reason", "POST", "/v1/leads/" + lead + "/reject", varA, `{"reason":"no\u0000thanks"}`, "reason", nil},
		{"NUL in lead customer name", "POST", "/v1/leads", cm, `{"geography":"us-west","source":"campaign","source_name":"S","customer":{"name":"Nul\u0000Corp","country":"US"}}`, "customer.name", nil},
		{"int4 seats", "PUT", "/v1/geographies/us-west/seats", admin, `{"platinum":2147483648,"gold":2}`, "platinum", nil},
		// Finding 7: absurd values that were stored for ever.
		{"max int64 expected value", "POST", "/v1/deals", varA, swap(`450000`, `9223372036854775807`), "expected_value_minor", nil},
		{"certified_on year 0", "POST", "/v1/partners/var-a/certifications", varA, `{"engineer":"Ann","segment":"client_management","certified_on":"0000-01-01"}`, "certified_on", nil},
		{"quarter +026Q1", "POST", "/v1/quarters/+026Q1/close", finance, ``, "quarter", nil},
		{"country ZZ", "POST", "/v1/deals", varA, swap(`"US"`, `"ZZ"`), "customer.country", nil},
		{"10,000-character name", "POST", "/v1/partners", admin, `{"id":"longname","name":"` + strings.Repeat("N", 10000) + `","kind":"var","geography":"us-west"}`, "name", nil},
		{"lead_accept_hours 3000000", "PUT", "/v1/policy", admin, `{"effective_from":"` + today + `","rebate_bps":{"gold":500,"platinum":800},"registration_days":90,"claim_grace_days":30,"lead_accept_hours":3000000}`, "lead_accept_hours", nil},
		{"invalid UTF-8 in a name", "POST", "/v1/deals", varA, swap(`"Acme Corp"`, "\"Acme \xff Corp\""), "customer.name", nil},
		{"30 KB X-Request-Id", "POST", "/v1/deals", varA, deal, "X-Request-Id", []string{"X-Request-Id", strings.Repeat("r", 30<<10)}},
		{"non-ASCII X-Request-Id", "POST", "/v1/deals", varA, deal, "X-Request-Id", []string{"X-Request-Id", "caf\u00e9 id"}},
		{"NUL in a path value", "GET", "/v1/deals/a%00b", varA, ``, "id", nil},
		{"NUL in a query value", "GET", "/v1/deals?status=a%00b", varA, ``, "status", nil},
		{"NUL in a statement quarter", "GET", "/v1/partners/var-a/statements/2026Q1%00", varA, ``, "quarter", nil},
		// Found by the API audit: each was appended (or a 500) before.
		{"review of 1999Q4", "POST", "/v1/reviews/1999Q4", cm, ``, "quarter", nil},
		{"Latin-1 Idempotency-Key", "POST", "/v1/deals", varA, deal, "Idempotency-Key", []string{"Idempotency-Key", "caf\xe9"}},
		{"joined_on 2026-02-30", "POST", "/v1/partners", admin, `{"id":"feb30","name":"F","kind":"var","geography":"us-west","joined_on":"2026-02-30"}`, "joined_on", nil},
		{"null gold rebate", "PUT", "/v1/policy", admin, `{"effective_from":"` + today + `","rebate_bps":{"gold":null,"platinum":800},"registration_days":90,"claim_grace_days":30}`, "rebate_bps.gold", nil},
		{"close with a body field", "POST", "/v1/quarters/2025Q4/close", finance, `{"force":true}`, "force", nil},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			c := &client{t: t, url: d.URL}
			r := c.do(tc.method, tc.path, tc.token, tc.body, tc.header...)
			if r.status != 400 {
				t.Fatalf("status %d, want 400: %s", r.status, r.body)
			}
			var p struct{ Field, Detail string }
			if err := json.Unmarshal(r.body, &p); err != nil || p.Field != tc.field || !strings.Contains(p.Detail, tc.field) {
				t.Fatalf("problem %s does not name %s", r.body, tc.field)
			}
		})
	}
	if h := c.head(auditor); h != head {
		t.Fatalf("the refused requests appended events: head %d -> %d", head, h)
	}

	// A conflict tells the partner that another partner holds the customer,
	// never which one nor its deal; the channel manager still sees them.
	first := c.must(201, "POST", "/v1/deals", varA, deal).json()["deal_id"].(string)
	c.must(200, "POST", "/v1/deals/"+first+"/approve", cm, ``)
	second := c.must(201, "POST", "/v1/deals", varB, deal)
	if got := second.json(); got["status"] != "conflict" || len(got["conflicts_with"].([]any)) != 0 ||
		got["conflict"] != "another partner has registered this customer" || strings.Contains(string(second.body), first) {
		t.Fatalf("partner's conflict answer: %s", second.body)
	}
	secondID := second.json()["deal_id"].(string)
	for _, path := range []string{"/v1/deals/" + secondID, "/v1/deals?min_position=" + second.header.Get("Dealcredit-Position")} {
		if r := c.must(200, "GET", path, varB, ``); strings.Contains(string(r.body), first) || strings.Contains(string(r.body), "var-a") {
			t.Fatalf("GET %s shows var-b the competitor: %s", path, r.body)
		}
	}
	if r := c.must(200, "GET", "/v1/deals/"+secondID, cm, ``); !strings.Contains(string(r.body), first) {
		t.Fatalf("the channel manager no longer sees the conflicting deal: %s", r.body)
	}

	// The OEM feed: a NUL in the customer's name and invoices past the
	// documented bounds (the two invoices whose credits passed 2^63)
	// are dead-lettered naming the field; two invoices at the bound project.
	service, err := nats.Connect(d.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer service.Close()
	dlq, err := jetstream.New(service)
	if err != nil {
		t.Fatal(err)
	}
	js := oemPublisher(t, d, dlq)
	invoice := func(number, name string, amount int64) string {
		return fmt.Sprintf(`{"schema":"dealcredit.oem_invoice.v1","oem_id":"hp","invoice_number":%q,"revision":1,"kind":"invoice",
			"invoice_date":%q,"currency":"USD","customer":{"oem_account_id":"C-1","name":"%s","country":"US","domain":"acme.example"},
			"lines":[{"line":1,"sku":"ALT-CMS","segment":"client_management","quantity":1,"unit_price_minor":%d,"amount_minor":%d}]}`,
			number, today, name, amount, amount)
	}
	head = c.head(auditor)
	rejects := []struct{ number, body, field string }{
		{"NUL-1", invoice("NUL-1", `Nul\u0000Corp`, 100), "customer.name"},
		{"BIG-1", invoice("BIG-1", "Acme Corp", 5_000_000_000_000_000_000), "lines[0].unit_price_minor"},
		{"BIG-2", invoice("BIG-2", "Acme Corp", 5_000_000_000_000_000_000), "lines[0].unit_price_minor"},
	}
	for _, rj := range rejects {
		publish(t, js, rj.number, rj.body)
		reason := deadLetter(t, dlq, rj.number)
		if !strings.Contains(reason, rj.field) {
			t.Errorf("dead letter of %s: reason %q does not name %s", rj.number, reason, rj.field)
		}
	}
	for _, n := range []string{"MAX-1", "MAX-2"} {
		publish(t, js, n, invoice(n, "Acme Corp", 1_000_000_000_000_000))
	}
	// Wait until both good invoices are credited: the projection advanced past
	// everything refused above.
	deadline := time.Now().Add(30 * time.Second)
	want := `"credited_revenue_minor":2000000000000000`
	for {
		r := c.do("GET", "/v1/partners/var-a/statements/"+quarter, finance, ``)
		if r.status == 200 && bytes.Contains(r.body, []byte(want)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("statement never reached %s: %d %s", want, r.status, r.body)
		}
		time.Sleep(100 * time.Millisecond) // poll interval, bounded by the deadline
	}
	evs := c.must(200, "GET", fmt.Sprintf("/v1/events?after=%d&limit=100", head), auditor, ``).json()["events"].([]any)
	var rejected, received int
	for _, e := range evs {
		switch e.(map[string]any)["type"] {
		case "invoice.rejected":
			rejected++
		case "invoice.received":
			received++
		default:
			t.Errorf("unexpected event %v", e)
		}
	}
	if rejected != len(rejects) || received != 2 {
		t.Fatalf("appended %d rejections and %d invoices, want %d and 2", rejected, received, len(rejects))
	}
	if r := c.do("GET", "/readyz", "", ``); r.status != 200 {
		t.Fatalf("/readyz = %d %s", r.status, r.body)
	}
}

// oemPublisher connects as OEM hp's own user of the embedded server (from
// the generated credentials file) once the daemon has created its stream.
func oemPublisher(t *testing.T, d *daemontest.Daemon, service jetstream.JetStream) jetstream.JetStream {
	t.Helper()
	hp := d.WaitOEMUser(t, "hp", service)
	u, err := url.Parse(d.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect("nats://"+u.Host, nats.UserInfo(hp.User, hp.Password))
	if err != nil {
		t.Fatalf("connect as hp: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// publish publishes body as OEM hp's invoice number, retrying until the
// daemon has created the OEM's stream.
func publish(t *testing.T, js jetstream.JetStream, number, body string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := js.Publish(ctx, "oem.hp.invoices", []byte(body), jetstream.WithMsgID("hp:"+number+":1"))
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish %s: %v", number, err)
		}
		time.Sleep(100 * time.Millisecond) // the stream is provisioned asynchronously
	}
}

// deadLetter waits for the dead letter of invoice number and returns its reason.
func deadLetter(t *testing.T, js jetstream.JetStream, number string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s, err := js.Stream(ctx, "OEM_INVOICES_DLQ")
		if err == nil {
			var m *jetstream.RawStreamMsg
			if m, err = s.GetLastMsgForSubject(ctx, "oem.hp.invoices.rejected"); err == nil && bytes.Contains(m.Data, []byte(number)) {
				cancel()
				return m.Header.Get("Dealcredit-Reason")
			}
		}
		cancel()
		if time.Now().After(deadline) {
			t.Fatalf("no dead letter for %s: %v", number, err)
		}
		time.Sleep(100 * time.Millisecond) // poll interval, bounded by the deadline
	}
}

type client struct {
	t   *testing.T
	url string
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json() map[string]any {
	var m map[string]any
	_ = json.Unmarshal(r.body, &m)
	return m
}

func (c *client) do(method, path, token, body string, header ...string) reply {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.url+path, rd)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	openapicheck.Body(c.t, method, path, resp.StatusCode, resp.Header, b)
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

func (c *client) must(status int, method, path, token, body string) reply {
	c.t.Helper()
	r := c.do(method, path, token, body)
	if r.status != status {
		c.t.Fatalf("%s %s: %d, want %d: %s", method, path, r.status, status, r.body)
	}
	return r
}

// head returns the log's last position.
func (c *client) head(auditor string) int64 {
	c.t.Helper()
	h, _ := c.must(200, "GET", "/v1/events?limit=1", auditor, ``).json()["head"].(float64)
	return int64(h)
}
