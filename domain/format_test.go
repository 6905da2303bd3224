package domain_test

import (
	"math"
	"testing"

	"dealcredit/domain"
)

func TestMoneyMajor(t *testing.T) {
	tests := []struct {
		m    domain.Money
		want string
	}{
		{domain.Money{Amount: 450000, Currency: "USD"}, "4,500.00 USD"},
		{domain.Money{Amount: 5, Currency: "USD"}, "0.05 USD"},
		{domain.Money{Amount: -20000, Currency: "USD"}, "-200.00 USD"},
		{domain.Money{Amount: 450000, Currency: "JPY"}, "450,000 JPY"},
		{domain.Money{Amount: -1250, Currency: "KWD"}, "-1.250 KWD"},
		{domain.Money{Amount: 0, Currency: "EUR"}, "0.00 EUR"},
		{domain.Money{Amount: math.MinInt64, Currency: "USD"}, "-92,233,720,368,547,758.08 USD"},
		{domain.Money{Amount: 450000, Currency: "XXX"}, "450000 XXX"},
	}
	for _, tt := range tests {
		if got := tt.m.Major(); got != tt.want {
			t.Errorf("%+v.Major() = %q, want %q", tt.m, got, tt.want)
		}
	}
}

func TestResolveQuarter(t *testing.T) {
	today := domain.NewDate(2027, 1, 15)
	tests := []struct {
		in, want, err string
	}{
		{"current", "2027Q1", ""},
		{"previous", "2026Q4", ""},
		{"2026Q2", "2026Q2", ""},
		{"", "", `domain: quarter "" is not YYYYQn, "current" or "previous"`},
		{"last", "", `domain: quarter "last" is not YYYYQn, "current" or "previous"`},
	}
	for _, tt := range tests {
		q, err := domain.ResolveQuarter(tt.in, today)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("ResolveQuarter(%q) error %v, want %s", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || q.String() != tt.want {
			t.Errorf("ResolveQuarter(%q) = %v, %v; want %s", tt.in, q, err, tt.want)
		}
	}
}
