package ingest_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"dealcredit/consumers/ingest"
	"dealcredit/consumers/oemfeed"
	"dealcredit/internal/testkit/natstest"
)

// replace returns b with old replaced by new once; the fixture must hold old.
func replace(tb testing.TB, b []byte, old, new string) []byte {
	tb.Helper()
	if !bytes.Contains(b, []byte(old)) {
		tb.Fatalf("fixture %s lacks %q", b, old)
	}
	return bytes.Replace(b, []byte(old), []byte(new), 1)
}

// padTo pads a JSON body with trailing whitespace to exactly n bytes.
func padTo(tb testing.TB, b []byte, n int) []byte {
	tb.Helper()
	if len(b) > n {
		tb.Fatalf("body of %d bytes is larger than %d", len(b), n)
	}
	return append(b, bytes.Repeat([]byte(" "), n-len(b))...)
}

// TestHostilePublisher publishes, as a hostile or sloppy OEM would, one bad
// message after each good one, all at once (so they share batches), without
// Nats-Msg-Id: every bad message is dead-lettered once with its body, its
// sequence and a reason naming the field; every good one is stored once; the
// consumer drains.
func TestHostilePublisher(t *testing.T) {
	e := mustEnv(t)
	reg := prometheus.NewRegistry()
	c, _ := e.consumer(t, reg, ingest.Options{AckWait: 30 * time.Second, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}, "hp")
	nc, js := e.connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	good := func(i int) []byte { return body("hp", "OK-"+strconv.Itoa(i), 1, int64(i+1)) }
	b := body("hp", "BAD-1", 1, 3) // amount 13500
	line := `{"line":1,"sku":"ALT-CMS-100","segment":"client_management","quantity":3,"unit_price_minor":4500,"amount_minor":13500}`
	bad := []struct {
		name   string
		body   []byte
		reason string // a part of the reason (the field it names)
	}{
		{"malformed JSON", []byte(`{"schema":"dealcredit.oem_invoice.v1","oem_id":`), "invalid JSON"},
		{"not an object", []byte(`[1,2]`), "JSON object"},
		{"empty body", []byte(``), "body is empty"},
		{"blank body", []byte(" \n"), "body is empty"},
		{"duplicate key", replace(t, b, `"revision":1,`, `"revision":1,"revision":2,`), "field revision: duplicate key"},
		{"duplicate key in a line", replace(t, b, `"quantity":3,`, `"quantity":3,"quantity":3,`), "lines[0].quantity: duplicate key"},
		{"unknown field", replace(t, b, `"kind":`, `"discount":5,"kind":`), "field discount: unknown field"},
		{"unknown customer field", replace(t, b, `"name":"Acme Corp"`, `"name":"Acme Corp","vat":"x"`), "customer.vat: unknown field"},
		{"wrong schema", replace(t, b, oemfeed.SchemaV1, "dealcredit.oem_invoice.v0"), "field schema"},
		{"schema a number", replace(t, b, `"dealcredit.oem_invoice.v1"`, `1`), "field schema"},
		{"missing schema", replace(t, b, `"schema":"dealcredit.oem_invoice.v1",`, ``), "field schema: is required"},
		{"missing oem_id", replace(t, b, `"oem_id":"hp",`, ``), "field oem_id: is required"},
		{"missing lines", replace(t, b, `,"lines":[`+line+`]`, ``), "field lines: is required"},
		{"empty lines", replace(t, b, `[`+line+`]`, `[]`), "field lines"},
		{"missing customer name", replace(t, b, `"name":"Acme Corp",`, ``), "field customer.name: is required"},
		{"null revision", replace(t, b, `"revision":1`, `"revision":null`), "field revision"},
		{"null quantity", replace(t, b, `"quantity":3`, `"quantity":null`), "lines[0].quantity"},
		{"null line", replace(t, b, `[`+line+`]`, `[null]`), "lines[0]"},
		{"null customer", replace(t, b, `{"oem_account_id":"C-1","name":"Acme Corp","country":"US"}`, `null`), "field customer"},
		{"NUL escape in name", replace(t, b, `Acme Corp`, `Acme\u0000Corp`), "customer.name"},
		{"raw control byte in name", replace(t, b, `Acme Corp`, "Acme\x01Corp"), "invalid JSON"},
		{"tab escape in sku", replace(t, b, `ALT-CMS-100`, `ALT\tCMS`), "lines[0].sku"},
		{"C1 control in name", replace(t, b, `Acme Corp`, "Acme\u0085Corp"), "customer.name"},
		{"invalid UTF-8", replace(t, b, `Acme Corp`, "Acme\xffCorp"), "UTF-8"},
		{"lone surrogate", replace(t, b, `Acme Corp`, `Acme\ud800Corp`), "customer.name"},
		{"U+FFFD", replace(t, b, `Acme Corp`, "Acme\uFFFDCorp"), "customer.name"},
		{"over-long name", replace(t, b, `Acme Corp`, strings.Repeat("n", 257)), "customer.name"},
		{"over-long invoice number", replace(t, b, `"BAD-1"`, strconv.Quote(strings.Repeat("N", 65))), "field invoice_number"},
		{"number past int64", replace(t, b, `"quantity":3`, `"quantity":9223372036854775808`), "lines[0].quantity"},
		{"number past uint64", replace(t, b, `"quantity":3`, `"quantity":123456789012345678901234567890`), "lines[0].quantity"},
		{"float quantity", replace(t, b, `"quantity":3`, `"quantity":3.0`), "lines[0].quantity"},
		{"exponent quantity", replace(t, b, `"quantity":3`, `"quantity":3e0`), "lines[0].quantity"},
		{"negative quantity", replace(t, b, `"quantity":3,`, `"quantity":-3,`), "lines[0].quantity"},
		{"zero quantity", replace(t, replace(t, b, `"quantity":3,`, `"quantity":0,`), `"amount_minor":13500`, `"amount_minor":0`), "lines[0].quantity"},
		{"negative amount", replace(t, b, `"amount_minor":13500`, `"amount_minor":-13500`), "lines[0].amount_minor"},
		{"amount not quantity x price", replace(t, b, `"amount_minor":13500`, `"amount_minor":13499`), "lines[0].amount_minor"},
		{"quantity x price overflows", replace(t, replace(t, b, `"quantity":3,`, `"quantity":1000000000000,`), `"unit_price_minor":4500`, `"unit_price_minor":1000000000000000`), "lines[0].amount_minor"},
		{"lines' sum past the bound", replace(t, b, `[`+line+`]`, `[{"line":1,"sku":"S","segment":"support","quantity":1,"unit_price_minor":1000000000000000,"amount_minor":1000000000000000},`+
			`{"line":2,"sku":"S","segment":"support","quantity":1,"unit_price_minor":1000000000000000,"amount_minor":1000000000000000}]`), "field lines"},
		{"year 0000", replace(t, b, `2026-02-14`, `0000-01-01`), "field invoice_date"},
		{"year 9999", replace(t, b, `2026-02-14`, `9999-12-31`), "field invoice_date"},
		{"2026-02-29", replace(t, b, `2026-02-14`, `2026-02-29`), "field invoice_date"},
		{"date with time", replace(t, b, `2026-02-14`, `2026-02-14T00:00:00Z`), "field invoice_date"},
		{"lowercase currency", replace(t, b, `"USD"`, `"usd"`), "field currency"},
		{"unknown currency", replace(t, b, `"USD"`, `"XYZ"`), "field currency"},
		{"duplicate line numbers", replace(t, b, `[`+line+`]`, `[`+line+`,`+line+`]`), "lines[1].line"},
		{"line 0", replace(t, b, `"line":1`, `"line":0`), "lines[0].line"},
		{"line negative", replace(t, b, `"line":1`, `"line":-1`), "lines[0].line"},
		{"other OEM in body", replace(t, b, `"oem_id":"hp"`, `"oem_id":"dell"`), "field oem_id"},
		{"revision 0", replace(t, b, `"revision":1`, `"revision":0`), "field revision"},
		{"revision negative", replace(t, b, `"revision":1`, `"revision":-1`), "field revision"},
		{"revision huge", replace(t, b, `"revision":1`, `"revision":1000001`), "field revision"},
		{"credit memo naming nothing", replace(t, b, `"kind":"invoice"`, `"kind":"credit_memo"`), "field credit_memo_for"},
		{"credit memo naming itself", replace(t, b, `"kind":"invoice"`, `"kind":"credit_memo","credit_memo_for":"BAD-1"`), "field credit_memo_for"},
		{"trailing data", append(append([]byte{}, b...), []byte(`{}`)...), "invalid JSON"},
		// The test server's max_payload is the default 1 MiB, so this dead
		// letter goes without its body (HeaderBodyOmitted); before, its
		// publish failed and the message was redelivered for ever.
		{"invalid at 1 MiB", padTo(t, replace(t, b, `"amount_minor":13500`, `"amount_minor":13499`), oemfeed.MaxMessageSize), "lines[0].amount_minor"},
	}

	type sent struct {
		seq    uint64
		body   []byte
		reason string
	}
	var dead []sent
	stop := run(t, c)
	n := 0
	for i, m := range bad {
		if _, err := js.Publish(ctx, "oem.hp.invoices", good(i)); err != nil {
			t.Fatalf("publish good %d: %v", i, err)
		}
		n++
		ack, err := js.PublishMsg(ctx, &nats.Msg{Subject: "oem.hp.invoices", Data: m.body})
		if err != nil {
			t.Fatalf("publish %s: %v", m.name, err)
		}
		dead = append(dead, sent{ack.Sequence, m.body, m.reason})
	}
	// A valid body of exactly 1 MiB is accepted.
	if _, err := js.Publish(ctx, "oem.hp.invoices", padTo(t, good(len(bad)), oemfeed.MaxMessageSize)); err != nil {
		t.Fatal(err)
	}
	n++
	for i := len(bad) + 1; i < len(bad)+5; i++ { // good ones after the last bad one
		if _, err := js.Publish(ctx, "oem.hp.invoices", good(i)); err != nil {
			t.Fatal(err)
		}
		n++
	}
	eventually(t, time.Minute, "the consumer to drain", func() bool { return drained(t, js, "hp") })
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}

	stored := invoices(t, e.pool)
	seen := map[string]int{}
	for _, inv := range stored {
		seen[inv.InvoiceNumber]++
	}
	for i := 0; i < n; i++ {
		if got := seen["OK-"+strconv.Itoa(i)]; got != 1 {
			t.Errorf("good invoice OK-%d stored %d times", i, got)
		}
	}
	if len(stored) != n {
		t.Errorf("stored %d invoices, want %d", len(stored), n)
	}
	letters := dlq(t, js)
	bySeq := map[uint64][]byte{}
	reasons, omitted := map[uint64]string{}, map[uint64]string{}
	for _, l := range letters {
		seq, err := strconv.ParseUint(l.Headers().Get(ingest.HeaderOriginalSeq), 10, 64)
		if err != nil {
			t.Errorf("dead letter without its sequence: %v", l.Headers())
			continue
		}
		if _, dup := bySeq[seq]; dup {
			t.Errorf("sequence %d dead-lettered twice", seq)
		}
		bySeq[seq], reasons[seq] = l.Data(), l.Headers().Get(ingest.HeaderReason)
		omitted[seq] = l.Headers().Get(ingest.HeaderBodyOmitted)
	}
	for i, d := range dead {
		got, ok := bySeq[d.seq]
		switch {
		case !ok:
			t.Errorf("%s (seq %d): not dead-lettered", bad[i].name, d.seq)
		case len(d.body)+512 > int(nc.MaxPayload()) && len(got) == 0 && strings.Contains(omitted[d.seq], "does not fit"):
			// Too large to dead-letter with its body on this server.
		case !bytes.Equal(got, d.body):
			t.Errorf("%s: dead letter body differs from the original", bad[i].name)
		case !strings.Contains(reasons[d.seq], d.reason):
			t.Errorf("%s: reason %q does not contain %q", bad[i].name, reasons[d.seq], d.reason)
		}
	}
	if len(letters) != len(dead) {
		t.Errorf("%d dead letters, want %d", len(letters), len(dead))
	}
	if got := len(rejections(t, e.pool)); got != len(dead) {
		t.Errorf("%d rejection facts, want %d", got, len(dead))
	}
}

// TestHostilePublisherLargeAndRepeated runs on a server whose max_payload (2
// MiB, as deployments/nats) lets a body past 1 MiB into the OEM's stream: it
// is dead-lettered with its body and the reason naming its size. A burst of
// one key (same content, other content, a higher revision, repeated) lands
// in one batch: one invoice per revision stored, the other content
// dead-lettered as a conflicting duplicate, nothing left pending.
func TestHostilePublisherLargeAndRepeated(t *testing.T) {
	e := mustEnv(t)
	e.nats = natstest.StartWithOptions(t, &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true, MaxPayload: 2 << 20})
	c, _ := e.consumer(t, prometheus.NewRegistry(), ingest.Options{AckWait: 30 * time.Second, Linger: time.Second}, "hp")
	_, js := e.connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	big := padTo(t, body("hp", "BIG-1", 1, 1), oemfeed.MaxMessageSize+1)
	msgs := [][]byte{
		body("hp", "K-1", 1, 10), big, body("hp", "K-1", 1, 10), body("hp", "K-1", 1, 11),
		body("hp", "K-1", 2, 12), body("hp", "K-1", 2, 12), body("hp", "K-1", 1, 10),
	}
	var seqs []uint64
	for _, m := range msgs {
		ack, err := js.Publish(ctx, "oem.hp.invoices", m)
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
		seqs = append(seqs, ack.Sequence)
	}
	run(t, c)
	eventually(t, time.Minute, "the consumer to drain", func() bool { return drained(t, js, "hp") })
	stored := invoices(t, e.pool)
	if len(stored) != 2 || stored[0].Revision != 1 || stored[0].Lines[0].Quantity != 10 || stored[1].Revision != 2 {
		t.Fatalf("stored %+v, want K-1 revisions 1 (quantity 10) and 2", stored)
	}
	letters := dlq(t, js)
	if len(letters) != 2 {
		t.Fatalf("%d dead letters, want 2 (the large body, the conflicting duplicate)", len(letters))
	}
	want := map[uint64]string{seqs[1]: fmt.Sprintf("body is %d bytes, more than the limit of %d", len(big), oemfeed.MaxMessageSize),
		seqs[3]: "conflicting duplicate: invoice K-1 revision 1"}
	for _, l := range letters {
		seq, _ := strconv.ParseUint(l.Headers().Get(ingest.HeaderOriginalSeq), 10, 64)
		if r := l.Headers().Get(ingest.HeaderReason); want[seq] == "" || !strings.Contains(r, want[seq]) {
			t.Errorf("dead letter of seq %d: reason %q, want %q", seq, r, want[seq])
		}
		if seq == seqs[1] && !bytes.Equal(l.Data(), big) {
			t.Errorf("the large body's dead letter is not the original body (%d bytes)", len(l.Data()))
		}
	}
}
