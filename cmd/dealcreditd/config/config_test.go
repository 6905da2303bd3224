package config_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"dealcredit/cmd/dealcreditd/config"
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
		{"nats user without password", map[string]string{"NATS_USER": "dealcredit"}, "NATS_PASSWORD"},
		{"nats creds and user", map[string]string{"NATS_CREDS": "x.creds", "NATS_USER": "u", "NATS_PASSWORD": "p"}, "NATS_CREDS"},
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

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"nats://dealcredit:s3cret@nats-1:4222", "nats://dealcredit:xxxxx@nats-1:4222"},
		{"nats://a:p1@n1:4222, nats://a:p1@n2:4222", "nats://a:xxxxx@n1:4222, nats://a:xxxxx@n2:4222"},
		{"postgres://app:p%40ss@db:5432/dealcredit?sslmode=require", "postgres://app:xxxxx@db:5432/dealcredit?sslmode=require"},
		{"postgres://app@db/dealcredit", "postgres://app@db/dealcredit"},
		{"::bad://u:pw@host", "::bad://u:xxxxx@host"},
		{"host=db user=app password=s3cret dbname=x", "host=db user=app password=xxxxx dbname=x"},
	}
	for _, tt := range tests {
		if got := config.Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSecretsMaskedInOutputAndErrors(t *testing.T) {
	env := map[string]string{
		"DATABASE_URL":  "postgres://app:p%40ss%2Fw0rd@db:5432/dealcredit",
		"NATS_URL":      "nats://dealcredit:nats-pw-1@n1:4222,nats://tok3n-abc@n2:4222",
		"NATS_PASSWORD": `q"uote<pw>`,

		"DATABASE_MIGRATION_URL": "postgres://owner:own3r-pw@db:5432/dealcredit",
	}
	c := config.FromEnv(func(k string) string { return env[k] })
	secrets := c.Secrets()
	for _, want := range []string{"p@ss/w0rd", "nats-pw-1", "tok3n-abc", `q"uote<pw>`, "own3r-pw"} {
		if !slices.Contains(secrets, want) {
			t.Errorf("Secrets() = %q, lacks %q", secrets, want)
		}
	}
	var out bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(config.NewRedactingWriter(&out, secrets), nil))
	logger.Info("connect", "db", env["DATABASE_URL"], "nats", env["NATS_URL"], "pw", env["NATS_PASSWORD"])
	err := config.RedactError(fmt.Errorf("connect %s: %w", env["NATS_URL"], io.EOF), secrets)
	for _, text := range []string{out.String(), err.Error()} {
		for _, s := range append(secrets, "p%40ss%2Fw0rd", `q\"uote\u003cpw\u003e`) {
			if strings.Contains(text, s) {
				t.Errorf("%q shows the secret %q", text, s)
			}
		}
	}
	if !errors.Is(err, io.EOF) {
		t.Errorf("RedactError lost the wrapped error: %v", err)
	}
	if config.RedactError(nil, secrets) != nil {
		t.Error("RedactError(nil) is not nil")
	}
}
