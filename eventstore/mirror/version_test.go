package mirror

import "testing"

func TestCheckServerVersion(t *testing.T) {
	tests := []struct {
		version string
		ok      bool
	}{
		{"2.10.0", true},
		{"2.15.2", true},
		{"v2.11.0-beta.1", true},
		{"3.0", true},
		{"2.9.25", false},
		{"1.4.1", false},
		{"", false},
		{"two.ten", false},
	}
	for _, tt := range tests {
		err := checkServerVersion(tt.version)
		if (err == nil) != tt.ok {
			t.Errorf("checkServerVersion(%q) = %v, want ok %v", tt.version, err, tt.ok)
		}
	}
}
