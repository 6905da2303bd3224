package ingest

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of one message, the values of the outcome label.
const (
	OutcomeAccepted   = "accepted"
	OutcomeDuplicate  = "duplicate"
	OutcomeSuperseded = "superseded"
	OutcomeRejected   = "rejected"
	OutcomeConflict   = "conflict"
)

type metrics struct {
	messages *prometheus.CounterVec
	batch    prometheus.Histogram
	commit   prometheus.Histogram
	pending  *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dealcredit_ingest_messages_total",
			Help: "OEM invoice messages processed, by OEM and outcome (accepted, duplicate, superseded, rejected, conflict).",
		}, []string{"oem", "outcome"}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "dealcredit_ingest_batch_size",
			Help:    "Messages per committed ingest batch.",
			Buckets: []float64{1, 5, 10, 25, 50, 100, 250, 500, 1000, 2000},
		}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "dealcredit_ingest_commit_duration_seconds",
			Help:    "Duration of the Postgres append of one ingest batch.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dealcredit_ingest_pending_messages",
			Help: "Messages of an OEM stream not yet acknowledged by the ingest consumer (undelivered plus awaiting ack).",
		}, []string{"oem"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.messages, err = register(reg, m.messages); err != nil {
		return nil, err
	}
	if m.batch, err = register(reg, m.batch); err != nil {
		return nil, err
	}
	if m.commit, err = register(reg, m.commit); err != nil {
		return nil, err
	}
	if m.pending, err = register(reg, m.pending); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the collector already registered under
// the same description (several consumers in one process share metrics).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("ingest: register metrics: %w", err)
	}
	return c, nil
}
