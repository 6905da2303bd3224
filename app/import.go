package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"dealcredit/domain"
	"dealcredit/eventstore"
)

// MaxImportErrors bounds the row errors an import reports (the rest are
// counted, not listed).
const MaxImportErrors = 100

// Row names the line of an import file a fact came from.
type Row struct {
	File string
	Line int
}

// String is "partners.csv:7".
func (r Row) String() string { return fmt.Sprintf("%s:%d", r.File, r.Line) }

// ImportSet is the program as it stands, parsed from the import files
// (docs/import.md): every row carries its file and line.
type ImportSet struct {
	Partners      []ImportPartner
	Registrations []ImportRegistration
	Engagements   []ImportEngagement
	Invoices      []ImportInvoice
}

// Rows is the number of rows in the set.
func (s ImportSet) Rows() int {
	return len(s.Partners) + len(s.Registrations) + len(s.Engagements) + len(s.Invoices)
}

// ImportPartner is one partner with the date it joined the program and the
// tiers it held before (oldest first). Tier is the tier it holds today:
// registered (enrolled), gold or platinum (adopted at that tier), or gold
// with Grandfathered (grandfathered as Gold, exempt from review until
// ReviewOn; zero: the end of the next quarter).
type ImportPartner struct {
	Row
	ID, Name      string
	Kind          domain.PartnerKind
	Geography     string
	Tier          domain.Tier
	Grandfathered bool
	ReviewOn      domain.Date
	JoinedOn      domain.Date
	TierHistory   []domain.PastTier
	// HistoryRows are the rows of TierHistory's entries (the same order).
	HistoryRows []Row
}

// command is the partner command that enrolls p.
func (p ImportPartner) command() any {
	switch {
	case p.Grandfathered:
		return domain.Grandfather{PartnerID: p.ID, Name: p.Name, Kind: p.Kind, Geography: p.Geography,
			ReviewOn: p.ReviewOn, JoinedOn: p.JoinedOn, TierHistory: p.TierHistory}
	case p.Tier == domain.TierRegistered:
		return domain.Enroll{PartnerID: p.ID, Name: p.Name, Kind: p.Kind, Geography: p.Geography,
			JoinedOn: p.JoinedOn, TierHistory: p.TierHistory}
	}
	return domain.Adopt{PartnerID: p.ID, Name: p.Name, Kind: p.Kind, Geography: p.Geography, Tier: p.Tier,
		JoinedOn: p.JoinedOn, TierHistory: p.TierHistory}
}

// ImportRegistration is one open or approved registration: Register
// (whose DealID is the file's deal id) on RegisteredOn and, when ApprovedOn
// is set, approved on that date.
type ImportRegistration struct {
	Row
	Register     domain.Register
	RegisteredOn domain.Date
	ApprovedOn   domain.Date
}

// ImportEngagement is one engagement step on an imported (or recorded) deal.
type ImportEngagement struct {
	Row
	DealID string
	Step   domain.LogEngagement
}

// ImportInvoice is one past OEM invoice, revision or credit memo.
type ImportInvoice struct {
	Row
	Invoice domain.InvoiceReceived
}

// RowError is why one row cannot be imported: its file, line and field.
type RowError struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Field   string `json:"field,omitempty"`
	Message string `json:"detail"`
}

// Error is "partners.csv:7: field tier: ...".
func (e RowError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Message)
	}
	return fmt.Sprintf("%s:%d: field %s: %s", e.File, e.Line, e.Field, e.Message)
}

// ImportError lists the rows an import refused; nothing was appended. It
// unwraps to an Invalid *domain.Error (its first row), so callers that map
// domain codes report it as the client's mistake.
type ImportError struct {
	Rows []RowError
	// More counts the refused rows beyond Rows (MaxImportErrors).
	More int
}

func (e *ImportError) Error() string {
	msgs := make([]string, 0, len(e.Rows)+1)
	for _, r := range e.Rows {
		msgs = append(msgs, r.Error())
	}
	if e.More > 0 {
		msgs = append(msgs, fmt.Sprintf("and %d more", e.More))
	}
	return "import refused, nothing appended: " + strings.Join(msgs, "; ")
}

// Unwrap is the first row's error as an Invalid *domain.Error.
func (e *ImportError) Unwrap() error {
	first := RowError{Message: "no rows"}
	if len(e.Rows) > 0 {
		first = e.Rows[0]
	}
	return &domain.Error{Code: domain.Invalid, Field: first.Field, Rule: "import.rows", Message: e.Error()}
}

// Add records a row's error (err's field when it is a *domain.Error).
func (e *ImportError) Add(row Row, err error) {
	re := RowError{File: row.File, Line: row.Line, Message: err.Error()}
	var de *domain.Error
	if errors.As(err, &de) {
		re.Field = de.Field
	}
	e.AddRow(re)
}

// AddRow records a refused row (counted in More beyond MaxImportErrors).
func (e *ImportError) AddRow(re RowError) {
	if len(e.Rows) >= MaxImportErrors {
		e.More++
		return
	}
	e.Rows = append(e.Rows, re)
}

// Err is e when it lists a row, nil otherwise.
func (e *ImportError) Err() error {
	if len(e.Rows) == 0 {
		return nil
	}
	return e
}

// Imported is what an import did.
type Imported struct {
	Result
	// Rows is the number of rows read; Skipped those already recorded by an
	// earlier import (or in the log otherwise), which append nothing.
	Rows, Skipped int
	// DryRun is true when the set was decided but nothing appended.
	DryRun bool
}

// Import loads the program as it stands: it decides every row of set
// against the log and the rows before it, with the business dates the rows
// give (a registration approved last quarter is approved on that date, under
// the policy then in force), and appends all of their events in one
// transaction, or none when any row is refused (an *ImportError naming each
// refused row). Each event's metadata names the import and the row
// ("import partners.csv:7"); its id is a function of the row's fact, and a
// row already recorded is skipped: importing the same files again appends
// nothing. With dryRun nothing is appended.
func (s *Service) Import(ctx context.Context, md Meta, set ImportSet, dryRun bool) (Imported, error) {
	for attempt := 1; ; attempt++ {
		t := &Txn{ctx: ctx, store: s.store, now: s.clock().UTC(), versions: map[string]int64{}, registered: s.registered}
		st := &stage{t: t, base: map[string][]domain.Event{}, pending: map[string][]domain.Event{}, refusedDeals: map[string]bool{}}
		skipped, err := st.decide(md, set)
		if err != nil {
			return Imported{}, err
		}
		out := Imported{Rows: set.Rows(), Skipped: skipped, DryRun: dryRun}
		for _, x := range st.out {
			out.Events = append(out.Events, x.event)
		}
		if dryRun || len(st.out) == 0 {
			head, err := s.store.Head(ctx)
			out.Position = head
			return out, err
		}
		reqs, err := s.importRequests(md, t, st.out)
		if err != nil {
			return Imported{}, err
		}
		res, err := s.store.AppendAtomic(ctx, reqs...)
		if errors.Is(err, eventstore.ErrConflict) && attempt < maxAttempts {
			continue
		}
		if err != nil {
			return Imported{}, fmt.Errorf("import: append %d streams: %w", len(reqs), err)
		}
		for _, x := range res {
			out.Position = max(out.Position, x.LastPosition())
		}
		return out, nil
	}
}

// importRequests groups the staged events by stream, in first-seen order,
// each with its row's metadata, business time and id.
func (s *Service) importRequests(md Meta, t *Txn, staged []stagedEvent) ([]eventstore.AppendRequest, error) {
	var order []string
	byStream := map[string][]eventstore.Event{}
	for _, x := range staged {
		rm := md
		rm.Source = "import " + x.row.String()
		env, err := envelope(rm, x.at, x.event, x.id)
		if err != nil {
			return nil, err
		}
		stream := domain.StreamOf(x.event)
		if _, ok := byStream[stream]; !ok {
			order = append(order, stream)
		}
		byStream[stream] = append(byStream[stream], env)
	}
	reqs := make([]eventstore.AppendRequest, 0, len(order))
	for _, stream := range order {
		exp := eventstore.Any
		if v, ok := t.versions[stream]; ok {
			exp = expect(v)
		}
		reqs = append(reqs, eventstore.AppendRequest{Stream: stream, Expected: exp, Events: byStream[stream]})
	}
	return reqs, nil
}

// stagedEvent is an event an import decided: the row it comes from, its
// business time and its id.
type stagedEvent struct {
	row   Row
	at    time.Time
	id    uuid.UUID
	event domain.Event
}

// stage is an import's decision in progress: the streams read from the log
// (their versions guarded by t) and the events decided so far, which the
// rows after them see.
type stage struct {
	t       *Txn
	base    map[string][]domain.Event
	pending map[string][]domain.Event
	out     []stagedEvent
	// refusedDeals are the deals whose registration row was refused: their
	// engagement rows are not refused again.
	refusedDeals map[string]bool
}

// events returns stream's events: those in the log, then those staged.
func (st *stage) events(stream string) ([]domain.Event, error) {
	base, ok := st.base[stream]
	if !ok {
		recs, err := st.t.store.ReadStream(st.t.ctx, stream, 0)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", stream, err)
		}
		if base, err = st.keep(stream, recs); err != nil {
			return nil, err
		}
	}
	return append(base[:len(base):len(base)], st.pending[stream]...), nil
}

// keep decodes stream's records as read from the log and remembers them
// and the version they end at (0: no stream), which the append then expects.
func (st *stage) keep(stream string, recs []eventstore.Record) ([]domain.Event, error) {
	var base []domain.Event
	var v int64
	for _, rec := range recs {
		e, err := domain.Decode(rec.Type, rec.SchemaVersion, rec.Data)
		if err != nil {
			return nil, fmt.Errorf("decode %s at position %d: %w", rec.Type, rec.Position, Internal(err))
		}
		base = append(base, e)
		v = rec.StreamVersion
	}
	st.base[stream], st.t.versions[stream] = base, v
	return base, nil
}

// prefetch reads the streams set's rows will certainly read (their
// partners', deals' and invoices'), many per query when the store can, so
// that deciding a large import does not take a round trip per row. Streams
// a row reads besides these are read when it needs them.
func (st *stage) prefetch(set ImportSet) error {
	sr, ok := st.t.store.(eventstore.StreamsReader)
	if !ok {
		return nil
	}
	seen := map[string]bool{}
	var streams []string
	add := func(stream string) {
		if _, read := st.base[stream]; !read && !seen[stream] {
			seen[stream] = true
			streams = append(streams, stream)
		}
	}
	for _, p := range set.Partners {
		add(domain.PartnerStream(p.ID))
	}
	for _, r := range set.Registrations {
		add(domain.PartnerStream(r.Register.PartnerID))
		add(domain.DealStream(r.Register.DealID))
	}
	for _, e := range set.Engagements {
		add(domain.DealStream(e.DealID))
	}
	for _, r := range set.Invoices {
		add(domain.PartnerStream(r.Invoice.OEMID))
		add(domain.InvoiceStream(r.Invoice.OEMID, r.Invoice.InvoiceNumber))
	}
	byStream, err := sr.ReadStreams(st.t.ctx, streams)
	if err != nil {
		return fmt.Errorf("import: read the streams its rows name: %w", err)
	}
	for _, stream := range streams {
		if _, err := st.keep(stream, byStream[stream]); err != nil {
			return err
		}
	}
	return nil
}

// fold folds stream's events (log and staged) with evolve.
func fold[S any](st *stage, stream string, zero S, evolve func(S, domain.Event) S) (S, error) {
	evs, err := st.events(stream)
	if err != nil {
		return zero, err
	}
	s := zero
	for _, e := range evs {
		s = evolve(s, e)
	}
	return s, nil
}

// add stages a row's events, dated at: their ids derive from key and their
// index, so the same fact imported again has the same ids.
func (st *stage) add(row Row, at time.Time, key string, evs []domain.Event) {
	for i, e := range evs {
		st.addID(row, at, uuid.NewSHA1(idNamespace, fmt.Appendf(nil, "import/%s/%d", key, i)), e)
	}
}

// addID stages one event with its id.
func (st *stage) addID(row Row, at time.Time, id uuid.UUID, e domain.Event) {
	stream := domain.StreamOf(e)
	st.pending[stream] = append(st.pending[stream], e)
	st.out = append(st.out, stagedEvent{row: row, at: at, id: id, event: e})
}

// decide decides every row, partners first, then registrations,
// engagements and invoices, and returns the number of rows skipped as
// already recorded, or an *ImportError listing the refused rows.
func (st *stage) decide(md Meta, set ImportSet) (int, error) {
	if err := st.prefetch(set); err != nil {
		return 0, err
	}
	refused := &ImportError{}
	skipped := 0
	steps := []func(Meta, ImportSet, *ImportError) (int, error){st.partners, st.registrations, st.engagements, st.invoices}
	for _, step := range steps {
		n, err := step(md, set, refused)
		if err != nil {
			return 0, err
		}
		skipped += n
	}
	return skipped, refused.Err()
}

// rowErr sorts a row decision's error: a *domain.Error is the row's (added
// to refused), anything else (the log unreadable) stops the import.
func rowErr(refused *ImportError, row Row, err error) error {
	var de *domain.Error
	if errors.As(err, &de) {
		refused.Add(row, err)
		return nil
	}
	return err
}

// policy is the policy in force on d.
func (st *stage) policy(d domain.Date) (domain.Policy, error) {
	h, err := fold(st, domain.PolicyStream(), domain.PolicyHistory{}, domain.EvolvePolicy)
	return h.At(d), err
}

// today is the date of the import.
func (st *stage) today() domain.Date { return domain.DateOf(st.t.now) }
