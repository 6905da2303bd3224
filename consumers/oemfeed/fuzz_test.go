package oemfeed_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"dealcredit/consumers/oemfeed"
	"dealcredit/domain"
)

// FuzzDecode checks that Decode never panics, that every error is a
// *DecodeError, and that whatever it accepts re-validates: against the JSON
// Schema, when re-encoded to the same Message, against the domain's
// validation (the one the ingest runs before appending), and that the
// invoice event it becomes survives the log's codec and folds into the
// attribution program (what the projection runs) without error: nothing
// accepted can stop a projection. The seeds are the samples
// of TestDecode plus the committed corpus in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	for _, s := range samples(f) {
		if len(s.body) <= oemfeed.MaxMessageSize {
			f.Add(s.subject, []byte(s.body))
		}
	}
	f.Fuzz(func(t *testing.T, subject string, body []byte) {
		inv, err := oemfeed.Decode(subject, body)
		if err != nil {
			var de *oemfeed.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a *DecodeError", err)
			}
			return
		}
		if err := schemaAccepts(t, body); err != nil {
			t.Fatalf("decoder accepted what the schema rejects: %v", err)
		}
		again, err := json.Marshal(messageOf(inv))
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		inv2, err := oemfeed.Decode(subject, again)
		if err != nil {
			t.Fatalf("re-encoded message rejected: %v\n%s", err, again)
		}
		if !reflect.DeepEqual(inv, inv2) {
			t.Fatalf("re-decoded message differs:\n%+v\n%+v", inv, inv2)
		}
		mustProject(t, inv)
	})
}

// messageOf is the v1 message a producer writes for inv.
func messageOf(inv domain.InvoiceReceived) oemfeed.Message {
	m := oemfeed.Message{
		Schema: oemfeed.SchemaV1, OEMID: inv.OEMID, InvoiceNumber: inv.InvoiceNumber, Revision: inv.Revision,
		Kind: string(inv.Kind), CreditMemoFor: inv.CreditMemoFor, InvoiceDate: inv.InvoiceDate.String(),
		Currency: inv.Currency, Customer: oemfeed.Customer(inv.Customer), DealRegistrationID: inv.DealRegistrationID,
	}
	for _, l := range inv.Lines {
		m.Lines = append(m.Lines, oemfeed.Line{Line: l.Line, SKU: l.SKU, Segment: string(l.Segment),
			Quantity: l.Quantity, UnitPriceMinor: l.UnitPriceMinor, AmountMinor: l.AmountMinor})
	}
	return m
}

// mustProject validates inv as the ingest does, puts it through the log's
// codec and folds it (twice: a revision and a credit memo of it too) into a
// fresh attribution program.
func mustProject(t *testing.T, inv domain.InvoiceReceived) {
	t.Helper()
	if err := inv.Validate(); err != nil {
		t.Fatalf("decoder accepted what the domain refuses: %v", err)
	}
	if tot := inv.Total().Amount; tot < 0 || tot > domain.MaxAmountMinor {
		t.Fatalf("total %d out of bounds", tot)
	}
	rev := inv
	rev.Revision++
	memo := inv
	memo.Kind, memo.CreditMemoFor, memo.InvoiceNumber = domain.KindCreditMemo, inv.InvoiceNumber, inv.InvoiceNumber+"-CM"
	if inv.Kind == domain.KindCreditMemo {
		memo = rev
	}
	p := domain.NewProgram()
	for i, e := range []domain.InvoiceReceived{inv, rev, memo} {
		typ, ver, data, err := domain.Encode(e)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		back, err := domain.Decode(typ, ver, data)
		if err != nil {
			t.Fatalf("decode %s: %v", data, err)
		}
		if _, err := p.Apply(domain.Envelope{Position: int64(i + 1), EventID: domain.NameID(string(rune('a' + i))),
			StreamID: domain.InvoiceStream(e.OEMID, e.InvoiceNumber), Type: typ, Event: back}); err != nil {
			t.Fatalf("fold: %v", err)
		}
	}
}
