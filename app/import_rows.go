package app

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"dealcredit/domain"
)

// partners decides the partner rows (see Import): a partner already
// enrolled with the same name, kind, geography and tier is skipped.
func (st *stage) partners(_ Meta, set ImportSet, refused *ImportError) (int, error) {
	skipped := 0
	for _, r := range set.Partners {
		if err := domain.CheckID("partner_id", r.ID); err != nil {
			refused.Add(r.Row, err)
			continue
		}
		p, err := fold(st, domain.PartnerStream(r.ID), domain.PartnerState{}, domain.EvolvePartner)
		if err != nil {
			return 0, err
		}
		if p.Exists() {
			if p.Name != r.Name || p.Kind != r.Kind || p.Geography != r.Geography || p.Tier != r.Tier {
				refused.Add(r.Row, domain.Errorf(domain.Conflict, "partner_id", "import.recorded",
					"partner %s is already enrolled as %q, %s, %s, %s tier; an import does not change a recorded partner", r.ID, p.Name, p.Kind, p.Geography, p.Tier))
				continue
			}
			skipped++
			continue
		}
		var g domain.GeoState
		if domain.ValidID(r.Geography) {
			if g, err = fold(st, domain.GeographyStream(r.Geography), domain.GeoState{}, domain.EvolveGeo); err != nil {
				return 0, err
			}
		}
		pol, err := st.policy(st.today())
		if err != nil {
			return 0, err
		}
		evs, err := domain.DecidePartner(p, g, pol, r.command(), st.t.now)
		if err != nil {
			row, err := r.rowOf(renameField(err, "id", "partner_id"))
			if err := rowErr(refused, row, err); err != nil {
				return 0, err
			}
			continue
		}
		st.add(r.Row, st.t.now, "partner/"+r.ID, evs)
	}
	return skipped, nil
}

// rowOf names the tier history row of an error about a past tier
// ("tier_history[2].from" is line HistoryRows[2], field "from").
func (p ImportPartner) rowOf(err error) (Row, error) {
	var de *domain.Error
	if !errors.As(err, &de) {
		return p.Row, err
	}
	var i int
	var rest string
	if n, _ := fmt.Sscanf(de.Field, "tier_history[%d]", &i); n != 1 || i < 0 || i >= len(p.HistoryRows) {
		return p.Row, err
	}
	_, rest, _ = strings.Cut(de.Field, "].")
	c := *de
	c.Field = rest
	return p.HistoryRows[i], &c
}

// renameField returns err with its field from renamed to to (the import's
// column names differ from the API's JSON names in places).
func renameField(err error, from, to string) error {
	var de *domain.Error
	if !errors.As(err, &de) || de.Field != from {
		return err
	}
	c := *de
	c.Field = to
	return &c
}

// registrations decides the registration rows (see Import) in business
// order: every registration on its date, then every approval on its date
// (so of two approvals for one customer the earlier wins, as it did). A
// deal already registered (or approved on the same date) is skipped.
func (st *stage) registrations(md Meta, set ImportSet, refused *ImportError) (int, error) {
	rows := slices.Clone(set.Registrations)
	slices.SortStableFunc(rows, func(a, b ImportRegistration) int { return a.RegisteredOn.Compare(b.RegisteredOn) })
	done := make(map[Row]bool, len(rows)) // rows that appended something
	bad := map[Row]bool{}
	for _, r := range rows {
		appended, err := st.register(r)
		if err != nil {
			if err := rowErr(refused, r.Row, err); err != nil {
				return 0, err
			}
			bad[r.Row], st.refusedDeals[r.Register.DealID] = true, true
		}
		done[r.Row] = appended
	}
	slices.SortStableFunc(rows, func(a, b ImportRegistration) int { return a.ApprovedOn.Compare(b.ApprovedOn) })
	for _, r := range rows {
		if r.ApprovedOn.IsZero() || bad[r.Row] {
			continue
		}
		appended, err := st.approve(md, r)
		if err != nil {
			if err := rowErr(refused, r.Row, err); err != nil {
				return 0, err
			}
			bad[r.Row] = true
		}
		done[r.Row] = done[r.Row] || appended
	}
	skipped := 0
	for _, r := range rows {
		if !done[r.Row] && !bad[r.Row] {
			skipped++
		}
	}
	return skipped, nil
}

// dealContext folds what a deal decision on day reads besides the deal.
func (st *stage) dealContext(partnerID, key string, day domain.Date) (domain.DealContext, error) {
	var x domain.DealContext
	var err error
	if domain.ValidID(partnerID) {
		if x.Partner, err = fold(st, domain.PartnerStream(partnerID), domain.PartnerState{}, domain.EvolvePartner); err != nil {
			return x, err
		}
	}
	if key != "" {
		if x.Reservation, err = fold(st, domain.CustomerKeyStream(key), domain.Reservation{}, domain.EvolveReservation); err != nil {
			return x, err
		}
	}
	x.Policy, err = st.policy(day)
	return x, err
}

// register decides a registration row's registration; it reports whether
// it staged events (false: the deal was recorded before).
func (st *stage) register(r ImportRegistration) (bool, error) {
	c := r.Register
	if err := domain.CheckID("deal_id", c.DealID); err != nil {
		return false, err
	}
	if err := domain.CheckID("partner_id", c.PartnerID); err != nil {
		return false, err
	}
	if err := st.notFuture("registered_on", r.RegisteredOn); err != nil {
		return false, err
	}
	d, err := fold(st, domain.DealStream(c.DealID), domain.DealState{}, domain.EvolveDeal)
	if err != nil {
		return false, err
	}
	if d.Exists() {
		if d.PartnerID != c.PartnerID || d.RegisteredOn != r.RegisteredOn {
			return false, domain.Errorf(domain.Conflict, "deal_id", "import.recorded",
				"deal %s is already registered by partner %s on %s; an import does not change a recorded registration", c.DealID, d.PartnerID, d.RegisteredOn)
		}
		return false, nil
	}
	cust := c.Customer
	cust.Domain = domain.NormalizeDomain(cust.Domain)
	x, err := st.dealContext(c.PartnerID, domain.CustomerKey(cust), r.RegisteredOn)
	if err != nil {
		return false, err
	}
	evs, err := domain.DecideDeal(d, x, c, r.RegisteredOn.Time())
	if err != nil {
		return false, err
	}
	st.add(r.Row, r.RegisteredOn.Time(), "deal/"+c.DealID+"/registered", evs)
	return true, nil
}

// approve decides a registration row's approval on its approval date,
// under the policy then in force.
func (st *stage) approve(md Meta, r ImportRegistration) (bool, error) {
	if err := st.notFuture("approved_on", r.ApprovedOn); err != nil {
		return false, err
	}
	if r.ApprovedOn.Before(r.RegisteredOn) {
		return false, domain.Errorf(domain.Invalid, "approved_on", "", "approved_on %s is before registered_on %s", r.ApprovedOn, r.RegisteredOn)
	}
	id := r.Register.DealID
	d, err := fold(st, domain.DealStream(id), domain.DealState{}, domain.EvolveDeal)
	if err != nil {
		return false, err
	}
	if !d.ApprovedOn.IsZero() {
		if d.ApprovedOn != r.ApprovedOn {
			return false, domain.Errorf(domain.Conflict, "approved_on", "import.recorded",
				"deal %s was approved on %s; an import does not change a recorded approval", id, d.ApprovedOn)
		}
		return false, nil
	}
	x, err := st.dealContext(d.PartnerID, d.CustomerKey, r.ApprovedOn)
	if err != nil {
		return false, err
	}
	evs, err := domain.DecideDeal(d, x, domain.Approve{By: md.Actor}, r.ApprovedOn.Time())
	if err != nil {
		return false, err
	}
	st.add(r.Row, r.ApprovedOn.Time(), "deal/"+id+"/approved", evs)
	return true, nil
}

// notFuture refuses a date after the import's day: history is the past.
func (st *stage) notFuture(field string, d domain.Date) error {
	if err := domain.CheckDate(field, d); err != nil {
		return err
	}
	if d.IsZero() {
		return domain.Errorf(domain.Invalid, field, "", "%s is required", field)
	}
	if d.After(st.today()) {
		return domain.Errorf(domain.Invalid, field, "", "%s %s is in the future (today is %s); an import records the past", field, d, st.today())
	}
	return nil
}

// engagements decides the engagement rows (see Import): a step already
// recorded on the deal (same step, date, OEM and notes) is skipped.
func (st *stage) engagements(_ Meta, set ImportSet, refused *ImportError) (int, error) {
	skipped := 0
	for _, r := range set.Engagements {
		if st.refusedDeals[r.DealID] {
			continue // its registration's row is refused already
		}
		appended, err := st.engagement(r)
		if err != nil {
			if err := rowErr(refused, r.Row, err); err != nil {
				return 0, err
			}
			continue
		}
		if !appended {
			skipped++
		}
	}
	return skipped, nil
}

// engagement decides one engagement row.
func (st *stage) engagement(r ImportEngagement) (bool, error) {
	if err := domain.CheckID("deal_id", r.DealID); err != nil {
		return false, err
	}
	if err := st.notFuture("occurred_on", r.Step.OccurredOn); err != nil {
		return false, err
	}
	d, err := fold(st, domain.DealStream(r.DealID), domain.DealState{}, domain.EvolveDeal)
	if err != nil {
		return false, err
	}
	if !d.Exists() {
		return false, domain.Errorf(domain.NotFound, "deal_id", "deal.exists", "deal %s is neither in registrations.csv nor recorded", domain.Quote(r.DealID))
	}
	for _, e := range d.Engagements {
		if e.Step == r.Step.Step && e.OccurredOn == r.Step.OccurredOn && e.OEMID == r.Step.OEMID && e.Notes == r.Step.Notes {
			return false, nil
		}
	}
	x, err := st.dealContext(d.PartnerID, "", st.today())
	if err != nil {
		return false, err
	}
	evs, err := domain.DecideDeal(d, x, r.Step, st.t.now)
	if err != nil {
		return false, err
	}
	key := fmt.Sprintf("deal/%s/engagement/%s/%s/%d", r.DealID, r.Step.Step, r.Step.OccurredOn, len(d.Engagements))
	st.add(r.Row, r.Step.OccurredOn.Time(), key, evs)
	return true, nil
}

// invoices decides the invoice rows (see Import): each is stored as the
// OEM's feed would store it (the same event id, domain.InvoiceEventID, and
// body), so an OEM that sends it again later is absorbed; a revision already
// recorded with the same content is skipped.
func (st *stage) invoices(_ Meta, set ImportSet, refused *ImportError) (int, error) {
	skipped := 0
	rows := slices.Clone(set.Invoices)
	// Invoices before their credit memos, each revision after the earlier ones.
	slices.SortStableFunc(rows, func(a, b ImportInvoice) int {
		return cmp.Or(cmp.Compare(memo(a), memo(b)), cmp.Compare(a.Invoice.Revision, b.Invoice.Revision))
	})
	for _, r := range rows {
		appended, err := st.invoice(r)
		if err != nil {
			if err := rowErr(refused, r.Row, err); err != nil {
				return 0, err
			}
			continue
		}
		if !appended {
			skipped++
		}
	}
	return skipped, nil
}

// memo is 1 for a credit memo, 0 for an invoice.
func memo(r ImportInvoice) int {
	if r.Invoice.Kind == domain.KindCreditMemo {
		return 1
	}
	return 0
}

// invoice decides one invoice row.
func (st *stage) invoice(r ImportInvoice) (bool, error) {
	inv := r.Invoice
	if err := inv.Validate(); err != nil {
		return false, err
	}
	if err := st.notFuture("invoice_date", inv.InvoiceDate); err != nil {
		return false, err
	}
	oem, err := fold(st, domain.PartnerStream(inv.OEMID), domain.PartnerState{}, domain.EvolvePartner)
	if err != nil {
		return false, err
	}
	if !oem.Exists() || oem.Kind != domain.KindOEM {
		return false, domain.Errorf(domain.Unprocessable, "oem_id", "invoice.oem", "oem_id %s is not an enrolled partner of kind oem (in partners.csv or recorded)", domain.Quote(inv.OEMID))
	}
	recorded, err := st.recordedInvoice(inv)
	if err != nil || recorded {
		return false, err
	}
	id, err := uuid.Parse(domain.InvoiceEventID(inv.OEMID, inv.InvoiceNumber, inv.Revision))
	if err != nil {
		return false, fmt.Errorf("invoice event id: %w", err)
	}
	st.addID(r.Row, inv.InvoiceDate.Time(), id, inv)
	return true, nil
}

// recordedInvoice reports whether inv's revision is recorded (or staged)
// with the same content; with other content it is the row's error.
func (st *stage) recordedInvoice(inv domain.InvoiceReceived) (bool, error) {
	evs, err := st.events(domain.InvoiceStream(inv.OEMID, inv.InvoiceNumber))
	if err != nil {
		return false, err
	}
	_, _, want, err := domain.Encode(inv)
	if err != nil {
		return false, fmt.Errorf("encode invoice: %w", Internal(err))
	}
	for _, e := range evs {
		got, ok := e.(domain.InvoiceReceived)
		if !ok || got.Revision != inv.Revision {
			continue
		}
		_, _, have, err := domain.Encode(got)
		if err != nil {
			return false, fmt.Errorf("encode invoice: %w", Internal(err))
		}
		if !bytes.Equal(have, want) {
			return false, domain.Errorf(domain.Conflict, "revision", "invoice.same_key",
				"%s invoice %s revision %d is already recorded with different content; send a higher revision to change it", inv.OEMID, inv.InvoiceNumber, inv.Revision)
		}
		return true, nil
	}
	return false, nil
}
