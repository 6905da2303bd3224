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
		amounts := []int64{r.Direct, r.Indirect, r.AdjDirect, r.AdjIndirect}
		conv := make([]int64, len(amounts))
		for i, a := range amounts {
			m, used, missing, err := s.ConvertOn(Money{Amount: a, Currency: r.Currency}, to, d)
			if err != nil {
				return ReportedMix{}, err
			}
			rr.Rate, rr.Missing, conv[i] = used, missing, m.Amount
		}
		if rr.Missing != nil {
			out.Complete = false
			out.Missing = append(out.Missing, *rr.Missing)
		} else {
			rr.DirectMinor, rr.IndirectMinor, rr.AdjDirectMinor, rr.AdjIndirectMinor = &conv[0], &conv[1], &conv[2], &conv[3]
			var err error
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
