// Package deployments holds the operator-facing deployment files of
// dealcredit (Docker Compose, NATS cluster configs, Kubernetes manifests,
// Prometheus rules and the Grafana dashboard) and the tests that keep them
// valid: every YAML and JSON file is parsed and checked for structure, and a
// real three-node JetStream cluster is exercised with a node killed.
package deployments
