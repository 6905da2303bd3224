package app_test

import (
	"encoding/json"
	"testing"

	"github.com/google/uuid"

	"dealcredit/app"
	"dealcredit/domain"
	"dealcredit/eventstore"
)

// TestLegacyCertificationsCountByWhoRecordedThem: docs/rules.md rule 3a: a
// `partner.certified` event stored before confirmations existed counts when a channel
// manager or an admin recorded it, and is a pending submission (named by its event id)
// when the partner recorded it itself; a channel manager may then confirm it.
func TestLegacyCertificationsCountByWhoRecordedThem(t *testing.T) {
	f := newFixture(t)
	f.ok(f.svc.EnrollPartner(f.ctx, channel, domain.Enroll{PartnerID: "old-1", Name: "Old", Kind: domain.KindVAR, Geography: "emea"}))
	legacy := func(engineer, actor string) string {
		data, _ := json.Marshal(domain.EngineerCertified{PartnerID: "old-1", Engineer: engineer, Segment: domain.SegmentClientManagement,
			CertifiedOn: domain.MustDate("2025-12-01")})
		id := uuid.New()
		if _, err := f.store.Append(f.ctx, domain.PartnerStream("old-1"), eventstore.Any, eventstore.Event{ID: id,
			Type: "partner.certified", SchemaVersion: 1, Data: data, OccurredAt: start,
			Metadata: eventstore.Metadata{Actor: actor}}); err != nil {
			t.Fatal(err)
		}
		return id.String()
	}
	byCM := legacy("ann", "channel_manager#abc")
	byPartner := legacy("bo", "partner:old-1#def")
	p, err := app.Load(f.ctx, f.svc, domain.PartnerStream("old-1"), domain.PartnerState{}, domain.EvolvePartner)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]domain.CertStatus{byCM: domain.CertConfirmed, byPartner: domain.CertPending}
	for id, st := range want {
		if c, ok := p.Certification(id); !ok || c.Status != st {
			t.Errorf("legacy certification %s: %+v (found %v), want %s", id, c, ok, st)
		}
	}
	if n := p.CertifiedEngineers(); n != 1 {
		t.Errorf("certified engineers %d, want 1 (the partner's own is pending)", n)
	}
	f.ok(f.svc.ConfirmCertification(f.ctx, channel, domain.ConfirmCertification{PartnerID: "old-1", CertID: byPartner}))
	p, err = app.Load(f.ctx, f.svc, domain.PartnerStream("old-1"), domain.PartnerState{}, domain.EvolvePartner)
	if err != nil {
		t.Fatal(err)
	}
	if n := p.CertifiedEngineers(); n != 2 {
		t.Errorf("certified engineers after the confirmation %d, want 2", n)
	}
}
