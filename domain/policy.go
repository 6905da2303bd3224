package domain

import (
	"sort"
	"time"
)

// Policy is the program's parameters in force from a date. Version 0 is the built-in
// default used before any policy.set event.
type Policy = PolicySet

// DefaultPolicy is the policy in force before the first policy.set: rebates 0/500/800 bps
// (registered/gold/platinum), 90 registration days, 2 extensions, 30 claim grace days,
// Platinum minimum 250,000.00 USD and Gold 50,000.00 USD per quarter, 48 h to accept a
// lead, field reps credited 100% of the line.
func DefaultPolicy() Policy {
	return Policy{
		Version:           0,
		RebateBPS:         map[Tier]int64{TierRegistered: 0, TierGold: 500, TierPlatinum: 800},
		RegistrationDays:  90,
		MaxExtensions:     defaultMaxExtensions,
		ClaimGraceDays:    defaultClaimGraceDays,
		PlatinumMinTarget: Money{Amount: 25_000_000, Currency: "USD"},
		GoldMinTarget:     Money{Amount: 5_000_000, Currency: "USD"},
		LeadAcceptHours:   48,
		FieldRepBPS:       BPSDenominator,
	}
}

// RebateFor returns the rebate rate in basis points of tier in geography geo.
func (p Policy) RebateFor(t Tier, geo string) int64 {
	if g, ok := p.Geographies[geo]; ok {
		if v, ok := g.RebateBPS[t]; ok {
			return v
		}
	}
	return p.RebateBPS[t]
}

// RegistrationDaysFor returns the protection window in days in geography geo.
func (p Policy) RegistrationDaysFor(geo string) int {
	if g, ok := p.Geographies[geo]; ok && g.RegistrationDays > 0 {
		return g.RegistrationDays
	}
	return p.RegistrationDays
}

// ClaimGraceDaysFor returns the post-invoice claim grace window in days in geography geo.
func (p Policy) ClaimGraceDaysFor(geo string) int {
	if g, ok := p.Geographies[geo]; ok && g.ClaimGraceDays > 0 {
		return g.ClaimGraceDays
	}
	return p.ClaimGraceDays
}

// MinTarget returns the minimum quarterly target of tier (zero Money for registered).
func (p Policy) MinTarget(t Tier) Money {
	switch t {
	case TierPlatinum:
		return p.PlatinumMinTarget
	case TierGold:
		return p.GoldMinTarget
	}
	return Money{}
}

// PolicyHistory is every policy version, folded from the policy stream.
type PolicyHistory struct {
	Versions []Policy // in version order
}

// EvolvePolicy folds a policy event.
func EvolvePolicy(h PolicyHistory, e Event) PolicyHistory {
	if p, ok := e.(PolicySet); ok {
		h.Versions = append(append([]Policy(nil), h.Versions...), p)
	}
	return h
}

// Latest returns the newest version (DefaultPolicy when there is none).
func (h PolicyHistory) Latest() Policy {
	if len(h.Versions) == 0 {
		return DefaultPolicy()
	}
	return h.Versions[len(h.Versions)-1]
}

// At returns the policy in force on business date d: the highest version whose
// EffectiveFrom is on or before d, or DefaultPolicy.
func (h PolicyHistory) At(d Date) Policy {
	best := DefaultPolicy()
	for _, p := range h.Versions {
		if !p.EffectiveFrom.After(d) && p.Version >= best.Version {
			best = p
		}
	}
	return best
}

// SetPolicy is the command to publish a new policy version.
type SetPolicy struct {
	EffectiveFrom     Date
	RebateBPS         map[Tier]int64
	RegistrationDays  int
	MaxExtensions     int
	ClaimGraceDays    int
	PlatinumMinTarget Money
	GoldMinTarget     Money
	LeadAcceptHours   int
	FieldRepBPS       int64
	Geographies       map[string]GeoPolicy
	Reason            string
	ReportingCurrency string
}

// DecideSetPolicy validates a new policy and returns it as the next version. A policy
// cannot take effect before today: history replays under the rules of its time.
func DecideSetPolicy(h PolicyHistory, c SetPolicy, now time.Time) ([]Event, error) {
	today := DateOf(now)
	switch {
	case c.EffectiveFrom.IsZero():
		return nil, invalidf("effective_from", "effective_from is required")
	case c.EffectiveFrom.Before(today):
		return nil, Errorf(Unprocessable, "effective_from", "policy.no_backdating",
			"effective_from %s is before today %s; a policy cannot change the past", c.EffectiveFrom, today)
	case c.RegistrationDays < 1 || c.RegistrationDays > 730:
		return nil, invalidf("registration_days", "registration_days must be 1-730, got %d", c.RegistrationDays)
	case c.MaxExtensions < 0 || c.MaxExtensions > 12:
		return nil, invalidf("max_extensions", "max_extensions must be 0-12, got %d", c.MaxExtensions)
	case c.ClaimGraceDays < 0 || c.ClaimGraceDays > 365:
		return nil, invalidf("claim_grace_days", "claim_grace_days must be 0-365, got %d", c.ClaimGraceDays)
	case c.LeadAcceptHours < 0 || c.LeadAcceptHours > MaxLeadAcceptHours:
		return nil, invalidf("lead_accept_hours", "lead_accept_hours must be 0 (the default, %d) to %d, got %d",
			DefaultPolicy().LeadAcceptHours, MaxLeadAcceptHours, c.LeadAcceptHours)
	case c.FieldRepBPS < 0 || c.FieldRepBPS > BPSDenominator:
		return nil, invalidf("field_rep_bps", "field_rep_bps must be 0-10000, got %d", c.FieldRepBPS)
	}
	if err := CheckDate("effective_from", c.EffectiveFrom); err != nil {
		return nil, err
	}
	if err := CheckText("reason", c.Reason, MaxReasonLen); err != nil {
		return nil, err
	}
	if c.ReportingCurrency != "" && !ValidCurrency(c.ReportingCurrency) {
		return nil, invalidf("reporting_currency", "reporting_currency %s is not a currency dealcredit accepts", Quote(c.ReportingCurrency))
	}
	if err := checkRates("rebate_bps", c.RebateBPS); err != nil {
		return nil, err
	}
	for _, g := range sortedKeys(c.Geographies) {
		if !validID(g) {
			return nil, invalidf("geographies", "geography %q is not a valid id", g)
		}
		if err := checkRates("geographies."+g+".rebate_bps", c.Geographies[g].RebateBPS); err != nil {
			return nil, err
		}
	}
	for _, m := range []struct {
		f string
		v Money
	}{{"platinum_min_target", c.PlatinumMinTarget}, {"gold_min_target", c.GoldMinTarget}} {
		if !ValidCurrency(m.v.Currency) {
			return nil, invalidf(m.f, "%s must be an amount in a valid currency", m.f)
		}
		if err := CheckAmount(m.f, m.v.Amount, 0); err != nil {
			return nil, err
		}
	}
	if c.LeadAcceptHours == 0 {
		c.LeadAcceptHours = DefaultPolicy().LeadAcceptHours
	}
	if c.RebateBPS[TierRegistered] == 0 {
		c.RebateBPS = copyRates(c.RebateBPS)
		c.RebateBPS[TierRegistered] = 0
	}
	return []Event{PolicySet{
		Version: h.Latest().Version + 1, EffectiveFrom: c.EffectiveFrom, RebateBPS: copyRates(c.RebateBPS),
		RegistrationDays: c.RegistrationDays, MaxExtensions: c.MaxExtensions, ClaimGraceDays: c.ClaimGraceDays,
		PlatinumMinTarget: c.PlatinumMinTarget, GoldMinTarget: c.GoldMinTarget,
		LeadAcceptHours: c.LeadAcceptHours, FieldRepBPS: c.FieldRepBPS, Geographies: c.Geographies, Reason: c.Reason,
		ReportingCurrency: c.ReportingCurrency,
	}}, nil
}

func checkRates(field string, r map[Tier]int64) error {
	if r[TierGold] == 0 && r[TierPlatinum] == 0 && field == "rebate_bps" {
		return invalidf(field, "%s needs gold and platinum rates", field)
	}
	for _, t := range sortedKeys(r) {
		if !t.Valid() {
			return invalidf(field, "%s: unknown tier %q", field, t)
		}
		if r[t] < 0 || r[t] > BPSDenominator {
			return invalidf(field, "%s.%s must be 0-10000 basis points, got %d", field, t, r[t])
		}
	}
	return nil
}

func copyRates(r map[Tier]int64) map[Tier]int64 {
	out := make(map[Tier]int64, len(r)+1)
	for k, v := range r {
		out[k] = v
	}
	return out
}

func sortedKeys[K ~string | ~int, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
