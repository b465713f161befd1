package onvif

import (
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // WS-UsernameToken's digest is SHA-1 by definition
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
)

// PasswordDigestType is the WS-Security UsernameToken profile's digest type.
const PasswordDigestType = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"

// UsernameToken is a WS-Security UsernameToken with a password digest:
// Digest = base64(sha1(nonce + created + password)), the nonce taken raw
// (it travels base64-encoded) and created as the xs:dateTime text sent.
type UsernameToken struct {
	Username string
	Nonce    []byte
	Created  string
	Digest   string // base64
	// Plain is set when the token carried a PasswordText instead of a
	// digest; servers here refuse those (the password would cross the LAN).
	Plain bool
}

// NewUsernameToken makes a token for password with a fresh nonce, created now.
func NewUsernameToken(user, password string, now time.Time) *UsernameToken {
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails on Linux
	created := now.UTC().Format("2006-01-02T15:04:05.000Z")
	return &UsernameToken{Username: user, Nonce: nonce, Created: created, Digest: PasswordDigest(nonce, created, password)}
}

// PasswordDigest is base64(sha1(nonce + created + password)).
func PasswordDigest(nonce []byte, created, password string) string {
	h := sha1.New() //nolint:gosec // as the WS-Security profile defines it
	h.Write(nonce)
	h.Write([]byte(created))
	h.Write([]byte(password))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// Errors of Verify.
var (
	ErrNoToken     = errors.New("onvif: no UsernameToken")
	ErrBadDigest   = errors.New("onvif: wrong user name or password digest")
	ErrStaleToken  = errors.New("onvif: UsernameToken created too far from now")
	ErrPlainToken  = errors.New("onvif: plain-text passwords are refused")
	ErrReusedNonce = errors.New("onvif: nonce already used")
)

// Verify checks the token against the expected credentials; maxSkew bounds
// |created - now| (0: not checked).
func (t *UsernameToken) Verify(user, password string, now time.Time, maxSkew time.Duration) error {
	if t == nil {
		return ErrNoToken
	}
	if t.Plain {
		return ErrPlainToken
	}
	want := PasswordDigest(t.Nonce, t.Created, password)
	userOK := subtle.ConstantTimeCompare([]byte(t.Username), []byte(user)) == 1
	digestOK := subtle.ConstantTimeCompare([]byte(strings.TrimSpace(t.Digest)), []byte(want)) == 1
	if !userOK || !digestOK {
		return ErrBadDigest
	}
	if maxSkew > 0 {
		c := t.createdOrZero()
		if c.IsZero() {
			return fmt.Errorf("%w: created %q", ErrStaleToken, t.Created)
		}
		if d := now.Sub(c); d > maxSkew || d < -maxSkew {
			return fmt.Errorf("%w: %s", ErrStaleToken, d.Round(time.Second))
		}
	}
	return nil
}

type usernameTokenXML struct {
	Username string `xml:"Username"`
	Password struct {
		Type  string `xml:"Type,attr"`
		Value string `xml:",chardata"`
	} `xml:"Password"`
	Nonce   string `xml:"Nonce"`
	Created string `xml:"Created"`
}

func (x *usernameTokenXML) token() *UsernameToken {
	t := &UsernameToken{Username: strings.TrimSpace(x.Username), Created: strings.TrimSpace(x.Created), Digest: strings.TrimSpace(x.Password.Value)}
	if x.Password.Type != "" && !strings.HasSuffix(x.Password.Type, "#PasswordDigest") {
		t.Plain = true
	}
	if n, err := base64.StdEncoding.DecodeString(strings.TrimSpace(x.Nonce)); err == nil {
		t.Nonce = n
	}
	return t
}

// createdOrZero is the token's created time, zero when unreadable.
func (t *UsernameToken) createdOrZero() time.Time {
	c, _ := ParseDateTime(t.Created)
	return c
}
