package natsserver

import (
	"crypto/subtle"
	"fmt"
	"sync"

	"github.com/nats-io/nats-server/v2/server"

	"dealcredit/consumers/oemfeed"
)

// authenticator admits the users of the credentials file, each into its
// account: the service user into ServiceAccount with every permission, an
// OEM's user into OEMAccount(oem), publishing only its invoices subject.
// Users and accounts are added while the server runs (a configuration
// reload would give clients connected before it stale accounts).
type authenticator struct {
	srv *server.Server

	mu    sync.RWMutex
	users map[string]authUser
}

type authUser struct {
	password string
	account  string
	perms    *server.Permissions
}

// Check implements server.Authentication.
func (a *authenticator) Check(c server.ClientAuthentication) bool {
	opts := c.GetOpts()
	a.mu.RLock()
	u, ok := a.users[opts.Username]
	a.mu.RUnlock()
	if !ok || subtle.ConstantTimeCompare([]byte(opts.Password), []byte(u.password)) != 1 {
		return false
	}
	acc, err := a.srv.LookupAccount(u.account)
	if err != nil {
		return false
	}
	c.RegisterUser(&server.User{Username: opts.Username, Account: acc, Permissions: u.perms})
	return true
}

func (a *authenticator) add(name string, u authUser) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.users[name] = u
}

// wireOEM gives the OEM its account, importing only its invoices subject
// from the service account (exported to that account alone), and its user,
// who may publish only there. The server replaces the reply subject of a
// message crossing a service import with a private one, so JetStream's
// acknowledgement goes back to the OEM's inbox and nowhere else.
func (s *Server) wireOEM(oem string, u User) error {
	subject := oemfeed.Subject(oem)
	svc, err := s.srv.LookupAccount(ServiceAccount)
	if err != nil {
		return fmt.Errorf("natsserver: service account: %w", err)
	}
	acc, _ := s.srv.LookupOrRegisterAccount(OEMAccount(oem))
	if err := svc.AddServiceExport(subject, []*server.Account{acc}); err != nil {
		return fmt.Errorf("natsserver: export %s: %w", subject, err)
	}
	if err := acc.AddServiceImport(svc, subject, subject); err != nil {
		return fmt.Errorf("natsserver: import %s: %w", subject, err)
	}
	s.auth.add(u.User, authUser{password: u.Password, account: OEMAccount(oem), perms: &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: []string{subject}},
		Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>", "_INBOX_" + oem + ".>"}},
	}})
	return nil
}
