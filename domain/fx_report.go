package domain

// FXUsed names the rate a converted figure used.
type FXUsed struct {
	From        string   `json:"from"`
	To          string   `json:"to"`
	Rate        string   `json:"rate"`
	Period      FXPeriod `json:"period"`
	EffectiveOn Date     `json:"effective_on"`
	Source      string   `json:"source"`
}

// FXMissing names a rate a conversion needed and did not find: the pair and the date.
type FXMissing struct {
	From string `json:"from"`
	To   string `json:"to"`
	On   Date   `json:"on"`
}

// MixRow is one quarter's direct and indirect revenue in one currency (minor units), and
// the adjustments booked in it for closed quarters.
type MixRow struct {
	Quarter                Quarter
	Currency               string
	Direct, Indirect       int64
	AdjDirect, AdjIndirect int64
}

// ReportedMixRow is a MixRow converted to the reporting currency, or, when its rate is
// missing, what is missing (the amounts are then nil: never a guess).
type ReportedMixRow struct {
	Quarter           Quarter    `json:"quarter"`
	Currency          string     `json:"currency"`
	ReportingCurrency string     `json:"reporting_currency"`
	DirectMinor       *int64     `json:"direct_minor"`
	IndirectMinor     *int64     `json:"indirect_minor"`
	AdjDirectMinor    *int64     `json:"adjustment_direct_minor"`
	AdjIndirectMinor  *int64     `json:"adjustment_indirect_minor"`
	Rate              *FXUsed    `json:"rate"`
	Missing           *FXMissing `json:"missing"`
}

// ReportedMix is a quarter's revenue mix in the reporting currency: every currency's row
// converted at the rate of the quarter's last day (see docs/finance.md), and the totals
// and the company-wide indirect share. Complete is false when a rate is missing or a
// figure overflows; the totals and the share are then nil and Missing names each pair
// and date that is missing.
type ReportedMix struct {
	Quarter           Quarter          `json:"quarter"`
	ReportingCurrency string           `json:"reporting_currency"`
	RateDate          Date             `json:"rate_date"`
	Complete          bool             `json:"complete"`
	DirectMinor       *int64           `json:"direct_minor"`
	IndirectMinor     *int64           `json:"indirect_minor"`
	IndirectShareBPS  *int64           `json:"indirect_share_bps"`
	Rows              []ReportedMixRow `json:"rows"`
	Missing           []FXMissing      `json:"missing"`
}

// ConvertOn converts m to currency to at the rate of business date d (see FXRates.On):
// the converted figure and the rate used (nil for the same currency), or the missing
// rate, or an Invalid *Error when the figure overflows.
func (s FXRates) ConvertOn(m Money, to string, d Date) (Money, *FXUsed, *FXMissing, error) {
	if m.Currency == to {
		return m, nil, nil, nil
	}
	r, ok := s.On(m.Currency, to, d)
	if !ok {
		return Money{}, nil, &FXMissing{From: m.Currency, To: to, On: d}, nil
	}
	rate, err := ParseRate("rate", r.Rate)
	if err != nil {
		return Money{}, nil, nil, err
	}
	out, err := Convert(m, to, rate)
	if err != nil {
		return Money{}, nil, nil, err
	}
	return out, &FXUsed{From: r.From, To: r.To, Rate: r.Rate, Period: r.Period, EffectiveOn: r.EffectiveOn, Source: r.Source}, nil, nil
}

// ReportMix converts quarter q's mix rows (one per currency) to currency to. Each row is
// converted on its own (so each names its rate), then the converted rows are summed:
// a total is never formed from a missing or overflowing row.
func ReportMix(q Quarter, rows []MixRow, to string, s FXRates) (ReportedMix, error) {
	d := q.End()
	out := ReportedMix{Quarter: q, ReportingCurrency: to, RateDate: d, Complete: true, Rows: []ReportedMixRow{}, Missing: []FXMissing{}}
	var direct, indirect int64
	for _, r := range rows {
		if r.Quarter != q {
			continue
		}
		rr := ReportedMixRow{Quarter: q, Currency: r.Currency, ReportingCurrency: to}
		conv, used, missing, err := s.convertAll(r.Currency, to, d, r.Direct, r.Indirect, r.AdjDirect, r.AdjIndirect)
		if err != nil {
			return ReportedMix{}, err
		}
		rr.Rate, rr.Missing = used, missing
		if missing != nil {
			out.Complete = false
			out.Missing = append(out.Missing, *missing)
		} else {
			rr.DirectMinor, rr.IndirectMinor, rr.AdjDirectMinor, rr.AdjIndirectMinor = &conv[0], &conv[1], &conv[2], &conv[3]
			if direct, err = AddAmounts(direct, conv[0]); err != nil {
				return ReportedMix{}, err
			}
			if indirect, err = AddAmounts(indirect, conv[1]); err != nil {
				return ReportedMix{}, err
			}
		}
		out.Rows = append(out.Rows, rr)
	}
	if out.Complete {
		share := int64(0)
		total, err := AddAmounts(direct, indirect)
		if err != nil {
			return ReportedMix{}, err
		}
		if total != 0 {
			share = MulDiv(indirect, BPSDenominator, total)
		}
		out.DirectMinor, out.IndirectMinor, out.IndirectShareBPS = &direct, &indirect, &share
	}
	return out, nil
}

// convertAll converts amounts, all in currency from, to currency to at the rate of d:
// the converted amounts and the rate used, or the missing rate (amounts nil).
func (s FXRates) convertAll(from, to string, d Date, amounts ...int64) ([]int64, *FXUsed, *FXMissing, error) {
	out := make([]int64, len(amounts))
	var used *FXUsed
	for i, a := range amounts {
		m, u, missing, err := s.ConvertOn(Money{Amount: a, Currency: from}, to, d)
		if err != nil || missing != nil {
			return nil, nil, missing, err
		}
		out[i], used = m.Amount, u
	}
	return out, used, nil, nil
}

// StatementRow is a partner's statement figures of one quarter in one currency (minor
// units); Target is set on the scorecard's row only (the policy's quarterly target).
type StatementRow struct {
	Currency                   string
	Credited, Rebates, Service int64
	Target                     Money
}

// ReportedStatement is a partner's quarter in the reporting currency: every currency's
// credited revenue, rebates and service credit converted at the rate of the quarter's
// last day and summed, and the scorecard's target converted, so credited revenue and
// target are compared in one currency. Complete is false when a rate is missing: the
// totals (and MeetsTarget) are then nil and Missing names each pair and date.
type ReportedStatement struct {
	PartnerID            string        `json:"partner_id"`
	Quarter              Quarter       `json:"quarter"`
	ReportingCurrency    string        `json:"reporting_currency"`
	RateDate             Date          `json:"rate_date"`
	Complete             bool          `json:"complete"`
	CreditedRevenueMinor *int64        `json:"credited_revenue_minor"`
	RebatesMinor         *int64        `json:"rebates_minor"`
	ServiceCreditMinor   *int64        `json:"service_credit_minor"`
	TargetMinor          *int64        `json:"quarterly_target_minor"`
	TargetRate           *FXUsed       `json:"target_rate"`
	MeetsTarget          *bool         `json:"meets_target"`
	Rows                 []ReportedRow `json:"rows"`
	Missing              []FXMissing   `json:"missing"`
}

// ReportedRow is one currency's statement figures converted (nil when its rate is missing).
type ReportedRow struct {
	Currency             string     `json:"currency"`
	CreditedRevenueMinor *int64     `json:"credited_revenue_minor"`
	RebatesMinor         *int64     `json:"rebates_minor"`
	ServiceCreditMinor   *int64     `json:"service_credit_minor"`
	Rate                 *FXUsed    `json:"rate"`
	Missing              *FXMissing `json:"missing"`
}

// ReportStatement converts partner's statement rows of quarter q to currency to.
func ReportStatement(partner string, q Quarter, rows []StatementRow, to string, s FXRates) (ReportedStatement, error) {
	d := q.End()
	out := ReportedStatement{PartnerID: partner, Quarter: q, ReportingCurrency: to, RateDate: d, Complete: true,
		Rows: []ReportedRow{}, Missing: []FXMissing{}}
	sums := make([]int64, 3)
	var target *Money
	for _, r := range rows {
		if r.Target.Currency != "" {
			t := r.Target
			target = &t
		}
		conv, used, missing, err := s.convertAll(r.Currency, to, d, r.Credited, r.Rebates, r.Service)
		if err != nil {
			return ReportedStatement{}, err
		}
		rr := ReportedRow{Currency: r.Currency, Rate: used, Missing: missing}
		if missing != nil {
			out.Complete = false
			out.Missing = append(out.Missing, *missing)
			out.Rows = append(out.Rows, rr)
			continue
		}
		rr.CreditedRevenueMinor, rr.RebatesMinor, rr.ServiceCreditMinor = &conv[0], &conv[1], &conv[2]
		for i := range sums {
			if sums[i], err = AddAmounts(sums[i], conv[i]); err != nil {
				return ReportedStatement{}, err
			}
		}
		out.Rows = append(out.Rows, rr)
	}
	if target != nil {
		m, used, missing, err := s.ConvertOn(*target, to, d)
		if err != nil {
			return ReportedStatement{}, err
		}
		if missing != nil {
			out.Complete = false
			out.Missing = addMissing(out.Missing, *missing)
		} else {
			out.TargetMinor, out.TargetRate = &m.Amount, used
		}
	}
	if out.Complete {
		out.CreditedRevenueMinor, out.RebatesMinor, out.ServiceCreditMinor = &sums[0], &sums[1], &sums[2]
		if out.TargetMinor != nil {
			meets := sums[0] >= *out.TargetMinor
			out.MeetsTarget = &meets
		}
	}
	return out, nil
}

// addMissing appends m to ms unless it is there already.
func addMissing(ms []FXMissing, m FXMissing) []FXMissing {
	for _, x := range ms {
		if x == m {
			return ms
		}
	}
	return append(ms, m)
}
