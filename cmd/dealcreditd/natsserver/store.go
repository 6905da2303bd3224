package natsserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// MinStoreFree is the free space below which the disk of the embedded
// JetStream store counts as full: StoreHealth fails, and WatchStore
// restarts JetStream once twice as much is free again.
const MinStoreFree = 16 << 20

// StoreHealth returns an error when the disk holding the JetStream store
// has less than MinStoreFree bytes free (nil when that cannot be known), or
// was full and JetStream has not been restarted since (WatchStore).
func (s *Server) StoreHealth() error {
	free, ok := diskFree(s.dataDir)
	if ok && free < MinStoreFree {
		return fmt.Errorf("the disk of the JetStream store (%s) has %d bytes free, less than %d: JetStream cannot store", s.dataDir, free, MinStoreFree)
	}
	if s.storeWasFull.Load() {
		return errors.New("the disk of the JetStream store was full: JetStream is restarted to reload its streams")
	}
	return nil
}

// WatchStore checks the disk of the store every interval until ctx ends.
// A JetStream file store that failed a write for want of space refuses
// every later write to that stream, silently, until it is loaded again; so
// once the disk was full and has room again (twice MinStoreFree), it
// restarts JetStream, which loads every stream again. Clients stay
// connected.
func (s *Server) WatchStore(ctx context.Context, interval time.Duration, log *slog.Logger) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		free, ok := diskFree(s.dataDir)
		switch {
		case !ok:
		case free < MinStoreFree && !s.storeWasFull.Load():
			s.storeWasFull.Store(true)
			log.Error("disk of the JetStream store is full; JetStream will be restarted once space is freed", "store", s.dataDir, "free_bytes", free)
		case s.storeWasFull.Load() && free >= 2*MinStoreFree:
			log.Warn("disk of the JetStream store has room again: restarting JetStream to reload its streams", "store", s.dataDir, "free_bytes", free)
			if err := s.RestartJetStream(); err != nil {
				log.Error("restart JetStream", "err", err)
				continue
			}
			s.storeWasFull.Store(false)
		}
	}
}

// RestartJetStream stops JetStream and starts it again from its store with
// the same settings.
func (s *Server) RestartJetStream() error {
	cfg := s.srv.JetStreamConfig()
	if cfg == nil {
		return errors.New("natsserver: jetstream is not running")
	}
	// EnableJetStream appends "jetstream" to StoreDir itself.
	cfg.StoreDir = s.dataDir
	if err := s.srv.ShutdownJetStream(); err != nil {
		return fmt.Errorf("natsserver: stop jetstream: %w", err)
	}
	if err := s.srv.EnableJetStream(cfg); err != nil {
		return fmt.Errorf("natsserver: start jetstream: %w", err)
	}
	return nil
}
