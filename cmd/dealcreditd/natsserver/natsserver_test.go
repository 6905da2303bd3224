package natsserver_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"dealcredit/cmd/dealcreditd/natsserver"
	"dealcredit/consumers/oemfeed"
	"dealcredit/internal/testkit/natsiso"
)

func TestStartPersistsAcrossRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))

	srv, err := natsserver.Start(ctx, natsserver.Options{DataDir: dir, Port: natsserver.RandomPort, Logger: logger})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	publish(ctx, t, srv, 3)
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "jetstream")); err != nil {
		t.Fatalf("store not under data dir/jetstream: %v", err)
	}
	if !bytes.Contains(logs.Bytes(), []byte("component=nats-server")) {
		t.Errorf("server logs not routed to the slog logger:\n%s", logs.String())
	}

	srv, err = natsserver.Start(ctx, natsserver.Options{DataDir: dir, Port: natsserver.RandomPort})
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer srv.Shutdown(context.Background())
	nc, err := nats.Connect(srv.ClientURL(), nats.UserInfo(srv.Service().User, srv.Service().Password))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	s, err := js.Stream(ctx, "T")
	if err != nil {
		t.Fatalf("stream after restart: %v", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatalf("info: %v", err)
	}
	if info.State.Msgs != 3 {
		t.Fatalf("messages after restart = %d, want 3", info.State.Msgs)
	}
}

func TestStartRejectsMissingDataDir(t *testing.T) {
	if _, err := natsserver.Start(context.Background(), natsserver.Options{}); err == nil {
		t.Fatal("start without data dir succeeded")
	}
}

func publish(ctx context.Context, t *testing.T, srv *natsserver.Server, n int) {
	t.Helper()
	nc, err := nats.Connect(srv.ClientURL(), nats.UserInfo(srv.Service().User, srv.Service().Password))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	for i := 0; i < n; i++ {
		if _, err := js.Publish(ctx, "t.x", []byte("x")); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
}

// TestCredentials: the embedded server refuses anonymous clients and wrong
// passwords, keeps its generated passwords in a 0600 file in the data dir,
// and gives every OEM added an account that reaches nothing but its own
// invoice stream (natsiso.Check), also after a restart.
func TestCredentials(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	srv, err := natsserver.Start(ctx, natsserver.Options{DataDir: dir, Port: natsserver.RandomPort})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	defer func() { srv.Shutdown(context.Background()) }()
	path := filepath.Join(dir, natsserver.CredentialsFileName)
	if srv.CredentialsFile() != path {
		t.Fatalf("credentials file %s, want %s", srv.CredentialsFile(), path)
	}
	// Connected before the OEMs are added, as the daemon is.
	service, err := nats.Connect(srv.ClientURL(), nats.UserInfo(srv.Service().User, srv.Service().Password))
	if err != nil {
		t.Fatalf("connect as the service: %v", err)
	}
	defer service.Close()
	for _, oem := range []string{natsiso.Attacker, natsiso.Victim} {
		if err := srv.AddOEM(oem); err != nil {
			t.Fatalf("add OEM %s: %v", oem, err)
		}
	}
	if err := srv.AddOEM("Not An OEM"); err == nil {
		t.Error("AddOEM accepted an invalid OEM id")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("credentials file mode %v, want 0600", fi.Mode().Perm())
	}
	creds, err := natsserver.LoadCredentials(path)
	if err != nil {
		t.Fatal(err)
	}
	if creds.Service != srv.Service() || len(creds.OEMs) != 2 {
		t.Fatalf("credentials file holds %+v, want the service user and two OEMs", creds)
	}

	refused := map[string][]nats.Option{
		"anonymous":               nil,
		"wrong password":          {nats.UserInfo(natsserver.ServiceUser, "guess")},
		"OEM password as service": {nats.UserInfo(natsserver.ServiceUser, creds.OEMs["hp"].Password)},
	}
	for name, opts := range refused {
		if nc, err := nats.Connect(srv.ClientURL(), opts...); err == nil {
			nc.Close()
			t.Errorf("%s: connected", name)
		}
	}

	check := func(srv *natsserver.Server, service *nats.Conn) {
		natsiso.Check(t, service, func(oem string, opts ...nats.Option) (*nats.Conn, error) {
			u := creds.OEMs[oem]
			return nats.Connect(srv.ClientURL(), append(opts, nats.UserInfo(u.User, u.Password))...)
		})
	}
	check(srv, service)

	// After a restart the OEMs' accounts come from the file.
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	srv, err = natsserver.Start(ctx, natsserver.Options{DataDir: t.TempDir(), CredentialsFile: path, Port: natsserver.RandomPort})
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	if srv.Service() != creds.Service {
		t.Fatalf("service user after restart %+v, want %+v", srv.Service(), creds.Service)
	}
	service2, err := nats.Connect(srv.ClientURL(), nats.UserInfo(srv.Service().User, srv.Service().Password))
	if err != nil {
		t.Fatalf("connect as the service after restart: %v", err)
	}
	defer service2.Close()
	check(srv, service2)
}

// TestMaxPayloadTakesAFullInvoiceAndItsDeadLetter: an OEM's body of
// oemfeed.MaxMessageSize with its Nats-Msg-Id, and the dead letter of that
// body with its headers, fit in one message (before, the default 1 MiB
// refused both: the OEM's publish, and the dead letter, which was retried for
// ever).
func TestMaxPayloadTakesAFullInvoiceAndItsDeadLetter(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := natsserver.Start(ctx, natsserver.Options{DataDir: t.TempDir(), Port: natsserver.RandomPort})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	defer srv.Shutdown(context.Background())
	nc, err := nats.Connect(srv.ClientURL(), nats.UserInfo(srv.Service().User, srv.Service().Password))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer nc.Close()
	const headers = 4 << 10 // the dead letter's headers: a reason of at most 512 bytes, sequence, subject, id
	if got := nc.MaxPayload(); got < oemfeed.MaxMessageSize+headers {
		t.Fatalf("max_payload %d, want at least %d", got, oemfeed.MaxMessageSize+headers)
	}
}
