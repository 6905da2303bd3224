package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"
)

// components runs the daemon's long-lived parts together (an errgroup). The
// first to fail, or the end of Run's context, starts the shutdown; later
// failures are logged. The components' own context ends only when stop is
// called, so the HTTP server stops taking requests before consumers and
// runners stop (in-flight batches finish).
type components struct {
	g        *errgroup.Group
	stopping context.Context // done on the first failure or when Run's context ends
	run      context.Context // the components' context, done at stop
	cancel   context.CancelFunc
	logger   *slog.Logger
}

func newComponents(ctx context.Context, logger *slog.Logger) *components {
	g, stopping := errgroup.WithContext(ctx)
	run, cancel := context.WithCancel(context.Background())
	return &components{g: g, stopping: stopping, run: run, cancel: cancel, logger: logger}
}

// Go starts the component name. An error it returns after stop is the
// shutdown, not a failure.
func (c *components) Go(name string, fn func(context.Context) error) {
	c.g.Go(func() error {
		err := fn(c.run)
		if err == nil || c.run.Err() != nil {
			return nil
		}
		if c.stopping.Err() != nil { // already shutting down for another reason
			c.logger.Error("component failed", "component", name, "err", err)
			return nil
		}
		err = fmt.Errorf("%s: %w", name, err)
		c.logger.Error("component failed, shutting down", "err", err)
		return err
	})
}

// stop ends the components' context and waits for every component (and the
// HTTP server) to return; it returns the first failure.
func (c *components) stop() error {
	c.cancel()
	return c.g.Wait()
}

// serve runs srv on ln beside the components. When the daemon starts to
// shut down (ctx ends or a component fails) it stops taking requests, waiting
// up to 30 s for those in flight, and only then stops the components.
func (c *components) serve(ctx context.Context, srv *http.Server, ln net.Listener) {
	c.g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http: %w", err)
		}
		return nil
	})
	c.g.Go(func() error {
		<-c.stopping.Done()
		if ctx.Err() != nil {
			c.logger.Info("shutting down")
		}
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			c.logger.Error("http shutdown", "err", err)
		}
		c.cancel()
		return nil
	})
}

// wait blocks until the daemon has shut down (see serve) and every component
// has returned; it returns the first failure.
func (c *components) wait() error { return c.g.Wait() }
