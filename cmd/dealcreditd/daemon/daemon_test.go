package daemon_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"dealcredit/cmd/dealcreditd/daemon"
	"dealcredit/internal/testkit/daemontest"
)

func TestDaemonStartsCreatesDatabaseAndStopsGracefully(t *testing.T) {
	d := daemontest.Start(t, nil)
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/openapi.json"} {
		resp, err := http.Get(d.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d", path, resp.StatusCode)
		}
	}
	resp, err := http.Get(d.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"dealcredit_relay_lag_events", "dealcredit_eventstore_append_transaction_seconds_count", "go_goroutines", `dealcredit_scheduler_due{kind="deal_expiry"}`, "dealcredit_scheduler_applied_total"} {
		if !strings.Contains(string(body), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	if err := d.Stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	if _, err := http.Get(d.URL + "/healthz"); err == nil {
		t.Fatal("daemon still serving after stop")
	}
}

func TestDaemonRefusesBadConfiguration(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-http-addr", "no-port"}, "DEALCREDIT_HTTP_ADDR"},
		{[]string{"-database-url", "mysql://x/y"}, "DATABASE_URL"},
		{[]string{"-stream-replicas", "0"}, "DEALCREDIT_STREAM_REPLICAS"},
	}
	for _, tt := range tests {
		err := daemon.Run(context.Background(), tt.args, func(string) string { return "" }, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Run(%v) = %v, want an error naming %s", tt.args, err, tt.want)
		}
	}
}
