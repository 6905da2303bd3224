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
		{"bad migration dsn", map[string]string{"DATABASE_MIGRATION_URL": "mysql://x/y"}, "DATABASE_MIGRATION_URL"},
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

// TestDatabaseRoles: without DATABASE_MIGRATION_URL, DATABASE_URL migrates
// and the daemon serves as the app role on the same database (without the
// owner's password); with it, DATABASE_URL is used as given.
func TestDatabaseRoles(t *testing.T) {
	tests := []struct {
		name       string
		env        map[string]string
		owner, app string
	}{
		{"default", nil, config.DefaultDatabaseURL, "postgres://dealcredit_app@127.0.0.1:5432/dealcredit?sslmode=disable"},
		{"password dropped", map[string]string{"DATABASE_URL": "postgres://admin:s3cret@db:5432/dc?sslmode=require&password=x"},
			"postgres://admin:s3cret@db:5432/dc?sslmode=require&password=x", "postgres://dealcredit_app@db:5432/dc?sslmode=require"},
		{"already the app role", map[string]string{"DATABASE_URL": "postgres://dealcredit_app:pw@db/dc"},
			"postgres://dealcredit_app:pw@db/dc", "postgres://dealcredit_app:pw@db/dc"},
		{"separate owner", map[string]string{
			"DATABASE_URL":           "postgres://dealcredit_app:pw@db/dc",
			"DATABASE_MIGRATION_URL": "postgres://owner:pw2@db/dc",
		}, "postgres://owner:pw2@db/dc", "postgres://dealcredit_app:pw@db/dc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config.FromEnv(func(k string) string { return tt.env[k] })
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := c.OwnerDatabaseURL(); got != tt.owner {
				t.Errorf("OwnerDatabaseURL() = %q, want %q", got, tt.owner)
			}
			if got := c.AppDatabaseURL(); got != tt.app {
				t.Errorf("AppDatabaseURL() = %q, want %q", got, tt.app)
			}
		})
	}
}
