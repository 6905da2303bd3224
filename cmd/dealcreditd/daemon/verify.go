package daemon

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"dealcredit/eventstore/mirror"
	"dealcredit/eventstore/pgstore"
	"dealcredit/internal/prom"
)

// verifier checks the hash chain of the log and its JetStream mirror on a
// schedule (what `dealcredit verify` does) and exports the outcome for the
// DealcreditVerifyFailed and DealcreditVerifyStale alerts.
type verifier struct {
	store    *pgstore.Store
	js       jetstream.JetStream
	every    time.Duration
	log      *slog.Logger
	failures prometheus.Counter
	success  prometheus.Gauge
}

func newVerifier(store *pgstore.Store, js jetstream.JetStream, every time.Duration, reg prometheus.Registerer, log *slog.Logger) (*verifier, error) {
	v := &verifier{
		store: store, js: js, every: every, log: log,
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dealcredit_verify_failures_total",
			Help: "Scheduled verifications that found the hash chain broken or the JetStream mirror different from the log.",
		}),
		success: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dealcredit_verify_last_success_timestamp_seconds",
			Help: "Unix time of the last scheduled verification in which the chain held and the mirror matched.",
		}),
	}
	var err error
	if v.failures, err = prom.Register(reg, v.failures); err != nil {
		return nil, err
	}
	if v.success, err = prom.Register(reg, v.success); err != nil {
		return nil, err
	}
	return v, nil
}

// run verifies once shortly after start, then every v.every, and at once
// whenever the store finds itself on another database server (a failover
// may have lost the log's tail), until ctx ends.
func (v *verifier) run(ctx context.Context) error {
	t := time.NewTimer(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-v.store.ServerChanged():
			v.log.Info("database server changed, verifying the log against the mirror")
			if !t.Stop() {
				select {
				case <-t.C:
				default:
				}
			}
		}
		v.once(ctx)
		t.Reset(v.every)
	}
}

// once runs one verification and records its outcome. An error that stops
// the check itself (database or NATS unreachable) is logged, not counted as
// a failure: it proves nothing about the log.
func (v *verifier) once(ctx context.Context) {
	start := time.Now()
	rep, err := v.store.Verify(ctx, nil)
	if err != nil && !pgstore.IsChainError(err) {
		v.log.Warn("scheduled verify could not run", "err", err)
		return
	}
	if !rep.OK() {
		v.failures.Inc()
		v.log.Error("scheduled verify: hash chain broken", "position", rep.BadPosition, "reason", rep.Reason)
		return
	}
	mrep, err := mirror.Verify(ctx, v.store, v.js)
	if err != nil {
		v.log.Warn("scheduled verify could not check the mirror", "err", err)
		return
	}
	if !mrep.OK() {
		v.failures.Inc()
		v.log.Error("scheduled verify: mirror differs from the log", "position", mrep.BadPosition, "reason", mrep.Reason)
		return
	}
	v.success.SetToCurrentTime()
	v.log.Info("scheduled verify ok", "events", rep.Records, "mirrored", mrep.Checked, "behind", mrep.Behind, "took", time.Since(start))
}
