package app_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"dealcredit/app"
	"dealcredit/domain"
)

// TestConcurrentPayoutsNeverExceedApproved: two payouts of 600 against 1,000
// approved race (both decide on the same statement version before either
// appends): one is stored, the other is decided again on the new version and
// refused by payout.over_approved, never stored.
func TestConcurrentPayoutsNeverExceedApproved(t *testing.T) {
	f := newFixture(t)
	f.partner("var-1", "emea", domain.KindVAR, domain.TierGold)
	q := domain.DateOf(start).Quarter().Prev()
	fin := app.Meta{Actor: "finance:ann", Source: "app test"}
	f.ok(f.svc.ApproveStatement(f.ctx, fin, domain.ApproveStatement{PartnerID: "var-1", Quarter: q, By: fin.Actor}))
	approved := func(context.Context) (map[string]int64, error) { return map[string]int64{"USD": 1000}, nil }

	gate := &gatedStore{Store: f.store, n: 2, open: make(chan struct{})}
	svc := app.New(gate, app.WithClock(f.clock.Now))
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = svc.RecordPayout(f.ctx, fin, domain.RecordPayout{PartnerID: "var-1", Quarter: q,
				Amount: domain.Money{Amount: 600, Currency: "USD"}, Reference: "AP-race", PaidOn: domain.DateOf(start)}, approved)
		}()
	}
	wg.Wait()
	paid, refused := 0, 0
	for _, err := range errs {
		var de *domain.Error
		switch {
		case err == nil:
			paid++
		case errors.As(err, &de) && de.Rule == "payout.over_approved":
			refused++
		default:
			t.Errorf("payout: %v", err)
		}
	}
	if paid != 1 || refused != 1 {
		t.Fatalf("%d paid, %d refused (%v); want one each", paid, refused, errs)
	}
	types := f.streamTypes(domain.StatementStream("var-1", q))
	if len(types) != 2 || types[0] != "statement.approved" || types[1] != "statement.payout_recorded" {
		t.Fatalf("statement stream %v, want the approval and one payout", types)
	}
	// Not approved: refused, nothing stored.
	_, err := f.svc.RecordPayout(f.ctx, fin, domain.RecordPayout{PartnerID: "var-1", Quarter: q.Prev(),
		Amount: domain.Money{Amount: 1, Currency: "USD"}, Reference: "AP-1", PaidOn: domain.DateOf(start)}, approved)
	if domain.ErrorCode(err) != domain.Unprocessable || len(f.streamTypes(domain.StatementStream("var-1", q.Prev()))) != 0 {
		t.Fatalf("payout of an unapproved statement: %v", err)
	}
}
