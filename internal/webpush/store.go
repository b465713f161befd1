package webpush

import (
	"crypto/ecdh"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Subscription is a browser's PushSubscription (its toJSON()) and the
// console user it belongs to.
type Subscription struct {
	Endpoint string    `json:"endpoint"`
	Keys     SubKeys   `json:"keys"`
	User     string    `json:"user"`
	Created  time.Time `json:"created"`
}

// SubKeys are the browser's keys: P256dh its ECDH public key, Auth the
// 16-byte authentication secret, both base64url.
type SubKeys struct {
	P256dh string `json:"p256dh"`
	Auth   string `json:"auth"`
}

// Limits on what a browser may register.
const (
	MaxPerUser  = 20
	MaxTotal    = 2000
	maxEndpoint = 1024
)

// ErrInvalid is a subscription refused by Add: bad endpoint or keys, or over
// the limits.
var ErrInvalid = errors.New("webpush: invalid subscription")

var bucket = []byte("subscriptions")

// Store keeps subscriptions in a bbolt file, keyed by endpoint (one per
// browser profile).
type Store struct {
	// AllowHTTP accepts http:// endpoints (tests); real push services are HTTPS.
	AllowHTTP bool
	db        *bolt.DB
}

// OpenStore opens (creating) dir/webpush.db.
func OpenStore(dir string) (*Store, error) {
	db, err := bolt.Open(filepath.Join(dir, "webpush.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("webpush: open store: %w", err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists(bucket); return err }); err != nil {
		db.Close()
		return nil, fmt.Errorf("webpush: store: %w", err)
	}
	return &Store{db: db}, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// Validate checks a subscription as a browser sends it.
func (s *Store) Validate(sub Subscription) error {
	if len(sub.Endpoint) > maxEndpoint {
		return fmt.Errorf("%w: endpoint too long", ErrInvalid)
	}
	u, err := url.Parse(sub.Endpoint)
	if err != nil || u.Host == "" || !(u.Scheme == "https" || (s.AllowHTTP && u.Scheme == "http")) || u.User != nil {
		return fmt.Errorf("%w: endpoint must be an https URL", ErrInvalid)
	}
	p, err := decodeKey(sub.Keys.P256dh)
	if err != nil {
		return fmt.Errorf("%w: keys.p256dh: not base64url", ErrInvalid)
	}
	if _, err := ecdh.P256().NewPublicKey(p); err != nil {
		return fmt.Errorf("%w: keys.p256dh: not a P-256 public key", ErrInvalid)
	}
	a, err := decodeKey(sub.Keys.Auth)
	if err != nil || len(a) != 16 {
		return fmt.Errorf("%w: keys.auth: want 16 bytes base64url", ErrInvalid)
	}
	if sub.User == "" {
		return fmt.Errorf("%w: no user", ErrInvalid)
	}
	return nil
}

// decodeKey accepts base64url with or without padding, as browsers differ.
func decodeKey(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// Add stores sub for sub.User, replacing an earlier one of the same
// endpoint (a browser that subscribes again, maybe as another user).
func (s *Store) Add(sub Subscription) error {
	if err := s.Validate(sub); err != nil {
		return err
	}
	if sub.Created.IsZero() {
		sub.Created = time.Now().UTC()
	}
	v, err := json.Marshal(sub)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		if b.Get([]byte(sub.Endpoint)) == nil {
			n, mine := 0, 0
			err := b.ForEach(func(_, v []byte) error {
				var o Subscription
				if json.Unmarshal(v, &o) == nil && o.User == sub.User {
					mine++
				}
				n++
				return nil
			})
			if err != nil {
				return err
			}
			if mine >= MaxPerUser || n >= MaxTotal {
				return fmt.Errorf("%w: too many subscriptions", ErrInvalid)
			}
		}
		return b.Put([]byte(sub.Endpoint), v)
	})
}

// Remove deletes the subscription of endpoint; user "" removes it whoever
// it belongs to (the push service said it is gone). It reports whether one
// was removed.
func (s *Store) Remove(user, endpoint string) (bool, error) {
	removed := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		v := b.Get([]byte(endpoint))
		if v == nil {
			return nil
		}
		var o Subscription
		if user != "" && (json.Unmarshal(v, &o) != nil || o.User != user) {
			return nil
		}
		removed = true
		return b.Delete([]byte(endpoint))
	})
	return removed, err
}

// List returns the subscriptions of user, or all with user "", oldest first.
func (s *Store) List(user string) ([]Subscription, error) {
	var out []Subscription
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(_, v []byte) error {
			var o Subscription
			if err := json.Unmarshal(v, &o); err != nil {
				return nil // a record we cannot read is skipped, not fatal
			}
			if user == "" || o.User == user {
				out = append(out, o)
			}
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, err
}
