package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"unicode/utf8"

	"dealcredit/projections/attribution"
)

// The two busiest reads (a partner's statement, the list of deals) write
// their rows with the append functions below instead of encoding/json's
// reflection: the same bytes (TestRowEncodersMatchEncodingJSON holds them
// to it), a fraction of the CPU and no per-field allocation.

// writeRows writes a query's answer whose data is rows, each appended by
// row: the read model's staleness as headers, then {position, head,
// stopped, data, next_after} as writeJSON would encode queryResult (and
// dealsAnswer's next_after when set).
func writeRows[T any](w http.ResponseWriter, rm ReadModel, rows []T, row func([]byte, *T) []byte, nextAfter string) {
	setStaleness(w, rm)
	buf := jsonBuffers.Get().(*jsonBuffer)
	defer putJSONBuffer(buf)
	b := append(buf.b[:0], `{"position":`...)
	b = strconv.AppendInt(b, rm.Position, 10)
	b = append(b, `,"head":`...)
	b = strconv.AppendInt(b, rm.Head, 10)
	if rm.Stopped != nil {
		st, err := json.Marshal(rm.Stopped)
		if err != nil {
			writeProblem(w, classify(err))
			return
		}
		b = append(append(b, `,"stopped":`...), st...)
	}
	b = append(b, `,"data":`...)
	if rows == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range rows {
			if i > 0 {
				b = append(b, ',')
			}
			b = row(b, &rows[i])
		}
		b = append(b, ']')
	}
	if nextAfter != "" {
		b = appendString(append(b, `,"next_after":`...), nextAfter)
	}
	b = append(b, "}\n"...)
	buf.b = b
	writeBody(w, http.StatusOK, b)
}

// appendDealRow appends the JSON of dealRow{Registration: *g} (redacted
// for a partner's eyes when redact is set).
func appendDealRow(b []byte, g *attribution.Registration, redact bool) []byte {
	conflicts, conflict := g.Conflicts, ""
	if redact {
		if len(conflicts) > 0 {
			conflict = conflictNotice
		}
		conflicts = []string{}
	}
	b = appendString(append(b, `{"deal_id":`...), g.DealID)
	b = appendString(append(b, `,"partner_id":`...), g.PartnerID)
	b = appendString(append(b, `,"customer":`...), g.Customer)
	b = appendString(append(b, `,"customer_key":`...), g.CustomerKey)
	b = appendString(append(b, `,"geography":`...), g.Geography)
	b = appendStrings(append(b, `,"segments":`...), g.Segments)
	b = strconv.AppendInt(append(b, `,"expected_minor":`...), g.ExpectedMinor, 10)
	b = appendString(append(b, `,"currency":`...), g.Currency)
	b = appendString(append(b, `,"oem_id":`...), g.OEMID)
	b = appendString(append(b, `,"status":`...), g.Status)
	b = appendString(append(b, `,"registered_on":`...), g.RegisteredOn)
	b = appendString(append(b, `,"approved_on":`...), g.ApprovedOn)
	b = appendString(append(b, `,"expires_on":`...), g.ExpiresOn)
	b = strconv.AppendInt(append(b, `,"extensions":`...), int64(g.Extensions), 10)
	b = appendStrings(append(b, `,"conflicts":`...), conflicts)
	b = strconv.AppendBool(append(b, `,"overridden":`...), g.Overridden)
	b = appendString(append(b, `,"reason":`...), g.Reason)
	b = strconv.AppendInt(append(b, `,"policy_version":`...), int64(g.PolicyVersion), 10)
	b = appendString(append(b, `,"size_band":`...), g.SizeBand)
	if f := g.OutsideCommitment; f != nil {
		b = appendString(append(b, `,"outside_commitment":{"rule":`...), f.Rule)
		b = append(appendStrings(append(b, `,"segments":`...), f.Segments), '}')
	}
	if conflict != "" {
		b = appendString(append(b, `,"conflict":`...), conflict)
	}
	return append(b, '}')
}

// appendStatement appends the JSON of s.
func appendStatement(b []byte, s *attribution.Statement) []byte {
	b = appendString(append(b, `{"partner_id":`...), s.PartnerID)
	b = appendString(append(b, `,"quarter":`...), s.Quarter)
	b = appendString(append(b, `,"currency":`...), s.Currency)
	b = strconv.AppendInt(append(b, `,"credited_revenue_minor":`...), s.CreditedRevenue, 10)
	b = strconv.AppendInt(append(b, `,"rebates_minor":`...), s.Rebates, 10)
	b = strconv.AppendInt(append(b, `,"service_credit_minor":`...), s.ServiceCredit, 10)
	b = strconv.AppendInt(append(b, `,"adjustment_revenue_minor":`...), s.AdjustmentRevenue, 10)
	b = strconv.AppendInt(append(b, `,"adjustment_rebates_minor":`...), s.AdjustmentRebates, 10)
	b = strconv.AppendInt(append(b, `,"adjustment_service_minor":`...), s.AdjustmentService, 10)
	b = appendString(append(b, `,"tier":`...), s.Tier)
	b = appendString(append(b, `,"eligible_tier":`...), s.EligibleTier)
	b = strconv.AppendInt(append(b, `,"certified_engineers":`...), int64(s.CertifiedEngineers), 10)
	b = strconv.AppendInt(append(b, `,"outside_commitment_registrations":`...), int64(s.OutsideCommitment), 10)
	b = appendStrings(append(b, `,"segments":`...), s.Segments)
	b = strconv.AppendInt(append(b, `,"quarterly_target_minor":`...), s.QuarterlyTarget, 10)
	b = appendString(append(b, `,"target_currency":`...), s.TargetCurrency)
	b = strconv.AppendInt(append(b, `,"scorecard_credited_minor":`...), s.ScorecardCredited, 10)
	b = appendStrings(append(b, `,"unmet":`...), s.Unmet)
	b = appendString(append(b, `,"current_tier":`...), s.CurrentTier)
	b = appendString(append(b, `,"scorecard_currency":`...), s.ScorecardCurrency)
	b = appendString(append(b, `,"status":`...), s.Status)
	b = strconv.AppendInt(append(b, `,"accrued_rebates_minor":`...), s.Accrued, 10)
	b = strconv.AppendInt(append(b, `,"approved_rebates_minor":`...), s.ApprovedRebates, 10)
	b = strconv.AppendInt(append(b, `,"paid_minor":`...), s.Paid, 10)
	b = strconv.AppendInt(append(b, `,"outstanding_minor":`...), s.Outstanding, 10)
	return append(b, '}')
}

// appendStrings appends ss as a JSON array (null when nil, as
// encoding/json writes a nil slice).
func appendStrings(b []byte, ss []string) []byte {
	if ss == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string exactly as encoding/json's
// Encoder writes it (HTML escaping on): <, > and & and control characters
// as \u00XX (\b \f \n \r \t short), invalid UTF-8 as \ufffd, U+2028 and
// U+2029 escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(append(b, s[start:i]...), `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(append(b, s[start:i]...), '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(append(b, s[start:]...), '"')
}
