// Package prom holds the one helper components use to register their
// Prometheus collectors on a registry they may share with other instances.
package prom

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers c on reg, or returns the collector already registered
// there under the same description, so several instances of a component in
// one process (two stores, two consumers, several runners) share their
// metrics. Any other registration error is returned.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
		return c, fmt.Errorf("prom: %w (registered with another type)", err)
	}
	return c, fmt.Errorf("prom: %w", err)
}
