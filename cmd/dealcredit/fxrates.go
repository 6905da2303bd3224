package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"dealcredit/api"
	"dealcredit/domain"
)

// fxFlags names the flags of fx-rates set by the API field they set.
var fxFlags = map[string]string{"from": "--from", "to": "--to", "rate": "--rate", "period": "--period", "effective_on": "--on",
	"source": "--source", "reason": "--reason", "corrects": "--corrects", "quarter": "--quarter", "reporting_currency": "PUT /v1/policy reporting_currency"}

// fxRatesCmd records and lists exchange rates and reads the revenue mix in
// the reporting currency through the daemon's API.
func (e *env) fxRatesCmd() *cobra.Command {
	f := &apiFlags{}
	cmd := &cobra.Command{
		Use:   "fx-rates",
		Short: "record and list exchange rates; the revenue mix in the reporting currency",
		Long: "fx-rates records an exchange rate as a fact (POST /v1/fx-rates: a pair, an exact decimal rate, a day or a month,\n" +
			"a source), lists the rates in force and shows a quarter's revenue mix converted to the policy's reporting\n" +
			"currency at the rate of the quarter's last day (GET /v1/revenue-mix/reporting). A rate already recorded for\n" +
			"the pair, period and date is changed only with --corrects naming it.",
	}
	e.addAPIFlags(cmd, f, api.RoleFinance)
	cmd.AddCommand(e.fxSetCmd(f), e.fxListCmd(f), e.fxReportCmd(f))
	return cmd
}

func (e *env) fxSetCmd(f *apiFlags) *cobra.Command {
	var from, to, rate, period, on, source, reason, corrects string
	cmd := &cobra.Command{
		Use:     "set",
		Short:   "record the rate of a currency pair for a day or a month",
		Example: `  dealcredit fx-rates set --from EUR --to USD --rate 1.0842 --period day --on 2026-03-31 --source "ECB reference rate"`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.apiClient(f, fxFlags)
			if err != nil {
				return err
			}
			body := map[string]string{"from": from, "to": to, "rate": rate, "period": period, "effective_on": on, "source": source,
				"reason": reason, "corrects": corrects}
			res, raw, err := c.command(cmd.Context(), http.MethodPost, "/v1/fx-rates", body)
			if err != nil {
				return err
			}
			e.printCommand(f, raw, res, fmt.Sprintf("rate %s/%s %s %s on %s", from, to, rate, period, on))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&from, "from", "", "currency converted from, ISO 4217 (required)")
	fl.StringVar(&to, "to", "", "currency converted to, ISO 4217 (required)")
	fl.StringVar(&rate, "rate", "", `units of --to per one unit of --from, an exact decimal such as "1.0842" (required)`)
	fl.StringVar(&period, "period", "day", "day, or month (recorded on the first of the month)")
	fl.StringVar(&on, "on", "", "the day, or any day of the month, YYYY-MM-DD, not after today (required)")
	fl.StringVar(&source, "source", "", `where the rate comes from, e.g. "ECB reference rate" (required)`)
	fl.StringVar(&reason, "reason", "", "why (optional; recorded on the event)")
	fl.StringVar(&corrects, "corrects", "", "the rate recorded for this pair, period and date that this one replaces")
	requireFlags(cmd, "from", "an ISO 4217 currency, e.g. EUR", "to", "an ISO 4217 currency, e.g. USD", "rate", `an exact decimal such as "1.0842"`,
		"on", "the day, or any day of the month, YYYY-MM-DD", "source", `where the rate comes from, e.g. "ECB reference rate"`)
	return cmd
}

func (e *env) fxListCmd(f *apiFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "the rate in force of each pair, period and date",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.apiClient(f, fxFlags)
			if err != nil {
				return err
			}
			var res struct{ Rates []domain.FXRateSet }
			raw, err := c.do(cmd.Context(), http.MethodGet, "/v1/fx-rates", nil)
			if err != nil || f.jsonOut {
				return e.printRaw(raw, err)
			}
			if err := json.Unmarshal(raw, &res); err != nil {
				return fmt.Errorf("GET /v1/fx-rates: decode answer: %w", err)
			}
			tw := tabwriter.NewWriter(e.stdout, 2, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "FROM\tTO\tRATE\tPERIOD\tEFFECTIVE_ON\tSOURCE\tREVISION")
			for _, r := range res.Rates {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", r.From, r.To, r.Rate, r.Period, r.EffectiveOn, r.Source, max(r.Revision, 1))
			}
			return tw.Flush()
		},
	}
}

func (e *env) fxReportCmd(f *apiFlags) *cobra.Command {
	var quarter string
	cmd := &cobra.Command{
		Use:     "report",
		Short:   "a quarter's revenue mix and indirect share in the reporting currency, naming each rate (or what is missing)",
		Example: "  dealcredit fx-rates report --quarter previous",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.apiClient(f, fxFlags)
			if err != nil {
				return err
			}
			var m domain.ReportedMix
			raw, err := c.query(cmd.Context(), "/v1/revenue-mix/reporting", url.Values{"quarter": {quarter}}, f.minPosition, &m)
			if err != nil || f.jsonOut {
				return e.printRaw(raw, err)
			}
			e.printReportedMix(m)
			return nil
		},
	}
	cmd.Flags().StringVar(&quarter, "quarter", "previous", "2026Q1, current or previous")
	return cmd
}

// printReportedMix prints a reported mix: one line a currency, then the totals.
func (e *env) printReportedMix(m domain.ReportedMix) {
	to := m.ReportingCurrency
	fmt.Fprintf(e.stdout, "%s revenue mix in %s at the rates of %s\n", m.Quarter, to, m.RateDate)
	tw := tabwriter.NewWriter(e.stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "CURRENCY\tDIRECT\tINDIRECT\tRATE")
	for _, r := range m.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Currency, money(r.DirectMinor, to), money(r.IndirectMinor, to), rateText(r.Rate, r.Missing))
	}
	_ = tw.Flush()
	if !m.Complete {
		fmt.Fprintf(e.stdout, "incomplete: %d rate(s) missing (record them with dealcredit fx-rates set); no total, no share\n", len(m.Missing))
		return
	}
	fmt.Fprintf(e.stdout, "total direct %s, indirect %s: indirect share %d.%02d%%\n", money(m.DirectMinor, to), money(m.IndirectMinor, to),
		*m.IndirectShareBPS/100, *m.IndirectShareBPS%100)
}

// money shows an amount of minor units of currency, "-" when there is none.
func money(v *int64, currency string) string {
	if v == nil {
		return "-"
	}
	return domain.Money{Amount: *v, Currency: currency}.Major()
}

// rateText names the rate a converted row used, or the one it misses.
func rateText(rate *domain.FXUsed, missing *domain.FXMissing) string {
	switch {
	case rate != nil:
		return fmt.Sprintf("%s %s %s, %s", rate.Rate, rate.Period, rate.EffectiveOn, rate.Source)
	case missing != nil:
		return fmt.Sprintf("MISSING %s/%s on %s", missing.From, missing.To, missing.On)
	}
	return "(reporting currency)"
}

// printReportedStatement prints a statement in the reporting currency: one
// line a currency, then the totals against the converted target.
func (e *env) printReportedStatement(m domain.ReportedStatement) error {
	to := m.ReportingCurrency
	fmt.Fprintf(e.stdout, "%s %s in %s at the rates of %s\n", m.PartnerID, m.Quarter, to, m.RateDate)
	tw := tabwriter.NewWriter(e.stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "CURRENCY\tREVENUE\tREBATES\tSERVICE\tRATE")
	for _, r := range m.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Currency, money(r.CreditedRevenueMinor, to), money(r.RebatesMinor, to),
			money(r.ServiceCreditMinor, to), rateText(r.Rate, r.Missing))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !m.Complete {
		_, err := fmt.Fprintf(e.stdout, "incomplete: %d rate(s) missing (record them with dealcredit fx-rates set); no total\n", len(m.Missing))
		return err
	}
	target := "no quarterly target"
	switch {
	case m.MeetsTarget != nil && *m.MeetsTarget:
		target = "meets the quarterly target of " + money(m.TargetMinor, to)
	case m.MeetsTarget != nil:
		target = "does not meet the quarterly target of " + money(m.TargetMinor, to)
	}
	_, err := fmt.Fprintf(e.stdout, "total revenue %s, rebates %s: %s\n", money(m.CreditedRevenueMinor, to), money(m.RebatesMinor, to), target)
	return err
}
