package jshealth_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"dealcredit/internal/jshealth"
	"dealcredit/internal/natstest"
)

// TestCheckNamesWhatFails probes a healthy JetStream, then one whose
// streams in use are missing or full.
func TestCheckNamesWhatFails(t *testing.T) {
	srv := natstest.Start(t)
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "SMALL", Subjects: []string{"small"},
		MaxBytes: 64 << 10, Discard: jetstream.DiscardNew}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		streams []string
		fill    bool
		want    string // "" = healthy
	}{
		{"healthy", []string{"SMALL"}, false, ""},
		{"missing stream", []string{"SMALL", "OEM_NOPE"}, false, "stream OEM_NOPE: "},
		{"full stream", []string{"SMALL"}, true, "stream SMALL is full"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.fill {
				for {
					if _, err := js.Publish(ctx, "small", make([]byte, 4<<10)); err != nil {
						break
					}
				}
			}
			p := jshealth.New(js, jshealth.Options{Streams: func() []string { return tt.streams }})
			err := p.Check(ctx)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Check = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Check = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if _, err := js.Stream(ctx, jshealth.ProbeStream); err != nil {
		t.Fatalf("the write probe did not create %s: %v", jshealth.ProbeStream, err)
	}
}
