package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"dealcredit/api"
	"dealcredit/domain"
)

// statementFlags names the flags of the statements and payouts commands by
// the API field they set.
var statementFlags = map[string]string{"id": "PARTNER", "quarter": "QUARTER", "amount_minor": "--amount-minor", "currency": "--currency",
	"reference": "--reference", "paid_on": "--paid-on", "Idempotency-Key": "--idempotency-key"}

// partnerQuarterArgs requires PARTNER and QUARTER.
func partnerQuarterArgs(what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != 2 {
			return fmt.Errorf("%s: name PARTNER and QUARTER (e.g. var-demo 2026Q3)", what)
		}
		return nil
	}
}

// statementPath is the API path of a partner's statement of a quarter.
func statementPath(partner, quarter string) string {
	return "/v1/partners/" + url.PathEscape(partner) + "/statements/" + url.PathEscape(quarter)
}

// statementsCmd reads and approves partner statements through the daemon's API.
func (e *env) statementsCmd() *cobra.Command {
	f := &apiFlags{}
	cmd := &cobra.Command{
		Use:   "statements",
		Short: "read and approve a partner's quarter statement (accrued, approved, paid, outstanding) through the daemon's API",
	}
	e.addAPIFlags(cmd, f, api.RoleFinance)
	var reporting bool
	show := &cobra.Command{
		Use:     "show PARTNER QUARTER",
		Short:   "the statement's rebates per currency: status, accrued, approved, paid, outstanding",
		Example: "  dealcredit statements show var-demo 2026Q3",
		Args:    partnerQuarterArgs("statements show"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.apiClient(f, statementFlags)
			if err != nil {
				return err
			}
			if reporting {
				var m domain.ReportedStatement
				raw, err := c.query(cmd.Context(), statementPath(args[0], args[1])+"/reporting", url.Values{}, f.minPosition, &m)
				if err != nil || f.jsonOut {
					return e.printRaw(raw, err)
				}
				return e.printReportedStatement(m)
			}
			var rows []struct {
				Currency    string `json:"currency"`
				Status      string `json:"status"`
				Revenue     int64  `json:"credited_revenue_minor"`
				Accrued     int64  `json:"accrued_rebates_minor"`
				Approved    int64  `json:"approved_rebates_minor"`
				Paid        int64  `json:"paid_minor"`
				Outstanding int64  `json:"outstanding_minor"`
			}
			raw, err := c.query(cmd.Context(), statementPath(args[0], args[1]), url.Values{}, f.minPosition, &rows)
			if err != nil || f.jsonOut {
				return e.printRaw(raw, err)
			}
			tw := tabwriter.NewWriter(e.stdout, 2, 8, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "CURRENCY\tSTATUS\tREVENUE\tACCRUED\tAPPROVED\tPAID\tOUTSTANDING\t")
			for _, r := range rows {
				m := func(v int64) string { return domain.Money{Amount: v, Currency: r.Currency}.Major() }
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Currency, r.Status, m(r.Revenue), m(r.Accrued), m(r.Approved), m(r.Paid), m(r.Outstanding))
			}
			return tw.Flush()
		},
	}
	show.Flags().BoolVar(&reporting, "reporting", false, "the statement in the policy's reporting currency, against the converted quarterly target")
	approve := &cobra.Command{
		Use:   "approve PARTNER QUARTER",
		Short: "approve the statement of an ended quarter: its figures freeze, later changes land in the next open quarter",
		Args:  partnerQuarterArgs("statements approve"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.apiClient(f, statementFlags)
			if err != nil {
				return err
			}
			res, raw, err := c.command(cmd.Context(), http.MethodPost, statementPath(args[0], args[1])+"/approve", nil)
			if err != nil {
				return err
			}
			e.printCommand(f, raw, res, "statement "+args[0]+" "+args[1]+" approved")
			return nil
		},
	}
	cmd.AddCommand(show, approve)
	return cmd
}

// payoutsCmd records rebate payouts and exports the payout file.
func (e *env) payoutsCmd() *cobra.Command {
	f := &apiFlags{}
	cmd := &cobra.Command{
		Use:   "payouts",
		Short: "record a rebate payout of an approved statement, export the payout file for accounts payable",
	}
	e.addAPIFlags(cmd, f, api.RoleFinance)
	cmd.AddCommand(e.payoutRecordCmd(f), e.payoutExportCmd(f))
	return cmd
}

func (e *env) payoutRecordCmd(f *apiFlags) *cobra.Command {
	var amount int64
	var currency, reference, paidOn, key string
	cmd := &cobra.Command{
		Use:     "record PARTNER QUARTER",
		Short:   "record a payment of the partner's approved rebates (partial payouts add up, never above approved)",
		Example: "  dealcredit payouts record var-demo 2026Q3 --amount-minor 400000 --currency USD --reference AP-2026-1142 --paid-on 2026-10-20",
		Args:    partnerQuarterArgs("payouts record"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.apiClient(f, statementFlags)
			if err != nil {
				return err
			}
			defaultKey := key == ""
			if defaultKey {
				// A retried command records the payment once.
				key = "payout-" + args[0] + "-" + args[1] + "-" + reference
			}
			body := map[string]any{"amount_minor": amount, "currency": currency, "reference": reference, "paid_on": paidOn}
			res, raw, err := c.command(cmd.Context(), http.MethodPost, statementPath(args[0], args[1])+"/payouts", body, "Idempotency-Key", key)
			var ae *apiError
			if defaultKey && errors.As(err, &ae) && ae.Problem.Rule == "idempotency_key_reused" {
				// The key is the reference's: the first request under it,
				// even one refused (a 4xx answer is kept for retries), holds it.
				return fmt.Errorf("--reference: %s was already sent for %s %s with other values (the answer to that first request, even a refusal, is kept for its retries): "+
					"give this payment its own --reference, or send it under another --idempotency-key", reference, args[0], args[1])
			}
			if err != nil {
				return err
			}
			e.printCommand(f, raw, res, fmt.Sprintf("payout %s to %s for %s", domain.Money{Amount: amount, Currency: currency}.Major(), args[0], args[1]))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.Int64Var(&amount, "amount-minor", 0, "amount paid, in minor units of --currency (cents, yen) (required)")
	fl.StringVar(&currency, "currency", "", "ISO 4217 currency of the statement row paid (required)")
	fl.StringVar(&reference, "reference", "", "accounts payable's reference of the payment, 1-64 characters (required)")
	fl.StringVar(&paidOn, "paid-on", "", "the payment's date, YYYY-MM-DD, not after today (required)")
	fl.StringVar(&key, "idempotency-key", "", "Idempotency-Key of the request (default: from partner, quarter and reference, so a retry records the payment once; a corrected command after a refusal needs a new --reference or key)")
	requireFlags(cmd, "amount-minor", "the amount paid in minor units, e.g. 400000 for 4,000.00 USD", "currency", "the ISO 4217 currency of the statement row paid",
		"reference", "accounts payable's reference of the payment", "paid-on", "the payment's date, YYYY-MM-DD")
	return cmd
}

func (e *env) payoutExportCmd(f *apiFlags) *cobra.Command {
	var quarter, out string
	cmd := &cobra.Command{
		Use:     "export",
		Short:   "the payout file for accounts payable (CSV, columns in docs/finance.md)",
		Example: "  dealcredit payouts export --quarter 2026Q3 --out payouts-2026Q3.csv",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.apiClient(f, map[string]string{"quarter": "--quarter"})
			if err != nil {
				return err
			}
			q := url.Values{"quarter": {quarter}}
			if f.minPosition > 0 {
				q.Set("min_position", fmt.Sprint(f.minPosition))
			}
			path := "/v1/payouts"
			if enc := encodeSet(q); enc != "" {
				path += "?" + enc
			}
			csv, err := c.do(cmd.Context(), http.MethodGet, path, nil, "Accept", "text/csv")
			if err != nil {
				return err
			}
			if out == "" {
				_, err = e.stdout.Write(csv)
				return err
			}
			if err := os.WriteFile(out, csv, 0o644); err != nil {
				return fmt.Errorf("--out: %w", err)
			}
			fmt.Fprintf(e.stderr, "wrote %d payout row(s) to %s\n", max(strings.Count(string(csv), "\n")-1, 0), out)
			return nil
		},
	}
	cmd.Flags().StringVar(&quarter, "quarter", "", "the statements' quarter (2026Q3, current, previous); default every quarter")
	cmd.Flags().StringVar(&out, "out", "", "write the CSV to this file instead of stdout")
	return cmd
}

// encodeSet encodes the values of q that are set.
func encodeSet(q url.Values) string {
	for k, v := range q {
		if len(v) == 1 && v[0] == "" {
			q.Del(k)
		}
	}
	return q.Encode()
}

// printRaw prints a JSON answer as is (err passes through).
func (e *env) printRaw(raw []byte, err error) error {
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(e.stdout, strings.TrimSpace(string(raw)))
	return err
}
