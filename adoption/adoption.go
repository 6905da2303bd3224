// Package adoption reads the files a company imports when it adopts
// dealcredit in the middle of its program (docs/import.md): its partners
// with their tier history, its open and approved registrations, their
// engagement steps and its past OEM invoices and credit memos. It parses
// and checks them whole into an app.ImportSet; every refused row is named by
// file, line and field (an *app.ImportError), and the command layer
// (app.Service.Import) decides and appends the set.
package adoption

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"dealcredit/app"
)

// The import's files; each is optional, at least one is needed.
const (
	PartnersFile      = "partners.csv"
	TierHistoryFile   = "tier_history.csv"
	RegistrationsFile = "registrations.csv"
	EngagementsFile   = "engagements.csv"
	InvoicesFile      = "invoices.jsonl"
)

// Files lists the import's file names in the order they are read.
var Files = []string{PartnersFile, TierHistoryFile, RegistrationsFile, EngagementsFile, InvoicesFile}

// Limits of one import.
const (
	// MaxFileBytes bounds one file.
	MaxFileBytes = 16 << 20
	// MaxTotalBytes bounds all files of one import together.
	MaxTotalBytes = 32 << 20
	// MaxRows bounds the rows of one file.
	MaxRows = 100_000
)

// Known reports whether name is one of the import's files.
func Known(name string) bool { return slices.Contains(Files, name) }

// ReadDir reads the import's files present in dir. A .csv or .jsonl file
// that is not one of them is an error (a misspelt file would otherwise be
// left out silently); other files (a README) are ignored.
func ReadDir(dir string) (map[string][]byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	files := map[string][]byte{}
	total := 0
	for _, e := range entries {
		name := e.Name()
		ext := filepath.Ext(name)
		if e.IsDir() || (ext != ".csv" && ext != ".jsonl") {
			continue
		}
		if !Known(name) {
			return nil, fmt.Errorf("import: %s: not an import file (%s)", filepath.Join(dir, name), strings.Join(Files, ", "))
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
		if info.Size() > MaxFileBytes {
			return nil, fmt.Errorf("import: %s is %d bytes, more than %d", name, info.Size(), MaxFileBytes)
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
		total += len(b)
		if total > MaxTotalBytes {
			return nil, fmt.Errorf("import: the files of %s are more than %d bytes together", dir, MaxTotalBytes)
		}
		files[name] = b
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("import: %s holds none of the import files (%s)", dir, strings.Join(Files, ", "))
	}
	return files, nil
}

// Parse reads files (name to content) into an ImportSet. Every row is
// checked; the error is an *app.ImportError naming each refused row by
// file, line and field, or a plain error for a file that is not an import
// file or too large.
func Parse(files map[string][]byte) (app.ImportSet, error) {
	var set app.ImportSet
	if len(files) == 0 {
		return set, errors.New("import: no files (" + strings.Join(Files, ", ") + ")")
	}
	for name, b := range files {
		if !Known(name) {
			return set, fmt.Errorf("import: %q is not an import file (%s)", name, strings.Join(Files, ", "))
		}
		if len(b) > MaxFileBytes {
			return set, fmt.Errorf("import: %s is %d bytes, more than %d", name, len(b), MaxFileBytes)
		}
	}
	p := &parser{refused: &app.ImportError{}, partnerRow: map[string]int{}, refusedPartner: map[string]bool{}}
	p.partners(files[PartnersFile])
	p.tierHistory(files[TierHistoryFile])
	p.registrations(files[RegistrationsFile])
	p.engagements(files[EngagementsFile])
	p.invoices(files[InvoicesFile])
	if err := p.refused.Err(); err != nil {
		return app.ImportSet{}, err
	}
	return p.set, nil
}

// parser accumulates the set and the refused rows.
type parser struct {
	set     app.ImportSet
	refused *app.ImportError
	// partnerRow is the index in set.Partners of each partner id; refused
	// holds the ids of refused partner rows (their history rows are not
	// refused again).
	partnerRow     map[string]int
	refusedPartner map[string]bool
}

// fail refuses a row.
func (p *parser) fail(row app.Row, field, format string, args ...any) {
	p.refused.AddRow(app.RowError{File: row.File, Line: row.Line, Field: field, Message: fmt.Sprintf(format, args...)})
}

// stripBOM removes a UTF-8 byte order mark (spreadsheets write one).
func stripBOM(b []byte) []byte { return bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")) }
