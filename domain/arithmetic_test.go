package domain_test

import (
	"testing"

	"dealcredit/domain"
)

// The arithmetic explain prints is exactly ApplyBPS's: exact product, then
// half away from zero on the minor unit (issue 13 item 7).
func TestRateArithmetic(t *testing.T) {
	tests := []struct {
		base domain.Money
		bps  int64
		want string
	}{
		{domain.Money{Amount: 333, Currency: "USD"}, 800, "3.33 USD x 8.00% = 0.2664 -> 0.27 USD, half away from zero, per line"},
		{domain.Money{Amount: 125, Currency: "USD"}, 1000, "1.25 USD x 10.00% = 0.125 -> 0.13 USD, half away from zero, per line"},
		{domain.Money{Amount: -125, Currency: "USD"}, 1000, "-1.25 USD x 10.00% = -0.125 -> -0.13 USD, half away from zero, per line"},
		{domain.Money{Amount: 450000, Currency: "USD"}, 500, "4,500.00 USD x 5.00% = 225.00 -> 225.00 USD, half away from zero, per line"},
		{domain.Money{Amount: 1235, Currency: "JPY"}, 800, "1,235 JPY x 8.00% = 98.8 -> 99 JPY, half away from zero, per line"},
		{domain.Money{Amount: 25, Currency: "JPY"}, 5000, "25 JPY x 50.00% = 12.5 -> 13 JPY, half away from zero, per line"},
		{domain.Money{Amount: 1_000_000, Currency: "JPY"}, 1250, "1,000,000 JPY x 12.50% = 125,000 -> 125,000 JPY, half away from zero, per line"},
		{domain.Money{Amount: 1001, Currency: "KWD"}, 1, "1.001 KWD x 0.01% = 0.0001001 -> 0.000 KWD, half away from zero, per line"},
	}
	for _, tc := range tests {
		if got := domain.RateArithmetic(tc.base, tc.bps); got != tc.want {
			t.Errorf("RateArithmetic(%v, %d)\n got %s\nwant %s", tc.base, tc.bps, got, tc.want)
		}
	}
}

func TestCreditArithmetic(t *testing.T) {
	usd := func(v int64) domain.Money { return domain.Money{Amount: v, Currency: "USD"} }
	tests := []struct {
		name string
		c    domain.Credit
		want string
	}{
		{"revenue", domain.Credit{Kind: domain.CreditRevenue, Amount: usd(450000), Base: 450000, RateBPS: 10000},
			"4,500.00 USD, the line's amount in full"},
		{"rebate", domain.Credit{Kind: domain.CreditRebate, Amount: usd(27), Base: 333, RateBPS: 800},
			"3.33 USD x 8.00% = 0.2664 -> 0.27 USD, half away from zero, per line"},
		{"rebate reversed", domain.Credit{Kind: domain.CreditRebate, Amount: usd(-27), Base: 333, RateBPS: 800},
			"reverses: 3.33 USD x 8.00% = 0.2664 -> 0.27 USD, half away from zero, per line"},
		{"clawback of a rebate", domain.Credit{Kind: domain.CreditRebate, Amount: usd(-4500), Base: 450000, RateBPS: 500, Returned: 90000},
			"clawback: 225.00 USD x 900.00 USD returned / 4,500.00 USD line = 45.00 USD cumulative (half away from zero), less 0.00 USD clawed back before: -45.00 USD"},
		// 0.01 USD over a line of 0.03: the first third rounds to 0, the second to 0.01.
		{"second clawback rounds up at .67", domain.Credit{Kind: domain.CreditRebate, Amount: usd(-1), Base: 3, RateBPS: 3334,
			Returned: 2, ReturnedBefore: 1},
			"clawback: 0.01 USD x 0.02 USD returned / 0.03 USD line = 0.01 USD cumulative (half away from zero), less 0.00 USD clawed back before: -0.01 USD"},
		{"old row without the computation", domain.Credit{Kind: domain.CreditRebate, Amount: usd(27)}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.Arithmetic(); got != tc.want {
				t.Errorf("\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}
