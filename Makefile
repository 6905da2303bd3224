# dealcredit — see README.md. The two commands: `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
PKGS := ./...

.PHONY: run test build bench soak lint check-imports fmt vet demo db-up

## run: build bin/dealcreditd and bin/dealcredit, then start the daemon (embedded JetStream unless NATS_URL is set; creates and migrates its database)
# The recipe execs the daemon, so Ctrl-C reaches it directly and it shuts down cleanly.
run: db-up
	@echo "make run: building bin/dealcreditd and bin/dealcredit (the first build takes a few minutes; later ones seconds)"
	$(GO) build -o bin/ ./cmd/dealcreditd ./cmd/dealcredit
	@echo "make run: starting bin/dealcreditd; it logs JSON to stderr and prints one line when it is ready"
	@exec bin/dealcreditd

## test: every test, with the race detector, against real Postgres and embedded JetStream
test: db-up
	$(GO) test -race -count=1 -timeout 14m $(PKGS)
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime 10s ./consumers/oemfeed/

## build: binaries into ./bin
build:
	$(GO) build -o bin/ ./cmd/...

## bench: benchmarks (not timed tests); figures go to docs/benchmarks.md
bench: db-up
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 60m ./...
	cd bench && $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 60m ./...

## soak: every test at soak size (DEALCREDIT_SOAK=1: 50k-event relay and projection kills, 20k-invoice ingest faults, 16x10k gap test)
soak: db-up
	DEALCREDIT_SOAK=1 $(GO) test -race -count=1 -timeout 90m ./...

## demo: the interview's story against a running daemon (make run in another terminal)
demo:
	@$(GO) build -o bin/ ./cmd/dealcredit
	@bin/dealcredit demo

STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

## lint: gofmt, go vet, staticcheck and the import rule for domain/ (the whole house's rules: imports_test.go)
lint: check-imports
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)

## check-imports: domain/ may import only the standard library
check-imports:
	@bad=$$($(GO) list -f '{{ join .Imports "\n" }}' ./domain/... | grep '\.' || true); \
	if [ -n "$$bad" ]; then echo "domain imports outside the standard library:"; echo "$$bad"; exit 1; fi

# db-up starts the local Postgres cluster when it is down (no-op when DATABASE_URL points elsewhere and is reachable).
db-up:
	@if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then \
		echo "starting local PostgreSQL"; \
		pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | sort -V | tail -1) main start; \
		for i in $$(seq 1 60); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done; \
	fi
