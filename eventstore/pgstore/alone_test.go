package pgstore_test

import (
	"context"
	"runtime"
	"strings"
	"testing"

	"dealcredit/eventstore"
	"dealcredit/eventstore/pgstore"
)

// TestLoneAppendWritesItself checks who writes a batch: an append made
// while no other is in progress writes in its caller's goroutine, and an
// append that arrives while that one is being written waits for the writer
// goroutine, which writes it after the first commits, at the next position.
func TestLoneAppendWritesItself(t *testing.T) {
	ctx := context.Background()
	s := mustStore(t, mustPool(t, mustDatabase(t)), pgstore.Options{})
	stacks := make(chan string, 2)
	release := make(chan struct{})
	first := true
	pgstore.SetBeforeCommit(s, func() {
		buf := make([]byte, 1<<16)
		stacks <- string(buf[:runtime.Stack(buf, false)])
		if first { // the writer's hook calls are serialised: no race on first
			first = false
			<-release
		}
	})
	type outcome struct {
		res eventstore.AppendResult
		err error
	}
	appendTo := func(stream string, out chan<- outcome) {
		res, err := s.Append(ctx, stream, eventstore.NoStream, numbered(1))
		out <- outcome{res, err}
	}
	lone, queued := make(chan outcome, 1), make(chan outcome, 1)
	go appendTo("lone", lone)
	if st := <-stacks; !strings.Contains(st, ").writeAlone(") || strings.Contains(st, ").writeLoop(") {
		t.Fatalf("the lone append is not written by its caller:\n%s", st)
	}
	go appendTo("queued", queued)
	close(release)
	if st := <-stacks; !strings.Contains(st, ").writeLoop(") {
		t.Fatalf("the append made during another is not written by the writer goroutine:\n%s", st)
	}
	for i, ch := range []chan outcome{lone, queued} {
		o := <-ch
		if o.err != nil {
			t.Fatalf("append %d: %v", i, o.err)
		}
		if got := o.res.Records[0].Position; got != int64(i+1) {
			t.Fatalf("append %d at position %d, want %d", i, got, i+1)
		}
	}
}
