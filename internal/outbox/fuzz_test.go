package outbox

import (
	"testing"
	"time"
)

// Retry-After comes from the platform: whatever it says, the wait stays
// within [0, maxRetryAfter].
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "120", "-1", "Wed, 21 Oct 2015 07:28:00 GMT", "99999999999999999999", "1.5"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 26, 23, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		if d := parseRetryAfter(s, now); d < 0 || d > maxRetryAfter {
			t.Fatalf("parseRetryAfter(%q) = %v", s, d)
		}
	})
}

// Resend keys come from the console's URL: a key either is ErrNotFound or
// names exactly one ticket and prints back the same; never a panic.
func FuzzParseKeyString(f *testing.F) {
	for _, s := range []string{"inc_01m8d307h5zywrjny8p7:3", ":1", "a:", "a:b:2", "a:-1", "a:007", "a:+7", "a:7abc", "a\x00:1", "a:99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := parseKeyString(s)
		if err != nil {
			return
		}
		id, v, ok := splitKey(k)
		if !ok || v < 1 || KeyString(id, v) != s {
			t.Fatalf("%q -> %q %d %v", s, id, v, ok)
		}
	})
}
