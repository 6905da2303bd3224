package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"dealcredit/domain"
	"dealcredit/eventstore"
	"dealcredit/eventstore/mirror"
	"dealcredit/eventstore/pgstore"
	"dealcredit/internal/backoff"
)

// replayed is the program folded from the log alone up to a position.
type replayed struct {
	program  *domain.Program
	credits  []domain.Credit
	position int64
}

// replay folds the log from position 1 to asOf (the head when asOf <= 0)
// through the domain's attribution fold, as an auditor would: no read model
// is consulted.
func replay(ctx context.Context, log eventstore.Reader, asOf int64) (replayed, error) {
	out := replayed{program: domain.NewProgram()}
	const batch = 1000
	for {
		recs, err := log.ReadAll(ctx, out.position, batch)
		if err != nil {
			return out, fmt.Errorf("demo: replay: read after %d: %w", out.position, err)
		}
		if len(recs) == 0 {
			return out, nil
		}
		for _, r := range recs {
			if asOf > 0 && r.Position > asOf {
				return out, nil
			}
			ev, err := domain.Decode(r.Type, r.SchemaVersion, r.Data)
			if err != nil {
				return out, fmt.Errorf("demo: replay: position %d: %w", r.Position, err)
			}
			o, err := out.program.Apply(domain.Envelope{Position: r.Position, EventID: r.ID.String(), StreamID: r.StreamID,
				Type: r.Type, OccurredAt: r.OccurredAt, RecordedAt: r.RecordedAt, Event: domain.WithProvenance(ev, r.ID.String(), r.Metadata)})
			if err != nil {
				return out, fmt.Errorf("demo: replay: %w", err)
			}
			out.credits = append(out.credits, o.Credits...)
			out.position = r.Position
		}
	}
}

// verifyResult is what the auditor's verify found.
type verifyResult struct {
	chain  eventstore.VerifyReport
	mirror mirror.Report
}

// verify checks the hash chain of the whole Postgres log, then waits (up to
// wait) for the relay to mirror the head and compares the JetStream mirror
// with the log record by record.
func verify(ctx context.Context, store *pgstore.Store, js jetstream.JetStream, wait time.Duration) (verifyResult, error) {
	var res verifyResult
	var err error
	res.chain, err = store.Verify(ctx, nil)
	if err != nil {
		return res, fmt.Errorf("demo: verify chain: %w", err)
	}
	if !res.chain.OK() {
		return res, fmt.Errorf("demo: verify chain: first bad position %d: %s", res.chain.BadPosition, res.chain.Reason)
	}
	deadline := time.Now().Add(wait)
	for {
		res.mirror, err = mirror.Verify(ctx, store, js)
		if err != nil {
			return res, fmt.Errorf("demo: verify mirror: %w", err)
		}
		if err := res.mirror.Err(); err != nil {
			return res, fmt.Errorf("demo: verify mirror: %w", err)
		}
		if res.mirror.Behind == 0 && res.mirror.Checked >= res.chain.Records {
			return res, nil
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("demo: verify mirror: %d events still not mirrored after %s", res.mirror.Behind, wait)
		}
		if err := backoff.Sleep(ctx, 100*time.Millisecond); err != nil {
			return res, err
		}
	}
}
