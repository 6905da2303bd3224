package adoption

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"

	"dealcredit/app"
	"dealcredit/domain"
)

// columns describes a CSV file's header: the columns it may have and those
// it must have. Their order in the file is free.
type columns struct {
	all, required []string
}

// record is one CSV row: its file and line and its values by column. Its
// readers check one value each; the first refusal refuses the row (bad)
// and names the column as the field.
type record struct {
	app.Row
	p    *parser
	vals map[string]string
	bad  bool
}

// table reads a CSV file with a header line and calls each for every row.
func (p *parser) table(file string, b []byte, cols columns, each func(*record)) {
	if b == nil {
		return
	}
	r := csv.NewReader(bytes.NewReader(stripBOM(b)))
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		p.fail(app.Row{File: file, Line: 1}, "", "the file is empty; its first line names the columns (%s)", strings.Join(cols.all, ","))
		return
	}
	if err != nil {
		p.csvError(file, err)
		return
	}
	if !p.header(file, header, cols) {
		return
	}
	rows := 0
	for {
		vals, err := r.Read()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			p.csvError(file, err)
			if errors.Is(err, csv.ErrFieldCount) {
				continue
			}
			return
		}
		line, _ := r.FieldPos(0)
		if rows++; rows > MaxRows {
			p.fail(app.Row{File: file, Line: line}, "", "the file has more than %d rows; split the import", MaxRows)
			return
		}
		rec := &record{Row: app.Row{File: file, Line: line}, p: p, vals: make(map[string]string, len(header))}
		for i, h := range header {
			rec.vals[h] = vals[i]
		}
		each(rec)
	}
}

// header checks a CSV header against cols.
func (p *parser) header(file string, header []string, cols columns) bool {
	row := app.Row{File: file, Line: 1}
	for i, h := range header {
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff")
		}
		header[i] = strings.TrimSpace(h)
	}
	ok := true
	for i, h := range header {
		switch {
		case !slices.Contains(cols.all, h):
			p.fail(row, h, "column %s is not a column of %s (%s)", domain.Quote(h), file, strings.Join(cols.all, ","))
			ok = false
		case slices.Index(header, h) < i:
			p.fail(row, h, "column %s is named twice", h)
			ok = false
		}
	}
	for _, c := range cols.required {
		if !slices.Contains(header, c) {
			p.fail(row, c, "column %s is required (%s needs %s)", c, file, strings.Join(cols.required, ","))
			ok = false
		}
	}
	return ok
}

// csvError refuses the row of a CSV syntax error.
func (p *parser) csvError(file string, err error) {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		p.fail(app.Row{File: file, Line: pe.Line}, "", "CSV column %d: %v", pe.Column, pe.Err)
		return
	}
	p.fail(app.Row{File: file, Line: 1}, "", "CSV: %v", err)
}

// refuse refuses the row (once) for err, a *domain.Error naming the field.
func (r *record) refuse(err error) {
	if r.bad {
		return
	}
	r.bad = true
	var de *domain.Error
	if errors.As(err, &de) {
		r.p.fail(r.Row, de.Field, "%s", de.Message)
		return
	}
	r.p.fail(r.Row, "", "%v", err)
}

// invalid refuses the row naming col.
func (r *record) invalid(col, format string, args ...any) {
	r.refuse(domain.Errorf(domain.Invalid, col, "", format, args...))
}

// text is col's value, checked as text of at most max characters.
func (r *record) text(col string, max int) string {
	v := r.vals[col]
	if err := domain.CheckText(col, v, max); err != nil {
		r.refuse(err)
	}
	return v
}

// required is text that must not be empty.
func (r *record) required(col string, max int) string {
	v := r.vals[col]
	if err := domain.CheckRequiredText(col, v, max); err != nil {
		r.refuse(err)
	}
	return v
}

// word is col's value as one trimmed word (ids, codes, enumerations).
func (r *record) word(col string) string {
	return strings.TrimSpace(r.text(col, domain.MaxNameLen))
}

// id is col's value as an id; optional ids may be empty.
func (r *record) id(col string, optional bool) string {
	v := r.word(col)
	check := domain.CheckID
	if optional {
		check = domain.CheckOptionalID
	}
	if err := check(col, v); err != nil {
		r.refuse(err)
	}
	return v
}

// date is col's value as a business date (YYYY-MM-DD, years 2000-2100);
// an empty optional date is zero.
func (r *record) date(col string, optional bool) domain.Date {
	v := r.word(col)
	if v == "" {
		if !optional {
			r.invalid(col, "%s is required (YYYY-MM-DD)", col)
		}
		return domain.Date{}
	}
	d, err := domain.ParseDate(v)
	if err != nil {
		r.invalid(col, "%s %s is not a date YYYY-MM-DD", col, domain.Quote(v))
		return domain.Date{}
	}
	if err := domain.CheckDate(col, d); err != nil {
		r.refuse(err)
	}
	return d
}

// amount is col's value as an amount in minor units of at least min.
func (r *record) amount(col string, min int64) int64 {
	v := r.word(col)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		r.invalid(col, "%s %s is not a whole number of minor units", col, domain.Quote(v))
		return 0
	}
	if err := domain.CheckAmount(col, n, min); err != nil {
		r.refuse(err)
	}
	return n
}

// boolean is col's value as true or false (empty: false).
func (r *record) boolean(col string) bool {
	switch strings.ToLower(r.word(col)) {
	case "", "false", "no":
		return false
	case "true", "yes":
		return true
	}
	r.invalid(col, "%s %s must be true or false", col, domain.Quote(r.vals[col]))
	return false
}

// tier is col's value as a tier.
func (r *record) tier(col string) domain.Tier {
	t := domain.Tier(r.word(col))
	if !t.Valid() {
		r.invalid(col, "%s %s must be registered, gold or platinum", col, domain.Quote(string(t)))
	}
	return t
}
