package ingest

import (
	"fmt"

	"dealcredit/consumers/oemfeed"
	"dealcredit/eventstore"
)

// InvoiceUnits decodes bodies published on oem's subject as the consumer
// does and returns their AppendEach units, for benchmarks of the store alone.
func InvoiceUnits(oem string, bodies [][]byte) ([][]eventstore.AppendRequest, error) {
	var c Consumer
	units := make([][]eventstore.AppendRequest, len(bodies))
	slab := newUnitSlab(oem, len(bodies))
	for i, b := range bodies {
		it := &item{}
		if err := c.decode(oem, oemfeed.Subject(oem), b, it); err != nil {
			return nil, fmt.Errorf("body %d: %w", i, err)
		}
		units[i] = slab.invoiceUnit(i, oem, it)
	}
	return units, nil
}
