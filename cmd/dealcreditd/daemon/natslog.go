package daemon

import (
	"context"
	"log/slog"
)

// warnAndAbove passes only records at slog.LevelWarn or above to h. The
// embedded NATS server logs through it: its notices (a start banner of
// some twenty lines, and as many at shutdown) would drown the daemon's one
// line per start step, while its warnings and errors stay in the log.
type warnAndAbove struct{ h slog.Handler }

func (w warnAndAbove) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && w.h.Enabled(ctx, l)
}

func (w warnAndAbove) Handle(ctx context.Context, r slog.Record) error { return w.h.Handle(ctx, r) }

func (w warnAndAbove) WithAttrs(attrs []slog.Attr) slog.Handler {
	return warnAndAbove{w.h.WithAttrs(attrs)}
}

func (w warnAndAbove) WithGroup(name string) slog.Handler { return warnAndAbove{w.h.WithGroup(name)} }
