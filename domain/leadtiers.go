package domain

// RegisteredCandidates returns, among ids (a directory's registered partners of lead l's
// geography), the partners that may receive the lead as Registered candidates (rule 24):
// enrolled, of l's geography, at tier registered now (partners are their states), and
// never an OEM. LeadOrder ranks them after Platinum and Gold, so they receive the leads
// both upper tiers passed on or let lapse.
func RegisteredCandidates(l LeadCreated, ids []string, partners map[string]PartnerState) []Candidate {
	var out []Candidate
	for _, id := range ids {
		p := partners[id]
		if p.Exists() && p.Kind != KindOEM && p.Tier == TierRegistered && p.Geography == l.Geography {
			out = append(out, Candidate{PartnerID: p.ID, Tier: p.Tier, Geography: p.Geography})
		}
	}
	return out
}
