package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"dealcredit/internal/secretfile"
)

// Role is what a token may do.
type Role string

// The roles of CONTRACT "HTTP API".
const (
	RoleAdmin          Role = "admin"
	RoleChannelManager Role = "channel_manager"
	RoleFinance        Role = "finance"
	RoleAuditor        Role = "auditor"
	RolePartner        Role = "partner"
)

// Roles lists every role, in a stable order.
var Roles = []Role{RoleAdmin, RoleChannelManager, RoleFinance, RoleAuditor, RolePartner}

// DemoPartnerID is the partner the generated partner token acts for. Enroll
// a partner with this id (e.g. POST /v1/partners) to use the token.
const DemoPartnerID = "var-demo"

// Token is one entry of the tokens file.
type Token struct {
	Token     string `json:"token"`
	Role      Role   `json:"role"`
	PartnerID string `json:"partner_id,omitempty"`
}

// Tokens is the set of accepted bearer tokens.
type Tokens []Token

// Principal is the authenticated caller of a request.
type Principal struct {
	Role      Role
	PartnerID string // set only for RolePartner
	// Subject is a stable, non-secret name of the token (a hash prefix),
	// used in logs, event metadata and idempotency scopes.
	Subject string
}

// Actor renders p for event metadata, e.g. "partner:var-demo#1a2b3c4d".
func (p Principal) Actor() string {
	if p.PartnerID != "" {
		return string(p.Role) + ":" + p.PartnerID + "#" + p.Subject
	}
	return string(p.Role) + "#" + p.Subject
}

// Lookup returns the principal of the bearer token tok. Every configured
// token is compared in constant time, so the time taken does not reveal
// which token or how much of one matched.
func (ts Tokens) Lookup(tok string) (Principal, bool) {
	var found Principal
	ok := 0
	for _, t := range ts {
		if subtle.ConstantTimeCompare([]byte(t.Token), []byte(tok)) == 1 {
			found = Principal{Role: t.Role, PartnerID: t.PartnerID, Subject: subject(t.Token)}
			ok = 1
		}
	}
	return found, ok == 1
}

// Validate checks every entry: a non-empty token of at least 16 characters,
// a known role, a partner_id exactly for partner tokens, no duplicates.
func (ts Tokens) Validate() error {
	seen := make(map[string]bool, len(ts))
	for i, t := range ts {
		switch {
		case len(t.Token) < 16:
			return fmt.Errorf("api: tokens[%d].token: must be at least 16 characters", i)
		case seen[t.Token]:
			return fmt.Errorf("api: tokens[%d].token: duplicate token", i)
		case !validRole(t.Role):
			return fmt.Errorf("api: tokens[%d].role: unknown role %q", i, t.Role)
		case t.Role == RolePartner && t.PartnerID == "":
			return fmt.Errorf("api: tokens[%d].partner_id: required for role partner", i)
		case t.Role != RolePartner && t.PartnerID != "":
			return fmt.Errorf("api: tokens[%d].partner_id: only partner tokens name a partner", i)
		}
		seen[t.Token] = true
	}
	return nil
}

func validRole(r Role) bool {
	for _, x := range Roles {
		if x == r {
			return true
		}
	}
	return false
}

func subject(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:4])
}

// GenerateTokens returns one fresh random token per role; the partner token
// acts for DemoPartnerID.
func GenerateTokens() (Tokens, error) {
	ts := make(Tokens, 0, len(Roles))
	for _, r := range Roles {
		var b [24]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("api: generate token: %w", err)
		}
		t := Token{Token: "dc_" + string(r) + "_" + hex.EncodeToString(b[:]), Role: r}
		if r == RolePartner {
			t.PartnerID = DemoPartnerID
		}
		ts = append(ts, t)
	}
	return ts, nil
}

// LoadOrCreateTokens reads the tokens file at path. When the file does not
// exist it generates one token per role (see GenerateTokens), writes them
// with mode 0600 (creating the directory with 0700) and reports created.
func LoadOrCreateTokens(path string) (ts Tokens, created bool, err error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &ts); err != nil {
			return nil, false, fmt.Errorf("api: tokens file %s: %w", path, err)
		}
		if err := ts.Validate(); err != nil {
			return nil, false, fmt.Errorf("api: tokens file %s: %w", path, err)
		}
		return ts, false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, false, fmt.Errorf("api: read tokens file: %w", err)
	}
	ts, err = GenerateTokens()
	if err != nil {
		return nil, false, err
	}
	out, err := json.MarshalIndent(ts, "", "  ")
	if err != nil {
		return nil, false, fmt.Errorf("api: encode tokens: %w", err)
	}
	// The first daemon to create the file wins; the others read theirs.
	created, err = secretfile.Create(path, append(out, '\n'))
	if err != nil {
		return nil, false, fmt.Errorf("api: tokens file: %w", err)
	}
	if !created {
		return LoadOrCreateTokens(path)
	}
	return ts, true, nil
}
