package domain

import "fmt"

// Mix is a quarter's direct versus indirect revenue in one currency: the quarter's own
// figures, and apart from them the adjustments booked in the quarter for closed quarters.
type Mix struct {
	Quarter  Quarter `json:"quarter"`
	Currency string  `json:"currency"`
	// Direct is maintenance and support (credit kind direct) dated in the quarter.
	Direct int64 `json:"direct_minor"`
	// Indirect is everything sold through a partner or OEM and dated in the quarter:
	// revenue, service, oem and unattributed credits (rebates and field-rep credits are not
	// revenue).
	Indirect int64 `json:"indirect_minor"`
	// IndirectShareBPS is Indirect / (Direct + Indirect) in basis points, rounded half away
	// from zero (8700 = 87%); 0 when there is no revenue. Adjustments are not in it.
	IndirectShareBPS int64 `json:"indirect_share_bps"`
	// AdjustmentDirect and AdjustmentIndirect are the direct and indirect corrections of
	// closed quarters booked in this quarter (the first open one after them).
	AdjustmentDirect   int64 `json:"adjustment_direct_minor"`
	AdjustmentIndirect int64 `json:"adjustment_indirect_minor"`
}

// RevenueMix computes the mix of quarter q from ledger lines (any order), one Mix per
// currency, sorted by currency. A sum that leaves int64 is an error wrapping
// ErrAmountOverflow.
func RevenueMix(q Quarter, credits []Credit) ([]Mix, error) {
	by := map[string]*Mix{}
	for _, c := range credits {
		if c.Quarter != q {
			continue
		}
		m := by[c.Amount.Currency]
		if m == nil {
			m = &Mix{Quarter: c.Quarter, Currency: c.Amount.Currency}
			by[c.Amount.Currency] = m
		}
		if err := m.add(c); err != nil {
			return nil, err
		}
	}
	return sortedMix(by), nil
}

// add counts credit c, overflow-checked: on an error m is unchanged.
func (m *Mix) add(c Credit) error {
	d, i := &m.Direct, &m.Indirect
	if c.Adjustment {
		d, i = &m.AdjustmentDirect, &m.AdjustmentIndirect
	}
	var sum *int64
	switch c.Kind {
	case CreditDirect:
		sum = d
	case CreditRevenue, CreditService, CreditOEM, CreditUnattributed:
		sum = i
	default:
		return nil
	}
	v, err := AddAmounts(*sum, c.Amount.Amount)
	if err != nil {
		return fmt.Errorf("revenue mix %s %s: %w", c.Quarter, c.Amount.Currency, err)
	}
	nd, ni := m.Direct, m.Indirect
	if sum == &m.Direct {
		nd = v
	} else if sum == &m.Indirect {
		ni = v
	}
	t, err := AddAmounts(nd, ni)
	if err != nil {
		return fmt.Errorf("revenue mix %s %s total: %w", c.Quarter, c.Amount.Currency, err)
	}
	*sum = v
	if t > 0 {
		m.IndirectShareBPS = MulDiv(m.Indirect, BPSDenominator, t)
	} else {
		m.IndirectShareBPS = 0
	}
	return nil
}

func sortedMix(by map[string]*Mix) []Mix {
	out := make([]Mix, 0, len(by))
	for _, k := range sortedKeys(by) {
		out = append(out, *by[k])
	}
	return out
}

// count adds c to the revenue mix and the partner's credited revenue, overflow-checked;
// nothing for a currency whose totals overflowed.
func (p *Program) count(c Credit) error {
	if p.Overflowed(c.Amount.Currency) {
		return nil // its totals are no longer kept (totals.go)
	}
	key := mixKey{c.Quarter, c.Amount.Currency}
	m := p.mix[key]
	if m == nil {
		m = &Mix{Quarter: c.Quarter, Currency: p.intern(c.Amount.Currency)}
		p.mix[key] = m
	}
	if err := m.add(c); err != nil {
		return err
	}
	if c.Kind == CreditRevenue {
		k := creditedKey{c.PartnerID, c.Quarter, c.Amount.Currency}
		v, err := AddAmounts(p.credited[k], c.Amount.Amount)
		if err != nil {
			return fmt.Errorf("credited revenue of partner %s in %s %s: %w", c.PartnerID, c.Quarter, c.Amount.Currency, err)
		}
		p.credited[k] = v
	}
	return nil
}

// RevenueMix returns quarter q's direct and indirect revenue per currency, from every
// credit folded so far.
func (p *Program) RevenueMix(q Quarter) []Mix {
	by := map[string]*Mix{}
	for k, m := range p.mix {
		if k.quarter == q {
			by[k.currency] = m
		}
	}
	return sortedMix(by)
}

// Partner returns the partner's folded state.
func (p *Program) Partner(id string) (PartnerState, bool) {
	r := p.partners[id]
	if r == nil {
		return PartnerState{}, false
	}
	return r.PartnerState, true
}

// PartnerIDs returns every partner id, sorted.
func (p *Program) PartnerIDs() []string { return sortedKeys(p.partners) }

// Deal returns the registration's folded state.
func (p *Program) Deal(id string) (DealState, bool) {
	d := p.deals[id]
	if d == nil {
		return DealState{}, false
	}
	return d.DealState, true
}

// DealIDs returns every deal id, sorted.
func (p *Program) DealIDs() []string { return sortedKeys(p.deals) }

// Geography returns a geography's seats.
func (p *Program) Geography(geo string) GeoState { return p.geos[geo] }

// PolicyAt returns the policy in force on d.
func (p *Program) PolicyAt(d Date) Policy { return p.policyAt(d).Policy }

// Closed reports whether quarter q is closed.
func (p *Program) Closed(q Quarter) bool { return p.closed[q] }

// Credited returns the partner's revenue credit booked in quarter q, in currency.
func (p *Program) Credited(partnerID string, q Quarter, currency string) Money {
	return Money{Amount: p.credited[creditedKey{partnerID, q, currency}], Currency: currency}
}

// Scorecard returns the partner's tier progress for quarter q under the policy in force at
// the quarter's end, with credited revenue in the currency of its policy targets.
func (p *Program) Scorecard(partnerID string, q Quarter) (Scorecard, bool) {
	r := p.partners[partnerID]
	if r == nil {
		return Scorecard{}, false
	}
	// Read only: the default policy is shared, not built for each call (this runs for
	// every statement a batch touches).
	pol := p.policyOf(p.policyIndex(q.End())).Policy
	cur := pol.PlatinumMinTarget.Currency
	if r.unmet == nil || r.unmetPolicy != pol.Version {
		r.unmet, r.unmetPolicy = map[Tier][]Unmet{}, pol.Version
		for _, t := range []Tier{TierPlatinum, TierGold} {
			r.unmet[t] = TierUnmet(r.PartnerState, t, pol)
		}
	}
	sc := scorePartner(r.PartnerState, pol, q, p.Credited(partnerID, q, cur), func(t Tier) []Unmet { return r.unmet[t] })
	sc.OutsideCommitment = p.outside[partnerID][q.String()]
	return sc, true
}

// Candidates returns the lead candidates (every var and si partner with its current tier),
// sorted by partner id; DecideLead filters and orders them.
func (p *Program) Candidates() []Candidate {
	var out []Candidate
	for _, id := range sortedKeys(p.partners) {
		r := p.partners[id]
		if r.Kind != KindOEM {
			out = append(out, Candidate{PartnerID: id, Tier: r.Tier, Geography: r.Geography})
		}
	}
	return out
}

// OpenExceptions returns the unresolved exceptions, sorted by OEM, invoice and line.
func (p *Program) OpenExceptions() []Exception {
	out := make([]Exception, 0, len(p.exceptions))
	for _, k := range sortedKeys(p.exceptions) {
		out = append(out, p.exceptions[k].Exception)
	}
	return out
}
