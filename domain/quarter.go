package domain

import "time"

// QuarterState is one quarter folded from its stream.
type QuarterState struct {
	Quarter  Quarter
	Closed   bool
	ClosedOn Date
}

// EvolveQuarter folds a quarter event.
func EvolveQuarter(s QuarterState, e Event) QuarterState {
	if c, ok := e.(QuarterClosed); ok {
		s = QuarterState{Quarter: c.Quarter, Closed: true, ClosedOn: c.ClosedOn}
	}
	return s
}

// CloseQuarter is the command to close a quarter.
type CloseQuarter struct {
	Quarter Quarter
	By      string
}

// DecideCloseQuarter closes a quarter that has ended and is not closed yet.
func DecideCloseQuarter(s QuarterState, c CloseQuarter, now time.Time) ([]Event, error) {
	today := DateOf(now)
	switch {
	case c.Quarter.IsZero():
		return nil, invalidf("quarter", "quarter is required, like 2026Q1")
	case s.Closed:
		return nil, Errorf(Conflict, "quarter", "quarter.closed_once", "quarter %s was already closed on %s", c.Quarter, s.ClosedOn)
	case !today.After(c.Quarter.End()):
		return nil, Errorf(Unprocessable, "quarter", "quarter.ended", "quarter %s has not ended (it ends %s)", c.Quarter, c.Quarter.End())
	}
	return []Event{QuarterClosed{Quarter: c.Quarter, ClosedOn: today, By: c.By}}, nil
}

// FieldRep is a field sales rep's territory folded from its stream.
type FieldRep = FieldRepAssigned

// AssignFieldRep is the command to set a field rep's territory.
type AssignFieldRep struct {
	RepID, Name, Geography, SizeBand string
}

// DecideAssignFieldRep records a rep's territory (geography plus customer size band).
func DecideAssignFieldRep(cur FieldRep, c AssignFieldRep, now time.Time) ([]Event, error) {
	switch {
	case !validID(c.RepID):
		return nil, invalidf("rep_id", "rep id %q is not a valid id", c.RepID)
	case c.Name == "":
		return nil, invalidf("name", "name is required")
	case !validID(c.Geography):
		return nil, invalidf("geography", "geography %q is not a valid id", c.Geography)
	case c.SizeBand == "":
		return nil, invalidf("size_band", "size_band is required (e.g. enterprise, mid_market, smb)")
	case cur.Geography == c.Geography && cur.SizeBand == c.SizeBand && cur.Name == c.Name:
		return nil, Errorf(Conflict, "rep_id", "fieldrep.unchanged", "field rep %s already covers %s/%s", c.RepID, c.Geography, c.SizeBand)
	}
	return []Event{FieldRepAssigned{RepID: c.RepID, Name: c.Name, Geography: c.Geography, SizeBand: c.SizeBand, On: DateOf(now)}}, nil
}
