package pgstore

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// follower tracks the highest head this process has seen, from its own
// commits and from NOTIFY on a dedicated connection, and wakes waiters.
type follower struct {
	once    sync.Once
	mu      sync.Mutex
	head    int64
	changed chan struct{} // closed and replaced when head grows
	live    bool          // the LISTEN connection is up and head is current
	stopped chan struct{} // closed when the listener goroutine exits
	started bool
}

func (f *follower) init() {
	f.changed = make(chan struct{})
	f.stopped = make(chan struct{})
}

// advance records a head seen; it never moves backwards.
func (f *follower) advance(h int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if h > f.head {
		f.head = h
		close(f.changed)
		f.changed = make(chan struct{})
	}
}

func (f *follower) state() (head int64, live bool, changed <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.head, f.live, f.changed
}

func (f *follower) setLive(live bool) {
	f.mu.Lock()
	f.live = live
	f.mu.Unlock()
}

// wait blocks until the listener, if it was started, has exited.
func (f *follower) wait() {
	f.mu.Lock()
	started := f.started
	f.mu.Unlock()
	if started {
		<-f.stopped
	}
}

// WaitFor blocks until the head is greater than after or ctx ends, and
// returns the head. It wakes on LISTEN/NOTIFY and on this Store's own
// commits, and re-reads the head every RecheckInterval, so a lost
// notification delays a follower but never stalls it.
func (s *Store) WaitFor(ctx context.Context, after int64) (int64, error) {
	s.follow.once.Do(func() {
		s.follow.mu.Lock()
		s.follow.started = true
		s.follow.mu.Unlock()
		go s.listen()
	})
	checked := false
	for {
		head, live, changed := s.follow.state()
		if head > after {
			return head, nil
		}
		if !live && !checked {
			h, err := s.Head(ctx)
			if err != nil {
				return 0, fmt.Errorf("pgstore: wait for position > %d: %w", after, err)
			}
			s.follow.advance(h)
			checked = true
			if h > after {
				return h, nil
			}
		}
		t := time.NewTimer(s.recheck)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, fmt.Errorf("pgstore: wait for position > %d: %w", after, ctx.Err())
		case <-changed:
			t.Stop()
		case <-t.C:
			checked = false
			h, err := s.Head(ctx)
			if err != nil {
				return 0, fmt.Errorf("pgstore: wait for position > %d: %w", after, err)
			}
			s.follow.advance(h)
		}
	}
}

// listen holds a dedicated connection LISTENing on NotifyChannel until the
// Store closes, reconnecting with backoff when it fails.
func (s *Store) listen() {
	defer close(s.follow.stopped)
	delay := 100 * time.Millisecond
	for s.ctx.Err() == nil {
		err := s.listenOnce()
		s.follow.setLive(false)
		if s.ctx.Err() != nil {
			return
		}
		s.log.Warn("pgstore: listener connection failed, reconnecting", "err", err, "in", delay)
		t := time.NewTimer(delay)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(2*delay, 5*time.Second)
	}
}

func (s *Store) listenOnce() error {
	conn, err := s.pool.Acquire(s.ctx)
	if err != nil {
		return fmt.Errorf("acquire: %w", err)
	}
	// The connection leaves the pool: it carries LISTEN state.
	pc := conn.Hijack()
	defer pc.Close(context.Background())
	if _, err := pc.Exec(s.ctx, "LISTEN "+NotifyChannel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	var head int64
	if err := pc.QueryRow(s.ctx, `SELECT COALESCE(max(position), 0) FROM events`).Scan(&head); err != nil {
		return fmt.Errorf("read head: %w", err)
	}
	s.follow.advance(head)
	s.follow.setLive(true)
	for {
		n, err := pc.WaitForNotification(s.ctx)
		if err != nil {
			return fmt.Errorf("wait for notification: %w", err)
		}
		if h, err := strconv.ParseInt(n.Payload, 10, 64); err == nil {
			s.follow.advance(h)
		}
	}
}
