package pgstore

import (
	"context"
	"errors"
	"fmt"

	"dealcredit/eventstore"
)

// Verify streams the whole log in position order through an
// eventstore.ChainVerifier and reports the first position where the chain
// breaks (a position gap, a prev_hash that is not the previous hash, or a
// hash that does not match the stored content). progress, when not nil, is
// called with each verified position. A broken chain returns the report and
// a *eventstore.ChainError; other errors mean the log could not be read.
func (s *Store) Verify(ctx context.Context, progress func(pos int64)) (eventstore.VerifyReport, error) {
	return s.VerifyAnchored(ctx, 0, nil, progress)
}

// VerifyAnchored is Verify plus a check against an anchor taken earlier or
// from an external copy: the log must still reach anchorHead and hold
// anchorHash there, which catches a deleted tail. anchorHead 0 skips the
// anchor check.
func (s *Store) VerifyAnchored(ctx context.Context, anchorHead int64, anchorHash []byte, progress func(pos int64)) (eventstore.VerifyReport, error) {
	v := eventstore.NewChainVerifier()
	// One query, one snapshot; pgx reads the rows as they arrive.
	rows, err := s.pool.Query(ctx, `SELECT `+recordColumns+` FROM events ORDER BY position`)
	if err != nil {
		return v.Report(), fmt.Errorf("pgstore: verify: %w", err)
	}
	defer rows.Close()
	var chainErr error
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return v.Report(), fmt.Errorf("pgstore: verify: %w", err)
		}
		if anchorHead > 0 && r.Position == anchorHead {
			if err := v.Add(r); err != nil {
				chainErr = err
				break
			}
			if err := v.CheckAnchor(anchorHead, anchorHash); err != nil {
				chainErr = err
				break
			}
			if progress != nil {
				progress(r.Position)
			}
			continue
		}
		if err := v.Add(r); err != nil {
			chainErr = err
			break
		}
		if progress != nil {
			progress(r.Position)
		}
	}
	rows.Close()
	if chainErr != nil {
		return v.Report(), chainErr
	}
	if err := rows.Err(); err != nil {
		return v.Report(), fmt.Errorf("pgstore: verify: %w", err)
	}
	if anchorHead > 0 && v.Report().Head < anchorHead {
		if err := v.CheckAnchor(anchorHead, anchorHash); err != nil {
			return v.Report(), err
		}
	}
	return v.Report(), nil
}

// IsChainError reports whether err says the chain is broken (as opposed to
// the log being unreadable).
func IsChainError(err error) bool {
	var ce *eventstore.ChainError
	return errors.As(err, &ce)
}
