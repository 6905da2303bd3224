package domain

// EvolveFieldRep folds one field-rep event: the latest assignment is the rep's territory.
func EvolveFieldRep(cur FieldRep, e Event) FieldRep {
	if a, ok := e.(FieldRepAssigned); ok {
		return a
	}
	return cur
}
