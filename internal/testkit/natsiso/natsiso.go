// Package natsiso is a test helper: it tries every route an OEM's NATS
// credentials might take into dealcredit's streams and fails the test when
// one of them leads anywhere but the OEM's own invoice stream. It is used
// against the configurations in deployments/ and the daemon's embedded
// server, each run by nats-server itself.
package natsiso

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"dealcredit/consumers/ingest"
	"dealcredit/consumers/oemfeed"
	"dealcredit/eventstore/mirror"
)

// Attacker and Victim are the OEMs Check uses: both must have credentials
// on the server under test.
const (
	Attacker = "hp"
	Victim   = "dell"
)

// Dialer connects to the server under test as the OEM, with opts added.
type Dialer func(oem string, opts ...nats.Option) (*nats.Conn, error)

// Check creates the streams the daemon creates (OEM_HP, OEM_DELL,
// OEM_INVOICES_DLQ, DEALCREDIT_EVENTS) through service, a connection in the
// service's account, then tries, as the OEM Attacker connected with dial:
//   - publishing to its own subject with an acknowledgement (must work and
//     land in OEM_HP),
//   - the same with reply subjects and headers aimed at the mirror, the
//     JetStream API and the victim's subject (the message may land in
//     OEM_HP; nothing may land anywhere else),
//   - publishing to other subjects, calling the JetStream API and
//     subscribing to the mirror or the victim's feed (all denied).
//
// Finally every stream must hold exactly what it should.
func Check(t *testing.T, service *nats.Conn, dial Dialer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sjs, err := jetstream.New(service)
	if err != nil {
		t.Fatal(err)
	}
	for _, oem := range []string{Attacker, Victim} {
		if err := ingest.EnsureStreams(ctx, sjs, oem, ingest.Options{StreamMaxBytes: 64 << 20}); err != nil {
			t.Fatalf("ensure streams: %v", err)
		}
	}
	if _, err := mirror.EnsureStream(ctx, sjs, 1); err != nil {
		t.Fatalf("ensure mirror stream: %v", err)
	}

	errs := make(chan error, 64)
	oem, err := dial(Attacker, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case errs <- err:
		default:
		}
	}))
	if err != nil {
		t.Fatalf("connect as %s: %v", Attacker, err)
	}
	defer oem.Close()
	ojs, err := jetstream.New(oem)
	if err != nil {
		t.Fatal(err)
	}
	own := oemfeed.Subject(Attacker)
	body := []byte(`{"schema":"` + oemfeed.SchemaV1 + `","oem_id":"` + Attacker + `"}`)
	stored := 0 // messages that must be in the attacker's own stream

	// Its own subject: stored and acknowledged, without any $JS.API permission.
	ack, err := ojs.Publish(ctx, own, body, jetstream.WithMsgID(Attacker+":X:1"))
	if err != nil {
		t.Fatalf("%s publish to its own subject with ack: %v", Attacker, err)
	}
	if ack.Stream != ingest.StreamName(Attacker) {
		t.Fatalf("acked by stream %q, want %s", ack.Stream, ingest.StreamName(Attacker))
	}
	stored++

	// Its own subject with reply subjects and headers aimed elsewhere: the
	// message is the OEM's own, its acknowledgement must not land anywhere.
	forged := []struct {
		name   string
		reply  string
		header nats.Header
		stored bool // JetStream stores it (the others are refused)
	}{
		{"reply into the mirror", mirror.SubjectPrefix + "forged", nil, true},
		{"reply into the mirror's deal subject", mirror.SubjectPrefix + "deal", nil, true},
		{"reply to delete the mirror", "$JS.API.STREAM.DELETE." + mirror.StreamName, nil, true},
		{"reply to purge the victim's stream", "$JS.API.STREAM.PURGE." + ingest.StreamName(Victim), nil, true},
		{"reply into the victim's subject", oemfeed.Subject(Victim), nil, true},
		{"reply into the dead letters", "oem." + Victim + ".invoices.rejected", nil, true},
		// The server refuses a trace destination the user may not publish to.
		{"trace destination in the mirror", "", nats.Header{"Nats-Trace-Dest": []string{mirror.SubjectPrefix + "traced"}}, false},
		{"expected stream the mirror", "", nats.Header{"Nats-Expected-Stream": []string{mirror.StreamName}}, false},
	}
	for _, f := range forged {
		msg := &nats.Msg{Subject: own, Reply: f.reply, Data: body, Header: nats.Header{}}
		for k, v := range f.header {
			msg.Header[k] = v
		}
		if err := oem.PublishMsg(msg); err != nil {
			t.Fatalf("%s: publish: %v", f.name, err)
		}
		if f.stored {
			stored++
		}
	}
	// An acknowledged publish after them: JetStream stored and answered
	// every message before it, in order.
	if _, err := ojs.Publish(ctx, own, body); err != nil {
		t.Fatalf("%s publish to its own subject after the forged ones: %v", Attacker, err)
	}
	stored++

	// Requests are sent without waiting for an answer: a denied publish
	// gets none, only the asynchronous permission violation.
	request := func(subject string, data []byte) func() error {
		return func() error { return oem.PublishRequest(subject, oem.NewRespInbox(), data) }
	}
	subscribe := func(subject string) func() error {
		return func() error {
			_, err := oem.SubscribeSync(subject)
			if err == nil {
				err = oem.Flush()
			}
			return err
		}
	}
	denied := []struct {
		name, subject string
		do            func() error
	}{
		{"publish to the victim's subject", oemfeed.Subject(Victim), request(oemfeed.Subject(Victim), body)},
		{"publish into the mirror", mirror.SubjectPrefix + "forged", request(mirror.SubjectPrefix+"forged", body)},
		{"publish to its dead-letter subject", own + ".rejected", request(own+".rejected", body)},
		{"delete the mirror", "$JS.API.STREAM.DELETE." + mirror.StreamName, request("$JS.API.STREAM.DELETE."+mirror.StreamName, nil)},
		{"purge the mirror", "$JS.API.STREAM.PURGE." + mirror.StreamName, request("$JS.API.STREAM.PURGE."+mirror.StreamName, nil)},
		{"stream info", "$JS.API.STREAM.INFO." + ingest.StreamName(Victim), request("$JS.API.STREAM.INFO."+ingest.StreamName(Victim), nil)},
		{"delete a message of its own stream", "$JS.API.STREAM.MSG.DELETE." + ingest.StreamName(Attacker),
			request("$JS.API.STREAM.MSG.DELETE."+ingest.StreamName(Attacker), []byte(`{"seq":1}`))},
		{"create a consumer on the mirror", "$JS.API.CONSUMER.CREATE." + mirror.StreamName,
			request("$JS.API.CONSUMER.CREATE."+mirror.StreamName, []byte(`{"stream_name":"`+mirror.StreamName+`","config":{}}`))},
		{"subscribe to the mirror", mirror.SubjectPrefix + ">", subscribe(mirror.SubjectPrefix + ">")},
		{"subscribe to the victim's invoices", oemfeed.Subject(Victim), subscribe(oemfeed.Subject(Victim))},
		{"subscribe to everything", ">", subscribe(">")},
	}
	for _, tc := range denied {
		t.Run(tc.name, func(t *testing.T) {
			_ = tc.do() // the violation itself arrives asynchronously
			deadline := time.After(5 * time.Second)
			for {
				select {
				case err := <-errs:
					if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), tc.subject) {
						return
					}
				case <-deadline:
					t.Fatalf("no permission violation for %s", tc.subject)
				}
			}
		})
	}

	// A marker appended by the service after everything above: the mirror
	// must hold it as its only message.
	if _, err := sjs.Publish(ctx, mirror.SubjectPrefix+"marker", []byte("marker")); err != nil {
		t.Fatalf("service publish to the mirror: %v", err)
	}
	want := map[string]uint64{
		ingest.StreamName(Attacker): uint64(stored),
		ingest.StreamName(Victim):   0,
		ingest.DLQStream:            0,
		mirror.StreamName:           1,
	}
	for name, n := range want {
		s, err := sjs.Stream(ctx, name)
		if err != nil {
			t.Errorf("stream %s: %v", name, err)
			continue
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs != n {
			t.Errorf("stream %s has %d messages, want %d", name, info.State.Msgs, n)
		}
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
			m, err := s.GetMsg(ctx, seq)
			if err != nil {
				t.Errorf("stream %s seq %d: %v", name, seq, err)
				continue
			}
			if name == mirror.StreamName && string(m.Data) != "marker" {
				t.Errorf("stream %s seq %d on %s holds %q: an OEM wrote into the mirror", name, seq, m.Subject, m.Data)
			}
			if name == ingest.StreamName(Attacker) && (m.Subject != own || string(m.Data) != string(body)) {
				t.Errorf("stream %s seq %d: %s %q, want the OEM's invoice on %s", name, seq, m.Subject, m.Data, own)
			}
		}
	}
}
