package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dealcredit/adoption"
	"dealcredit/internal/testkit/daemontest"
)

// exampleDir is the documented import example (docs/import.md).
const exampleDir = "../../docs/import-example"

// TestImportEndToEnd drives the adoption import through the CLI and the
// daemon's admin endpoint against real Postgres and JetStream: a bad row
// refuses the whole import (named by file, line and field, nothing
// appended); the example imports; the same files again append nothing; the
// grandfathered partner's tier history gives it the Gold rate on a past
// invoice; explain names the imported rows; a live invoice published
// afterwards is matched by the imported registration.
func TestImportEndToEnd(t *testing.T) {
	d := daemontest.Start(t, nil)
	finance := d.Token(t, "finance")

	t.Run("one bad row appends nothing", func(t *testing.T) {
		before := logHead(t, d)
		dir := copyDir(t, exampleDir)
		edit(t, filepath.Join(dir, "partners.csv"), "nova-si,Nova Integrators,si,us,platinum", "nova-si,Nova Integrators,si,us,diamond")
		edit(t, filepath.Join(dir, "registrations.csv"), "2026-08-01,2026-08-03", "2026-08-01,2026-07-03")
		out, err := cli(t, d, "import", dir)
		if err == nil {
			t.Fatalf("import with bad rows succeeded:\n%s", out)
		}
		want := "partners.csv:4: field tier: tier \"diamond\" must be registered, gold or platinum\n" +
			"registrations.csv:2: field approved_on: approved_on 2026-07-03 is before registered_on 2026-08-01\n"
		if out != want || !strings.Contains(err.Error(), "import refused, nothing appended: 2 rows") {
			t.Errorf("import = %v, output:\n%s\nwant:\n%s", err, out, want)
		}
		if after := logHead(t, d); after != before {
			t.Fatalf("a refused import moved the log head from %d to %d", before, after)
		}
	})

	t.Run("a row the log refuses appends nothing", func(t *testing.T) {
		before := logHead(t, d)
		dir := copyDir(t, exampleDir)
		// Valid as a row, refused when decided: the deal's partner is not enrolled.
		edit(t, filepath.Join(dir, "registrations.csv"), "d-nova-initech,nova-si", "d-nova-initech,ghost-var")
		status, problem := postImportFiles(t, d, d.Token(t, "admin"), dir)
		if status != http.StatusBadRequest {
			t.Fatalf("POST /v1/admin/import = %d, want 400: %s", status, problem)
		}
		var p struct {
			Errors []struct {
				File   string `json:"file"`
				Line   int    `json:"line"`
				Field  string `json:"field"`
				Detail string `json:"detail"`
			} `json:"errors"`
		}
		if err := json.Unmarshal([]byte(problem), &p); err != nil || len(p.Errors) != 1 {
			t.Fatalf("problem %s: want one refused row (%v)", problem, err)
		}
		if e := p.Errors[0]; e.File != "registrations.csv" || e.Line != 3 || e.Field != "partner_id" || !strings.Contains(e.Detail, "ghost-var") {
			t.Fatalf("refused row = %+v, want registrations.csv:3 field partner_id", e)
		}
		if after := logHead(t, d); after != before {
			t.Fatalf("a refused import moved the log head from %d to %d", before, after)
		}
	})

	t.Run("the endpoint takes import files only", func(t *testing.T) {
		admin := d.Token(t, "admin")
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		w, _ := mw.CreateFormFile("partner.csv", "partner.csv")
		_, _ = w.Write([]byte("partner_id\n"))
		_ = mw.Close()
		for _, c := range []struct {
			name, contentType string
			body              []byte
			status            int
			detail            string
		}{
			{"a misspelt file", mw.FormDataContentType(), body.Bytes(), 400, `part \"partner.csv\" is not an import file`},
			{"JSON", "application/json", []byte(`{}`), 415, "multipart/form-data"},
			{"no files", "multipart/form-data; boundary=x", []byte("--x--\r\n"), 400, "no files"},
		} {
			req, _ := http.NewRequest("POST", d.URL+"/v1/admin/import", bytes.NewReader(c.body))
			req.Header.Set("Content-Type", c.contentType)
			req.Header.Set("Authorization", "Bearer "+admin)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status || !strings.Contains(string(b), c.detail) {
				t.Errorf("%s: %d %s, want %d with %q", c.name, resp.StatusCode, b, c.status, c.detail)
			}
		}
	})

	t.Run("only an admin token imports", func(t *testing.T) {
		if status, body := postImportFiles(t, d, finance, exampleDir); status != http.StatusForbidden {
			t.Fatalf("finance import = %d, want 403: %s", status, body)
		}
	})

	out, err := cli(t, d, "import", exampleDir)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	if !strings.Contains(out, "10 rows, 0 already recorded (skipped), appended") || !strings.Contains(out, "invoice.received") {
		t.Fatalf("import output:\n%s", out)
	}
	head := logHead(t, d)

	t.Run("the same files again append nothing", func(t *testing.T) {
		out, err := cli(t, d, "import", exampleDir)
		if err != nil {
			t.Fatalf("second import: %v\n%s", err, out)
		}
		if !strings.Contains(out, "10 rows, 10 already recorded (skipped), appended 0 events") {
			t.Fatalf("second import output:\n%s", out)
		}
		if after := logHead(t, d); after != head {
			t.Fatalf("the second import moved the log head from %d to %d", head, after)
		}
	})

	t.Run("the grandfathered partner's history gives its gold rate on a past invoice", func(t *testing.T) {
		var st struct {
			Data []struct {
				Currency        string `json:"currency"`
				CreditedRevenue int64  `json:"credited_revenue_minor"`
				Rebates         int64  `json:"rebates_minor"`
			} `json:"data"`
		}
		getJSON(t, d, fmt.Sprintf("/v1/partners/acme-var/statements/2026Q3?min_position=%d", head), finance, &st)
		// 4,500.00 USD invoiced, 450.00 credited back; gold 5% of the rest.
		if len(st.Data) != 1 || st.Data[0].Currency != "USD" || st.Data[0].CreditedRevenue != 405000 || st.Data[0].Rebates != 20250 {
			t.Fatalf("acme-var 2026Q3 statement = %+v, want 4,050.00 USD credited and 202.50 rebate", st.Data)
		}
		var ledger struct {
			Data []struct {
				Kind    string `json:"kind"`
				RateBPS int64  `json:"rate_bps"`
			} `json:"data"`
		}
		getJSON(t, d, fmt.Sprintf("/v1/attribution?quarter=2026Q3&partner_id=acme-var&min_position=%d", head), finance, &ledger)
		rebates := 0
		for _, l := range ledger.Data {
			if l.Kind == "rebate" {
				rebates++
				if l.RateBPS != 500 {
					t.Errorf("rebate line at %d bps, want gold's 500", l.RateBPS)
				}
			}
		}
		if rebates == 0 {
			t.Fatalf("no rebate line for acme-var in 2026Q3: %+v", ledger.Data)
		}
	})

	t.Run("explain names the imported rows", func(t *testing.T) {
		out, err := cli(t, d, "explain", "--oem", "hp", "--invoice", "HP-2026-0901", "--line", "1")
		if err != nil {
			t.Fatalf("explain: %v\n%s", err, out)
		}
		for _, want := range []string{"from import invoices.jsonl:1:", "deal.approved", "from import registrations.csv:2:"} {
			if !strings.Contains(out, want) {
				t.Errorf("explain output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("a live invoice matches the imported registration", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "live.jsonl")
		live := `{"schema":"dealcredit.oem_invoice.v1","oem_id":"hp","invoice_number":"HP-2026-1020","revision":1,"kind":"invoice","credit_memo_for":null,` +
			`"invoice_date":"2026-10-20","currency":"USD","customer":{"oem_account_id":"C-100","name":"Globex Corp","country":"US","domain":"globex.example"},` +
			`"deal_registration_id":null,"lines":[{"line":1,"sku":"ALT-CMS-100","segment":"client_management","quantity":20,"unit_price_minor":4500,"amount_minor":90000}]}` + "\n"
		if err := os.WriteFile(file, []byte(live), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := cli(t, d, "publish", "--oem", "hp", file); err != nil {
			t.Fatalf("publish: %v\n%s", err, out)
		}
		var ledger struct {
			Data []struct {
				InvoiceNumber  string `json:"invoice_number"`
				Kind           string `json:"kind"`
				RegistrationID string `json:"registration_id"`
				AmountMinor    int64  `json:"amount_minor"`
			} `json:"data"`
		}
		waitUntil(t, "the live invoice is attributed", func() bool {
			getJSON(t, d, "/v1/attribution?quarter=2026Q4&partner_id=acme-var", finance, &ledger)
			for _, l := range ledger.Data {
				if l.InvoiceNumber == "HP-2026-1020" && l.Kind == "revenue" {
					return true
				}
			}
			return false
		})
		for _, l := range ledger.Data {
			if l.InvoiceNumber == "HP-2026-1020" && l.Kind == "revenue" && (l.RegistrationID != "d-acme-globex" || l.AmountMinor != 90000) {
				t.Fatalf("live line = %+v, want 900.00 USD credited through d-acme-globex", l)
			}
		}
	})
}

// logHead is the log's head as the auditor sees it.
func logHead(t *testing.T, d *daemontest.Daemon) int64 {
	t.Helper()
	var page struct {
		Head int64 `json:"head"`
	}
	getJSON(t, d, "/v1/events?after=0&limit=1", d.Token(t, "auditor"), &page)
	return page.Head
}

// getJSON GETs path and decodes a 200 answer into v.
func getJSON(t *testing.T, d *daemontest.Daemon, path, token string, v any) {
	t.Helper()
	resp, body := get(t, d, path, token)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d: %s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, body)
	}
}

// postImportFiles sends the import files of dir to the admin endpoint as token.
func postImportFiles(t *testing.T, d *daemontest.Daemon, token, dir string) (int, string) {
	t.Helper()
	files, err := adoption.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for name, b := range files {
		w, err := mw.CreateFormFile(name, name)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(b)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", d.URL+"/v1/admin/import", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// copyDir copies the files of dir into a new temporary directory.
func copyDir(t *testing.T, dir string) string {
	t.Helper()
	out := t.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// edit replaces old (which must occur) by new in file.
func edit(t *testing.T, file, old, new string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s lacks %q", file, old)
	}
	if err := os.WriteFile(file, bytes.Replace(b, []byte(old), []byte(new), 1), 0o600); err != nil {
		t.Fatal(err)
	}
}
