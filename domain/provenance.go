package domain

import (
	"encoding/json"
	"strings"
)

// WithProvenance returns e as the folds read it, given the id of the event that stored it
// and its stored metadata (the log's JSON, whose "actor" names who recorded it). Only one rule depends on them (docs/rules.md rule
// 3a): a `partner.certified` event stored before certifications had ids is named by its
// event id, and one recorded by a partner itself (actor "partner:<id>...") before
// confirmations existed is a submission awaiting a channel manager's confirmation, not a
// confirmed certification. Every other event is returned unchanged. Every fold of stored
// events (the command layer's loads and the projections) calls it after Decode, so they
// all agree.
func WithProvenance(e Event, eventID string, metadata []byte) Event {
	c, ok := e.(EngineerCertified)
	if !ok || c.CertID != "" {
		return e
	}
	c.CertID = eventID
	var md struct {
		Actor string `json:"actor"`
	}
	// Metadata that does not parse names no actor: the event stays as recorded.
	_ = json.Unmarshal(metadata, &md)
	if strings.HasPrefix(md.Actor, "partner:") {
		return CertificationSubmitted{PartnerID: c.PartnerID, Engineer: c.Engineer, Segment: c.Segment,
			CertifiedOn: c.CertifiedOn, CertID: c.CertID}
	}
	return c
}
