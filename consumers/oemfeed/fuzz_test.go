package oemfeed_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"dealcredit/consumers/oemfeed"
)

// FuzzDecode checks that Decode never panics, that every error is a
// *DecodeError, and that whatever it accepts re-validates: against the JSON
// Schema, and when re-encoded, to the same Message. The seeds are the samples
// of TestDecode plus the committed corpus in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	for _, s := range samples(f) {
		if len(s.body) <= oemfeed.MaxMessageSize {
			f.Add(s.subject, []byte(s.body))
		}
	}
	f.Fuzz(func(t *testing.T, subject string, body []byte) {
		m, err := oemfeed.Decode(subject, body)
		if err != nil {
			var de *oemfeed.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a *DecodeError", err)
			}
			return
		}
		if err := schemaAccepts(t, body); err != nil {
			t.Fatalf("decoder accepted what the schema rejects: %v", err)
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		m2, err := oemfeed.Decode(subject, again)
		if err != nil {
			t.Fatalf("re-encoded message rejected: %v\n%s", err, again)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-decoded message differs:\n%+v\n%+v", m, m2)
		}
	})
}
