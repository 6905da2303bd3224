package dealcredit_test

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The house rules: which package may import which. Each rule names the
// packages it applies to (a path relative to the module, "x/..." for x and
// everything below it) and the imports it forbids; a forbidden import is
// either one of ours (same notation) or a third-party module prefix. See
// docs/architecture.md for the picture and where new code goes.
var importRules = []struct {
	pkgs   []string
	except []string
	forbid []string
	why    string
}{
	{[]string{"domain/..."}, nil, []string{"dealcredit/...", "third-party"},
		"domain is the partner program as pure Go: the standard library only"},
	{[]string{"eventstore"}, nil, []string{"dealcredit/..."},
		"the log contract knows nothing of ours"},
	{[]string{"eventstore/..."}, nil, []string{"domain/...", "projections/...", "consumers/...", "api/..."},
		"the event store knows events only as envelopes (type, version, bytes)"},
	{[]string{"projections/..."}, nil, []string{"consumers/...", "api/...", "github.com/nats-io"},
		"read models are functions of the log: no feed, no HTTP, no broker"},
	{[]string{"consumers/..."}, nil, []string{"projections/...", "api/..."},
		"consumers turn messages into appends; they never read a read model or serve HTTP"},
	{[]string{"app/..."}, nil, []string{"net/http", "api/...", "projections/...", "consumers/...", "eventstore/pgstore/...", "eventstore/mirror/...", "github.com/nats-io", "github.com/jackc/pgx"},
		"the command layer loads, decides and appends through the eventstore contract; callers (HTTP, CLI, scheduler) sit outside it"},
	{[]string{"api/..."}, nil, []string{"eventstore/pgstore/...", "eventstore/mirror/...", "consumers/...", "github.com/nats-io", "github.com/jackc/pgx"},
		"the HTTP API decodes, authorises, calls and encodes; storage and broker are wired in from outside"},
	{internalHelpers, nil, []string{"dealcredit/..."},
		"a helper serves a technology (Postgres, Prometheus, JetStream, files) and knows nothing of ours, so every layer may use it"},
	{[]string{"internal/genlog"}, nil, []string{"projections/...", "consumers/...", "api/..."},
		"the log generator writes domain events through the log contract only"},
	{[]string{"..."}, []string{"cmd/...", "internal/testkit/daemontest"}, []string{"cmd/..."},
		"wiring lives under cmd/: only the commands (and the kit that starts the real daemon) use it"},
	{[]string{"..."}, nil, mainPackages,
		"nothing imports a main package"},
	{[]string{"..."}, testKits, testKits,
		"test kits are for tests only"},
}

// mainPackages are the two commands; their wiring is in packages beside them.
var mainPackages = []string{"cmd/dealcreditd", "cmd/dealcredit"}

// internalHelpers are the low-level helpers under internal/: each serves one
// technology and imports nothing of ours.
var internalHelpers = []string{"internal/backoff", "internal/pgdb", "internal/pgpipe", "internal/prom", "internal/jshealth", "internal/secretfile", "internal/jsonfield"}

// testKits are the packages that only tests may import (a kit may use another).
var testKits = []string{"internal/testkit/...", "eventstore/storetest/..."}

// importDebt lists wrong arrows that exist today and are to be removed, each
// with the reason it is still there. The test fails when a new one appears,
// and also when one listed here is gone (so the list only shrinks).
var importDebt = map[string]string{
	"api -> github.com/jackc/pgx/v5": "idempotency keys are SQL in api (Deps.Pool); reads are behind typed readers (api.Queries) already, the keys are to move behind the command layer",
}

type listedPackage struct {
	ImportPath string
	Imports    []string
}

func TestPackagesImportOnlyWhatTheHouseAllows(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", "./...").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	const module = "dealcredit"
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seenDebt := map[string]bool{}
	var checked int
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		checked++
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		if strings.HasPrefix(rel, "internal/") && internalKind(rel) == "" {
			t.Errorf("%s: a package under internal/ is a helper (internalHelpers), the log generator or a test kit; wiring goes under cmd/", rel)
		}
		for _, imp := range p.Imports {
			for _, r := range importRules {
				in := func(pat string) bool { return matches(pat, rel) }
				if !slices.ContainsFunc(r.pkgs, in) || slices.ContainsFunc(r.except, in) {
					continue
				}
				if !forbidden(r.forbid, imp, module) {
					continue
				}
				arrow := rel + " -> " + strings.TrimPrefix(imp, module+"/")
				if key, ok := debtKey(arrow); ok {
					seenDebt[key] = true
					continue
				}
				t.Errorf("%s: %s", arrow, r.why)
			}
		}
	}
	if checked < 10 {
		t.Fatalf("go list returned %d packages; expected the whole module", checked)
	}
	for k, why := range importDebt {
		if !seenDebt[k] {
			t.Errorf("listed import debt %q (%s) is gone: delete it from importDebt", k, why)
		}
	}
}

// internalKind names what a package under internal/ is ("" when it is none
// of the kinds the house knows).
func internalKind(rel string) string {
	in := func(pat string) bool { return matches(pat, rel) }
	switch {
	case slices.ContainsFunc(internalHelpers, in):
		return "helper"
	case slices.ContainsFunc(testKits, in):
		return "test kit"
	case rel == "internal/genlog":
		return "generator"
	}
	return ""
}

// matches reports whether the module-relative package path rel matches pat
// ("x" exactly, "x/..." for x and below, "..." for everything).
func matches(pat, rel string) bool {
	if pat == "..." {
		return true
	}
	if base, ok := strings.CutSuffix(pat, "/..."); ok {
		return rel == base || strings.HasPrefix(rel, base+"/")
	}
	return rel == pat
}

// forbidden reports whether imp (a full import path) is one of the forbidden
// entries: our own packages by module-relative pattern, third-party modules by
// prefix, or any third-party package for the entry "third-party".
func forbidden(forbid []string, imp, module string) bool {
	ours := imp == module || strings.HasPrefix(imp, module+"/")
	thirdParty := !ours && strings.Contains(strings.SplitN(imp, "/", 2)[0], ".")
	for _, f := range forbid {
		switch {
		case f == "third-party":
			if thirdParty {
				return true
			}
		case f == module+"/...":
			if ours {
				return true
			}
		case strings.Contains(strings.SplitN(f, "/", 2)[0], "."):
			if strings.HasPrefix(imp, f) {
				return true
			}
		default:
			if ours && matches(f, strings.TrimPrefix(imp, module+"/")) {
				return true
			}
		}
	}
	return false
}

// debtKey finds the importDebt entry that covers arrow ("pkg -> import"): an
// entry names the importing package exactly and a prefix of the import.
func debtKey(arrow string) (string, bool) {
	from, to, _ := strings.Cut(arrow, " -> ")
	for k := range importDebt {
		kf, kt, _ := strings.Cut(k, " -> ")
		if kf == from && strings.HasPrefix(to, kt) {
			return k, true
		}
	}
	return "", false
}

func TestImportRulesMatchTheirPatterns(t *testing.T) {
	tests := []struct {
		forbid []string
		imp    string
		want   bool
	}{
		{[]string{"dealcredit/..."}, "dealcredit/domain", true},
		{[]string{"dealcredit/..."}, "net/http", false},
		{[]string{"third-party"}, "github.com/google/uuid", true},
		{[]string{"third-party"}, "encoding/json", false},
		{[]string{"consumers/..."}, "dealcredit/consumers/ingest", true},
		{[]string{"consumers/..."}, "dealcredit/consumersx", false},
		{[]string{"cmd/..."}, "dealcredit/cmd/dealcredit", true},
		{[]string{"cmd/..."}, "dealcredit/cmd/dealcreditd/daemon", true},
		{mainPackages, "dealcredit/cmd/dealcreditd/daemon", false},
		{mainPackages, "dealcredit/cmd/dealcreditd", true},
		{testKits, "dealcredit/internal/testkit/pgtest", true},
		{internalHelpers, "dealcredit/internal/pgdb", true},
		{[]string{"github.com/nats-io"}, "github.com/nats-io/nats.go/jetstream", true},
		{[]string{"github.com/nats-io"}, "github.com/jackc/pgx/v5", false},
	}
	for _, tt := range tests {
		if got := forbidden(tt.forbid, tt.imp, "dealcredit"); got != tt.want {
			t.Errorf("forbidden(%v, %q) = %v, want %v", tt.forbid, tt.imp, got, tt.want)
		}
	}
}
