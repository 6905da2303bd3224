package ingest_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"dealcredit/consumers/ingest"
	"dealcredit/consumers/oemfeed"
)

// TestOutcomes publishes one message per outcome (without Nats-Msg-Id, so
// only Postgres can recognise the duplicates) and checks what is stored,
// dead-lettered and counted.
func TestOutcomes(t *testing.T) {
	e := mustEnv(t)
	reg := prometheus.NewRegistry()
	c, _ := e.consumer(t, reg, ingest.Options{AckWait: 30 * time.Second}, "hp", "dell")
	_, js := e.connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	msgs := []struct {
		name    string
		subject string
		body    []byte
		outcome string
		reason  string // a part of the dead letter's reason
	}{
		{"first revision", "oem.hp.invoices", body("hp", "HP-1", 1, 100), ingest.OutcomeAccepted, ""},
		{"redelivered copy", "oem.hp.invoices", body("hp", "HP-1", 1, 100), ingest.OutcomeDuplicate, ""},
		{"same key, other content", "oem.hp.invoices", body("hp", "HP-1", 1, 7), ingest.OutcomeConflict, "conflicting duplicate"},
		{"second revision", "oem.hp.invoices", body("hp", "HP-1", 2, 90), ingest.OutcomeSuperseded, ""},
		{"dell body on hp subject", "oem.hp.invoices", body("dell", "D-1", 1, 5), ingest.OutcomeRejected, "field oem_id"},
		{"malformed", "oem.hp.invoices", []byte(`{"schema":"dealcredit.oem_invoice.v1","oem_id":"hp"`), ingest.OutcomeRejected, "invalid JSON"},
		{"unknown schema version", "oem.hp.invoices", []byte(strings.Replace(string(body("hp", "HP-4", 1, 3)), oemfeed.SchemaV1, "dealcredit.oem_invoice.v9", 1)), ingest.OutcomeRejected,
			`field schema: "dealcredit.oem_invoice.v9" is not a schema this daemon decodes (dealcredit.oem_invoice.v1)`},
		{"wrong amount", "oem.hp.invoices", []byte(strings.Replace(string(body("hp", "HP-2", 1, 3)), `"amount_minor":13500`, `"amount_minor":13501`, 1)), ingest.OutcomeRejected, "field lines[0].amount_minor"},
		{"dell's own", "oem.dell.invoices", body("dell", "D-1", 1, 5), ingest.OutcomeAccepted, ""},
		{"second revision first", "oem.hp.invoices", body("hp", "HP-3", 2, 4), ingest.OutcomeAccepted, ""},
		{"first revision after the second", "oem.hp.invoices", body("hp", "HP-3", 1, 5), ingest.OutcomeAccepted, ""},
		{"first revision again", "oem.hp.invoices", body("hp", "HP-3", 1, 5), ingest.OutcomeDuplicate, ""},
		// A revision or credit memo in another currency than the invoice as stored is
		// stored: the fold follows the highest revision, whatever order they came in.
		{"revision in another currency", "oem.hp.invoices", withCurrency(body("hp", "HP-1", 3, 90), "EUR"), ingest.OutcomeSuperseded, ""},
		{"credit memo in another currency", "oem.hp.invoices", withCurrency(memoBody("hp", "CM-1", "HP-1", 1), "EUR"), ingest.OutcomeAccepted, ""},
		{"credit memo in the invoice's currency", "oem.hp.invoices", memoBody("hp", "CM-2", "HP-1", 1), ingest.OutcomeAccepted, ""},
	}
	stop := run(t, c)
	for i, m := range msgs {
		if _, err := js.Publish(ctx, m.subject, m.body); err != nil {
			t.Fatalf("publish %s: %v", m.name, err)
		}
		// One at a time, so each outcome is decided against the ones before it.
		eventually(t, 30*time.Second, m.name, func() bool { return drained(t, js, "hp", "dell") })
		_ = i
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}

	want := map[string]int{}
	for _, m := range msgs {
		oem, _ := oemfeed.SubjectOEM(m.subject)
		want[oem+"/"+m.outcome]++
	}
	for _, oem := range []string{"hp", "dell"} {
		for _, o := range []string{ingest.OutcomeAccepted, ingest.OutcomeDuplicate, ingest.OutcomeSuperseded, ingest.OutcomeRejected, ingest.OutcomeConflict} {
			if got := counter(reg, oem, o); got != want[oem+"/"+o] {
				t.Errorf("messages_total{oem=%s,outcome=%s} = %d, want %d", oem, o, got, want[oem+"/"+o])
			}
		}
	}

	stored := invoices(t, e.pool)
	if len(stored) != 8 {
		t.Fatalf("stored %d invoices, want 8 (HP-1 r1, HP-1 r2, D-1, HP-3 r2, HP-3 r1, HP-1 r3 EUR, CM-1 EUR, CM-2): %+v", len(stored), stored)
	}
	if stored[0].Lines[0].Quantity != 100 || stored[1].Revision != 2 || stored[2].OEMID != "dell" ||
		stored[3].InvoiceNumber != "HP-3" || stored[3].Revision != 2 || stored[4].Revision != 1 ||
		stored[5].Revision != 3 || stored[5].Currency != "EUR" || stored[6].InvoiceNumber != "CM-1" || stored[6].Currency != "EUR" {
		t.Errorf("stored invoices: %+v", stored)
	}

	letters := dlq(t, js)
	var dead []string
	for _, m := range msgs {
		if m.reason != "" {
			dead = append(dead, m.reason)
		}
	}
	if len(letters) != len(dead) {
		t.Fatalf("%d dead letters, want %d", len(letters), len(dead))
	}
	for i, l := range letters {
		reason := l.Headers().Get(ingest.HeaderReason)
		if !strings.Contains(reason, dead[i]) {
			t.Errorf("dead letter %d: reason %q does not contain %q", i, reason, dead[i])
		}
		if l.Subject() != "oem.hp.invoices.rejected" {
			t.Errorf("dead letter %d on subject %s", i, l.Subject())
		}
		if seq, err := strconv.Atoi(l.Headers().Get(ingest.HeaderOriginalSeq)); err != nil || seq < 1 {
			t.Errorf("dead letter %d: original seq %q", i, l.Headers().Get(ingest.HeaderOriginalSeq))
		}
	}
	rej := rejections(t, e.pool)
	if len(rej) != len(dead) {
		t.Fatalf("%d rejection facts, want %d", len(rej), len(dead))
	}
	for i, r := range rej {
		if r.OEMID != "hp" || r.Reason != letters[i].Headers().Get(ingest.HeaderReason) || len(r.BodySHA256) != 64 {
			t.Errorf("rejection %d: %+v", i, r)
		}
	}
}

// TestDoubleAck consumes with confirmed acks (AckSync): every message is
// stored once and acknowledged, so nothing is pending or redelivered.
func TestDoubleAck(t *testing.T) {
	e := mustEnv(t)
	reg := prometheus.NewRegistry()
	c, _ := e.consumer(t, reg, ingest.Options{DoubleAck: true, BatchSize: 20}, "hp")
	_, js := e.connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const n = 100
	for i := range n {
		if _, err := js.Publish(ctx, "oem.hp.invoices", body("hp", "HP-"+strconv.Itoa(i), 1, int64(i+1))); err != nil {
			t.Fatal(err)
		}
	}
	stop := run(t, c)
	eventually(t, 30*time.Second, "all acknowledged", func() bool { return drained(t, js, "hp") })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := len(invoices(t, e.pool)); got != n {
		t.Fatalf("stored %d invoices, want %d", got, n)
	}
	if got := counter(reg, "hp", ingest.OutcomeAccepted); got != n {
		t.Fatalf("accepted counter %d, want %d", got, n)
	}
	cons, err := js.Consumer(ctx, ingest.StreamName("hp"), "dealcredit-ingest")
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.NumRedelivered != 0 || info.AckFloor.Stream != n {
		t.Fatalf("redelivered %d, ack floor %d, want 0 and %d", info.NumRedelivered, info.AckFloor.Stream, n)
	}
}
