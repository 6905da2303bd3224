package app_test

import (
	"testing"
	"time"

	"dealcredit/app"
	"dealcredit/domain"
)

// TestPartnerCommands: enrolment, certification, commitment, tier changes
// and seats through the service, with what the log stores.
func TestPartnerCommands(t *testing.T) {
	f := newFixture(t)
	f.ok(f.svc.SetSeats(f.ctx, channel, domain.SetSeats{Geography: "nordics", Platinum: 0, Gold: 1}))
	f.partner("gold-1", "nordics", domain.KindVAR, domain.TierGold) // takes the one Gold seat
	f.partner("reg-1", "emea", domain.KindVAR, domain.TierRegistered)
	// ready-1 meets Gold's requirements in a geography whose Gold seat is taken.
	f.partner("ready-1", "nordics", domain.KindVAR, domain.TierRegistered)
	f.ok(f.svc.Certify(f.ctx, channel, domain.Certify{PartnerID: "ready-1", Engineer: "eng", Segment: domain.SegmentClientManagement, CertifiedOn: domain.DateOf(start)}))
	f.ok(f.svc.Commit(f.ctx, channel, domain.Commit{PartnerID: "ready-1", Segments: []domain.Segment{domain.SegmentClientManagement},
		QuarterlyTarget: domain.Money{Amount: 6_000_000, Currency: "USD"}}))

	tests := []struct {
		name   string
		when   func() (app.Result, error)
		want   outcome
		stream string // the stream whose last events are the command's
	}{
		{"enroll", func() (app.Result, error) {
			return f.svc.EnrollPartner(f.ctx, channel, domain.Enroll{PartnerID: "new-1", Name: "New", Kind: domain.KindSI, Geography: "emea"})
		}, outcome{events: []string{"partner.enrolled"}}, domain.PartnerStream("new-1")},
		{"enroll twice", func() (app.Result, error) {
			return f.svc.EnrollPartner(f.ctx, channel, domain.Enroll{PartnerID: "reg-1", Name: "Again", Kind: domain.KindSI, Geography: "emea"})
		}, outcome{code: domain.Conflict, rule: "partner.unique"}, ""},
		{"enroll a bad id", func() (app.Result, error) {
			return f.svc.EnrollPartner(f.ctx, channel, domain.Enroll{PartnerID: "Bad Id", Name: "Bad", Kind: domain.KindSI, Geography: "emea"})
		}, outcome{code: domain.Invalid, field: "id"}, ""},
		{"grandfather", func() (app.Result, error) {
			return f.svc.GrandfatherPartner(f.ctx, channel, domain.Grandfather{PartnerID: "old-1", Name: "Old", Kind: domain.KindVAR, Geography: "emea"})
		}, outcome{events: []string{"partner.grandfathered", "geo.seat_taken"}}, ""},
		{"a partner submits its certification", func() (app.Result, error) {
			return f.svc.Certify(f.ctx, partnerMeta("reg-1"), domain.Certify{PartnerID: "reg-1", Engineer: "eng-9", Segment: domain.SegmentAssetManagement, CertifiedOn: domain.DateOf(start)})
		}, outcome{events: []string{"partner.certification_submitted"}}, domain.PartnerStream("reg-1")},
		{"a channel manager confirms it", func() (app.Result, error) {
			return f.svc.ConfirmCertification(f.ctx, channel, domain.ConfirmCertification{PartnerID: "reg-1", CertID: "cert-1"})
		}, outcome{events: []string{"partner.certification_confirmed"}}, domain.PartnerStream("reg-1")},
		{"confirmed twice", func() (app.Result, error) {
			return f.svc.ConfirmCertification(f.ctx, channel, domain.ConfirmCertification{PartnerID: "reg-1", CertID: "cert-1"})
		}, outcome{code: domain.Conflict, rule: "certification.decided"}, ""},
		{"a channel manager records one: confirmed at once", func() (app.Result, error) {
			return f.svc.Certify(f.ctx, channel, domain.Certify{PartnerID: "reg-1", Engineer: "eng-8", Segment: domain.SegmentAssetManagement, CertifiedOn: domain.DateOf(start)})
		}, outcome{events: []string{"partner.certified"}}, domain.PartnerStream("reg-1")},
		{"refuse an unknown certification", func() (app.Result, error) {
			return f.svc.RefuseCertification(f.ctx, channel, domain.RefuseCertification{PartnerID: "reg-1", CertID: "cert-9", Reason: "no such exam"})
		}, outcome{code: domain.NotFound, rule: "certification.exists"}, ""},
		{"refuse without a reason", func() (app.Result, error) {
			return f.svc.RefuseCertification(f.ctx, channel, domain.RefuseCertification{PartnerID: "reg-1", CertID: "cert-1"})
		}, outcome{code: domain.Invalid, field: "reason"}, ""},
		{"certify for a partner not enrolled", func() (app.Result, error) {
			return f.svc.Certify(f.ctx, channel, domain.Certify{PartnerID: "nobody", Engineer: "eng", Segment: domain.SegmentAssetManagement, CertifiedOn: domain.DateOf(start)})
		}, outcome{code: domain.NotFound, rule: "partner.exists"}, ""},
		{"commit in an unknown currency", func() (app.Result, error) {
			return f.svc.Commit(f.ctx, channel, domain.Commit{PartnerID: "reg-1", Segments: []domain.Segment{domain.SegmentClientManagement},
				QuarterlyTarget: domain.Money{Amount: 1, Currency: "XXX"}})
		}, outcome{code: domain.Invalid, field: "currency"}, ""},
		{"promote without the requirements", func() (app.Result, error) {
			return f.svc.ChangeTier(f.ctx, channel, domain.ChangeTier{PartnerID: "reg-1", Tier: domain.TierGold, Reason: "asked"})
		}, outcome{code: domain.Unprocessable}, ""},
		{"set seats with a negative count", func() (app.Result, error) {
			return f.svc.SetSeats(f.ctx, channel, domain.SetSeats{Geography: "emea", Platinum: -1, Gold: 1})
		}, outcome{code: domain.Invalid, field: "platinum"}, ""},
		{"set seats", func() (app.Result, error) {
			return f.svc.SetSeats(f.ctx, channel, domain.SetSeats{Geography: "emea", Platinum: 1, Gold: 3})
		}, outcome{events: []string{"geo.seats_set"}}, domain.GeographyStream("emea")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := tc.when()
			tc.want.check(t, res, err)
			if tc.stream != "" {
				stored := f.streamTypes(tc.stream)
				if n := len(tc.want.events); len(stored) < n || stored[len(stored)-1] != tc.want.events[n-1] {
					t.Errorf("stream %s is %v, want it to end with %v", tc.stream, stored, tc.want.events)
				}
			}
		})
	}

	// Into a full tier the partner is waitlisted: the event is appended AND
	// the command refused.
	t.Run("promote into a full tier", func(t *testing.T) {
		res, err := f.svc.ChangeTier(f.ctx, channel, domain.ChangeTier{PartnerID: "ready-1", Tier: domain.TierGold, Reason: "requirements met"})
		if domain.ErrorCode(err) != domain.Unprocessable || res.Position == 0 || len(res.Events) != 1 {
			t.Fatalf("%+v, %v; want the waitlisting recorded and refused", res, err)
		}
		stored := f.streamTypes(domain.GeographyStream("nordics"))
		if stored[len(stored)-1] != "geo.seat_waitlisted" {
			t.Fatalf("nordics stream %v, want it to end with the waitlisting", stored)
		}
	})
}

// TestPolicyAndQuarterCommands: a policy change carries over what it does
// not name; a quarter closes once, after it ended.
func TestPolicyAndQuarterCommands(t *testing.T) {
	f := newFixture(t)
	ext, bps := 3, int64(250)
	first, err := f.svc.SetPolicy(f.ctx, channel, app.PolicyChange{EffectiveFrom: domain.DateOf(start), RebateBPS: map[domain.Tier]int64{domain.TierGold: 500},
		RegistrationDays: 90, ClaimGraceDays: 30, MaxExtensions: &ext, FieldRepBPS: &bps, LeadAcceptHours: 24})
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.svc.SetPolicy(f.ctx, channel, app.PolicyChange{EffectiveFrom: domain.DateOf(start).AddDays(1), RebateBPS: map[domain.Tier]int64{domain.TierGold: 600},
		RegistrationDays: 60, ClaimGraceDays: 10})
	if err != nil {
		t.Fatal(err)
	}
	if first.Version+1 != second.Version {
		t.Fatalf("versions %d then %d, want consecutive", first.Version, second.Version)
	}
	p := second.Events[0].(domain.PolicySet)
	if p.MaxExtensions != ext || p.FieldRepBPS != bps || p.LeadAcceptHours != 24 || p.RegistrationDays != 60 || p.RebateBPS[domain.TierGold] != 600 {
		t.Fatalf("second policy %+v: want max_extensions, field_rep_bps and lead hours carried over, the rest replaced", p)
	}
	_, err = f.svc.SetPolicy(f.ctx, channel, app.PolicyChange{EffectiveFrom: domain.DateOf(start).AddDays(-1), RebateBPS: map[domain.Tier]int64{}, RegistrationDays: 60})
	outcome{code: domain.Unprocessable, rule: "policy.no_backdating"}.check(t, app.Result{}, err)

	q := domain.MustQuarter("2025Q4")
	tests := []struct {
		name string
		q    domain.Quarter
		want outcome
	}{
		{"close an ended quarter", q, outcome{events: []string{"quarter.closed"}}},
		{"close it again", q, outcome{code: domain.Conflict, rule: "quarter.closed_once"}},
		{"close the current quarter", domain.DateOf(start).Quarter(), outcome{code: domain.Unprocessable, rule: "quarter.ended"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := f.svc.CloseQuarter(f.ctx, app.Meta{Actor: "finance:fay"}, tc.q)
			tc.want.check(t, res, err)
		})
	}
	recs, err := f.store.ReadStream(f.ctx, domain.QuarterStream(q), 0)
	if err != nil || len(recs) != 1 || !recs[0].OccurredAt.Equal(start) {
		t.Fatalf("quarter stream %+v (%v): want one close at %s", recs, err, start.Format(time.RFC3339))
	}
}
