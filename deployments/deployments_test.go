package deployments_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.yaml.in/yaml/v3"

	"dealcredit/internal/testkit/natsiso"
	"dealcredit/internal/testkit/natstest"
)

// metricKinds lists every metric the daemon exports (docs/operations.md,
// "Metrics"). The dashboard and the alert rules may use only these names, so
// a renamed metric breaks this test instead of silently emptying a panel.
var metricKinds = map[string]string{
	"dealcredit_eventstore_append_duration_seconds":    "histogram",
	"dealcredit_eventstore_append_batch_size":          "histogram",
	"dealcredit_eventstore_append_transaction_seconds": "histogram",
	"dealcredit_eventstore_events_appended_total":      "counter",
	"dealcredit_relay_lag_events":                      "gauge",
	"dealcredit_relay_published_total":                 "counter",
	"dealcredit_ingest_messages_total":                 "counter",
	"dealcredit_ingest_batch_size":                     "histogram",
	"dealcredit_ingest_commit_duration_seconds":        "histogram",
	"dealcredit_ingest_pending_messages":               "gauge",
	"dealcredit_projection_lag_events":                 "gauge",
	"dealcredit_projection_lag_seconds":                "gauge",
	"dealcredit_projection_stopped":                    "gauge",
	"dealcredit_projection_stopped_position":           "gauge",
	"dealcredit_http_requests_total":                   "counter",
	"dealcredit_http_request_duration_seconds":         "histogram",
	"dealcredit_verify_last_success_timestamp_seconds": "gauge",
	"dealcredit_verify_failures_total":                 "counter",
	"dealcredit_log_fenced":                            "gauge",
}

// configVars are the daemon's environment variables (CONTRACT.md plus
// DEALCREDIT_STREAM_REPLICAS).
var configVars = []string{
	"DATABASE_URL", "NATS_URL", "DEALCREDIT_DATA_DIR", "DEALCREDIT_HTTP_ADDR",
	"DEALCREDIT_TOKENS_FILE", "DEALCREDIT_STREAM_REPLICAS",
}

var metricRef = regexp.MustCompile(`\bdealcredit_[a-zA-Z0-9_:]+`)

// metricsIn returns the dealcredit metric names a PromQL expression uses, with
// histogram suffixes folded into the base name, and the names not exported.
func metricsIn(expr string) (used, unknown []string) {
	for _, m := range metricRef.FindAllString(expr, -1) {
		name := m
		if _, ok := metricKinds[name]; !ok {
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				base := strings.TrimSuffix(m, suf)
				if base != m && metricKinds[base] == "histogram" {
					name = base
					break
				}
			}
		}
		if _, ok := metricKinds[name]; !ok {
			unknown = append(unknown, m)
			continue
		}
		if name != m && !strings.HasSuffix(m, "_bucket") && !strings.HasSuffix(m, "_sum") && !strings.HasSuffix(m, "_count") {
			unknown = append(unknown, m)
			continue
		}
		used = append(used, name)
	}
	return used, unknown
}

func TestMetricsIn(t *testing.T) {
	tests := []struct {
		expr        string
		used, unkwn []string
	}{
		{`sum(rate(dealcredit_ingest_messages_total{outcome="rejected"}[5m]))`, []string{"dealcredit_ingest_messages_total"}, nil},
		{`histogram_quantile(0.99, sum by (le) (rate(dealcredit_eventstore_append_duration_seconds_bucket[5m])))`, []string{"dealcredit_eventstore_append_duration_seconds"}, nil},
		{`dealcredit_relay_lag_events_bucket`, nil, []string{"dealcredit_relay_lag_events_bucket"}},
		{`rate(dealcredit_ingest_message_total[5m])`, nil, []string{"dealcredit_ingest_message_total"}},
		{`up{job="dealcredit"}`, nil, nil},
	}
	for _, tt := range tests {
		used, unknown := metricsIn(tt.expr)
		if !slices.Equal(used, tt.used) || !slices.Equal(unknown, tt.unkwn) {
			t.Errorf("metricsIn(%q) = %v, %v; want %v, %v", tt.expr, used, unknown, tt.used, tt.unkwn)
		}
	}
}

// files returns the deployment files with one of the extensions, sorted.
func files(t *testing.T, exts ...string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && slices.Contains(exts, filepath.Ext(path)) {
			out = append(out, filepath.ToSlash(path))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk deployments: %v", err)
	}
	sort.Strings(out)
	return out
}

// yamlDocs decodes every document of a YAML file.
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []map[string]any
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
	if len(docs) == 0 {
		t.Fatalf("%s: no YAML document", path)
	}
	return docs
}

func yamlDoc(t *testing.T, path string) map[string]any {
	t.Helper()
	docs := yamlDocs(t, path)
	if len(docs) != 1 {
		t.Fatalf("%s: %d documents, want 1", path, len(docs))
	}
	return docs[0]
}

func jsonFile(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if dec.More() {
		t.Fatalf("%s: trailing data after the JSON value", path)
	}
}

// get walks a decoded document along keys (map keys or list indexes as ints).
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any, path ...any) string {
	s, _ := get(v, path...).(string)
	return s
}

func list(v any, path ...any) []any {
	l, _ := get(v, path...).([]any)
	return l
}

func dict(v any, path ...any) map[string]any {
	m, _ := get(v, path...).(map[string]any)
	return m
}

func TestEveryFileParses(t *testing.T) {
	yamls := files(t, ".yaml", ".yml")
	jsons := files(t, ".json")
	for _, p := range yamls {
		yamlDocs(t, p)
	}
	for _, p := range jsons {
		var v any
		jsonFile(t, p, &v)
	}
	for _, want := range []string{
		"compose.yaml", "prometheus/prometheus.yml", "prometheus/alerts.yml",
		"grafana/dashboard.json", "k8s/deployment.yaml", "k8s/nats-values.yaml",
	} {
		if !slices.Contains(yamls, want) && !slices.Contains(jsons, want) {
			t.Errorf("missing %s (found %v %v)", want, yamls, jsons)
		}
	}
}

func TestCompose(t *testing.T) {
	c := yamlDoc(t, "compose.yaml")
	services := dict(c, "services")
	if len(services) == 0 {
		t.Fatal("compose.yaml: no services")
	}
	for _, name := range []string{"postgres", "nats-1", "nats-2", "nats-3", "dealcreditd-1", "dealcreditd-2", "prometheus", "grafana"} {
		if services[name] == nil {
			t.Errorf("compose.yaml: service %s missing", name)
		}
	}
	if img := str(services, "postgres", "image"); !strings.HasPrefix(img, "postgres:15") {
		t.Errorf("compose.yaml: postgres image %q, want postgres:15", img)
	}
	natsConfs := map[string]bool{}
	for name, s := range services {
		if str(s, "image") == "" && get(s, "build") == nil {
			t.Errorf("compose.yaml: service %s has neither image nor build", name)
		}
		if b := dict(s, "build"); b != nil {
			df := filepath.Join(str(b, "context"), str(b, "dockerfile"))
			if _, err := os.Stat(df); err != nil {
				t.Errorf("compose.yaml: service %s: dockerfile: %v", name, err)
			}
		}
		for _, v := range list(s, "volumes") {
			vs, _ := v.(string)
			src, _, _ := strings.Cut(vs, ":")
			if !strings.HasPrefix(src, "./") {
				continue
			}
			if _, err := os.Stat(src); err != nil {
				t.Errorf("compose.yaml: service %s mounts %s: %v", name, src, err)
			}
			if strings.HasPrefix(src, "./nats/cluster/") {
				natsConfs[src] = true
			}
		}
		if strings.HasPrefix(name, "dealcreditd") {
			env := dict(s, "environment")
			for _, k := range configVars {
				if env[k] == nil {
					t.Errorf("compose.yaml: service %s does not set %s", name, k)
				}
			}
			if got := str(env, "DEALCREDIT_STREAM_REPLICAS"); got != "3" {
				t.Errorf("compose.yaml: service %s DEALCREDIT_STREAM_REPLICAS = %q, want 3", name, got)
			}
			if n := strings.Count(str(env, "NATS_URL"), "nats://"); n != 3 {
				t.Errorf("compose.yaml: service %s NATS_URL lists %d servers, want 3", name, n)
			}
		}
	}
	if len(natsConfs) != 3 {
		t.Errorf("compose.yaml: NATS services mount %d distinct cluster configs, want 3", len(natsConfs))
	}
	for name, s := range dict(c, "secrets") {
		if _, err := os.Stat(str(s, "file")); err != nil {
			t.Errorf("compose.yaml: secret %s: %v", name, err)
		}
	}
}

func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	if n := regexp.MustCompile(`(?m)^FROM `).FindAllStringIndex(df, -1); len(n) < 2 {
		t.Errorf("Dockerfile: %d stages, want a multi-stage build", len(n))
	}
	for _, want := range []string{"./cmd/dealcreditd", "./cmd/dealcredit "} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile: does not build %s", strings.TrimSpace(want))
		}
	}
	users := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindAllStringSubmatch(df, -1)
	if len(users) == 0 {
		t.Fatal("Dockerfile: no USER; the image must not run as root")
	}
	if u := users[len(users)-1][1]; u == "root" || u == "0" || strings.HasPrefix(u, "0:") {
		t.Errorf("Dockerfile: runs as %s", u)
	}
}

func TestTokensExample(t *testing.T) {
	var tokens []struct {
		Token     string `json:"token"`
		Role      string `json:"role"`
		PartnerID string `json:"partner_id"`
	}
	jsonFile(t, "tokens.example.json", &tokens)
	roles := []string{"admin", "channel_manager", "finance", "auditor", "partner"}
	for i, tk := range tokens {
		if tk.Token == "" || !slices.Contains(roles, tk.Role) || (tk.Role == "partner") != (tk.PartnerID != "") {
			t.Errorf("tokens.example.json[%d] = %+v: want a token, a known role and partner_id exactly for role partner", i, tk)
		}
	}
}

func TestKubernetes(t *testing.T) {
	kinds := map[string]int{}
	var podLabels, svcSelector map[string]any
	for _, p := range files(t, ".yaml", ".yml") {
		if !strings.HasPrefix(p, "k8s/") || p == "k8s/nats-values.yaml" {
			continue
		}
		for i, d := range yamlDocs(t, p) {
			if str(d, "apiVersion") == "" || str(d, "kind") == "" || str(d, "metadata", "name") == "" {
				t.Errorf("%s document %d: needs apiVersion, kind and metadata.name", p, i)
				continue
			}
			kind := str(d, "kind")
			kinds[kind]++
			switch kind {
			case "Deployment":
				checkDeployment(t, p, d)
				podLabels = dict(d, "spec", "template", "metadata", "labels")
			case "Service":
				svcSelector = dict(d, "spec", "selector")
			case "ConfigMap":
				for k := range dict(d, "data") {
					if !slices.Contains(configVars, k) {
						t.Errorf("%s: ConfigMap key %s is not a daemon setting", p, k)
					}
				}
			case "Kustomization":
				for _, r := range list(d, "resources") {
					if _, err := os.Stat(filepath.Join("k8s", r.(string))); err != nil {
						t.Errorf("%s: resource: %v", p, err)
					}
				}
			}
		}
	}
	for _, k := range []string{"Deployment", "Service", "PodDisruptionBudget", "ConfigMap", "Secret"} {
		if kinds[k] == 0 {
			t.Errorf("k8s: no %s", k)
		}
	}
	for k, v := range svcSelector {
		if podLabels[k] != v {
			t.Errorf("k8s: Service selector %s=%v does not match the Deployment's pods", k, v)
		}
	}

	v := yamlDoc(t, "k8s/nats-values.yaml")
	if get(v, "config", "cluster", "enabled") != true || get(v, "config", "cluster", "replicas") != 3 {
		t.Error("nats-values.yaml: want config.cluster.enabled and replicas 3")
	}
	if get(v, "config", "jetstream", "enabled") != true || get(v, "config", "jetstream", "fileStore", "enabled") != true {
		t.Error("nats-values.yaml: want JetStream with a file store")
	}
	if got := str(v, "config", "jetstream", "merge", "sync_interval"); got != "always" {
		t.Errorf("nats-values.yaml: jetstream sync_interval %q, want always", got)
	}
}

func checkDeployment(t *testing.T, path string, d map[string]any) {
	t.Helper()
	if r, _ := get(d, "spec", "replicas").(int); r < 2 {
		t.Errorf("%s: %d replicas, want at least 2", path, r)
	}
	containers := list(d, "spec", "template", "spec", "containers")
	if len(containers) == 0 {
		t.Fatalf("%s: no containers", path)
	}
	for _, c := range containers {
		name := str(c, "name")
		if got := str(c, "livenessProbe", "httpGet", "path"); got != "/healthz" {
			t.Errorf("%s %s: liveness probe %q, want /healthz", path, name, got)
		}
		if got := str(c, "readinessProbe", "httpGet", "path"); got != "/readyz" {
			t.Errorf("%s %s: readiness probe %q, want /readyz", path, name, got)
		}
		for _, res := range []string{"requests", "limits"} {
			for _, k := range []string{"cpu", "memory"} {
				if get(c, "resources", res, k) == nil {
					t.Errorf("%s %s: no resources.%s.%s", path, name, res, k)
				}
			}
		}
		var fromSecret, fromConfigMap bool
		for _, e := range list(c, "envFrom") {
			fromSecret = fromSecret || str(e, "secretRef", "name") != ""
			fromConfigMap = fromConfigMap || str(e, "configMapRef", "name") != ""
		}
		if !fromSecret || !fromConfigMap {
			t.Errorf("%s %s: want env from a Secret (DATABASE_URL) and a ConfigMap", path, name)
		}
	}
}

var promDuration = regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`)

func TestAlertRules(t *testing.T) {
	doc := yamlDoc(t, "prometheus/alerts.yml")
	groups := list(doc, "groups")
	if len(groups) == 0 {
		t.Fatal("alerts.yml: no groups")
	}
	names := map[string]bool{}
	usedMetrics := map[string]bool{}
	for gi, g := range groups {
		rules := list(g, "rules")
		if str(g, "name") == "" || len(rules) == 0 {
			t.Errorf("alerts.yml group %d: needs a name and rules", gi)
		}
		for ri, r := range rules {
			alert, expr, forDur := str(r, "alert"), str(r, "expr"), str(r, "for")
			if alert == "" || expr == "" || !promDuration.MatchString(forDur) {
				t.Errorf("alerts.yml group %d rule %d: needs alert, expr and a for duration (got %q)", gi, ri, forDur)
				continue
			}
			if names[alert] {
				t.Errorf("alerts.yml: alert %s defined twice", alert)
			}
			names[alert] = true
			if sev := str(r, "labels", "severity"); sev != "warning" && sev != "critical" {
				t.Errorf("alerts.yml %s: severity %q, want warning or critical", alert, sev)
			}
			if str(r, "annotations", "summary") == "" {
				t.Errorf("alerts.yml %s: no summary annotation", alert)
			}
			used, unknown := metricsIn(expr)
			if len(unknown) > 0 {
				t.Errorf("alerts.yml %s: unknown metrics %v", alert, unknown)
			}
			if len(used) == 0 && !strings.Contains(expr, `job="dealcreditd"`) {
				t.Errorf("alerts.yml %s: uses no dealcredit metric", alert)
			}
			for _, m := range used {
				usedMetrics[m] = true
			}
		}
	}
	// lag growing, DLQ growing, relay stopped, verify failed, projection stopped
	for _, want := range []string{
		"dealcredit_ingest_pending_messages", "dealcredit_ingest_messages_total",
		"dealcredit_relay_lag_events", "dealcredit_relay_published_total",
		"dealcredit_projection_lag_events", "dealcredit_projection_lag_seconds", "dealcredit_projection_stopped",
		"dealcredit_verify_failures_total", "dealcredit_verify_last_success_timestamp_seconds",
		"dealcredit_log_fenced",
	} {
		if !usedMetrics[want] {
			t.Errorf("alerts.yml: no alert on %s", want)
		}
	}
}

func TestPrometheusConfig(t *testing.T) {
	doc := yamlDoc(t, "prometheus/prometheus.yml")
	if !slices.Contains(list(doc, "rule_files"), any("/etc/prometheus/alerts.yml")) {
		t.Error("prometheus.yml: rule_files does not load /etc/prometheus/alerts.yml (mounted by compose.yaml)")
	}
	var targets []any
	for _, sc := range list(doc, "scrape_configs") {
		if str(sc, "job_name") == "" {
			t.Error("prometheus.yml: scrape config without job_name")
		}
		if str(sc, "job_name") == "dealcreditd" {
			for _, s := range list(sc, "static_configs") {
				targets = append(targets, list(s, "targets")...)
			}
		}
	}
	for _, want := range []string{"dealcreditd-1:8080", "dealcreditd-2:8080"} {
		if !slices.Contains(targets, any(want)) {
			t.Errorf("prometheus.yml: job dealcreditd does not scrape %s", want)
		}
	}
}

func TestDashboard(t *testing.T) {
	var d map[string]any
	jsonFile(t, "grafana/dashboard.json", &d)
	if str(d, "uid") == "" || str(d, "title") == "" {
		t.Error("dashboard.json: needs uid and title")
	}
	var panels []any
	for _, p := range list(d, "panels") {
		panels = append(panels, p)
		panels = append(panels, list(p, "panels")...) // collapsed rows nest their panels
	}
	ids := map[string]bool{}
	used := map[string]bool{}
	check := func(where, expr string) {
		u, unknown := metricsIn(expr)
		if len(unknown) > 0 {
			t.Errorf("dashboard.json %s: unknown metrics %v in %q", where, unknown, expr)
		}
		if len(u) == 0 {
			t.Errorf("dashboard.json %s: %q uses no dealcredit metric", where, expr)
		}
		for _, m := range u {
			used[m] = true
		}
	}
	for _, p := range panels {
		id := fmt.Sprint(get(p, "id"))
		if ids[id] {
			t.Errorf("dashboard.json: panel id %s used twice", id)
		}
		ids[id] = true
		if str(p, "type") == "row" {
			continue
		}
		title := str(p, "title")
		targets := list(p, "targets")
		if title == "" || len(targets) == 0 {
			t.Errorf("dashboard.json panel %s: needs a title and targets", id)
		}
		for _, tg := range targets {
			check("panel "+title, str(tg, "expr"))
		}
	}
	for _, v := range list(d, "templating", "list") {
		if q := str(v, "query", "query"); q != "" {
			check("variable "+str(v, "name"), q)
		}
	}
	// ingest by outcome, append latency, relay lag, projection lag, DLQ growth, HTTP
	for _, want := range []string{
		"dealcredit_ingest_messages_total", "dealcredit_eventstore_append_duration_seconds",
		"dealcredit_relay_lag_events", "dealcredit_projection_lag_events",
		"dealcredit_http_requests_total",
	} {
		if !used[want] {
			t.Errorf("dashboard.json: no panel shows %s", want)
		}
	}
}

func TestGrafanaProvisioning(t *testing.T) {
	ds := yamlDoc(t, "grafana/provisioning/datasources/prometheus.yaml")
	if str(ds, "datasources", 0, "uid") != "prometheus" || str(ds, "datasources", 0, "type") != "prometheus" {
		t.Error("datasource provisioning: want a prometheus datasource with uid prometheus")
	}
	db := yamlDoc(t, "grafana/provisioning/dashboards/dealcredit.yaml")
	if got := str(db, "providers", 0, "options", "path"); got != "/var/lib/grafana/dashboards" {
		t.Errorf("dashboard provisioning path %q, compose.yaml mounts the dashboard at /var/lib/grafana/dashboards", got)
	}
}

var confVar = regexp.MustCompile(`\$([A-Za-z_][A-Za-z0-9_]*)`)

// TestNATSConfigs parses every NATS config under deployments/ with
// nats-server's own parser; variables a config takes from the environment
// get placeholder values when unset.
func TestNATSConfigs(t *testing.T) {
	confs := files(t, ".conf")
	var cluster []*server.Options
	for _, p := range append(confs, files(t, ".inc")...) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range confVar.FindAllStringSubmatch(string(b), -1) {
			if _, ok := os.LookupEnv(m[1]); !ok {
				t.Setenv(m[1], "placeholder")
			}
		}
	}
	for _, p := range confs {
		opts, err := server.ProcessConfigFile(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if strings.HasPrefix(p, "nats/cluster/") {
			cluster = append(cluster, opts)
		}
		checkNATSAccounts(t, p, opts)
	}
	if len(cluster) != 3 {
		t.Fatalf("nats/cluster: %d node configs, want 3", len(cluster))
	}
	names := map[string]bool{}
	for _, o := range cluster {
		if names[o.ServerName] || o.ServerName == "" {
			t.Errorf("nats/cluster: server name %q empty or not unique", o.ServerName)
		}
		names[o.ServerName] = true
		if !o.JetStream || !o.SyncAlways || o.StoreDir == "" {
			t.Errorf("%s: want JetStream with a store dir and sync_interval always", o.ServerName)
		}
		if o.Cluster.Name != "dealcredit" || o.Cluster.Port == 0 || len(o.Routes) != 3 {
			t.Errorf("%s: cluster %q port %d with %d routes, want dealcredit with routes to all 3 nodes",
				o.ServerName, o.Cluster.Name, o.Cluster.Port, len(o.Routes))
		}
	}
}

// checkNATSAccounts: every NATS config has the accounts of
// nats/accounts.inc: nobody outside an account, no anonymous user, every
// OEM user alone in its account.
func checkNATSAccounts(t *testing.T, path string, o *server.Options) {
	t.Helper()
	if o.NoAuthUser != "" || len(o.Nkeys) > 0 || o.Username != "" || o.Authorization != "" {
		t.Errorf("%s: a user outside the accounts or an anonymous user", path)
	}
	if o.SystemAccount != "SYS" {
		t.Errorf("%s: system account %q, want SYS", path, o.SystemAccount)
	}
	accounts := map[string][]string{}
	for _, u := range o.Users {
		if u.Account == nil {
			t.Errorf("%s: user %s in no account", path, u.Username)
			continue
		}
		accounts[u.Account.Name] = append(accounts[u.Account.Name], u.Username)
	}
	for name, want := range map[string]string{"DEALCREDIT": "dealcredit", "OEM_HP": "hp", "OEM_DELL": "dell", "SYS": "sys"} {
		if got := accounts[name]; len(got) != 1 || got[0] != want {
			t.Errorf("%s: account %s has users %v, want only %s", path, name, got, want)
		}
	}
}

// envFile reads a KEY=value file as compose's env_file does (no quoting).
func envFile(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("env file: %v", err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: %q is not KEY=value", path, line)
		}
		env[k] = v
	}
	return env
}

// TestComposeNATSCredentials: the compose NATS nodes get every password
// nats/accounts.inc reads from their env_file, the daemons get theirs from
// another, NATS_URL carries none, and the daemons' user and password open
// a server started from the config with the nodes' environment.
func TestComposeNATSCredentials(t *testing.T) {
	services := dict(yamlDoc(t, "compose.yaml"), "services")
	inc, err := os.ReadFile("nats/accounts.inc")
	if err != nil {
		t.Fatal(err)
	}
	var natsEnv, daemonEnv map[string]string
	for name, s := range services {
		files := list(s, "env_file")
		if f, ok := get(s, "env_file").(string); ok {
			files = []any{f}
		}
		switch {
		case strings.HasPrefix(name, "nats-"):
			if len(files) != 1 {
				t.Fatalf("compose.yaml: %s has env_file %v, want the NATS passwords file", name, files)
			}
			natsEnv = envFile(t, files[0].(string))
		case strings.HasPrefix(name, "dealcreditd"):
			if len(files) != 1 {
				t.Fatalf("compose.yaml: %s has env_file %v, want the daemon's secrets file", name, files)
			}
			daemonEnv = envFile(t, files[0].(string))
			if strings.Contains(str(s, "environment", "NATS_URL"), "@") {
				t.Errorf("compose.yaml: %s has credentials in NATS_URL", name)
			}
		}
	}
	uncommented := regexp.MustCompile(`(?m)#.*$`).ReplaceAllString(string(inc), "")
	for _, m := range confVar.FindAllStringSubmatch(uncommented, -1) {
		if natsEnv[m[1]] == "" {
			t.Errorf("NATS env_file does not set %s (nats/accounts.inc)", m[1])
		}
	}
	if daemonEnv["NATS_USER"] == "" || daemonEnv["NATS_PASSWORD"] == "" {
		t.Fatalf("daemon env_file does not set NATS_USER and NATS_PASSWORD: %v", daemonEnv)
	}
	for k, v := range natsEnv {
		t.Setenv(k, v)
	}
	opts, err := server.ProcessConfigFile("nats/nats-server.conf")
	if err != nil {
		t.Fatal(err)
	}
	opts.Host, opts.Port, opts.HTTPPort = "127.0.0.1", server.RANDOM_PORT, 0
	opts.StoreDir, opts.NoLog, opts.NoSigs = t.TempDir(), true, true
	srv := natstest.StartWithOptions(t, opts)
	nc, err := nats.Connect(srv.URL(), nats.UserInfo(daemonEnv["NATS_USER"], daemonEnv["NATS_PASSWORD"]))
	if err != nil {
		t.Fatalf("the daemons' NATS credentials: %v", err)
	}
	nc.Close()
}

// rawValue is the NATS Helm chart's raw-value syntax, << $VAR >>.
var rawValue = regexp.MustCompile(`"<< (\$[A-Za-z_][A-Za-z0-9_]*) >>"`)

// TestKubernetesNATSAccounts renders the accounts of nats-values.yaml as the
// chart does (config.merge, raw values for the passwords) into a config,
// runs nats-server with it and the example Secrets' passwords, and tries
// every route an OEM might take (natsiso.Check).
func TestKubernetesNATSAccounts(t *testing.T) {
	v := yamlDoc(t, "k8s/nats-values.yaml")
	merge := dict(v, "config", "merge")
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // the conf parser knows no \u escapes
	if err := enc.Encode(merge["accounts"]); err != nil {
		t.Fatal(err)
	}
	accounts := bytes.TrimSpace(buf.Bytes())
	env := map[string]string{}
	for _, d := range yamlDocs(t, "k8s/secret-nats.example.yaml") {
		for k, val := range dict(d, "stringData") {
			env[k], _ = val.(string)
		}
	}
	// Every password the accounts read comes from the Secret through container.env.
	for _, m := range rawValue.FindAllStringSubmatch(string(accounts), -1) {
		name := m[1][1:]
		if str(v, "container", "env", name, "valueFrom", "secretKeyRef", "name") != "nats-passwords" ||
			str(v, "container", "env", name, "valueFrom", "secretKeyRef", "key") != name {
			t.Errorf("nats-values.yaml: container.env does not take %s from Secret nats-passwords", name)
		}
		if env[name] == "" {
			t.Errorf("secret-nats.example.yaml: nats-passwords has no %s", name)
		}
		t.Setenv(name, env[name])
	}
	conf := fmt.Sprintf("jetstream { store_dir: %q, sync_interval: always }\naccounts: %s\nsystem_account: %s\n",
		t.TempDir(), rawValue.ReplaceAll(accounts, []byte("$1")), str(merge, "system_account"))
	path := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("nats-values.yaml accounts: %v\n%s", err, conf)
	}
	checkNATSAccounts(t, "k8s/nats-values.yaml", opts)
	opts.Host, opts.Port, opts.NoLog, opts.NoSigs = "127.0.0.1", server.RANDOM_PORT, true, true
	srv := natstest.StartWithOptions(t, opts)
	service, err := nats.Connect(srv.URL(), nats.UserInfo(env["NATS_USER"], env["NATS_PASSWORD"]))
	if err != nil {
		t.Fatalf("connect with Secret dealcredit-nats: %v", err)
	}
	defer service.Close()
	natsiso.Check(t, service, func(oem string, opts ...nats.Option) (*nats.Conn, error) {
		pw := env[strings.ToUpper(oem)+"_NATS_PASSWORD"]
		return nats.Connect(srv.URL(), append(opts, nats.UserInfo(oem, pw))...)
	})
}
