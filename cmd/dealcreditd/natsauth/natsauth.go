// Package natsauth is how dealcredit's clients (the daemon, the CLI)
// authenticate to NATS: explicit credentials (NATS_CREDS, NATS_USER and
// NATS_PASSWORD, or user:password in NATS_URL), or, with no NATS_URL, the
// credentials the daemon's embedded server generated in its data directory.
package natsauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/nats-io/nats.go"

	"dealcredit/cmd/dealcreditd/config"
)

// User is a NATS user name and password.
type User struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// Credentials are the embedded server's users: the service's and one per
// OEM (key: OEM id), each OEM in its own account.
type Credentials struct {
	Service User            `json:"service"`
	OEMs    map[string]User `json:"oems,omitempty"`
}

// Load reads a credentials file written by the embedded server.
func Load(path string) (Credentials, error) {
	var c Credentials
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("read NATS credentials: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("NATS credentials file %s: %w", path, err)
	}
	if c.Service.User == "" || c.Service.Password == "" {
		return c, fmt.Errorf("NATS credentials file %s: no service user", path)
	}
	return c, nil
}

// ClientOptions returns the nats.Connect options that authenticate a client
// configured by cfg: NATS_CREDS (a .creds file), or NATS_USER and
// NATS_PASSWORD, or nothing when NATS_URL carries user:password itself.
// Without NATS_URL it reads the embedded server's generated credentials:
// the user of OEM asOEM when it has one (so the CLI publishes as that OEM's
// feed would), else the service user.
func ClientOptions(cfg config.Config, asOEM string) ([]nats.Option, error) {
	switch {
	case cfg.NATSCreds != "":
		return []nats.Option{nats.UserCredentials(cfg.NATSCreds)}, nil
	case cfg.NATSUser != "":
		return []nats.Option{nats.UserInfo(cfg.NATSUser, cfg.NATSPassword)}, nil
	case cfg.NATSURL != "":
		return nil, nil
	}
	path := cfg.EmbeddedNATSCredentialsFile()
	c, err := Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no NATS credentials at %s: start the daemon once (make run) to generate them, or set NATS_URL with NATS_USER and NATS_PASSWORD", path)
	}
	if err != nil {
		return nil, err
	}
	u := c.Service
	if o, ok := c.OEMs[asOEM]; ok && asOEM != "" {
		u = o
	}
	return []nats.Option{nats.UserInfo(u.User, u.Password)}, nil
}
