package oemfeed_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"dealcredit/consumers/oemfeed"
	"dealcredit/internal/testkit/natstest"
)

func TestGenerateIsSeededAndValid(t *testing.T) {
	opts := oemfeed.GenOptions{Seed: 3, Invoices: 300, OEMs: []string{"hp", "dell"}, MalformedFraction: 0.2,
		CreditMemoFraction: 0.1, RevisionFraction: 0.1, DuplicateFraction: 0.1}
	var a, b bytes.Buffer
	if err := oemfeed.Generate(&a, opts); err != nil {
		t.Fatal(err)
	}
	if err := oemfeed.Generate(&b, opts); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("same seed, different output")
	}
	kinds := map[string]int{}
	for _, g := range oemfeed.GenerateMessages(opts) {
		_, err := oemfeed.Decode(oemfeed.Subject(g.OEM), g.Body)
		if g.Valid != (err == nil) {
			t.Fatalf("flaw %q: valid=%v, Decode: %v\n%s", g.Flaw, g.Valid, err, g.Body)
		}
		switch {
		case !g.Valid:
			kinds["malformed"]++
		case g.Duplicate:
			kinds["duplicate"]++
		case g.Message.Kind == oemfeed.KindCreditMemo:
			kinds["credit_memo"]++
		case g.Message.Revision > 1:
			kinds["revision"]++
		}
	}
	for _, k := range []string{"malformed", "duplicate", "credit_memo", "revision"} {
		if kinds[k] == 0 {
			t.Errorf("no %s message generated: %v", k, kinds)
		}
	}
}

func TestPublish(t *testing.T) {
	srv := natstest.Start(t)
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "OEM_HP", Subjects: []string{"oem.hp.invoices"}})
	if err != nil {
		t.Fatal(err)
	}
	feed := strings.ReplaceAll(validBody, "\n", "") + "\n\n" + "{not json\n" + strings.ReplaceAll(validBody, "\n", "") + "\n"
	var calls int
	rep, err := oemfeed.Publish(ctx, js, "hp", strings.NewReader(feed), oemfeed.PublishOptions{Progress: func(done, total int) { calls++ }})
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	if rep.Lines != 3 || rep.Acknowledged != 3 || rep.Duplicates != 1 || len(rep.Invalid) != 1 || rep.Invalid[0].Line != 3 || calls != 3 {
		t.Fatalf("report %+v, progress calls %d", rep, calls)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 2 {
		t.Fatalf("stream holds %d messages, want 2 (the repeat is deduplicated by Nats-Msg-Id)", info.State.Msgs)
	}
	m, err := s.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if id := m.Header.Get(jetstream.MsgIDHeader); id != "hp:HP-2026-000123:1" {
		t.Fatalf("Nats-Msg-Id %q", id)
	}
	// Nothing listens on another OEM's subject: every line fails, and the error says so.
	rep, err = oemfeed.Publish(ctx, js, "dell", strings.NewReader(feed), oemfeed.PublishOptions{})
	if err == nil || len(rep.Failed) != 3 {
		t.Fatalf("publish without a stream: report %+v, err %v", rep, err)
	}
}
