package eventstore

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"
)

// HashSize is the length of a record hash in bytes (SHA-256).
const HashSize = sha256.Size

// ZeroHash is the PrevHash of the record at position 1.
var ZeroHash = make([]byte, HashSize)

// hashDomain separates dealcredit's record hashes from any other use of SHA-256.
const hashDomain = "dealcredit.eventstore.record.v1"

// HashRecord returns the chain hash of r given the previous record's hash:
// SHA-256 over prev and a length-prefixed encoding of the position, stream
// id, stream version, event id, type, schema version, occurred and recorded
// times (Unix microseconds) and the exact Data and Metadata bytes. r.PrevHash
// and r.Hash are not read.
func HashRecord(prev []byte, r Record) []byte {
	h := sha256.New()
	var buf [8]byte
	u64 := func(v uint64) {
		binary.BigEndian.PutUint64(buf[:], v)
		h.Write(buf[:])
	}
	bytesField := func(b []byte) {
		u64(uint64(len(b)))
		h.Write(b)
	}
	bytesField([]byte(hashDomain))
	bytesField(prev)
	u64(uint64(r.Position))
	bytesField([]byte(r.StreamID))
	u64(uint64(r.StreamVersion))
	h.Write(r.ID[:])
	bytesField([]byte(r.Type))
	u64(uint64(int64(r.SchemaVersion)))
	u64(uint64(r.OccurredAt.UnixMicro()))
	u64(uint64(r.RecordedAt.UnixMicro()))
	bytesField(r.Data)
	bytesField(r.Metadata)
	return h.Sum(nil)
}

// TruncateTime rounds t down to the microsecond precision Postgres stores,
// in UTC, so the hashed time equals the stored time.
func TruncateTime(t time.Time) time.Time { return t.Truncate(time.Microsecond).UTC() }

// ChainError reports the first record where the hash chain does not hold.
type ChainError struct {
	Position int64 // the first bad position
	Reason   string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("eventstore: hash chain broken at position %d: %s", e.Position, e.Reason)
}

// VerifyReport summarizes a verification of the chain.
type VerifyReport struct {
	// Records is the number of records that were checked and held.
	Records int64
	// Head is the last good position (0 when the log is empty).
	Head int64
	// HeadHash is the hash of the record at Head (ZeroHash when empty); an
	// external anchor (the JetStream mirror, a saved report) compares it.
	HeadHash []byte
	// BadPosition is the first position where the chain breaks, 0 if none.
	BadPosition int64
	// Reason says why BadPosition is bad.
	Reason string
}

// OK reports whether no break was found.
func (r VerifyReport) OK() bool { return r.BadPosition == 0 }

// ChainVerifier checks records fed to it in position order, starting at
// position 1. Its zero value is not usable; call NewChainVerifier.
type ChainVerifier struct {
	report VerifyReport
}

// NewChainVerifier returns a verifier expecting position 1 next.
func NewChainVerifier() *ChainVerifier {
	return &ChainVerifier{report: VerifyReport{HeadHash: ZeroHash}}
}

// Add checks the next record: its position must follow the previous one
// without a gap, its PrevHash must equal the previous record's hash and its
// Hash must equal HashRecord. The first failure is returned as a
// *ChainError and remembered; later calls return it again.
func (v *ChainVerifier) Add(r Record) error {
	if v.report.BadPosition != 0 {
		return &ChainError{Position: v.report.BadPosition, Reason: v.report.Reason}
	}
	want := v.report.Head + 1
	var reason string
	switch {
	case r.Position != want:
		reason = fmt.Sprintf("position gap: expected position %d, found %d", want, r.Position)
		if r.Position > want {
			// The missing position is the bad one.
			r.Position = want
		}
	case !bytes.Equal(r.PrevHash, v.report.HeadHash):
		reason = fmt.Sprintf("prev_hash mismatch: stored %x, previous record's hash %x", r.PrevHash, v.report.HeadHash)
	case !bytes.Equal(r.Hash, HashRecord(v.report.HeadHash, r)):
		reason = fmt.Sprintf("hash mismatch: stored %x does not match the record's content", r.Hash)
	}
	if reason != "" {
		v.report.BadPosition = r.Position
		v.report.Reason = reason
		return &ChainError{Position: r.Position, Reason: reason}
	}
	v.report.Records++
	v.report.Head = r.Position
	v.report.HeadHash = r.Hash
	return nil
}

// CheckAnchor compares the verified head with an anchor taken earlier (or
// from an external copy): the log must still hold position anchorHead with
// hash anchorHash. It catches a deleted or rewritten tail that the chain
// alone cannot see. It returns a *ChainError on mismatch.
func (v *ChainVerifier) CheckAnchor(anchorHead int64, anchorHash []byte) error {
	if v.report.BadPosition != 0 {
		return &ChainError{Position: v.report.BadPosition, Reason: v.report.Reason}
	}
	if anchorHead > v.report.Head {
		v.report.BadPosition = v.report.Head + 1
		v.report.Reason = fmt.Sprintf("log ends at position %d but the anchor holds position %d: tail deleted", v.report.Head, anchorHead)
		return &ChainError{Position: v.report.BadPosition, Reason: v.report.Reason}
	}
	if anchorHead == v.report.Head && !bytes.Equal(anchorHash, v.report.HeadHash) {
		v.report.BadPosition = anchorHead
		v.report.Reason = fmt.Sprintf("hash %x differs from the anchor's %x", v.report.HeadHash, anchorHash)
		return &ChainError{Position: anchorHead, Reason: v.report.Reason}
	}
	return nil
}

// Report returns the verification summary so far.
func (v *ChainVerifier) Report() VerifyReport { return v.report }
