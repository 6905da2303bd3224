package ingest

import (
	"dealcredit/internal/prom"

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
	mirror   prometheus.Histogram
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
		mirror: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "dealcredit_ingest_mirror_wait_seconds",
			Help:    "Time a committed ingest batch waited for its events to be in the JetStream mirror before its acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.messages, err = prom.Register(reg, m.messages); err != nil {
		return nil, err
	}
	if m.batch, err = prom.Register(reg, m.batch); err != nil {
		return nil, err
	}
	if m.commit, err = prom.Register(reg, m.commit); err != nil {
		return nil, err
	}
	if m.pending, err = prom.Register(reg, m.pending); err != nil {
		return nil, err
	}
	if m.mirror, err = prom.Register(reg, m.mirror); err != nil {
		return nil, err
	}
	return m, nil
}
