package prom_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"dealcredit/internal/prom"
)

func TestRegisterSharesTheExistingCollector(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := prometheus.CounterOpts{Name: "x_total", Help: "x"}
	first, err := prom.Register(reg, prometheus.NewCounter(opts))
	if err != nil {
		t.Fatal(err)
	}
	second, err := prom.Register(reg, prometheus.NewCounter(opts))
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Fatal("second registration must return the first collector")
	}
	if _, err := prom.Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{Name: "x_total", Help: "other"})); err == nil {
		t.Fatal("a collector with a conflicting description must be refused")
	}
}
