package api

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"

	"dealcredit/adoption"
	"dealcredit/app"
)

// ImportAnswer is the answer to POST /v1/admin/import.
type ImportAnswer struct {
	Position int64 `json:"position"`
	DryRun   bool  `json:"dry_run"`
	// Rows is the number of rows read; Skipped the rows already recorded.
	Rows    int `json:"rows"`
	Skipped int `json:"skipped"`
	// Appended is the number of events appended (decided, on a dry run);
	// Events counts them by type.
	Appended int            `json:"appended"`
	Events   map[string]int `json:"events"`
}

// multipartOverhead is what a multipart body may carry beyond its files.
const multipartOverhead = 1 << 20

// importProgram serves POST /v1/admin/import: a multipart/form-data body
// whose parts are the import's files (each part named by its file name,
// docs/import.md); ?dry_run=true decides without appending.
func (s *server) importProgram() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		dryRun, err := queryBool(r, "dry_run")
		if err != nil {
			s.fail(w, r, err)
			return
		}
		files, err := readImportFiles(w, r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		set, err := adoption.Parse(files)
		if err != nil {
			s.fail(w, r, importInputError(err))
			return
		}
		md := meta(r)
		if md.CorrelationID == "" {
			md.CorrelationID = "import"
		}
		res, err := s.app.Import(r.Context(), md, set, dryRun)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		out := ImportAnswer{Position: res.Position, DryRun: res.DryRun, Rows: res.Rows, Skipped: res.Skipped,
			Appended: len(res.Events), Events: map[string]int{}}
		for _, t := range res.EventTypes() {
			out.Events[t]++
		}
		s.Logger.InfoContext(r.Context(), "api: import", "rows", out.Rows, "skipped", out.Skipped, "events", out.Appended, "dry_run", dryRun, "position", out.Position)
		setPosition(w, out.Position)
		writeJSON(w, http.StatusOK, out)
	}
}

// importInputError makes a file-level refusal of adoption.Parse (not an
// import file, too large) the client's mistake; row refusals pass as they are.
func importInputError(err error) error {
	var ie *app.ImportError
	if errors.As(err, &ie) {
		return err
	}
	return errorf(CodeInvalid, "body", "%v", err)
}

// readImportFiles reads the parts of a multipart/form-data body, each
// named by the import file it holds.
func readImportFiles(w http.ResponseWriter, r *http.Request) (map[string][]byte, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		return nil, errorf(CodeUnsupported, "Content-Type", "must be multipart/form-data with one part per import file, got %q", r.Header.Get("Content-Type"))
	}
	r.Body = http.MaxBytesReader(w, r.Body, adoption.MaxTotalBytes+multipartOverhead)
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, errorf(CodeInvalid, "body", "not a multipart body: %v", err)
	}
	files := map[string][]byte{}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return files, nil
		}
		if err != nil {
			return nil, bodyError(err)
		}
		name := part.FormName()
		if name == "" {
			name = path.Base(part.FileName())
		}
		if !adoption.Known(name) {
			return nil, errorf(CodeInvalid, "body", "part %q is not an import file (%v)", name, adoption.Files)
		}
		if _, dup := files[name]; dup {
			return nil, errorf(CodeInvalid, "body", "part %q is sent twice", name)
		}
		b, err := io.ReadAll(io.LimitReader(part, adoption.MaxFileBytes+1))
		if err != nil {
			return nil, bodyError(err)
		}
		if len(b) > adoption.MaxFileBytes {
			return nil, errorf(CodeTooLarge, "body", "%s is more than %d bytes", name, adoption.MaxFileBytes)
		}
		files[name] = b
	}
}

// bodyError reports a body that could not be read (too large or cut).
func bodyError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errorf(CodeTooLarge, "body", "must be at most %d bytes", mbe.Limit)
	}
	return errorf(CodeInvalid, "body", "could not be read: %v", err)
}

// queryBool parses an optional boolean query parameter (true or false).
func queryBool(r *http.Request, name string) (bool, error) {
	switch v := r.URL.Query().Get(name); v {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	default:
		return false, errorf(CodeInvalid, name, "%s must be true or false, got %s", name, fmt.Sprintf("%q", v))
	}
}
