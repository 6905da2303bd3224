// Package bench compares dealcredit's event log with the event store a Go
// user would pick instead, github.com/hallgren/eventsourcing on Postgres. It
// is a separate module so the product's go.mod does not depend on the peer.
// Run it with `go test -run '^$' -bench . -benchtime 1x ./...` in bench/.
package bench
