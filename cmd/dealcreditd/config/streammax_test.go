package config_test

import (
	"strings"
	"testing"

	"dealcredit/cmd/dealcreditd/config"
)

func TestStreamMaxBytes(t *testing.T) {
	tests := []struct {
		env     string
		want    int64
		wantErr bool
	}{
		{"", config.DefaultStreamMaxBytes, false},
		{"64MiB", 64 << 20, false},
		{"2GiB", 2 << 30, false},
		{"3145728", 3 << 20, false},
		{"1MiB", 0, true},
		{"lots", 0, true},
		{"-5GiB", 0, true},
		{"99999999999GiB", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			c := config.FromEnv(func(k string) string {
				if k == "DEALCREDIT_STREAM_MAX_BYTES" {
					return tt.env
				}
				return ""
			})
			err := c.Validate()
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "DEALCREDIT_STREAM_MAX_BYTES") {
					t.Fatalf("Validate() = %v, want an error naming DEALCREDIT_STREAM_MAX_BYTES", err)
				}
				return
			}
			if err != nil || c.StreamMaxBytes != tt.want {
				t.Fatalf("StreamMaxBytes = %d, %v; want %d", c.StreamMaxBytes, err, tt.want)
			}
		})
	}
}
