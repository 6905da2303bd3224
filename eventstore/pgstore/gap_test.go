package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"dealcredit/eventstore"
	"dealcredit/eventstore/pgstore"
)

// gapSize returns the writers, appends per writer and the chance that an
// append transaction is held open for a random 0-500 ms.
func gapSize() (writers, perWriter int, holdEvery int) {
	if os.Getenv("DEALCREDIT_SOAK") != "" {
		return 16, 10000, 100
	}
	return 8, 800, 200
}

// holdRandomly returns a hook that, once every `every` transactions on
// average, keeps the transaction open for a random 0-500 ms with its rows
// inserted, so commits of the two stores interleave out of order if the
// advisory lock did not order them.
func holdRandomly(every int) func() {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	return func() {
		mu.Lock()
		hold := rng.IntN(every) == 0
		d := time.Duration(rng.IntN(500)) * time.Millisecond
		mu.Unlock()
		if hold {
			time.Sleep(d) // simulates a slow transaction, not synchronisation
		}
	}
}

// TestGapFreeFollower runs writers on two stores with separate pools (as two
// processes would; one writes with COPY, the other with INSERT) while a live follower reads with ReadAll+WaitFor: it must
// see every position exactly once, in order, and every appended event.
func TestGapFreeFollower(t *testing.T) {
	t.Parallel()
	gapFreeFollower(t, mustDatabase(t), true)
}

// gapFreeFollower is TestGapFreeFollower on the migrated database dsn; with
// hold the stores hold some transactions open before COMMIT (which makes
// their fast path open its transaction itself), without they write as in
// production.
func gapFreeFollower(t *testing.T, dsn string, hold bool) {
	writers, perWriter, holdEvery := gapSize()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	stores := make([]*pgstore.Store, 2)
	for i := range stores {
		stores[i] = mustStore(t, mustPool(t, dsn), pgstore.Options{})
		if hold {
			pgstore.SetBeforeCommit(stores[i], holdRandomly(holdEvery))
		}
	}
	// One store writes every batch with COPY, the other with INSERT (its
	// batches stay below the COPY threshold): both paths interleave.
	pgstore.SetCopyMin(stores[1], 1)
	reader := mustStore(t, mustPool(t, dsn), pgstore.Options{})

	var (
		appended sync.Map // event id -> position
		count    atomic.Int64
		done     = make(chan struct{})
	)
	var wg sync.WaitGroup
	for w := range writers {
		s := stores[w%len(stores)]
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 2))
			for i := 0; i < perWriter; i++ {
				stream := fmt.Sprintf("gap-%d", rng.IntN(50)) // overlapping streams
				n := 1 + rng.IntN(4)
				evs := make([]eventstore.Event, n)
				for k := range evs {
					evs[k] = eventstore.Event{ID: uuid.New(), Type: "gap.test", SchemaVersion: 1, Data: fmt.Appendf(nil, `{"w":%d,"i":%d}`, w, i)}
				}
				res, err := s.Append(ctx, stream, eventstore.Any, evs...)
				if err != nil {
					t.Errorf("writer %d append %d: %v", w, i, err)
					return
				}
				for _, r := range res.Records {
					appended.Store(r.ID, r.Position)
					count.Add(1)
				}
			}
		})
	}
	go func() { wg.Wait(); close(done) }()

	// The live follower.
	seen := map[uuid.UUID]int64{}
	var last int64
	writersDone := false
	for {
		recs, err := reader.ReadAll(ctx, last, 1000)
		if err != nil {
			t.Fatalf("follower ReadAll(%d): %v", last, err)
		}
		for _, r := range recs {
			if r.Position != last+1 {
				t.Fatalf("follower at %d got position %d: skipped or repeated", last, r.Position)
			}
			if _, dup := seen[r.ID]; dup {
				t.Fatalf("event %s seen twice", r.ID)
			}
			seen[r.ID] = r.Position
			last = r.Position
		}
		if len(recs) > 0 {
			continue
		}
		if writersDone && last == count.Load() {
			break
		}
		select {
		case <-done:
			writersDone = true
			continue
		default:
		}
		waitCtx, cancelWait := context.WithTimeout(ctx, 100*time.Millisecond)
		_, err = reader.WaitFor(waitCtx, last)
		cancelWait()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("follower WaitFor(%d): %v", last, err)
		}
		if ctx.Err() != nil {
			t.Fatalf("follower stuck at %d of %d", last, count.Load())
		}
	}
	if t.Failed() {
		return
	}
	if int64(len(seen)) != count.Load() {
		t.Fatalf("follower saw %d events, writers appended %d", len(seen), count.Load())
	}
	appended.Range(func(k, v any) bool {
		if pos, ok := seen[k.(uuid.UUID)]; !ok || pos != v.(int64) {
			t.Fatalf("appended event %s at %d: follower saw it at %d (present %v)", k, v, pos, ok)
		}
		return true
	})
	rep, err := reader.Verify(ctx, nil)
	if err != nil || rep.Head != last {
		t.Fatalf("Verify after the gap test = %+v, %v", rep, err)
	}
	t.Logf("%d events from %d writers on 2 pools, follower saw each once in order", last, writers)
}

// TestNaiveFollowerMissesRows is the negative control: a bigserial table
// written by concurrent transactions that commit out of order, read with
// WHERE id > last ORDER BY id, loses rows. It proves the conditions of
// TestGapFreeFollower can expose the bug.
func TestNaiveFollowerMissesRows(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dsn := mustDatabase(t)
	pools := []*pgxpool.Pool{mustPool(t, dsn), mustPool(t, dsn)}
	if _, err := pools[0].Exec(ctx, `CREATE TABLE naive (id bigserial PRIMARY KEY, payload int NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	const writers, perWriter = 8, 150
	var inserted atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := range writers {
		pool := pools[w%2]
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 3))
			for i := 0; i < perWriter; i++ {
				tx, err := pool.Begin(ctx)
				if err != nil {
					t.Errorf("begin: %v", err)
					return
				}
				if _, err := tx.Exec(ctx, `INSERT INTO naive (payload) VALUES ($1)`, i); err != nil {
					t.Errorf("insert: %v", err)
					return
				}
				if rng.IntN(10) == 0 {
					time.Sleep(time.Duration(rng.IntN(500)) * time.Millisecond) // a slow transaction
				}
				if err := tx.Commit(ctx); err != nil {
					t.Errorf("commit: %v", err)
					return
				}
				inserted.Add(1)
			}
		})
	}
	go func() { wg.Wait(); close(done) }()

	seen := map[int64]bool{}
	var last int64
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	finished := false
	for !finished {
		select {
		case <-done:
			finished = true // one more read after the last commit
		case <-tick.C:
		}
		rows, err := pools[0].Query(ctx, `SELECT id FROM naive WHERE id > $1 ORDER BY id`, last)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			seen[id] = true
			last = id
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	missed := inserted.Load() - int64(len(seen))
	t.Logf("naive follower saw %d of %d committed rows, missed %d", len(seen), inserted.Load(), missed)
	if missed == 0 {
		t.Fatal("the naive follower missed nothing: the test conditions do not expose the bigserial gap")
	}
}
