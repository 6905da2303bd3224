// Package oemwatch follows the event log for OEM enrolments and provisions
// their invoice feeds, so every daemon instance consumes every enrolled OEM,
// whichever instance took the enrolment.
package oemwatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"dealcredit/domain"
	"dealcredit/eventstore"
	"dealcredit/internal/backoff"
)

// Log is the part of the event log the watcher reads.
type Log interface {
	eventstore.Reader
	eventstore.Follower
}

// Provisioner creates an OEM's feed (stream, dead letters, durable consumer)
// and starts consuming it; it must be idempotent.
type Provisioner func(ctx context.Context, oemID string) error

const batch = 5000

// Watch reads the whole log from the start, then follows it, and calls
// provision once for every partner of kind oem (enrolled or grandfathered).
// A failing provision is retried with backoff; Watch returns only when ctx
// ends (nil) or the log cannot be decoded (a bug: the error names the position).
func Watch(ctx context.Context, log Log, provision Provisioner, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	seen := make(map[string]bool)
	var after int64
	for {
		recs, err := log.ReadAll(ctx, after, batch)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			logger.Warn("oem watch: read log", "after", after, "err", err)
			if backoff.Sleep(ctx, time.Second) != nil {
				return nil
			}
			continue
		}
		for _, r := range recs {
			after = r.Position
			oem, ok, err := oemOf(r)
			if err != nil {
				return fmt.Errorf("oemwatch: position %d: %w", r.Position, err)
			}
			if !ok || seen[oem] {
				continue
			}
			if err := provisionWithRetry(ctx, provision, oem, logger); err != nil {
				return nil // ctx ended
			}
			seen[oem] = true
			logger.Info("oem feed provisioned", "oem", oem, "position", r.Position)
		}
		if len(recs) == batch {
			continue
		}
		if _, err := log.WaitFor(ctx, after); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			logger.Warn("oem watch: wait for log", "err", err)
			if backoff.Sleep(ctx, time.Second) != nil {
				return nil
			}
		}
	}
}

// oemOf reports the OEM id enrolled by r, if r enrols a partner of kind oem.
func oemOf(r eventstore.Record) (string, bool, error) {
	if r.Type != (domain.PartnerEnrolled{}).EventType() && r.Type != (domain.PartnerGrandfathered{}).EventType() {
		return "", false, nil
	}
	ev, err := domain.Decode(r.Type, r.SchemaVersion, r.Data)
	if err != nil {
		return "", false, err
	}
	switch e := ev.(type) {
	case domain.PartnerEnrolled:
		return e.PartnerID, e.Kind == domain.KindOEM, nil
	case domain.PartnerGrandfathered:
		return e.PartnerID, e.Kind == domain.KindOEM, nil
	}
	return "", false, nil
}

func provisionWithRetry(ctx context.Context, provision Provisioner, oem string, logger *slog.Logger) error {
	retries := backoff.Backoff{Min: 100 * time.Millisecond, Max: 10 * time.Second}
	for {
		err := provision(ctx, oem)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		delay := retries.Next()
		logger.Warn("oem watch: provision failed, retrying", "oem", oem, "err", err, "backoff", delay)
		if err2 := backoff.Sleep(ctx, delay); err2 != nil {
			return errors.Join(err, err2)
		}
	}
}
