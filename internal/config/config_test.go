package config_test

import (
	"strings"
	"testing"

	"dealcredit/internal/config"
)

func TestFromEnvDefaults(t *testing.T) {
	c := config.FromEnv(func(string) string { return "" })
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults must validate: %v", err)
	}
	if c.DatabaseURL != config.DefaultDatabaseURL || c.HTTPAddr != config.DefaultHTTPAddr || c.NATSURL != "" {
		t.Fatalf("unexpected defaults: %+v", c)
	}
	if c.TokensFile != "data/tokens.json" {
		t.Fatalf("tokens file default = %q, want data/tokens.json", c.TokensFile)
	}
}

func TestValidateNamesTheVariable(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"bad scheme", map[string]string{"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL"},
		{"no database", map[string]string{"DATABASE_URL": "postgres://127.0.0.1:5432/"}, "DATABASE_URL"},
		{"bad nats", map[string]string{"NATS_URL": "::nope"}, "NATS_URL"},
		{"bad addr", map[string]string{"DEALCREDIT_HTTP_ADDR": "8080"}, "DEALCREDIT_HTTP_ADDR"},
		{"bad replicas", map[string]string{"DEALCREDIT_STREAM_REPLICAS": "three"}, "DEALCREDIT_STREAM_REPLICAS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config.FromEnv(func(k string) string { return tt.env[k] })
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error naming %s", err, tt.want)
			}
		})
	}
}
