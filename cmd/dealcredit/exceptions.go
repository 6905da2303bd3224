package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"dealcredit/api"
	"dealcredit/domain"
)

// exceptionFlags names the flags of the exceptions commands by the API field they set.
var exceptionFlags = map[string]string{"id": "EXCEPTION_ID", "deal_id": "--deal", "reason": "--reason", "status": "--status",
	"oem_id": "--oem", "quarter": "--quarter", "partner_id": "--partner", "customer": "--customer", "limit": "--limit", "after": "--after"}

// exceptionsCmd works the exception queue through the daemon's API.
func (e *env) exceptionsCmd() *cobra.Command {
	f := &apiFlags{}
	cmd := &cobra.Command{
		Use:   "exceptions",
		Short: "work the exception queue (software lines no registration matched) through the daemon's API",
		Long: "exceptions lists the queue (GET /v1/exceptions) and assigns a line to a deal, dismisses it as direct or\n" +
			"reopens it (POST /v1/exceptions/{id}/assign|dismiss|reopen), with a reason; each action is an event.",
	}
	e.addAPIFlags(cmd, f, api.RoleFinance)
	cmd.AddCommand(e.exceptionsListCmd(f),
		e.exceptionDecisionCmd(f, "assign", "credit the line to a deal's partner by hand, as if the deal had matched it"),
		e.exceptionDecisionCmd(f, "dismiss", "book the line as direct revenue (no partner)"),
		e.exceptionDecisionCmd(f, "reopen", "withdraw the manual decision; the line is matched automatically again"))
	return cmd
}

// exceptionRow is one row of GET /v1/exceptions (the fields printed).
type exceptionRow struct {
	ExceptionID   string `json:"exception_id"`
	OEMID         string `json:"oem_id"`
	InvoiceNumber string `json:"invoice_number"`
	Line          int    `json:"line"`
	Quarter       string `json:"quarter"`
	Segment       string `json:"segment"`
	AmountMinor   int64  `json:"amount_minor"`
	Currency      string `json:"currency"`
	Status        string `json:"status"`
	PartnerID     string `json:"partner_id"`
	Customer      string `json:"customer"`
	Reason        string `json:"reason"`
}

func (e *env) exceptionsListCmd(f *apiFlags) *cobra.Command {
	var status, oem, quarter, partner, customer, after string
	var limit int
	var all bool
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "list the exception queue, oldest OEM and invoice first",
		Example: "  dealcredit exceptions list --status open --quarter current\n  dealcredit exceptions list --customer hooli --all",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.apiClient(f, exceptionFlags)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 2, 8, 2, ' ', 0)
			var pages pageJoin
			if !f.jsonOut {
				fmt.Fprintln(tw, "EXCEPTION_ID\tOEM\tINVOICE\tLINE\tQUARTER\tSEGMENT\tAMOUNT\tSTATUS\tPARTNER\tCUSTOMER")
			}
			for {
				var page struct {
					Exceptions []exceptionRow `json:"exceptions"`
					Next       string         `json:"next"`
				}
				q := url.Values{"status": {status}, "oem_id": {oem}, "quarter": {quarter}, "partner_id": {partner},
					"customer": {customer}, "after": {after}, "limit": {strconv.Itoa(limit)}}
				raw, err := c.query(cmd.Context(), "/v1/exceptions", q, f.minPosition, &page)
				if err != nil {
					return err
				}
				if f.jsonOut {
					if err := pages.add(raw); err != nil {
						return err
					}
				}
				for _, x := range page.Exceptions {
					if !f.jsonOut {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", x.ExceptionID, x.OEMID, x.InvoiceNumber, x.Line, x.Quarter,
							x.Segment, domain.Money{Amount: x.AmountMinor, Currency: x.Currency}.Major(), x.Status, dash(x.PartnerID), x.Customer)
					}
				}
				after = page.Next
				if after == "" || !all {
					break
				}
			}
			if f.jsonOut {
				return pages.print(e.stdout)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if after != "" {
				fmt.Fprintf(e.stdout, "more: --after %s (or --all)\n", after)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&status, "status", "", "open, matched, claimed, assigned, dismissed, superseded, waiting, applied or refused")
	fl.StringVar(&oem, "oem", "", "only this OEM's lines")
	fl.StringVar(&quarter, "quarter", "", "the invoice date's quarter: 2026Q1, current or previous")
	fl.StringVar(&partner, "partner", "", "only the lines that went to this partner")
	fl.StringVar(&customer, "customer", "", "part of the customer's name, case-insensitive")
	fl.IntVar(&limit, "limit", 100, "rows a page (1-1000)")
	fl.StringVar(&after, "after", "", "the exception_id the previous page ended with (printed as more: --after ...)")
	fl.BoolVar(&all, "all", false, "follow every page")
	return cmd
}

// pageJoin joins the JSON answers of the pages of a list (--json --all) into
// one: the last page's answer (whose next is empty) with every page's
// exceptions. A single page is printed as the API sent it.
type pageJoin struct {
	raw  []byte                     // the only page's answer
	n    int                        // pages
	last map[string]json.RawMessage // the last answer
	data map[string]json.RawMessage // its data
	rows []json.RawMessage
}

// add takes one page's answer.
func (p *pageJoin) add(raw []byte) error {
	p.raw, p.n = raw, p.n+1
	var rows []json.RawMessage
	if err := json.Unmarshal(raw, &p.last); err != nil {
		return fmt.Errorf("exceptions list: decode answer: %w", err)
	}
	if err := json.Unmarshal(p.last["data"], &p.data); err != nil {
		return fmt.Errorf("exceptions list: decode data: %w", err)
	}
	if err := json.Unmarshal(p.data["exceptions"], &rows); err != nil {
		return fmt.Errorf("exceptions list: decode exceptions: %w", err)
	}
	p.rows = append(p.rows, rows...)
	return nil
}

// print writes the joined answer as one JSON document.
func (p *pageJoin) print(w io.Writer) error {
	if p.n == 1 {
		_, err := fmt.Fprintln(w, strings.TrimSpace(string(p.raw)))
		return err
	}
	if p.rows == nil {
		p.rows = []json.RawMessage{}
	}
	var err error
	if p.data["exceptions"], err = json.Marshal(p.rows); err != nil {
		return err
	}
	if p.last["data"], err = json.Marshal(p.data); err != nil {
		return err
	}
	out, err := json.Marshal(p.last)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(out))
	return err
}

// exceptionDecisionCmd is assign, dismiss or reopen.
func (e *env) exceptionDecisionCmd(f *apiFlags, action, short string) *cobra.Command {
	var deal, reason string
	cmd := &cobra.Command{
		Use:   action + " EXCEPTION_ID",
		Short: short,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("exceptions %s: name one EXCEPTION_ID (the first column of dealcredit exceptions list)", action)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.apiClient(f, exceptionFlags)
			if err != nil {
				return err
			}
			body := map[string]string{"reason": reason}
			if action == "assign" {
				body["deal_id"] = deal
			}
			res, raw, err := c.command(cmd.Context(), http.MethodPost, "/v1/exceptions/"+url.PathEscape(args[0])+"/"+action, body)
			if err != nil {
				return err
			}
			e.printCommand(f, raw, res, "exception "+args[0]+" "+action)
			return nil
		},
	}
	if action == "assign" {
		cmd.Flags().StringVar(&deal, "deal", "", "the approved deal whose partner gets the line (required)")
		requireFlags(cmd, "deal", "the id of an approved deal covering the line's segment", "reason", "why, recorded on the event")
		cmd.Example = `  dealcredit exceptions assign x3f2... --deal 0b6f... --reason "invoiced to the holding"`
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (required; recorded on the event)")
	if action != "assign" {
		requireFlags(cmd, "reason", "why, recorded on the event")
	}
	return cmd
}

// dash shows an empty value as "-".
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
