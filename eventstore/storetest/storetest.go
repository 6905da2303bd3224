// Package storetest is the behaviour suite every eventstore.Store must pass:
// expected-version modes, the three idempotency outcomes, read order,
// contiguous stream versions, bad input, AppendAtomic and AppendEach.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/google/uuid"

	"dealcredit/eventstore"
)

// Run runs the suite. newStore must return an empty store that is cleaned
// up when its test ends.
func Run(t *testing.T, newStore func(t *testing.T) eventstore.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, eventstore.Store)
	}{
		{"ExpectedVersion", testExpectedVersion},
		{"Idempotency", testIdempotency},
		{"ReadOrder", testReadOrder},
		{"BadInput", testBadInput},
		{"AppendAtomic", testAppendAtomic},
		{"AppendEach", testAppendEach},
		{"ConcurrentNoStream", testConcurrentNoStream},
		{"ExactBytes", testExactBytes},
		{"WaitFor", testWaitFor},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// Ev returns a valid event of type typ with data {"n": n}.
func Ev(typ string, n int) eventstore.Event {
	return eventstore.Event{ID: uuid.New(), Type: typ, SchemaVersion: 1, Data: fmt.Appendf(nil, `{"n":%d}`, n)}
}

func mustAppend(t *testing.T, s eventstore.Store, stream string, exp eventstore.Expected, evs ...eventstore.Event) eventstore.AppendResult {
	t.Helper()
	res, err := s.Append(ctxFor(t), stream, exp, evs...)
	if err != nil {
		t.Fatalf("Append(%s, %s): %v", stream, exp, err)
	}
	return res
}

func mustHead(t *testing.T, s eventstore.Store) int64 {
	t.Helper()
	h, err := s.Head(ctxFor(t))
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	return h
}

func testExpectedVersion(t *testing.T, s eventstore.Store) {
	ctx := ctxFor(t)
	mustAppend(t, s, "acct-two", eventstore.NoStream, Ev("x", 1), Ev("x", 2))
	tests := []struct {
		name     string
		stream   string
		expected eventstore.Expected
		actual   int64 // stream version before; conflict iff wantErr
		wantErr  bool
	}{
		{"any on new stream", "acct-any-new", eventstore.Any, 0, false},
		{"any on existing stream", "acct-two", eventstore.Any, 2, false},
		{"no stream on new stream", "acct-ns-new", eventstore.NoStream, 0, false},
		{"no stream on existing stream", "acct-two", eventstore.NoStream, 3, true},
		{"exists on new stream", "acct-ex-new", eventstore.StreamExists, 0, true},
		{"exists on existing stream", "acct-two", eventstore.StreamExists, 3, false},
		{"exact matching", "acct-two", eventstore.Exact(4), 4, false},
		{"exact behind", "acct-two", eventstore.Exact(3), 5, true},
		{"exact ahead", "acct-two", eventstore.Exact(9), 5, true},
		{"exact on new stream", "acct-exact-new", eventstore.Exact(1), 0, true},
	}
	for _, tc := range tests {
		before := mustHead(t, s)
		res, err := s.Append(ctx, tc.stream, tc.expected, Ev("x", 0))
		if !tc.wantErr {
			if err != nil {
				t.Fatalf("%s: Append: %v", tc.name, err)
			}
			if got := res.Records[0].StreamVersion; got != tc.actual+1 {
				t.Errorf("%s: stream version %d, want %d", tc.name, got, tc.actual+1)
			}
			if res.LastPosition() != before+1 {
				t.Errorf("%s: position %d, want %d", tc.name, res.LastPosition(), before+1)
			}
			continue
		}
		var ce *eventstore.ConflictError
		if !errors.As(err, &ce) || !errors.Is(err, eventstore.ErrConflict) {
			t.Fatalf("%s: err = %v, want *ConflictError", tc.name, err)
		}
		if ce.Stream != tc.stream || ce.Actual != tc.actual || ce.Expected != tc.expected {
			t.Errorf("%s: conflict = %+v, want stream %s actual %d", tc.name, ce, tc.stream, tc.actual)
		}
		if h := mustHead(t, s); h != before {
			t.Errorf("%s: head moved from %d to %d after a conflict", tc.name, before, h)
		}
	}
}

func testIdempotency(t *testing.T, s eventstore.Store) {
	ctx := ctxFor(t)
	a, b := Ev("deal.registered", 1), Ev("deal.approved", 2)
	orig := mustAppend(t, s, "deal-1", eventstore.NoStream, a, b)
	mustAppend(t, s, "deal-1", eventstore.Exact(2), Ev("x", 3))
	head := mustHead(t, s)

	// Outcome 1: identical retry, even with a now-stale expectation and
	// different metadata, returns the original records.
	a2 := a
	a2.Metadata = eventstore.Metadata{Actor: "retry"}
	res, err := s.Append(ctx, "deal-1", eventstore.NoStream, a2, b)
	if err != nil {
		t.Fatalf("identical retry: %v", err)
	}
	if !res.AlreadyAppended || len(res.Records) != 2 {
		t.Fatalf("identical retry = %+v, want AlreadyAppended with 2 records", res)
	}
	for i := range res.Records {
		if res.Records[i].Position != orig.Records[i].Position || !bytes.Equal(res.Records[i].Hash, orig.Records[i].Hash) {
			t.Errorf("retry record %d = pos %d, want original pos %d", i, res.Records[i].Position, orig.Records[i].Position)
		}
	}

	// Outcome 2: the same id with different content is a typed conflict.
	changed := func(f func(*eventstore.Event)) eventstore.Event { e := a; f(&e); return e }
	conflicts := []struct {
		name   string
		stream string
		events []eventstore.Event
	}{
		{"different data", "deal-1", []eventstore.Event{changed(func(e *eventstore.Event) { e.Data = []byte(`{"n":99}`) })}},
		{"different type", "deal-1", []eventstore.Event{changed(func(e *eventstore.Event) { e.Type = "deal.other" })}},
		{"different schema version", "deal-1", []eventstore.Event{changed(func(e *eventstore.Event) { e.SchemaVersion = 2 })}},
		{"different stream", "deal-2", []eventstore.Event{a, b}},
		{"partial retry with a new event", "deal-1", []eventstore.Event{a, Ev("x", 4)}},
	}
	for _, tc := range conflicts {
		_, err := s.Append(ctx, tc.stream, eventstore.Any, tc.events...)
		var ice *eventstore.IDConflictError
		if !errors.As(err, &ice) || !errors.Is(err, eventstore.ErrConflict) {
			t.Fatalf("%s: err = %v, want *IDConflictError", tc.name, err)
		}
		if ice.ID != a.ID || ice.Position != orig.Records[0].Position {
			t.Errorf("%s: conflict = %+v, want id %s at position %d", tc.name, ice, a.ID, orig.Records[0].Position)
		}
	}
	if h := mustHead(t, s); h != head {
		t.Fatalf("head moved from %d to %d: a retry or conflict appended", head, h)
	}

	// Outcome 3: new ids append.
	res = mustAppend(t, s, "deal-1", eventstore.Exact(3), Ev("x", 5))
	if res.AlreadyAppended || res.LastPosition() != head+1 {
		t.Fatalf("new event = %+v, want position %d", res, head+1)
	}
}

func testReadOrder(t *testing.T, s eventstore.Store) {
	ctx := ctxFor(t)
	const streams, rounds = 3, 4
	want := map[string]int64{}
	var n int64
	for r := 0; r < rounds; r++ {
		for i := 0; i < streams; i++ {
			id := fmt.Sprintf("order-%d", i)
			k := 1 + (r+i)%2
			evs := make([]eventstore.Event, k)
			for j := range evs {
				evs[j] = Ev("x", int(n))
				n++
			}
			mustAppend(t, s, id, eventstore.Any, evs...)
			want[id] += int64(k)
		}
	}
	if h := mustHead(t, s); h != n {
		t.Fatalf("Head = %d, want %d", h, n)
	}
	var all []eventstore.Record
	for after := int64(0); ; {
		page, err := s.ReadAll(ctx, after, 5)
		if err != nil {
			t.Fatalf("ReadAll(%d): %v", after, err)
		}
		if len(page) == 0 {
			break
		}
		if len(page) > 5 {
			t.Fatalf("ReadAll(limit 5) returned %d", len(page))
		}
		all = append(all, page...)
		after = page[len(page)-1].Position
	}
	if int64(len(all)) != n {
		t.Fatalf("ReadAll pages hold %d records, want %d", len(all), n)
	}
	for i, r := range all {
		if r.Position != int64(i+1) {
			t.Fatalf("record %d has position %d: not contiguous from 1", i, r.Position)
		}
		if want := fmt.Sprintf(`{"n":%d}`, i); string(r.Data) != want {
			t.Fatalf("position %d holds %s, want %s (append order)", r.Position, r.Data, want)
		}
	}
	for id, count := range want {
		recs, err := s.ReadStream(ctx, id, 0)
		if err != nil {
			t.Fatalf("ReadStream(%s): %v", id, err)
		}
		if int64(len(recs)) != count {
			t.Fatalf("ReadStream(%s) = %d records, want %d", id, len(recs), count)
		}
		var lastPos int64
		for i, r := range recs {
			if r.StreamVersion != int64(i+1) || r.StreamID != id || r.Position <= lastPos {
				t.Fatalf("ReadStream(%s)[%d] = version %d position %d", id, i, r.StreamVersion, r.Position)
			}
			lastPos = r.Position
		}
		tail, err := s.ReadStream(ctx, id, count-1)
		if err != nil || len(tail) != 1 || tail[0].StreamVersion != count {
			t.Fatalf("ReadStream(%s, after %d) = %v, %v", id, count-1, tail, err)
		}
	}
	if recs, err := s.ReadStream(ctx, "order-none", 0); err != nil || len(recs) != 0 {
		t.Fatalf("ReadStream(missing) = %v, %v; want empty", recs, err)
	}
}

// unknownExpected builds an Expected with a mode the package does not
// define, as a corrupted or future caller might.
func unknownExpected() eventstore.Expected {
	var e eventstore.Expected
	f := reflect.ValueOf(&e).Elem().Field(0)
	reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().SetUint(99)
	return e
}

func testBadInput(t *testing.T, s eventstore.Store) {
	ctx := ctxFor(t)
	big := append(append([]byte(`"`), bytes.Repeat([]byte("a"), eventstore.MaxEventSize)...), '"')
	almost := append(append([]byte(`"`), bytes.Repeat([]byte("a"), eventstore.MaxEventSize-10)...), '"')
	withMeta := func(e eventstore.Event, actor string) eventstore.Event { e.Metadata.Actor = actor; return e }
	mod := func(f func(*eventstore.Event)) eventstore.Event { e := Ev("x", 1); f(&e); return e }
	dup := Ev("x", 1)
	tests := []struct {
		name     string
		stream   string
		expected eventstore.Expected
		events   []eventstore.Event
		field    string
	}{
		{"empty stream id", "", eventstore.Any, []eventstore.Event{Ev("x", 1)}, "stream"},
		{"stream id with NUL", "a\x00b", eventstore.Any, []eventstore.Event{Ev("x", 1)}, "stream"},
		{"unknown expected mode", "bad-1", unknownExpected(), []eventstore.Event{Ev("x", 1)}, "expected"},
		{"exact zero", "bad-1", eventstore.Exact(0), []eventstore.Event{Ev("x", 1)}, "expected"},
		{"no events", "bad-1", eventstore.Any, nil, "events"},
		{"nil event id", "bad-1", eventstore.Any, []eventstore.Event{mod(func(e *eventstore.Event) { e.ID = uuid.Nil })}, "events[0].id"},
		{"duplicate event id", "bad-1", eventstore.Any, []eventstore.Event{dup, dup}, "events[1].id"},
		{"empty type", "bad-1", eventstore.Any, []eventstore.Event{Ev("x", 1), mod(func(e *eventstore.Event) { e.Type = "" })}, "events[1].type"},
		{"schema version zero", "bad-1", eventstore.Any, []eventstore.Event{mod(func(e *eventstore.Event) { e.SchemaVersion = 0 })}, "events[0].schema_version"},
		{"data not JSON", "bad-1", eventstore.Any, []eventstore.Event{mod(func(e *eventstore.Event) { e.Data = []byte(`{"a":`) })}, "events[0].data"},
		{"data empty", "bad-1", eventstore.Any, []eventstore.Event{mod(func(e *eventstore.Event) { e.Data = nil })}, "events[0].data"},
		{"data not UTF-8", "bad-1", eventstore.Any, []eventstore.Event{mod(func(e *eventstore.Event) { e.Data = []byte("\"\xff\"") })}, "events[0].data"},
		{"event over 1 MiB", "bad-1", eventstore.Any, []eventstore.Event{mod(func(e *eventstore.Event) { e.Data = big })}, "events[0]"},
		{"data plus metadata over 1 MiB", "bad-1", eventstore.Any, []eventstore.Event{withMeta(mod(func(e *eventstore.Event) { e.Data = almost }), strings.Repeat("m", 64))}, "events[0]"},
	}
	for _, tc := range tests {
		_, err := s.Append(ctx, tc.stream, tc.expected, tc.events...)
		var ie *eventstore.InvalidError
		if !errors.As(err, &ie) || !errors.Is(err, eventstore.ErrInvalid) {
			t.Fatalf("%s: err = %v, want *InvalidError", tc.name, err)
		}
		if !strings.HasPrefix(ie.Field, tc.field) {
			t.Errorf("%s: field %q, want %q", tc.name, ie.Field, tc.field)
		}
	}
	// A bad request inside an atomic append stops the good ones too.
	_, err := s.AppendAtomic(ctx,
		eventstore.AppendRequest{Stream: "good-1", Expected: eventstore.Any, Events: []eventstore.Event{Ev("x", 1)}},
		eventstore.AppendRequest{Stream: "", Expected: eventstore.Any, Events: []eventstore.Event{Ev("x", 2)}},
	)
	var ie *eventstore.InvalidError
	if !errors.As(err, &ie) || !strings.Contains(ie.Field, "stream") {
		t.Fatalf("atomic with a bad request: err = %v, want *InvalidError on stream", err)
	}
	if h := mustHead(t, s); h != 0 {
		t.Fatalf("head = %d after only bad input, want 0 (nothing appended)", h)
	}
}

func testAppendAtomic(t *testing.T, s eventstore.Store) {
	ctx := ctxFor(t)
	mustAppend(t, s, "key-acme", eventstore.NoStream, Ev("x", 0))
	// A conflict in one request stops all of them.
	_, err := s.AppendAtomic(ctx,
		eventstore.AppendRequest{Stream: "deal-9", Expected: eventstore.NoStream, Events: []eventstore.Event{Ev("x", 1)}},
		eventstore.AppendRequest{Stream: "key-acme", Expected: eventstore.NoStream, Events: []eventstore.Event{Ev("x", 2)}},
	)
	var ce *eventstore.ConflictError
	if !errors.As(err, &ce) || ce.Stream != "key-acme" || ce.Actual != 1 {
		t.Fatalf("atomic with a conflict: err = %v, want conflict on key-acme at 1", err)
	}
	if h := mustHead(t, s); h != 1 {
		t.Fatalf("head = %d after a failed atomic append, want 1", h)
	}
	// All pass: consecutive positions, and a second request on the same
	// stream sees the first one's version.
	res, err := s.AppendAtomic(ctx,
		eventstore.AppendRequest{Stream: "deal-9", Expected: eventstore.NoStream, Events: []eventstore.Event{Ev("x", 1), Ev("x", 2)}},
		eventstore.AppendRequest{Stream: "key-acme", Expected: eventstore.Exact(1), Events: []eventstore.Event{Ev("x", 3)}},
		eventstore.AppendRequest{Stream: "deal-9", Expected: eventstore.Exact(2), Events: []eventstore.Event{Ev("x", 4)}},
	)
	if err != nil {
		t.Fatalf("AppendAtomic: %v", err)
	}
	if len(res) != 3 {
		t.Fatalf("AppendAtomic returned %d results, want 3", len(res))
	}
	want := []struct{ pos, ver int64 }{{2, 1}, {3, 2}, {4, 2}, {5, 3}}
	var got []struct{ pos, ver int64 }
	for _, r := range res {
		for _, rec := range r.Records {
			got = append(got, struct{ pos, ver int64 }{rec.Position, rec.StreamVersion})
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("AppendAtomic (position, version) = %v, want %v", got, want)
	}
}

func testAppendEach(t *testing.T, s eventstore.Store) {
	ctx := ctxFor(t)
	first := mustAppend(t, s, "inv-1", eventstore.NoStream, Ev("x", 0))
	req := func(stream string, exp eventstore.Expected, evs ...eventstore.Event) []eventstore.AppendRequest {
		return []eventstore.AppendRequest{{Stream: stream, Expected: exp, Events: evs}}
	}
	e0 := Ev("x", 0)
	e0.ID = first.Records[0].ID
	units := [][]eventstore.AppendRequest{
		req("inv-2", eventstore.NoStream, Ev("x", 1)),        // ok
		req("inv-1", eventstore.NoStream, Ev("x", 2)),        // version conflict
		req("", eventstore.Any, Ev("x", 3)),                  // invalid
		req("inv-2", eventstore.Exact(1), Ev("x", 4)),        // ok, sees unit 0
		req("inv-1", eventstore.NoStream, e0),                // idempotent retry
		req("inv-3", eventstore.Any, Ev("x", 5), Ev("x", 6)), // ok
	}
	res, err := s.AppendEach(ctx, units)
	if err != nil {
		t.Fatalf("AppendEach: %v", err)
	}
	if len(res) != len(units) {
		t.Fatalf("AppendEach returned %d results for %d units", len(res), len(units))
	}
	var ce *eventstore.ConflictError
	var ie *eventstore.InvalidError
	checks := []struct {
		name string
		ok   bool
	}{
		{"unit 0 appended", res[0].Err == nil && res[0].Results[0].Records[0].StreamVersion == 1},
		{"unit 1 conflict", errors.As(res[1].Err, &ce) && ce.Stream == "inv-1"},
		{"unit 2 invalid", errors.As(res[2].Err, &ie)},
		{"unit 3 appended after unit 0", res[3].Err == nil && res[3].Results[0].Records[0].StreamVersion == 2},
		{"unit 4 already appended", res[4].Err == nil && res[4].Results[0].AlreadyAppended && res[4].Results[0].Records[0].Position == 1},
		{"unit 5 appended", res[5].Err == nil && len(res[5].Results[0].Records) == 2},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: got %+v", c.name, res)
		}
	}
	if h := mustHead(t, s); h != 5 {
		t.Fatalf("head = %d, want 5 (1 + units 0, 3 and 5)", h)
	}
	if recs, err := s.ReadStream(ctx, "inv-2", 0); err != nil || len(recs) != 2 {
		t.Fatalf("inv-2 = %v, %v; want 2 records", recs, err)
	}
}

func testConcurrentNoStream(t *testing.T, s eventstore.Store) {
	ctx := ctxFor(t)
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.Append(ctx, "race-1", eventstore.NoStream, Ev("x", i))
		})
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		var ce *eventstore.ConflictError
		switch {
		case err == nil:
			wins++
		case errors.As(err, &ce):
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d appenders won NoStream on one stream, want exactly 1", wins)
	}
	if h := mustHead(t, s); h != 1 {
		t.Fatalf("head = %d, want 1", h)
	}
}

func testExactBytes(t *testing.T, s eventstore.Store) {
	ctx := ctxFor(t)
	datas := []string{
		`{"z":1,"a":2}`,
		"{ \"a\" :\t[1, 2.50, 1e3] }",
		`{"a":1,"a":2}`,
		`"caf\u00e9 ☕"`,
		`[]`,
		`null`,
	}
	var evs []eventstore.Event
	for i, d := range datas {
		e := Ev("bytes", i)
		e.Data = []byte(d)
		e.Metadata = eventstore.Metadata{CorrelationID: "c", CausationID: "k", Actor: "a", Source: fmt.Sprintf("src#%d", i)}
		e.OccurredAt = time.Date(2026, 1, 2, 3, 4, 5, 678901234, time.FixedZone("x", 3600))
		evs = append(evs, e)
	}
	mustAppend(t, s, "bytes-1", eventstore.NoStream, evs...)
	recs, err := s.ReadStream(ctx, "bytes-1", 0)
	if err != nil || len(recs) != len(datas) {
		t.Fatalf("ReadStream = %d, %v", len(recs), err)
	}
	for i, r := range recs {
		if string(r.Data) != datas[i] {
			t.Errorf("data %d = %q, want exactly %q", i, r.Data, datas[i])
		}
		if want := fmt.Sprintf(`"source":"src#%d"`, i); !strings.Contains(string(r.Metadata), want) {
			t.Errorf("metadata %d = %s, want it to contain %s", i, r.Metadata, want)
		}
		if want := evs[i].OccurredAt.Truncate(time.Microsecond); !r.OccurredAt.Equal(want) {
			t.Errorf("occurred_at %d = %v, want %v", i, r.OccurredAt, want)
		}
		if r.Type != "bytes" || r.SchemaVersion != 1 || r.ID != evs[i].ID {
			t.Errorf("record %d = %+v", i, r)
		}
	}
}

func testWaitFor(t *testing.T, s eventstore.Store) {
	ctx := ctxFor(t)
	mustAppend(t, s, "w-1", eventstore.Any, Ev("x", 1))
	if h, err := s.WaitFor(ctx, 0); err != nil || h != 1 {
		t.Fatalf("WaitFor(0) = %d, %v; want 1 at once", h, err)
	}
	got := make(chan int64, 1)
	go func() {
		h, err := s.WaitFor(ctx, 1)
		if err != nil {
			t.Errorf("WaitFor(1): %v", err)
		}
		got <- h
	}()
	mustAppend(t, s, "w-1", eventstore.Any, Ev("x", 2))
	select {
	case h := <-got:
		if h < 2 {
			t.Fatalf("WaitFor(1) = %d, want >= 2", h)
		}
	case <-ctx.Done():
		t.Fatal("WaitFor(1) did not wake after a commit")
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := s.WaitFor(short, 2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitFor(head) with no commit = %v, want deadline exceeded", err)
	}
}
