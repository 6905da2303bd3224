package ingest

import (
	"encoding/json"
	"log/slog"
	"sync"

	"golang.org/x/time/rate"
)

// deadLetterLog writes one log line per dead letter, at most rate lines a
// second per OEM (with a burst of as many); a feed that floods the dead
// letters gets the lines it is allowed and a count of the ones left out in
// the next line it gets.
type deadLetterLog struct {
	log   *slog.Logger
	rate  float64
	mu    sync.Mutex
	byOEM map[string]*deadLetterLimit
}

type deadLetterLimit struct {
	lim        *rate.Limiter
	suppressed int
}

func newDeadLetterLog(log *slog.Logger, perSecond float64) *deadLetterLog {
	return &deadLetterLog{log: log, rate: perSecond, byOEM: map[string]*deadLetterLimit{}}
}

// record logs the dead letter it of oem, unless oem is over its rate.
func (d *deadLetterLog) record(oem string, it *item) {
	d.mu.Lock()
	l := d.byOEM[oem]
	if l == nil {
		burst := max(1, int(d.rate))
		l = &deadLetterLimit{lim: rate.NewLimiter(rate.Limit(d.rate), burst)}
		d.byOEM[oem] = l
	}
	if !l.lim.Allow() {
		l.suppressed++
		d.mu.Unlock()
		return
	}
	suppressed := l.suppressed
	l.suppressed = 0
	d.mu.Unlock()

	invoice, revision := it.inv.InvoiceNumber, it.inv.Revision
	if invoice == "" {
		invoice, revision = keyOf(it.msg.Data())
	}
	attrs := []any{"oem", oem, "invoice", headerSafe(invoice), "revision", revision,
		"reason", it.reason, "outcome", it.outcome, "seq", it.seq}
	if suppressed > 0 {
		attrs = append(attrs, "suppressed", suppressed)
	}
	d.log.Warn("ingest: invoice dead-lettered", attrs...)
}

// keyOf reads the invoice number and revision of a body that failed
// validation, as far as they can be read; "" and 0 otherwise.
func keyOf(body []byte) (string, int) {
	var k struct {
		InvoiceNumber any `json:"invoice_number"`
		Revision      any `json:"revision"`
	}
	_ = json.Unmarshal(body, &k)
	number, _ := k.InvoiceNumber.(string)
	revision, _ := k.Revision.(float64)
	if revision != float64(int(revision)) {
		revision = 0
	}
	return number, int(revision)
}
