package app_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"dealcredit/app"
	"dealcredit/domain"
	"dealcredit/internal/testkit/benchkit"
	"dealcredit/internal/testkit/logtest"
)

// benchImportSet is an adoption of partners grandfathered Gold VARs, registrations deals
// (one engagement step each) and invoices HP invoices on them, a fifth of
// them with a second revision.
func benchImportSet(partners, registrations, invoices int) app.ImportSet {
	row := func(file string, line int) app.Row { return app.Row{File: file, Line: line} }
	set := app.ImportSet{Partners: []app.ImportPartner{{Row: row("partners.csv", 2), ID: "hp", Name: "HP",
		Kind: domain.KindOEM, Geography: "us", Tier: domain.TierRegistered, JoinedOn: domain.MustDate("2020-01-01")}}}
	for i := range partners {
		set.Partners = append(set.Partners, app.ImportPartner{Row: row("partners.csv", i+3), ID: fmt.Sprintf("var-%d", i),
			Name: fmt.Sprintf("VAR %d", i), Kind: domain.KindVAR, Geography: "us", Tier: domain.TierGold, Grandfathered: true,
			JoinedOn: domain.MustDate("2021-01-01"), TierHistory: []domain.PastTier{{Tier: domain.TierGold, From: domain.MustDate("2021-01-01")}},
			HistoryRows: []app.Row{row("tier_history.csv", i+2)}})
	}
	customer := func(i int) domain.Customer {
		return domain.Customer{Name: fmt.Sprintf("Customer %d", i), Country: "US"}
	}
	for i := range registrations {
		deal := fmt.Sprintf("d-%d", i)
		set.Registrations = append(set.Registrations, app.ImportRegistration{Row: row("registrations.csv", i+2),
			Register: domain.Register{DealID: deal, PartnerID: fmt.Sprintf("var-%d", i%partners), Customer: customer(i), Geography: "us",
				Segments: []domain.Segment{domain.SegmentClientManagement}, ExpectedValue: domain.Money{Amount: 1_000_000, Currency: "USD"}},
			RegisteredOn: domain.MustDate("2025-10-01"), ApprovedOn: domain.MustDate("2025-10-02")})
		set.Engagements = append(set.Engagements, app.ImportEngagement{Row: row("engagements.csv", i+2), DealID: deal,
			Step: domain.LogEngagement{Step: domain.StepProofOfConcept, OccurredOn: domain.MustDate("2025-10-10")}})
	}
	for i := range invoices {
		inv := domain.InvoiceReceived{OEMID: "hp", InvoiceNumber: "HP-" + strconv.Itoa(i), Revision: 1, Kind: domain.KindInvoice,
			InvoiceDate: domain.MustDate("2025-11-15"), Currency: "USD", Customer: customer(i % registrations),
			Lines: []domain.InvoiceLine{{Line: 1, SKU: "S", Segment: domain.SegmentClientManagement, Quantity: 10, UnitPriceMinor: 4500, AmountMinor: 45000}}}
		set.Invoices = append(set.Invoices, app.ImportInvoice{Row: row("invoices.jsonl", len(set.Invoices)+1), Invoice: inv})
		if i%5 == 0 {
			inv.Revision, inv.InvoiceDate = 2, domain.MustDate("2025-11-20")
			set.Invoices = append(set.Invoices, app.ImportInvoice{Row: row("invoices.jsonl", len(set.Invoices)+1), Invoice: inv})
		}
	}
	return set
}

// benchSize reads a positive size from the environment variable name.
func benchSize(b *testing.B, name string, def int) int {
	b.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive count", name, v)
	}
	return n
}

// BenchmarkImport imports a generated adoption set (DEALCREDIT_BENCH_IMPORT_INVOICES
// invoices, default 5,000, with a tenth as many registrations and engagement
// steps and 50 VARs) into an empty log in one Import call, then imports it
// again (every row already recorded), and reports rows/s of each and the
// CPU per row of the process and of the database.
func BenchmarkImport(b *testing.B) {
	invoices := benchSize(b, "DEALCREDIT_BENCH_IMPORT_INVOICES", 5000)
	set := benchImportSet(50, max(invoices/10, 1), invoices)
	ctx := context.Background()
	for range b.N {
		b.StopTimer()
		log := logtest.New(b)
		svc := app.New(log.Store, app.WithClock(func() time.Time { return time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC) }))
		b.StartTimer()
		for _, pass := range []string{"first", "again"} {
			cpu, err := benchkit.StartCPU(ctx, log.Pool)
			if err != nil {
				b.Fatal(err)
			}
			began := time.Now()
			res, err := svc.Import(ctx, admin, set, false)
			if err != nil {
				b.Fatal(err)
			}
			took := time.Since(began)
			goCPU, pgCPU, err := cpu()
			if err != nil {
				b.Fatal(err)
			}
			rows := float64(set.Rows())
			if pass == "again" && (res.Skipped != set.Rows() || len(res.Events) != 0) {
				b.Fatalf("second import: %d of %d rows skipped, %d events", res.Skipped, set.Rows(), len(res.Events))
			}
			b.ReportMetric(rows/took.Seconds(), pass+"_rows/s")
			b.ReportMetric(float64(goCPU.Microseconds())/rows, pass+"_go_cpu_us/row")
			b.ReportMetric(float64(pgCPU.Microseconds())/rows, pass+"_pg_cpu_us/row")
		}
		b.ReportMetric(float64(set.Rows()), "rows")
	}
	b.ReportMetric(benchkit.LoadAverage(), "load1")
}
