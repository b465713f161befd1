package evlink

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func newSigner(t testing.TB, now *time.Time) *Signer {
	s := &Signer{DataDir: t.TempDir(), BaseURL: "https://gw-1.compound.lan:8443/", Now: func() time.Time { return *now }}
	if err := s.Initialize(); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSignVerify(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	s := newSigner(t, &now)
	snap, exp := s.Sign("inc-A", Snapshot)
	if want := now.Add(24 * time.Hour); !exp.Equal(want) {
		t.Errorf("default expiry %v, want %v", exp, want)
	}
	clip, _ := s.Sign("inc-A", Clip)
	other, _ := s.Sign("inc-B", Snapshot)
	text, _, _ := Parse(snap)
	_, sig, _ := Parse(other)
	forged := b64.EncodeToString([]byte(strings.Replace(text, "inc-A", "inc-B", 1))) + "." + strings.SplitN(snap, ".", 2)[1]
	asClip := b64.EncodeToString([]byte(strings.Replace(text, "snapshot", "clip", 1))) + "." + strings.SplitN(snap, ".", 2)[1]
	later := b64.EncodeToString([]byte(strings.Replace(text, "\n1", "\n2", 1))) + "." + strings.SplitN(snap, ".", 2)[1]
	otherSig := strings.SplitN(snap, ".", 2)[0] + "." + b64.EncodeToString(sig)
	flip := []byte(snap)
	flip[len(flip)-3] ^= 1

	cases := []struct {
		name  string
		tok   string
		at    time.Duration
		want  error
		id    string
		asset Asset
	}{
		{"snapshot", snap, 0, nil, "inc-A", Snapshot},
		{"clip", clip, time.Hour, nil, "inc-A", Clip},
		{"just before expiry", snap, 24*time.Hour - time.Second, nil, "inc-A", Snapshot},
		{"at expiry", snap, 24 * time.Hour, ErrExpired, "", ""},
		{"expired", snap, 48 * time.Hour, ErrExpired, "", ""},
		{"other incident", forged, 0, ErrBadSignature, "", ""},
		{"snapshot token as clip", asClip, 0, ErrBadSignature, "", ""},
		{"expiry pushed back", later, 0, ErrBadSignature, "", ""},
		{"signature of another token", otherSig, 0, ErrBadSignature, "", ""},
		{"bit flipped", string(flip), 0, nil, "", ""}, // malformed or bad signature, see below
		{"empty", "", 0, ErrMalformed, "", ""},
		{"no dot", "abc", 0, ErrMalformed, "", ""},
		{"short mac", strings.SplitN(snap, ".", 2)[0] + ".AAAA", 0, ErrMalformed, "", ""},
		{"huge", strings.Repeat("A", 600) + ".x", 0, ErrMalformed, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			at := now.Add(c.at)
			s.Now = func() time.Time { return at }
			got, err := s.Verify(c.tok)
			if c.name == "bit flipped" {
				if !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrMalformed) {
					t.Fatalf("flipped bit: %v", err)
				}
				return
			}
			if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
			if c.want == nil && (got.Incident != c.id || got.Asset != c.asset) {
				t.Errorf("claims %+v", got)
			}
		})
	}
}

func TestKeyKeptAndPrivate(t *testing.T) {
	now := time.Now()
	dir := t.TempDir()
	a := &Signer{DataDir: dir, Now: func() time.Time { return now }}
	if err := a.Initialize(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "evlink.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v %v", st, err)
	}
	tok, _ := a.Sign("inc-1", Clip)
	// A restart reads the same key: links sent before it still open.
	b := &Signer{DataDir: dir, Now: func() time.Time { return now }}
	if err := b.Initialize(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Verify(tok); err != nil {
		t.Errorf("after restart: %v", err)
	}
	// Another gateway's key does not verify it.
	c := &Signer{DataDir: t.TempDir(), Now: func() time.Time { return now }}
	c.Initialize()
	if _, err := c.Verify(tok); !errors.Is(err, ErrBadSignature) {
		t.Errorf("other key: %v", err)
	}
	if u := (&Signer{Key: a.Key, BaseURL: "https://x.lan/", Now: a.Now}); u.Initialize() == nil {
		if got := u.URL("inc-1", Snapshot); !strings.HasPrefix(got, "https://x.lan/e/") {
			t.Errorf("URL %s", got)
		}
	}
	if err := (&Signer{Key: []byte("short")}).Initialize(); err == nil {
		t.Error("short key accepted")
	}
}

func TestSignStable(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 10, 0, 0, time.UTC)
	s := newSigner(t, &now)
	first := s.SignStable("inc-1", Snapshot)
	now = now.Add(40 * time.Minute)
	if s.SignStable("inc-1", Snapshot) != first {
		t.Error("stable link changed within the hour")
	}
	c, err := s.Verify(first)
	if err != nil || !c.Expires.Equal(time.Date(2026, 12, 4, 11, 0, 0, 0, time.UTC)) {
		t.Errorf("expiry %v: %v", c.Expires, err)
	}
	now = now.Add(20 * time.Minute)
	if s.SignStable("inc-1", Snapshot) == first {
		t.Error("stable link the same in the next hour")
	}
}

func FuzzParse(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	s := &Signer{Key: make([]byte, 32), Now: func() time.Time { return now }}
	s.Initialize()
	tok, _ := s.Sign("inc-1", Snapshot)
	f.Add(tok)
	f.Add("")
	f.Add(".")
	f.Add("c25hcHNob3QKMQppbmM.AAAA")
	f.Fuzz(func(t *testing.T, in string) {
		c, err := s.Verify(in)
		if err == nil {
			// Only tokens we signed verify: the claims must sign back to in.
			text := claimText(c.Incident, c.Asset, c.Expires.Unix())
			if b64.EncodeToString([]byte(text))+"."+b64.EncodeToString(s.mac(text)) != in {
				t.Fatalf("accepted %q which is not our token", in)
			}
		}
		if text, _, err := Parse(in); err == nil {
			if _, err := parseClaims(text); err != nil {
				t.Fatalf("Parse accepted claims parseClaims refuses: %v", err)
			}
		}
	})
}
