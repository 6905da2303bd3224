package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"dealcredit/eventstore"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Querier is what reads need: a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// TableDigest is the sha-256 of a table's rows (their text form, sorted
// bytewise, one per line) and their count.
type TableDigest struct {
	Table  string `json:"table"`
	Rows   int64  `json:"rows"`
	SHA256 string `json:"sha256"`
}

// Digest returns the digest of each of p's tables in schema. Rows are
// streamed, so memory does not grow with the table.
func Digest(ctx context.Context, q Querier, p Projection, schema string) ([]TableDigest, error) {
	var out []TableDigest
	for _, t := range p.Tables() {
		d, err := digestTable(ctx, q, schema, t)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

func digestTable(ctx context.Context, q Querier, schema, table string) (TableDigest, error) {
	d := TableDigest{Table: table}
	qt := pgx.Identifier{schema, table}.Sanitize()
	rows, err := q.Query(ctx, `SELECT t::text FROM `+qt+` t ORDER BY t::text COLLATE "C"`)
	if err != nil {
		return d, fmt.Errorf("projection: digest %s: %w", qt, err)
	}
	defer rows.Close()
	h := sha256.New()
	var line string
	for rows.Next() {
		if err := rows.Scan(&line); err != nil {
			return d, fmt.Errorf("projection: digest %s: %w", qt, err)
		}
		_, _ = io.WriteString(h, line)
		_, _ = h.Write([]byte{'\n'})
		d.Rows++
	}
	if err := rows.Err(); err != nil {
		return d, fmt.Errorf("projection: digest %s: %w", qt, err)
	}
	d.SHA256 = hex.EncodeToString(h.Sum(nil))
	return d, nil
}

// ProjectionReport is the outcome of verifying one projection.
type ProjectionReport struct {
	Name     string        `json:"name"`
	Position int64         `json:"position"`
	Live     []TableDigest `json:"live"`
	Rebuilt  []TableDigest `json:"rebuilt"`
	OK       bool          `json:"ok"`
	// Table and FirstDiff name the first table that differs and the first
	// differing row (bytewise order of the row text), prefixed "live: " or
	// "rebuilt: " by the side that has it.
	Table     string `json:"table,omitempty"`
	FirstDiff string `json:"first_diff,omitempty"`
}

// Report is the outcome of Verify.
type Report struct {
	Projections []ProjectionReport `json:"projections"`
}

// OK reports whether every projection matched its rebuild.
func (r Report) OK() bool {
	for _, p := range r.Projections {
		if !p.OK {
			return false
		}
	}
	return true
}

// String renders the report, one line per projection.
func (r Report) String() string {
	var sb strings.Builder
	for _, p := range r.Projections {
		if p.OK {
			fmt.Fprintf(&sb, "%s: ok at position %d\n", p.Name, p.Position)
			continue
		}
		fmt.Fprintf(&sb, "%s: MISMATCH at position %d in table %s: first differing row %s\n", p.Name, p.Position, p.Table, p.FirstDiff)
	}
	return sb.String()
}

// Verify rebuilds each projection into a scratch schema, up to the live
// checkpoint, and compares the digests of its tables with the live ones.
// The live runner is paused only for the final catch-up and comparison.
func Verify(ctx context.Context, pool *pgxpool.Pool, log eventstore.Reader, batchSize int, projs ...Projection) (Report, error) {
	return VerifyProgress(ctx, pool, log, batchSize, nil, projs...)
}

// VerifyProgress is Verify reporting progress: when not nil, progress is
// called after each batch of each scratch rebuild with the projection's
// name, the position reached and the position the rebuild runs to.
func VerifyProgress(ctx context.Context, pool *pgxpool.Pool, log eventstore.Reader, batchSize int, progress func(name string, pos, total int64), projs ...Projection) (Report, error) {
	var rep Report
	for _, p := range projs {
		var pf func(pos, total int64)
		if progress != nil {
			name := p.Name()
			pf = func(pos, total int64) { progress(name, pos, total) }
		}
		pr, err := verifyOne(ctx, pool, log, p, batchSize, pf)
		if err != nil {
			return rep, err
		}
		rep.Projections = append(rep.Projections, pr)
	}
	return rep, nil
}

func verifyOne(ctx context.Context, pool *pgxpool.Pool, log eventstore.Reader, p Projection, batchSize int, progress func(pos, total int64)) (ProjectionReport, error) {
	name := p.Name()
	pr := ProjectionReport{Name: name}
	if err := Ensure(ctx, pool, p); err != nil {
		return pr, err
	}
	if batchSize <= 0 {
		batchSize = DefaultBatchSize
	}
	cp, err := ReadCheckpoint(ctx, pool, name)
	if err != nil {
		return pr, err
	}
	scratch := Schema(name) + "_verify"
	defer dropSchema(ctx, pool, scratch)
	limit := Limit{Position: cp.Position}
	if cp.Position == 0 {
		limit.Position = -1
	}
	pos, state, err := Build(ctx, pool, log, p, scratch, limit, batchSize, progress)
	if err != nil {
		return pr, err
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		livePos, err := lockCheckpoint(ctx, tx, name)
		if err != nil {
			return err
		}
		if livePos < pos {
			return fmt.Errorf("projection: verify %s: live checkpoint moved back from %d to %d", name, pos, livePos)
		}
		if err := setSearchPath(ctx, tx, scratch); err != nil {
			return err
		}
		if livePos > pos {
			pos, err = foldRange(ctx, log, pos, Limit{Position: livePos}, batchSize, func(b []eventstore.Record) error {
				return state.Apply(ctx, tx, b)
			})
			if err != nil {
				return err
			}
		}
		pr.Position = pos
		if pr.Live, err = Digest(ctx, tx, p, Schema(name)); err != nil {
			return err
		}
		if pr.Rebuilt, err = Digest(ctx, tx, p, scratch); err != nil {
			return err
		}
		pr.OK = true
		for i := range pr.Live {
			if pr.Live[i] == pr.Rebuilt[i] {
				continue
			}
			pr.OK = false
			pr.Table = pr.Live[i].Table
			pr.FirstDiff, err = firstDiff(ctx, tx, Schema(name), scratch, pr.Table)
			return err
		}
		return nil
	})
	if err != nil {
		return pr, fmt.Errorf("projection: verify %s: %w", name, err)
	}
	return pr, nil
}

// firstDiff returns the bytewise-first row that is in one table and not the
// other (counting duplicates).
func firstDiff(ctx context.Context, q Querier, liveSchema, otherSchema, table string) (string, error) {
	a, b := pgx.Identifier{liveSchema, table}.Sanitize(), pgx.Identifier{otherSchema, table}.Sanitize()
	sql := `SELECT side, r FROM (
		(SELECT 'live: ' AS side, r FROM (SELECT t::text AS r FROM ` + a + ` t EXCEPT ALL SELECT t::text FROM ` + b + ` t) x)
		UNION ALL
		(SELECT 'rebuilt: ', r FROM (SELECT t::text AS r FROM ` + b + ` t EXCEPT ALL SELECT t::text FROM ` + a + ` t) y)
	) d ORDER BY r COLLATE "C", side LIMIT 1`
	var side, row string
	err := q.QueryRow(ctx, sql).Scan(&side, &row)
	if errors.Is(err, pgx.ErrNoRows) {
		return "(same rows, different digest)", nil
	}
	if err != nil {
		return "", fmt.Errorf("projection: diff %s: %w", table, err)
	}
	return side + row, nil
}
