// Package evlink signs links to an incident's evidence that open without a
// console login (contract section 10): the token names the incident, the
// asset and the expiry, and carries an HMAC-SHA256 over them, so it opens that
// one file of that one incident until it expires, and nothing else.
package evlink

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lanewatch/lanewatch/internal/keyfile"
)

// Asset is what a token opens.
type Asset string

const (
	Snapshot Asset = "snapshot"
	Clip     Asset = "clip"
)

// Valid says a is a known asset.
func (a Asset) Valid() bool { return a == Snapshot || a == Clip }

// DefaultTTL is how long a link stays valid unless TTL says otherwise.
const DefaultTTL = 24 * time.Hour

// Route is where the console serves tokens: Route + token.
const Route = "/e/"

// Errors of Verify. Malformed and BadSignature mean the link was never ours
// or was changed (403); Expired means it was ours and is too old (410).
var (
	ErrMalformed    = errors.New("evlink: malformed token")
	ErrBadSignature = errors.New("evlink: bad signature")
	ErrExpired      = errors.New("evlink: link expired")
)

// maxToken bounds the work done on outside input before the MAC check.
const maxToken = 512

// Claims is what a valid token grants.
type Claims struct {
	Incident string
	Asset    Asset
	Expires  time.Time
}

// Signer signs and verifies links. Set the fields, then Initialize.
type Signer struct {
	// DataDir holds the key file evlink.key (generated at first start, 0600).
	DataDir string
	// Key replaces the key file (tests); at least 32 bytes.
	Key []byte
	// BaseURL is console.public_url: the scheme and host the phone reaches.
	BaseURL string
	// TTL is how long links stay valid; default DefaultTTL.
	TTL time.Duration
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// Initialize loads or creates the key.
func (s *Signer) Initialize() error {
	if s.TTL <= 0 {
		s.TTL = DefaultTTL
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	s.BaseURL = strings.TrimRight(s.BaseURL, "/")
	if s.Key != nil {
		if len(s.Key) < 32 {
			return errors.New("evlink: key shorter than 32 bytes")
		}
		return nil
	}
	if s.DataDir == "" {
		return errors.New("evlink: DataDir or Key is required")
	}
	k, err := keyfile.LoadOrCreate(filepath.Join(s.DataDir, "evlink.key"), func() ([]byte, error) {
		b := make([]byte, 32)
		_, err := rand.Read(b)
		return b, err
	})
	if err != nil {
		return err
	}
	if len(k) < 32 {
		return errors.New("evlink: key file shorter than 32 bytes")
	}
	s.Key = k
	return nil
}

// Strict: one token string per claim, so a token cannot be varied in its padding bits.
var b64 = base64.RawURLEncoding.Strict()

// claimText is what the MAC covers; the prefix keeps a MAC made with the
// same key for another purpose from ever passing as a link.
func claimText(id string, a Asset, exp int64) string {
	return string(a) + "\n" + strconv.FormatInt(exp, 10) + "\n" + id
}

func (s *Signer) mac(text string) []byte {
	m := hmac.New(sha256.New, s.Key)
	m.Write([]byte("lanewatch-evlink-v1\n"))
	m.Write([]byte(text))
	return m.Sum(nil)
}

// Sign returns a token for asset a of incident id, valid for TTL from now.
func (s *Signer) Sign(id string, a Asset) (string, time.Time) {
	exp := s.Now().Add(s.TTL).Truncate(time.Second)
	return s.SignUntil(id, a, exp), exp
}

// SignStable is Sign with the expiry rounded up to the hour: the same link
// for an hour, so a page polling its list can cache the pictures. Valid for
// between TTL and TTL + 1 h.
func (s *Signer) SignStable(id string, a Asset) string {
	exp := s.Now().Add(s.TTL).Truncate(time.Hour).Add(time.Hour)
	return s.SignUntil(id, a, exp)
}

// SignUntil returns a token valid until exp (whole seconds).
func (s *Signer) SignUntil(id string, a Asset, exp time.Time) string {
	text := claimText(id, a, exp.Unix())
	return b64.EncodeToString([]byte(text)) + "." + b64.EncodeToString(s.mac(text))
}

// URL is the full link: BaseURL + Route + token. With BaseURL empty it is a
// path, which the patrol page uses on the gateway's own origin.
func (s *Signer) URL(id string, a Asset) string {
	tok, _ := s.Sign(id, a)
	return s.BaseURL + Route + tok
}

// Verify checks a token: shape, signature, then expiry (a tampered token is
// refused as tampered even when also old).
func (s *Signer) Verify(token string) (Claims, error) {
	text, sig, err := Parse(token)
	if err != nil {
		return Claims{}, err
	}
	if !hmac.Equal(sig, s.mac(text)) {
		return Claims{}, ErrBadSignature
	}
	c, err := parseClaims(text)
	if err != nil {
		return Claims{}, err
	}
	if !s.Now().Before(c.Expires) {
		return c, ErrExpired
	}
	return c, nil
}

// Parse splits a token into the signed text and the MAC without checking
// the MAC; it never panics on any input.
func Parse(token string) (text string, sig []byte, err error) {
	if len(token) == 0 || len(token) > maxToken {
		return "", nil, ErrMalformed
	}
	p, m, ok := strings.Cut(token, ".")
	if !ok {
		return "", nil, ErrMalformed
	}
	raw, err := b64.DecodeString(p)
	if err != nil {
		return "", nil, ErrMalformed
	}
	sig, err = b64.DecodeString(m)
	if err != nil || len(sig) != sha256.Size {
		return "", nil, ErrMalformed
	}
	if _, err := parseClaims(string(raw)); err != nil {
		return "", nil, err
	}
	return string(raw), sig, nil
}

func parseClaims(text string) (Claims, error) {
	parts := strings.SplitN(text, "\n", 3)
	if len(parts) != 3 {
		return Claims{}, ErrMalformed
	}
	a := Asset(parts[0])
	if !a.Valid() {
		return Claims{}, fmt.Errorf("%w: asset %q", ErrMalformed, parts[0])
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || exp <= 0 || exp > 1<<40 {
		return Claims{}, fmt.Errorf("%w: expiry", ErrMalformed)
	}
	id := parts[2]
	if id == "" || len(id) > 128 || strings.ContainsAny(id, "\n/\\") {
		return Claims{}, fmt.Errorf("%w: incident id", ErrMalformed)
	}
	return Claims{Incident: id, Asset: a, Expires: time.Unix(exp, 0)}, nil
}
