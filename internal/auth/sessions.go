package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Sessions persist in a bbolt file (data_dir/sessions.db) so that a wall
// stays signed in across a gateway restart. bbolt is already the gateway's
// store for incidents, the outbox and the vehicle log; a session library
// such as alexedwards/scs would add a dependency (and its served copy is not
// an approved release) for what is one bucket of JSON records here.
//
// The file holds no cookie value: records are keyed by the SHA-256 of the
// session id, so a copied file does not sign anybody in. Each record names
// its credential's fingerprint (a hash of the user's password hash or of the
// wall token); on start a record whose user or token is gone or whose
// password changed is deleted, as are expired ones.

var sessionBucket = []byte("sessions")

// record is a session as stored; the CSRF token travels with it.
type record struct {
	Name     string    `json:"name"`
	Kind     string    `json:"kind"` // "user" (password login) or "kiosk" (wall token)
	CSRF     string    `json:"csrf"`
	FP       string    `json:"fp"` // credential fingerprint
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"last_seen"`
}

// touchEvery bounds how often a session's last use is written: each request
// refreshes it in memory, the file only when it is this much behind, so an
// idle expiry after a restart is late by at most this.
const touchEvery = time.Minute

type sessionDB struct {
	db   *bolt.DB
	path string
}

// errDamaged says what to do with a session store that cannot be read.
func errDamaged(path string, cause any) error {
	return fmt.Errorf("auth: session store %s is damaged (%v): move it aside; the console then starts with no sessions and everybody signs in again", path, cause)
}

func openSessionDB(path string) (s *sessionDB, err error) {
	// bbolt panics on some damaged pages; a panic here is a damaged file.
	defer func() {
		if p := recover(); p != nil {
			s, err = nil, errDamaged(path, p)
		}
	}()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("auth: session store %s is locked by another process (is another lanewatch running on this data_dir?)", path)
		}
		return nil, errDamaged(path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(sessionBucket)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("auth: session store %s: %w", path, err)
	}
	return &sessionDB{db: db, path: path}, nil
}

func (s *sessionDB) put(key string, r record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(sessionBucket).Put([]byte(key), b) })
}

func (s *sessionDB) delete(keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(sessionBucket)
		for _, k := range keys {
			if err := bk.Delete([]byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
}

// load returns every record; undecodable ones are returned as keys to drop.
func (s *sessionDB) load() (out map[string]record, bad []string, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, bad, err = nil, nil, errDamaged(s.path, p)
		}
	}()
	out = map[string]record{}
	err = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(sessionBucket).ForEach(func(k, v []byte) error {
			var r record
			if json.Unmarshal(v, &r) != nil {
				bad = append(bad, string(k))
				return nil
			}
			out[string(k)] = r
			return nil
		})
	})
	if err != nil {
		return nil, nil, errDamaged(s.path, err)
	}
	return out, bad, nil
}

func (s *sessionDB) close() error { return s.db.Close() }

// sessionKey is what a session id is stored and held under.
func sessionKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

func fingerprint(secret []byte) string {
	sum := sha256.Sum256(append([]byte("lanewatch-session-fp:"), secret...))
	return hex.EncodeToString(sum[:12])
}

// principalOf checks a record against the current users and tokens and
// returns who it acts as: a user keeps the role the configuration gives
// now; a kiosk session is a viewer whatever its token's role.
func (a *Auth) principalOf(r record) (Principal, bool) {
	switch r.Kind {
	case "user":
		u, ok := a.users[r.Name]
		if !ok || fingerprint(u.hash) != r.FP {
			return Principal{}, false
		}
		return Principal{Name: u.name, Role: u.role, Kind: "session", CSRF: r.CSRF}, true
	case "kiosk":
		for _, t := range a.tokens {
			if t.name == r.Name && fingerprint(t.sum[:]) == r.FP {
				return Principal{Name: t.name, Role: Viewer, Kind: "session", CSRF: r.CSRF, Kiosk: true}, true
			}
		}
	}
	return Principal{}, false
}

// loadSessions reads the store into memory, deleting what may no longer be used.
func (a *Auth) loadSessions() error {
	recs, drop, err := a.store.load()
	if err != nil {
		return err
	}
	now := a.now()
	for k, r := range recs {
		if _, ok := a.principalOf(r); !ok || now.Sub(r.LastSeen) > a.cfg.SessionIdle {
			drop = append(drop, k)
			continue
		}
		rc := r
		a.sessions[k] = &session{rec: rc, persisted: r.LastSeen}
	}
	if err := a.store.delete(drop...); err != nil {
		return fmt.Errorf("auth: session store: %w", err)
	}
	if len(drop) > 0 {
		a.log.Info("sessions ended at start", "count", len(drop), "reason", "expired, user or token removed, or password changed")
	}
	return nil
}

var errNoStore = errors.New("no session store")

// persist writes a session (nil store: memory only).
func (a *Auth) persist(key string, r record) error {
	if a.store == nil {
		return errNoStore
	}
	return a.store.put(key, r)
}

// Kiosk exchanges a wall token for a read-only session (role viewer, even for
// a token of a higher role: a wall only looks). Wrong tokens count against
// the address like wrong passwords.
func (a *Auth) Kiosk(tok, ip string) (string, Principal, error) {
	now := a.now()
	if wait := a.addrs.blocked(now, ip); wait > 0 {
		a.m.logins.WithLabelValues("rate_limited").Inc()
		return "", Principal{}, &RateLimitedError{RetryAfter: wait}
	}
	p, ok := a.bearer(tok)
	if !ok {
		a.addrs.fail(now, ip)
		a.all.fail(now, "")
		a.m.logins.WithLabelValues("bad_credentials").Inc()
		return "", Principal{}, ErrBadCredentials
	}
	var fp string
	for _, t := range a.tokens {
		if t.name == p.Name {
			fp = fingerprint(t.sum[:])
		}
	}
	id, sp, err := a.newSession(record{Name: p.Name, Kind: "kiosk", FP: fp})
	if err != nil {
		return "", Principal{}, err
	}
	a.m.logins.WithLabelValues("ok").Inc()
	return id, sp, nil
}

// MaxSessionsPerPrincipal caps the sessions of one user or wall token: a
// wall reloaded with ?token= a thousand times, or a script logging in in a
// loop, cannot grow the store without bound. The least recently used
// session of that principal goes first.
const MaxSessionsPerPrincipal = 32

// evictLocked makes room for one more session of (name, kind) and returns
// the key it removed, if any; called with a.mu held.
func (a *Auth) evictLocked(name, kind string) string {
	n, oldest := 0, ""
	var oldestAt time.Time
	for k, s := range a.sessions {
		if s.rec.Name != name || s.rec.Kind != kind {
			continue
		}
		n++
		if oldest == "" || s.rec.LastSeen.Before(oldestAt) {
			oldest, oldestAt = k, s.rec.LastSeen
		}
	}
	if n < MaxSessionsPerPrincipal {
		return ""
	}
	delete(a.sessions, oldest)
	return oldest
}
