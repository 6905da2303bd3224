package domain

// Scheduled facts: what the daemon's scheduler appends by itself when it is due (deal
// expiry, a lapsed lead offer, a lapsed seat offer). Each decider refuses with a rule when
// the fact is not (or no longer) due, so a scheduler acting on a stale view, or a second
// scheduler, appends nothing.

// DecideLapseSeatOffer records that the freed seat of tier held for the head of the
// waitlist was not taken by its last day: from the day after, it goes to whoever asks
// first (rule 4).
func DecideLapseSeatOffer(g GeoState, tier Tier, today Date) ([]Event, error) {
	o, ok := g.Offers[tier]
	if !ok {
		return nil, refusef("seats.offer_open", "geography %s has no %s seat offered", g.Geography, tier)
	}
	if !today.After(o.Until) {
		return nil, refusef("seats.offer_open", "geography %s's %s seat is offered to %s until %s", g.Geography, tier, o.PartnerID, o.Until)
	}
	return []Event{SeatOfferLapsed{Geography: g.Geography, Tier: tier, PartnerID: o.PartnerID, Until: o.Until, On: o.Until.AddDays(1)}}, nil
}
