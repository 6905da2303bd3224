package api

import "net/http"

// Owner says how a route finds the partner that owns its resource; a
// partner token acting on another partner's resource gets 404.
type Owner int

// Ownership kinds.
const (
	OwnerNone         Owner = iota // not partner-owned (or partners may not call it)
	OwnerPathPartner               // {id} is the partner id
	OwnerDeal                      // {id} is a deal id; the deal names its partner
	OwnerQueryPartner              // ?partner_id= (defaults to the caller's own)
	OwnerBodyPartner               // the body's partner_id (defaults to the caller's own)
	OwnerLead                      // {id} is a lead id; the partners it was offered to may see it
)

// Route is one entry of the API's route table. The mux, the OpenAPI
// document test and the authorisation matrix test all read this table.
type Route struct {
	Method string
	Path   string // ServeMux and OpenAPI path, e.g. "/v1/deals/{id}"
	// Roles may call the route (ignored when Public).
	Roles []Role
	// Public routes need no token (health, metrics, the OpenAPI document).
	Public bool
	// Owner says where a partner token's ownership is checked.
	Owner Owner
	// Creates marks creating POSTs that honour Idempotency-Key.
	Creates bool
	handler func(*server) http.HandlerFunc
}

func (rt Route) allows(r Role) bool {
	for _, x := range rt.Roles {
		if x == r {
			return true
		}
	}
	return false
}

var (
	all       = []Role{RoleAdmin, RoleChannelManager, RoleFinance, RoleAuditor, RolePartner}
	cmOnly    = []Role{RoleChannelManager}
	cmPartner = []Role{RoleChannelManager, RolePartner}
	readers   = []Role{RoleFinance, RoleAuditor, RolePartner}
	// exceptionWorkers work the exception queue (channel operations and finance).
	exceptionWorkers = []Role{RoleChannelManager, RoleFinance}
)

// Routes returns the route table.
func Routes() []Route {
	return []Route{
		{Method: "GET", Path: "/healthz", Public: true, handler: (*server).healthz},
		{Method: "GET", Path: "/readyz", Public: true, handler: (*server).readyz},
		{Method: "GET", Path: "/metrics", Public: true, handler: (*server).metricsHandler},
		{Method: "GET", Path: "/openapi.json", Public: true, handler: (*server).openapi},

		{Method: "POST", Path: "/v1/partners", Roles: []Role{RoleAdmin, RoleChannelManager}, Creates: true, handler: (*server).enrollPartner},
		{Method: "POST", Path: "/v1/partners:grandfather", Roles: []Role{RoleAdmin}, Creates: true, handler: (*server).grandfatherPartners},
		{Method: "POST", Path: "/v1/partners/{id}/certifications", Roles: cmPartner, Owner: OwnerPathPartner, Creates: true, handler: (*server).certify},
		{Method: "POST", Path: "/v1/partners/{id}/commitments", Roles: cmPartner, Owner: OwnerPathPartner, Creates: true, handler: (*server).commit},
		{Method: "POST", Path: "/v1/partners/{id}/tier", Roles: []Role{RoleAdmin, RoleChannelManager}, handler: (*server).changeTier},
		{Method: "GET", Path: "/v1/partners/{id}", Roles: all, Owner: OwnerPathPartner, handler: (*server).getPartner},
		{Method: "PUT", Path: "/v1/geographies/{geo}/seats", Roles: []Role{RoleAdmin}, handler: (*server).setSeats},
		{Method: "GET", Path: "/v1/geographies/{geo}/seats", Roles: []Role{RoleAdmin, RoleChannelManager}, handler: (*server).seats},

		{Method: "POST", Path: "/v1/deals", Roles: cmPartner, Owner: OwnerBodyPartner, Creates: true, handler: (*server).registerDeal},
		{Method: "GET", Path: "/v1/deals", Roles: all, Owner: OwnerQueryPartner, handler: (*server).listDeals},
		{Method: "GET", Path: "/v1/deals/{id}", Roles: all, Owner: OwnerDeal, handler: (*server).getDeal},
		{Method: "POST", Path: "/v1/deals/{id}/approve", Roles: cmOnly, handler: dealAction("approve")},
		{Method: "POST", Path: "/v1/deals/{id}/reject", Roles: cmOnly, handler: dealAction("reject")},
		{Method: "POST", Path: "/v1/deals/{id}/withdraw", Roles: cmPartner, Owner: OwnerDeal, handler: dealAction("withdraw")},
		{Method: "POST", Path: "/v1/deals/{id}/extend", Roles: cmOnly, handler: dealAction("extend")},
		{Method: "POST", Path: "/v1/deals/{id}/override", Roles: cmOnly, handler: dealAction("override")},
		{Method: "POST", Path: "/v1/deals/{id}/engagements", Roles: cmPartner, Owner: OwnerDeal, Creates: true, handler: (*server).logEngagement},
		{Method: "POST", Path: "/v1/deals/{id}/service-handoff", Roles: cmOnly, handler: (*server).serviceHandoff},

		// Deal outcomes (issue 15 item 2).
		{Method: "POST", Path: "/v1/deals/{id}/won", Roles: cmPartner, Owner: OwnerDeal, handler: dealOutcome("won")},
		{Method: "POST", Path: "/v1/deals/{id}/lost", Roles: cmPartner, Owner: OwnerDeal, handler: dealOutcome("lost")},
		{Method: "POST", Path: "/v1/deals/{id}/return", Roles: cmOnly, handler: dealOutcome("return")},
		{Method: "POST", Path: "/v1/deals/{id}/resubmit", Roles: cmPartner, Owner: OwnerDeal, handler: dealOutcome("resubmit")},

		{Method: "POST", Path: "/v1/leads", Roles: cmOnly, Creates: true, handler: (*server).createLead},
		{Method: "GET", Path: "/v1/leads/{id}", Roles: cmPartner, Owner: OwnerLead, handler: (*server).getLead},
		{Method: "POST", Path: "/v1/leads/{id}/accept", Roles: cmPartner, Owner: OwnerLead, handler: leadAction("accept")},
		{Method: "POST", Path: "/v1/leads/{id}/reject", Roles: cmPartner, Owner: OwnerLead, handler: leadAction("reject")},
		{Method: "POST", Path: "/v1/leads/{id}/cascade", Roles: cmOnly, handler: leadAction("cascade")},
		// The list of leads (issue 15 item 5).
		{Method: "GET", Path: "/v1/leads", Roles: cmPartner, Owner: OwnerQueryPartner, handler: (*server).listLeads},

		{Method: "PUT", Path: "/v1/policy", Roles: []Role{RoleAdmin}, handler: (*server).setPolicy},
		{Method: "GET", Path: "/v1/policy", Roles: all, handler: (*server).getPolicy},
		{Method: "POST", Path: "/v1/quarters/{quarter}/close", Roles: []Role{RoleFinance}, handler: (*server).closeQuarter},

		{Method: "GET", Path: "/v1/attribution", Roles: readers, Owner: OwnerQueryPartner, handler: (*server).attribution},
		{Method: "GET", Path: "/v1/attribution/explain", Roles: []Role{RoleFinance, RoleAuditor}, handler: (*server).explain},
		{Method: "GET", Path: "/v1/partners/{id}/statements/{quarter}", Roles: readers, Owner: OwnerPathPartner, handler: (*server).statement},
		{Method: "GET", Path: "/v1/revenue-mix", Roles: []Role{RoleFinance, RoleAuditor}, handler: (*server).revenueMix},
		{Method: "GET", Path: "/v1/events", Roles: []Role{RoleAuditor}, handler: (*server).events},

		{Method: "POST", Path: "/v1/fx-rates", Roles: []Role{RoleFinance, RoleAdmin}, handler: (*server).setFXRate},
		{Method: "GET", Path: "/v1/fx-rates", Roles: []Role{RoleFinance, RoleAdmin, RoleAuditor}, handler: (*server).listFXRates},
		{Method: "GET", Path: "/v1/revenue-mix/reporting", Roles: []Role{RoleFinance, RoleAuditor}, handler: (*server).reportedMix},
		{Method: "GET", Path: "/v1/partners/{id}/statements/{quarter}/reporting", Roles: readers, Owner: OwnerPathPartner, handler: (*server).reportedStatement},

		// Field reps (issue 15 item 4).
		{Method: "PUT", Path: "/v1/reps/{id}", Roles: []Role{RoleAdmin, RoleChannelManager}, handler: (*server).assignRep},
		{Method: "GET", Path: "/v1/reps/{id}/statements/{quarter}", Roles: []Role{RoleChannelManager, RoleFinance, RoleAuditor}, handler: (*server).repStatement},
		{Method: "GET", Path: "/v1/exceptions", Roles: []Role{RoleChannelManager, RoleFinance, RoleAuditor, RolePartner}, handler: (*server).listExceptions},
		{Method: "POST", Path: "/v1/exceptions/{id}/assign", Roles: exceptionWorkers, handler: exceptionAction("assign")},
		{Method: "POST", Path: "/v1/exceptions/{id}/dismiss", Roles: exceptionWorkers, handler: exceptionAction("dismiss")},
		{Method: "POST", Path: "/v1/exceptions/{id}/reopen", Roles: exceptionWorkers, handler: exceptionAction("reopen")},

		{Method: "POST", Path: "/v1/partners/{id}/statements/{quarter}/approve", Roles: []Role{RoleFinance}, handler: (*server).approveStatement},
		{Method: "POST", Path: "/v1/partners/{id}/statements/{quarter}/payouts", Roles: []Role{RoleFinance}, Creates: true, handler: (*server).recordPayout},
		{Method: "GET", Path: "/v1/payouts", Roles: []Role{RoleFinance, RoleAuditor}, handler: (*server).payouts},

		// The adoption import (issue 14 item 4).
		{Method: "POST", Path: "/v1/admin/import", Roles: []Role{RoleAdmin}, handler: (*server).importProgram},
	}
}
