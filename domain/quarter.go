package domain

import (
	"fmt"
	"slices"
	"time"
)

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
	case CheckQuarter("quarter", c.Quarter) != nil:
		return nil, CheckQuarter("quarter", c.Quarter)
	case s.Closed:
		return nil, Errorf(Conflict, "quarter", "quarter.closed_once", "quarter %s was already closed on %s", c.Quarter, s.ClosedOn)
	case !today.After(c.Quarter.End()):
		return nil, Errorf(Unprocessable, "quarter", "quarter.ended", "quarter %s has not ended (it ends %s)", c.Quarter, c.Quarter.End())
	}
	return []Event{QuarterClosed{Quarter: c.Quarter, ClosedOn: today, By: c.By}}, nil
}

// FieldRep is a field sales rep's territory folded from its stream.
type FieldRep = FieldRepAssigned

// AssignFieldRep is the command to set a field rep's territory and named accounts.
type AssignFieldRep struct {
	RepID, Name, Geography, SizeBand string
	// Accounts are the customers the rep owns by name (their country too): the decider
	// records their customer keys.
	Accounts []Customer
}

// MaxRepAccounts bounds a rep's named accounts.
const MaxRepAccounts = 1000

// accountKeys checks a rep's named accounts and returns their customer keys, sorted and
// distinct.
func accountKeys(accounts []Customer) ([]string, error) {
	if len(accounts) > MaxRepAccounts {
		return nil, invalidf("accounts", "accounts may name at most %d customers", MaxRepAccounts)
	}
	var keys []string
	for i, c := range accounts {
		field := fmt.Sprintf("accounts[%d]", i)
		if err := CheckCustomer(field, c); err != nil {
			return nil, err
		}
		if NormalizeName(c.Name) == "" {
			return nil, invalidf(field+".name", "%s.name needs a letter or digit besides legal suffixes", field)
		}
		keys = append(keys, CustomerKey(c))
	}
	slices.Sort(keys)
	return slices.Compact(keys), nil
}

// DecideAssignFieldRep records a rep's territory (geography plus customer size band).
func DecideAssignFieldRep(cur FieldRep, c AssignFieldRep, now time.Time) ([]Event, error) {
	switch {
	case !validID(c.RepID):
		return nil, invalidf("rep_id", "rep id %q is not a valid id", c.RepID)
	case CheckRequiredText("name", c.Name, MaxNameLen) != nil:
		return nil, CheckRequiredText("name", c.Name, MaxNameLen)
	case !validID(c.Geography):
		return nil, invalidf("geography", "geography %q is not a valid id", c.Geography)
	case CheckRequiredText("size_band", c.SizeBand, MaxRefLen) != nil:
		return nil, CheckRequiredText("size_band", c.SizeBand, MaxRefLen)
	}
	keys, err := accountKeys(c.Accounts)
	if err != nil {
		return nil, err
	}
	if cur.Geography == c.Geography && cur.SizeBand == c.SizeBand && cur.Name == c.Name && slices.Equal(cur.Accounts, keys) {
		return nil, Errorf(Conflict, "rep_id", "fieldrep.unchanged", "field rep %s already covers %s/%s", c.RepID, c.Geography, c.SizeBand)
	}
	return []Event{FieldRepAssigned{RepID: c.RepID, Name: c.Name, Geography: c.Geography, SizeBand: c.SizeBand, On: DateOf(now), Accounts: keys}}, nil
}
