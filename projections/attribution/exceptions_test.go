package attribution_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"dealcredit/domain"
	"dealcredit/internal/genlog"
	"dealcredit/projections/attribution"
	"dealcredit/projections/runner"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// countQueries is a pgx tracer that counts the statements sent.
type countQueries struct{ n atomic.Int64 }

func (c *countQueries) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c *countQueries) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// A page of the exception queue is one statement whatever it finds: its
// rows, the position they reflect, and whether after names a row the caller
// may see (an empty page with a wrong after is an error naming after, an
// empty last page is not), all from one snapshot.
func TestExceptionPageIsOneStatement(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	head, err := genlog.Append(ctx, e.store, 600, 200, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := runner.Rebuild(ctx, e.pool, e.store, attribution.New(), 0, nil); err != nil {
		t.Fatal(err)
	}
	cfg, err := pgxpool.ParseConfig(e.pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	tracer := &countQueries{}
	cfg.ConnConfig.Tracer = tracer
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	r := attribution.NewReader(pool)
	all, _, err := r.Exceptions(ctx, attribution.ExceptionFilter{Limit: 1000})
	if err != nil || len(all) < 3 {
		t.Fatalf("%d exceptions (%v), want at least 3", len(all), err)
	}
	last := all[len(all)-1].ExceptionID
	tests := []struct {
		name     string
		f        attribution.ExceptionFilter
		want     []string // exception ids
		badAfter bool
	}{
		{"first page", attribution.ExceptionFilter{Limit: 2}, []string{all[0].ExceptionID, all[1].ExceptionID}, false},
		{"next page", attribution.ExceptionFilter{After: all[0].ExceptionID, Limit: 1}, []string{all[1].ExceptionID}, false},
		{"after the last row", attribution.ExceptionFilter{After: last, Limit: 10}, nil, false},
		{"no row matches", attribution.ExceptionFilter{Status: "refused", OEMID: "nobody"}, nil, false},
		{"no row matches after a row", attribution.ExceptionFilter{OEMID: "nobody", After: all[0].ExceptionID}, nil, false},
		{"after names no row", attribution.ExceptionFilter{After: "x0000"}, nil, true},
		{"after names a row the partner may not see", attribution.ExceptionFilter{After: all[0].ExceptionID, VisibleTo: "var-1"}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := tracer.n.Load()
			rows, pos, err := r.Exceptions(ctx, tc.f)
			if n := tracer.n.Load() - before; n != 1 {
				t.Errorf("%d statements, want 1", n)
			}
			var de *domain.Error
			if tc.badAfter {
				if !errors.As(err, &de) || de.Code != domain.Invalid || de.Field != "after" || len(rows) != 0 {
					t.Fatalf("rows %d, err %v; want an invalid after", len(rows), err)
				}
				return
			}
			if err != nil || pos != head {
				t.Fatalf("position %d (%v), want %d", pos, err, head)
			}
			if len(rows) != len(tc.want) {
				t.Fatalf("%d rows, want %d", len(rows), len(tc.want))
			}
			for i, id := range tc.want {
				if rows[i].ExceptionID != id {
					t.Errorf("row %d is %s, want %s", i, rows[i].ExceptionID, id)
				}
			}
		})
	}
}
