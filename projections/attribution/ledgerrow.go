package attribution

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"

	"dealcredit/domain"

	"github.com/google/uuid"
)

// The ledger's rows are written in COPY's binary format, encoded here field by
// field in the order of ledgerColumns (as the event store encodes its own
// COPY): pgx's generic encoder boxed every value of a row and planned its
// encoding per value, a fifth of the rebuild's Go CPU.

// copyHeader opens a binary COPY stream: the signature, no flags, no header
// extension.
var copyHeader = []byte("PGCOPY\n\377\r\n\000\000\000\000\000\000\000\000\000")

// copyTrailer ends a binary COPY stream: a tuple of -1 fields.
var copyTrailer = []byte{0xff, 0xff}

// uuidOID is the type of the elements of the ledger's event_ids array.
const uuidOID = 2950

// ledgerTuples is rows of the ledger in COPY's binary format, one tuple after
// the other (a ledgerSink that keeps a batch's rows for its writes).
type ledgerTuples []byte

func (t *ledgerTuples) add(tuple []byte) error {
	*t = append(*t, tuple...)
	return nil
}

// addCredit appends credit c, the seq-th of the event at pos, as a ledger row; it
// fails for an event id that is not a UUID (ids come from the log's event_id)
// and for a value out of its int column's range, and then appends nothing.
func (t *ledgerTuples) addCredit(pos int64, seq int, c *domain.Credit) error {
	for _, v := range [...]int{seq, c.Revision, c.Line, c.PolicyVersion} {
		if v < math.MinInt32 || v > math.MaxInt32 {
			return fmt.Errorf("ledger: %d is out of an int column's range", v)
		}
	}
	b := binary.BigEndian.AppendUint16(*t, uint16(len(ledgerColumns)))
	b = appendInt8(b, pos)
	b = appendInt4(b, seq)
	b = appendText(b, c.OEMID)
	b = appendText(b, c.InvoiceNumber)
	b = appendInt4(b, c.Revision)
	b = appendInt4(b, c.Line)
	b = appendText(b, string(c.Kind))
	b = appendText(b, c.PartnerID)
	b = appendText(b, c.RegistrationID)
	b = appendText(b, c.Customer)
	b = appendText(b, string(c.Segment))
	b = appendQuarter(b, c.Quarter)
	b = binary.BigEndian.AppendUint32(b, 1)
	if c.Adjustment {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = appendQuarter(b, c.AdjustsQuarter)
	b = appendInt8(b, c.Amount.Amount)
	b = appendText(b, c.Amount.Currency)
	b = appendInt4(b, c.PolicyVersion)
	b = appendText(b, c.Reason)
	b, err := appendUUIDs(b, c.EventIDs)
	if err != nil {
		return err
	}
	b = appendInt8(b, c.Base)
	b = appendInt8(b, c.RateBPS)
	b = appendInt8(b, c.Returned)
	*t = appendInt8(b, c.ReturnedBefore)
	return nil
}

func appendInt8(b []byte, v int64) []byte {
	b = binary.BigEndian.AppendUint32(b, 8)
	return binary.BigEndian.AppendUint64(b, uint64(v))
}

// appendInt4 appends v, which the caller checked is in int4's range.
func appendInt4(b []byte, v int) []byte {
	b = binary.BigEndian.AppendUint32(b, 4)
	return binary.BigEndian.AppendUint32(b, uint32(int32(v)))
}

// appendText appends s; its binary form is its text (the server checks its encoding).
func appendText(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// appendQuarter appends q's text ("2026Q3", empty for the zero quarter) as
// quarterText does, without formatting through fmt.
func appendQuarter(b []byte, q domain.Quarter) []byte {
	if q.IsZero() || q.Year() < 0 || q.Year() > 9999 {
		return appendText(b, quarterText(q))
	}
	b = binary.BigEndian.AppendUint32(b, 6)
	y := q.Year()
	b = append(b, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), 'Q')
	return strconv.AppendInt(b, int64(q.Number()), 10)
}

// appendUUIDs appends ids as a uuid[] (one dimension from 1, no NULLs; no
// dimension when empty, as the server writes an empty array).
func appendUUIDs(b []byte, ids []string) ([]byte, error) {
	if len(ids) == 0 {
		b = binary.BigEndian.AppendUint32(b, 12)
		b = binary.BigEndian.AppendUint32(b, 0) // dimensions
		b = binary.BigEndian.AppendUint32(b, 0) // no NULLs
		return binary.BigEndian.AppendUint32(b, uuidOID), nil
	}
	b = binary.BigEndian.AppendUint32(b, uint32(20+len(ids)*20))
	b = binary.BigEndian.AppendUint32(b, 1) // dimensions
	b = binary.BigEndian.AppendUint32(b, 0) // no NULLs
	b = binary.BigEndian.AppendUint32(b, uuidOID)
	b = binary.BigEndian.AppendUint32(b, uint32(len(ids)))
	b = binary.BigEndian.AppendUint32(b, 1) // lower bound
	for _, id := range ids {
		u, err := uuid.Parse(id)
		if err != nil {
			return nil, fmt.Errorf("ledger: event id %q: %w", id, err)
		}
		b = binary.BigEndian.AppendUint32(b, 16)
		b = append(b, u[:]...)
	}
	return b, nil
}
