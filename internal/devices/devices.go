// Package devices keeps the per-device tokens an admin issues for patrol
// phones (issue 13): each is a bearer token of role viewer or operator that
// the admin can revoke on its own, without touching configured tokens. Only
// a SHA-256 of a token is stored; the token itself is shown once, at issue.
package devices

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Device is one issued token, without the token.
type Device struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Role    string    `json:"role"`
	Created time.Time `json:"created"`
	By      string    `json:"by"`
	sum     [32]byte
}

// MaxDevices bounds the store; a compound has tens of phones.
const MaxDevices = 500

var (
	ErrInvalid  = errors.New("devices: invalid request")
	ErrNotFound = errors.New("devices: no such device")
)

var (
	bucket    = []byte("devices")
	validName = regexp.MustCompile(`^[\p{L}\p{N}][\p{L}\p{N} ._-]{0,63}$`)
)

type record struct {
	Device
	Sum string `json:"sum"`
}

// Store is the device tokens in a bbolt file, cached in memory for the
// check on every request.
type Store struct {
	db *bolt.DB
	mu sync.RWMutex
	// byID caches every device; Verify compares against all of them.
	byID map[string]Device
}

// Open opens (creating) dir/devices.db.
func Open(dir string) (*Store, error) {
	db, err := bolt.Open(filepath.Join(dir, "devices.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("devices: open: %w", err)
	}
	s := &Store{db: db, byID: map[string]Device{}}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucket)
		if err != nil {
			return err
		}
		return b.ForEach(func(_, v []byte) error {
			var r record
			if json.Unmarshal(v, &r) != nil {
				return nil // unreadable: the device must be issued again
			}
			sum, err := hex.DecodeString(r.Sum)
			if err != nil || len(sum) != 32 {
				return nil
			}
			copy(r.Device.sum[:], sum)
			s.byID[r.ID] = r.Device
			return nil
		})
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("devices: %w", err)
	}
	return s, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// Issue creates a token for a device called name with role viewer or
// operator, issued by by. The token is returned once and never again.
func (s *Store) Issue(name, role, by string) (Device, string, error) {
	if !validName.MatchString(name) {
		return Device{}, "", fmt.Errorf("%w: name: 1-64 letters, digits, space . _ -", ErrInvalid)
	}
	// Admins use configured accounts; a phone that can be lost gets no more
	// than operator.
	if role != "viewer" && role != "operator" {
		return Device{}, "", fmt.Errorf("%w: role: viewer or operator", ErrInvalid)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return Device{}, "", err
	}
	idb := make([]byte, 6)
	if _, err := rand.Read(idb); err != nil {
		return Device{}, "", err
	}
	tok := "lwd_" + base64.RawURLEncoding.EncodeToString(raw)
	d := Device{ID: hex.EncodeToString(idb), Name: name, Role: role, Created: time.Now().UTC(), By: by,
		sum: sha256.Sum256([]byte(tok))}
	v, _ := json.Marshal(record{Device: d, Sum: hex.EncodeToString(d.sum[:])})
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.byID) >= MaxDevices {
		return Device{}, "", fmt.Errorf("%w: %d devices already, revoke some first", ErrInvalid, MaxDevices)
	}
	for _, o := range s.byID {
		if o.Name == name {
			return Device{}, "", fmt.Errorf("%w: a device called %s exists", ErrInvalid, name)
		}
	}
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put([]byte(d.ID), v) }); err != nil {
		return Device{}, "", fmt.Errorf("devices: %w", err)
	}
	s.byID[d.ID] = d
	return d, tok, nil
}

// Revoke deletes a device; its token stops working at once.
func (s *Store) Revoke(id string) (Device, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.byID[id]
	if !ok {
		return Device{}, ErrNotFound
	}
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Delete([]byte(id)) }); err != nil {
		return Device{}, fmt.Errorf("devices: %w", err)
	}
	delete(s.byID, id)
	return d, nil
}

// List returns the devices, oldest first.
func (s *Store) List() []Device {
	s.mu.RLock()
	out := make([]Device, 0, len(s.byID))
	for _, d := range s.byID {
		out = append(out, d)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Verify returns the device of a token. Every device is compared in
// constant time, so timing tells nothing about a guess.
func (s *Store) Verify(tok string) (Device, bool) {
	sum := sha256.Sum256([]byte(tok))
	s.mu.RLock()
	defer s.mu.RUnlock()
	var found Device
	ok := false
	for _, d := range s.byID {
		if subtle.ConstantTimeCompare(sum[:], d.sum[:]) == 1 {
			found, ok = d, true
		}
	}
	return found, ok
}
