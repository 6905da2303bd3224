package adoption_test

import (
	"errors"
	"maps"
	"strings"
	"testing"

	"dealcredit/adoption"
	"dealcredit/app"
	"dealcredit/domain"
)

func example(t *testing.T) map[string][]byte {
	t.Helper()
	files, err := adoption.ReadDir("../docs/import-example")
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestParseExample reads the documented example whole.
func TestParseExample(t *testing.T) {
	set, err := adoption.Parse(example(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Partners) != 4 || len(set.Registrations) != 2 || len(set.Engagements) != 2 || len(set.Invoices) != 2 {
		t.Fatalf("set = %d partners, %d registrations, %d engagements, %d invoices", len(set.Partners), len(set.Registrations), len(set.Engagements), len(set.Invoices))
	}
	nova := set.Partners[2]
	want := []domain.PastTier{{Tier: domain.TierGold, From: domain.MustDate("2021-06-01")}, {Tier: domain.TierPlatinum, From: domain.MustDate("2024-01-01")}}
	if nova.ID != "nova-si" || len(nova.TierHistory) != 2 || nova.TierHistory[0] != want[0] || nova.TierHistory[1] != want[1] {
		t.Fatalf("nova-si = %+v", nova)
	}
	if nova.HistoryRows[1] != (app.Row{File: adoption.TierHistoryFile, Line: 4}) {
		t.Fatalf("nova-si's platinum row = %v", nova.HistoryRows[1])
	}
	if !set.Partners[1].Grandfathered || set.Registrations[0].ApprovedOn != domain.MustDate("2026-08-03") {
		t.Fatalf("acme-var = %+v, registration = %+v", set.Partners[1], set.Registrations[0])
	}
}

// TestParseRefusesBadRows: each hostile or wrong value is refused, named by
// file, line and field, and nothing of the set is returned.
func TestParseRefusesBadRows(t *testing.T) {
	const partnersHead = "partner_id,name,kind,geography,tier,grandfathered,joined_on,review_on\n"
	const regHead = "deal_id,partner_id,customer_name,customer_country,geography,segments,expected_value_minor,currency,registered_on,approved_on\n"
	cases := []struct {
		name, file, content string
		line                int
		field, detail       string
	}{
		{"bad tier", "partners.csv", partnersHead + "a,A,var,us,gold,,,\nb,B,var,us,diamond,,,\n", 3, "tier", "must be registered, gold or platinum"},
		{"NUL in a name", "partners.csv", partnersHead + "a,A\x00x,var,us,gold,,,\n", 2, "name", "control character U+0000"},
		{"invalid UTF-8", "partners.csv", partnersHead + "a,A\xffx,var,us,gold,,,\n", 2, "name", "not valid UTF-8"},
		{"absurd date", "partners.csv", partnersHead + "a,A,var,us,gold,,9999-01-01,\n", 2, "joined_on", "outside the accepted years"},
		{"not a date", "partners.csv", partnersHead + "a,A,var,us,gold,,2026-02-30,\n", 2, "joined_on", "not a date"},
		{"grandfathered platinum", "partners.csv", partnersHead + "a,A,var,us,platinum,true,,\n", 2, "tier", "grandfathered partner is gold"},
		{"duplicate partner", "partners.csv", partnersHead + "a,A,var,us,gold,,,\na,A,var,us,gold,,,\n", 3, "partner_id", "listed twice"},
		{"unknown column", "partners.csv", "partner_id,name,kind,geography,tier,colour\n", 1, "colour", "not a column"},
		{"missing column", "partners.csv", "partner_id,name,kind,geography\n", 1, "tier", "is required"},
		{"wrong field count", "partners.csv", partnersHead + "a,A,var\n", 2, "", "wrong number of fields"},
		{"history of an unknown partner", "tier_history.csv", "partner_id,tier,from\nzz,gold,2020-01-01\n", 2, "partner_id", "not in partners.csv"},
		{"amount overflow", "registrations.csv", regHead + "d1,a,Globex,US,us,client_management,99999999999999999999,USD,2026-01-01,\n", 2, "expected_value_minor", "not a whole number"},
		{"amount above the bound", "registrations.csv", regHead + "d1,a,Globex,US,us,client_management,1000000000000000000,USD,2026-01-01,\n", 2, "expected_value_minor", "between 1 and"},
		{"approval before registration", "registrations.csv", regHead + "d1,a,Globex,US,us,client_management,100,USD,2026-02-01,2026-01-01\n", 2, "approved_on", "before registered_on"},
		{"bad country", "registrations.csv", regHead + "d1,a,Globex,XX,us,client_management,100,USD,2026-02-01,\n", 2, "customer_country", "country"},
		{"bad step", "engagements.csv", "deal_id,step,occurred_on\nd1,golf,2026-01-01\n", 2, "step", "not a known engagement step"},
		{"invoice amount mismatch", "invoices.jsonl", "\n" + strings.Replace(invoiceLine, `"amount_minor":450000`, `"amount_minor":450001`, 1), 2, "lines[0].amount_minor", ""},
		{"invoice not JSON", "invoices.jsonl", "{nope\n", 1, "", ""},
		{"invoice twice", "invoices.jsonl", invoiceLine + "\n" + invoiceLine + "\n", 2, "revision", "listed twice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			files := map[string][]byte{c.file: []byte(c.content)}
			if c.file != "partners.csv" {
				files["partners.csv"] = []byte(partnersHead + "a,A,var,us,gold,,,\n")
			}
			set, err := adoption.Parse(files)
			var ie *app.ImportError
			if !errors.As(err, &ie) {
				t.Fatalf("Parse = %+v, %v; want an *app.ImportError", set, err)
			}
			if set.Rows() != 0 {
				t.Errorf("a refused import returned %d rows", set.Rows())
			}
			got := ie.Rows[0]
			if got.File != c.file || got.Line != c.line || got.Field != c.field || !strings.Contains(got.Message, c.detail) {
				t.Fatalf("refused row = %+v (%v); want %s:%d field %q with %q", got, ie, c.file, c.line, c.field, c.detail)
			}
			if c.field != "" && !strings.Contains(got.Error(), "field "+c.field+": ") {
				t.Errorf("message %q does not name the field as file:line: field X:", got.Error())
			}
		})
	}
}

const invoiceLine = `{"schema":"dealcredit.oem_invoice.v1","oem_id":"hp","invoice_number":"HP-1","revision":1,"kind":"invoice","credit_memo_for":null,"invoice_date":"2026-09-01","currency":"USD","customer":{"oem_account_id":"C-1","name":"Globex Corp","country":"US","domain":null},"deal_registration_id":null,"lines":[{"line":1,"sku":"S","segment":"client_management","quantity":100,"unit_price_minor":4500,"amount_minor":450000}]}`

// TestParseRefusesUnknownFiles: a file that is not an import file is named.
func TestParseRefusesUnknownFiles(t *testing.T) {
	files := example(t)
	maps.Copy(files, map[string][]byte{"partner.csv": []byte("x\n")})
	if _, err := adoption.Parse(files); err == nil || !strings.Contains(err.Error(), `"partner.csv" is not an import file`) {
		t.Fatalf("Parse = %v", err)
	}
}

// FuzzParse: whatever the bytes, Parse does not panic; a refusal names a
// known file and a line; an accepted set holds only text every projection
// can store.
func FuzzParse(f *testing.F) {
	files, err := adoption.ReadDir("../docs/import-example")
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range adoption.Files {
		f.Add(name, files[name])
	}
	f.Add("partners.csv", []byte("partner_id,name,kind,geography,tier\n\"a\nb\",x\x00,var,us,gold\n"))
	f.Fuzz(func(t *testing.T, name string, b []byte) {
		if !adoption.Known(name) {
			return
		}
		set, err := adoption.Parse(map[string][]byte{name: b})
		var ie *app.ImportError
		if errors.As(err, &ie) {
			for _, r := range ie.Rows {
				if r.File != name || r.Line < 1 {
					t.Fatalf("refused row %+v of %s", r, name)
				}
			}
			return
		}
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		for _, p := range set.Partners {
			if domain.CheckID("partner_id", p.ID) != nil || domain.CheckRequiredText("name", p.Name, domain.MaxNameLen) != nil {
				t.Fatalf("accepted partner %+v", p)
			}
		}
		for _, r := range set.Registrations {
			if domain.CheckCustomer("customer", r.Register.Customer) != nil || r.RegisteredOn.IsZero() {
				t.Fatalf("accepted registration %+v", r)
			}
		}
		for _, e := range set.Engagements {
			if domain.CheckText("notes", e.Step.Notes, domain.MaxNotesLen) != nil || !e.Step.Step.Valid() {
				t.Fatalf("accepted engagement %+v", e)
			}
		}
		for _, inv := range set.Invoices {
			if inv.Invoice.Validate() != nil {
				t.Fatalf("accepted invoice %+v", inv)
			}
		}
	})
}
