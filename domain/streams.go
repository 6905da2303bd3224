package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// PartnerStream returns "partner-<id>".
func PartnerStream(id string) string { return "partner-" + id }

// DealStream returns "deal-<id>".
func DealStream(id string) string { return "deal-" + id }

// PolicyStream returns "policy-program", the one stream of policy versions.
func PolicyStream() string { return "policy-program" }

// QuarterStream returns "quarter-2026Q1".
func QuarterStream(q Quarter) string { return "quarter-" + q.String() }

// ReviewStream returns "review-2026Q1", the stream of a quarter's tier reviews and the
// proposals applied from them.
func ReviewStream(q Quarter) string { return "review-" + q.String() }

// GeographyStream returns "geo-<geo>", the stream of a geography's seat capacity and holders.
func GeographyStream(geo string) string { return "geo-" + geo }

// CustomerKeyStream returns "customerkey-<hash>", the reservation stream of one normalised
// customer key (see CustomerKey): the hex of the first 16 bytes of its SHA-256.
func CustomerKeyStream(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "customerkey-" + hex.EncodeToString(sum[:16])
}

// LeadStream returns "lead-<id>".
func LeadStream(id string) string { return "lead-" + id }

// FieldRepStream returns "fieldrep-<id>".
func FieldRepStream(id string) string { return "fieldrep-" + id }

// RejectionStream returns "rejection-<oem>", the stream of dead-lettered OEM messages.
func RejectionStream(oemID string) string { return "rejection-" + oemID }

// ProjectionStream returns "projection-<name>", the stream of the operators' corrections
// of one projection (ProjectionEventSkipped).
func ProjectionStream(name string) string { return "projection-" + name }

// Category returns the stream id's prefix before the first '-' ("deal" for "deal-42").
func Category(streamID string) string {
	if i := strings.IndexByte(streamID, '-'); i >= 0 {
		return streamID[:i]
	}
	return streamID
}
