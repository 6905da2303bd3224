package app_test

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"dealcredit/app"
	"dealcredit/domain"
)

var admin = app.Meta{Actor: "admin", Source: "app test", CorrelationID: "import-1"}

// importSet is a small program as it stands on the fixture's day
// (2026-01-05): an OEM, a VAR grandfathered as Gold since 2019, one
// registration approved in November, a step, an invoice of December.
func importSet() app.ImportSet {
	row := func(file string, line int) app.Row { return app.Row{File: file, Line: line} }
	return app.ImportSet{
		Partners: []app.ImportPartner{
			{Row: row("partners.csv", 2), ID: "hp", Name: "HP", Kind: domain.KindOEM, Geography: "us", Tier: domain.TierRegistered},
			{Row: row("partners.csv", 3), ID: "acme", Name: "Acme", Kind: domain.KindVAR, Geography: "us", Tier: domain.TierGold, Grandfathered: true,
				JoinedOn: domain.MustDate("2019-03-01"), TierHistory: []domain.PastTier{{Tier: domain.TierGold, From: domain.MustDate("2019-03-01")}},
				HistoryRows: []app.Row{row("tier_history.csv", 2)}},
		},
		Registrations: []app.ImportRegistration{{Row: row("registrations.csv", 2),
			Register: domain.Register{DealID: "d-1", PartnerID: "acme", Customer: domain.Customer{Name: "Globex", Country: "US"}, Geography: "us",
				Segments: []domain.Segment{domain.SegmentClientManagement}, ExpectedValue: domain.Money{Amount: 100000, Currency: "USD"}},
			RegisteredOn: domain.MustDate("2025-10-28"), ApprovedOn: domain.MustDate("2025-11-01")}},
		Engagements: []app.ImportEngagement{{Row: row("engagements.csv", 2), DealID: "d-1",
			Step: domain.LogEngagement{Step: domain.StepProofOfConcept, OccurredOn: domain.MustDate("2025-11-10")}}},
		Invoices: []app.ImportInvoice{{Row: row("invoices.jsonl", 1), Invoice: domain.InvoiceReceived{OEMID: "hp", InvoiceNumber: "HP-1", Revision: 1,
			Kind: domain.KindInvoice, InvoiceDate: domain.MustDate("2025-12-01"), Currency: "USD", Customer: domain.Customer{Name: "Globex", Country: "US"},
			Lines: []domain.InvoiceLine{{Line: 1, SKU: "S", Segment: domain.SegmentClientManagement, Quantity: 10, UnitPriceMinor: 4500, AmountMinor: 45000}}}}},
	}
}

func (f *fixture) head() int64 {
	f.t.Helper()
	h, err := f.store.Head(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	return h
}

// TestImportRecordsBusinessDates: the approval is dated as the file says,
// under the policy then in force (its window from that date), each event
// names its row in its metadata and carries its business date.
func TestImportRecordsBusinessDates(t *testing.T) {
	f := newFixture(t)
	res, err := f.svc.Import(f.ctx, admin, importSet(), false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 5 || res.Skipped != 0 || len(res.Events) != 8 || res.Position != f.head() {
		t.Fatalf("import = %d rows, %d skipped, %v at %d (head %d)", res.Rows, res.Skipped, res.EventTypes(), res.Position, f.head())
	}
	d, err := f.svc.Deal(f.ctx, admin, "d-1")
	if err != nil {
		t.Fatal(err)
	}
	// The default policy's 90 registration days, from the approval on 2025-11-01.
	if d.Status != domain.StatusApproved || d.RegisteredOn != domain.MustDate("2025-10-28") || d.ApprovedOn != domain.MustDate("2025-11-01") ||
		d.ExpiresOn != domain.MustDate("2026-01-29") || len(d.Engagements) != 1 {
		t.Fatalf("deal = %+v", d)
	}
	recs, err := f.store.ReadStream(f.ctx, domain.DealStream("d-1"), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ typ, source, on string }{
		{"deal.registered", "import registrations.csv:2", "2025-10-28"},
		{"deal.approved", "import registrations.csv:2", "2025-11-01"},
		{"deal.engagement_logged", "import engagements.csv:2", "2025-11-10"},
	}
	if len(recs) != len(want) {
		t.Fatalf("deal stream has %d events, want %d", len(recs), len(want))
	}
	for i, w := range want {
		var md struct{ Actor, Source, Correlation_ID string }
		if err := json.Unmarshal(recs[i].Metadata, &md); err != nil {
			t.Fatal(err)
		}
		if recs[i].Type != w.typ || md.Source != w.source || md.Actor != "admin" || md.Correlation_ID != "import-1" || domain.DateOf(recs[i].OccurredAt).String() != w.on {
			t.Errorf("event %d = %s %s at %s, want %s from %s at %s", i, recs[i].Type, recs[i].Metadata, recs[i].OccurredAt, w.typ, w.source, w.on)
		}
	}
	inv, err := f.store.ReadStream(f.ctx, domain.InvoiceStream("hp", "HP-1"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(inv) != 1 || inv[0].ID.String() != domain.InvoiceEventID("hp", "HP-1", 1) {
		t.Fatalf("invoice stream = %+v; want the feed's event id", inv)
	}
	// A normal approval is still dated today: the import's dates are the import's alone.
	f.ok(f.svc.EnrollPartner(f.ctx, channel, domain.Enroll{PartnerID: "later", Name: "Later", Kind: domain.KindVAR, Geography: "us"}))
}

// TestImportTwiceAppendsNothing: the same set again is skipped row by row;
// one new row appends only its events; two imports at once store one set.
func TestImportTwiceAppendsNothing(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = f.svc.Import(f.ctx, admin, importSet(), false)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("concurrent import: %v", err)
		}
	}
	head := f.head()
	if head != 8 {
		t.Fatalf("two concurrent imports left the log at %d events, want 8 (one import)", head)
	}
	res, err := f.svc.Import(f.ctx, admin, importSet(), false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped != res.Rows || len(res.Events) != 0 || res.Position != head || f.head() != head {
		t.Fatalf("second import = %d of %d rows skipped, %v, position %d; head %d -> %d", res.Skipped, res.Rows, res.EventTypes(), res.Position, head, f.head())
	}
	set := importSet()
	set.Engagements = append(set.Engagements, app.ImportEngagement{Row: app.Row{File: "engagements.csv", Line: 3}, DealID: "d-1",
		Step: domain.LogEngagement{Step: domain.StepDeployment, OccurredOn: domain.MustDate("2025-12-15")}})
	res, err = f.svc.Import(f.ctx, admin, set, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.EventTypes(); res.Skipped != 5 || len(got) != 1 || got[0] != "deal.engagement_logged" {
		t.Fatalf("import with one new row = %d skipped, %v", res.Skipped, got)
	}
}

// TestImportRevisionInAnotherCurrency: an invoice is what its highest revision
// says, currency included, so a revision in another currency than the invoice
// as recorded or staged is recorded, whichever comes first (before: refused
// with field currency in each case).
func TestImportRevisionInAnotherCurrency(t *testing.T) {
	usd := importSet().Invoices[0]
	eur := usd
	eur.Row.Line, eur.Invoice.Revision, eur.Invoice.Currency = 2, 2, "EUR"
	for _, c := range []struct {
		name     string
		recorded []app.ImportInvoice // imported first, with the rest of the set
		set      []app.ImportInvoice // then imported
		want     int                 // invoice revisions the second import records
	}{
		{"revision 2 in EUR after revision 1 in USD was recorded", []app.ImportInvoice{usd}, []app.ImportInvoice{eur}, 1},
		{"revision 1 in USD after revision 2 in EUR was recorded", []app.ImportInvoice{eur}, []app.ImportInvoice{usd}, 1},
		{"both in one set, USD first", nil, []app.ImportInvoice{usd, eur}, 2},
		{"both in one set, EUR first", nil, []app.ImportInvoice{eur, usd}, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			if c.recorded != nil {
				set := importSet()
				set.Invoices = c.recorded
				if _, err := f.svc.Import(f.ctx, admin, set, false); err != nil {
					t.Fatalf("first import: %v", err)
				}
			}
			set := importSet()
			set.Invoices = c.set
			res, err := f.svc.Import(f.ctx, admin, set, false)
			if err != nil {
				t.Fatalf("import: %v", err)
			}
			n := 0
			for _, typ := range res.EventTypes() {
				if typ == "invoice.received" {
					n++
				}
			}
			if n != c.want {
				t.Errorf("recorded %d invoice revisions, want %d (%v)", n, c.want, res.EventTypes())
			}
		})
	}
}

// TestImportDryRunAppendsNothing: a dry run decides and reports the events.
func TestImportDryRunAppendsNothing(t *testing.T) {
	f := newFixture(t)
	res, err := f.svc.Import(f.ctx, admin, importSet(), true)
	if err != nil {
		t.Fatal(err)
	}
	if !res.DryRun || len(res.Events) != 8 || f.head() != 0 {
		t.Fatalf("dry run = %+v, head %d", res, f.head())
	}
}

// TestImportRefusesTheWholeSet: a row the log or the rows before it refuse
// is named by file, line and field, and nothing of the set is appended.
func TestImportRefusesTheWholeSet(t *testing.T) {
	cases := []struct {
		name   string
		before func(f *fixture)
		change func(s *app.ImportSet)
		file   string
		line   int
		field  string
		detail string
	}{
		{"a partner recorded otherwise", func(f *fixture) {
			f.ok(f.svc.EnrollPartner(f.ctx, channel, domain.Enroll{PartnerID: "acme", Name: "Acme Old", Kind: domain.KindVAR, Geography: "us"}))
		}, nil, "partners.csv", 3, "partner_id", "already enrolled"},
		{"a past tier after today", nil, func(s *app.ImportSet) {
			s.Partners[1].TierHistory[0].From = domain.MustDate("2026-02-01")
		}, "tier_history.csv", 2, "from", "before the enrolment date"},
		{"an approval in the future", nil, func(s *app.ImportSet) {
			s.Registrations[0].ApprovedOn = domain.MustDate("2026-03-01")
		}, "registrations.csv", 2, "approved_on", "in the future"},
		{"a registered partner registers", nil, func(s *app.ImportSet) {
			s.Partners[1].Grandfathered, s.Partners[1].Tier = false, domain.TierRegistered
		}, "registrations.csv", 2, "", "deal registration needs gold or platinum"},
		{"a step on an unknown deal", nil, func(s *app.ImportSet) { s.Engagements[0].DealID = "d-9" }, "engagements.csv", 2, "deal_id", "d-9"},
		{"an invoice of an unknown OEM", nil, func(s *app.ImportSet) { s.Invoices[0].Invoice.OEMID = "dell" }, "invoices.jsonl", 1, "oem_id", "dell"},
		{"an invoice recorded with other lines", func(f *fixture) {
			s := importSet()
			s.Invoices[0].Invoice.Lines[0].Quantity, s.Invoices[0].Invoice.Lines[0].AmountMinor = 20, 90000
			if _, err := f.svc.Import(f.ctx, admin, s, false); err != nil {
				f.t.Fatal(err)
			}
		}, nil, "invoices.jsonl", 1, "revision", "different content"},
		{"an approval recorded on another date", func(f *fixture) {
			s := importSet()
			s.Registrations[0].ApprovedOn = domain.MustDate("2025-11-02")
			if _, err := f.svc.Import(f.ctx, admin, s, false); err != nil {
				f.t.Fatal(err)
			}
		}, nil, "registrations.csv", 2, "approved_on", "approved on 2025-11-02"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			if c.before != nil {
				c.before(f)
			}
			head := f.head()
			set := importSet()
			if c.change != nil {
				c.change(&set)
			}
			_, err := f.svc.Import(f.ctx, admin, set, false)
			var ie *app.ImportError
			if !errors.As(err, &ie) || len(ie.Rows) == 0 {
				t.Fatalf("import = %v, want an *app.ImportError", err)
			}
			got := ie.Rows[0]
			if got.File != c.file || got.Line != c.line || got.Field != c.field || !strings.Contains(got.Message, c.detail) {
				t.Fatalf("refused %+v (%v), want %s:%d field %q with %q", got, err, c.file, c.line, c.field, c.detail)
			}
			if domain.ErrorCode(err) != domain.Invalid {
				t.Errorf("error code %s, want invalid (the caller's mistake)", domain.ErrorCode(err))
			}
			if f.head() != head {
				t.Fatalf("a refused import moved the head from %d to %d", head, f.head())
			}
		})
	}
}
