package console_test

import (
	"net/url"
	"testing"
	"unicode/utf8"

	"github.com/lanewatch/lanewatch/internal/auth"
	"github.com/lanewatch/lanewatch/internal/console"
	"github.com/lanewatch/lanewatch/internal/plate"
)

func FuzzParseIncidentQuery(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		got, err := console.ParseIncidentQuery(q)
		if err != nil {
			return
		}
		if got.Limit < 1 || got.Limit > 1000 {
			t.Fatalf("%q: limit %d accepted", raw, got.Limit)
		}
	})
}

func FuzzParsePassageQuery(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		got, err := console.ParsePassageQuery(q)
		if err != nil {
			return
		}
		if got.Plate != "" {
			if n, ok := plate.NormalizePlate(got.Plate); !ok || n != got.Plate {
				t.Fatalf("%q: plate %q not normalised", raw, got.Plate)
			}
		}
		if !got.Since.IsZero() && !got.Until.IsZero() && got.Until.Before(got.Since) {
			t.Fatalf("%q: until before since accepted", raw)
		}
		if got.Limit < 1 || got.Limit > 100000 {
			t.Fatalf("%q: limit %d", raw, got.Limit)
		}
	})
}

func FuzzParseVisitor(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		v, err := console.ParseVisitor(body)
		if err != nil {
			return
		}
		if !v.ValidUntil.After(v.ValidFrom) || !utf8.ValidString(v.Plate) || len(v.Unit) > 64 {
			t.Fatalf("%q accepted as %+v", body, v)
		}
	})
}

func FuzzParseNote(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := console.ParseNote(body)
		if err == nil && len(n) > 2000 {
			t.Fatalf("note of %d bytes accepted", len(n))
		}
		if err == nil && auth.CheckText("note", n) != nil {
			t.Fatalf("note %q with control characters accepted", n)
		}
	})
}

func FuzzParseGateOpen(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := console.ParseGateOpen(body)
		if err == nil && (r == "" || len(r) > 500 || auth.CheckText("reason", r) != nil) {
			t.Fatalf("reason %q accepted", r)
		}
	})
}
