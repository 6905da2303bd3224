package demo

import (
	"encoding/json"
	"fmt"
	"os"

	"dealcredit/api"
)

// LoadTokens reads the daemon's tokens file (it never creates one: the
// daemon does on its first start).
func LoadTokens(path string) (api.Tokens, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("demo: read tokens file (start the daemon first: make run): %w", err)
	}
	var ts api.Tokens
	if err := json.Unmarshal(b, &ts); err != nil {
		return nil, fmt.Errorf("demo: tokens file %s: %w", path, err)
	}
	return ts, nil
}
