package natsserver

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"dealcredit/cmd/dealcreditd/config"
	"dealcredit/cmd/dealcreditd/natsauth"
	"dealcredit/consumers/oemfeed"
	"dealcredit/internal/secretfile"
)

// CredentialsFileName is the embedded server's credentials file in the data
// directory, beside the generated API tokens.
const CredentialsFileName = config.EmbeddedNATSCredentialsFileName

// ServiceUser is the embedded server's user of the daemon and the CLI.
const ServiceUser = "dealcredit"

// ServiceAccount is the account that owns every stream.
const ServiceAccount = "DEALCREDIT"

// User is a NATS user name and password.
type User = natsauth.User

// Credentials are the embedded server's users (natsauth.Credentials).
type Credentials = natsauth.Credentials

// OEMAccount is the account of an OEM's feed, e.g. OEM_HP.
func OEMAccount(oem string) string { return "OEM_" + strings.ToUpper(oem) }

// LoadCredentials reads a credentials file written by the embedded server
// and checks every user in it.
func LoadCredentials(path string) (Credentials, error) {
	c, err := natsauth.Load(path)
	if err != nil {
		return c, fmt.Errorf("natsserver: %w", err)
	}
	if err := validate(c); err != nil {
		return c, fmt.Errorf("natsserver: credentials file %s: %w", path, err)
	}
	return c, nil
}

// loadOrCreateCredentials reads path, or generates a service user and
// writes it there (0600) when the file does not exist.
func loadOrCreateCredentials(path string) (Credentials, bool, error) {
	c, err := LoadCredentials(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return c, false, err
	}
	pw, err := password()
	if err != nil {
		return c, false, err
	}
	c = Credentials{Service: User{User: ServiceUser, Password: pw}}
	b, err := encode(c)
	if err != nil {
		return c, false, err
	}
	created, err := secretfile.Create(path, b)
	if err != nil {
		return c, false, fmt.Errorf("natsserver: credentials: %w", err)
	}
	if !created {
		c, err = LoadCredentials(path)
	}
	return c, created, err
}

func validate(c Credentials) error {
	for oem, u := range c.OEMs {
		if !oemfeed.ValidOEMID(oem) || u.User != oem || u.Password == "" {
			return fmt.Errorf("OEM %q: want a valid OEM id, its user of the same name and a password", oem)
		}
		if oem == c.Service.User {
			return fmt.Errorf("OEM %q: same name as the service user", oem)
		}
	}
	return nil
}

func encode(c Credentials) ([]byte, error) {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("natsserver: encode credentials: %w", err)
	}
	return append(b, '\n'), nil
}

// password returns 32 random bytes in hex.
func password() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("natsserver: generate password: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// serviceAccountConfig is the service's account in nats-server's
// configuration language: the only account with JetStream. The OEM
// accounts are added at run time (Server.wireOEM), with their users.
var serviceAccountConfig = fmt.Sprintf("accounts { %q { jetstream: enabled } }\n", ServiceAccount)
