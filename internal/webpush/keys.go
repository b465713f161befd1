// Package webpush sends Web Push messages to the browsers that subscribed on
// the patrol page (contract section 10): VAPID (RFC 8292) identifies the
// gateway to the push service and the payload is encrypted for the browser
// (RFC 8291). The crypto and the HTTP request are github.com/SherClockHolmes/webpush-go's;
// this package keeps the keys, the subscriptions and the push service's answers.
package webpush

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/lanewatch/lanewatch/internal/keyfile"
)

// Keys is the gateway's VAPID key pair. Only the public key ever leaves the
// gateway (the patrol page needs it to subscribe).
type Keys struct {
	// private is the raw P-256 scalar, base64url as webpush-go takes it.
	private string
	// Public is the uncompressed P-256 point, base64url without padding:
	// the applicationServerKey of PushManager.subscribe.
	Public string
}

// LoadKeys reads the VAPID key from dir/vapid.key, generating it at first
// start (file mode 0600).
func LoadKeys(dir string) (*Keys, error) {
	b, err := keyfile.LoadOrCreate(filepath.Join(dir, "vapid.key"), func() ([]byte, error) {
		k, err := ecdh.P256().GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		return []byte(base64.RawURLEncoding.EncodeToString(k.Bytes())), nil
	})
	if err != nil {
		return nil, err
	}
	return keysFrom(strings.TrimSpace(string(b)))
}

func keysFrom(private string) (*Keys, error) {
	raw, err := base64.RawURLEncoding.DecodeString(private)
	if err != nil {
		return nil, fmt.Errorf("webpush: VAPID key file: not base64url")
	}
	k, err := ecdh.P256().NewPrivateKey(raw)
	if err != nil {
		return nil, fmt.Errorf("webpush: VAPID key file: not a P-256 key")
	}
	return &Keys{private: private, Public: base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes())}, nil
}

// String never shows the private key, whatever logs a Keys.
func (k Keys) String() string { return "vapid:" + k.Public }

// GoString and LogValue keep %#v and slog from printing the private key too.
func (k Keys) GoString() string     { return k.String() }
func (k Keys) LogValue() slog.Value { return slog.StringValue(k.String()) }
