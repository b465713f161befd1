package auth

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/config"
	"golang.org/x/crypto/bcrypt"
)

const wallToken = "wall-token-0123456789"

func persistentAuth(t *testing.T, path string, c *clock, users []config.User, tokens []config.Token) *Auth {
	t.Helper()
	a, err := New(Config{Users: users, Tokens: tokens, Now: c.now,
		AuditPath: filepath.Join(filepath.Dir(path), "audit.log"), SessionPath: path})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func cookieReq(id string) *http.Request {
	r := httptest.NewRequest("GET", "/api/me", nil)
	r.AddCookie(&http.Cookie{Name: CookieName, Value: id})
	return r
}

// TestSessionsSurviveRestart: sessions (with their CSRF token) outlive the
// process; logout, a changed password, a removed user or token and idle
// expiry end them, also across a restart.
func TestSessionsSurviveRestart(t *testing.T) {
	c := &clock{t: time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)}
	h1, _ := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	h2, _ := bcrypt.GenerateFromPassword([]byte("new password 2"), bcrypt.MinCost)
	users := []config.User{{Name: "olga", Role: "operator", PasswordHash: string(h1)}, {Name: "vic", Role: "viewer", PasswordHash: string(h1)}}
	tokens := []config.Token{{Name: "wall-3", Role: "operator", Token: wallToken}}
	path := filepath.Join(t.TempDir(), "sessions.db")

	a := persistentAuth(t, path, c, users, tokens)
	olga, po, err := a.Login("olga", "correct horse", "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	vic, _, _ := a.Login("vic", "correct horse", "10.0.0.1")
	gone, _, _ := a.Login("vic", "correct horse", "10.0.0.2")
	a.Logout(gone)
	wall, pw, err := a.Kiosk(wallToken, "10.0.0.3")
	if err != nil || pw.Role != Viewer || !pw.Kiosk {
		t.Fatalf("kiosk: %v %+v (want a viewer kiosk session even for an operator token)", err, pw)
	}
	if _, _, err := a.Kiosk("not-the-token-0123456", "10.0.0.3"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("wrong wall token: %v", err)
	}
	a.Close()
	raw, _ := os.ReadFile(path)
	for _, id := range []string{olga, vic, wall} {
		if bytes.Contains(raw, []byte(id)) {
			t.Error("a session id is stored in clear")
		}
	}

	c.add(time.Hour)
	a = persistentAuth(t, path, c, users, tokens)
	p, ok := a.Authenticate(cookieReq(olga))
	if !ok || p.Name != "olga" || p.Role != Operator || p.CSRF != po.CSRF {
		t.Errorf("olga after a restart: %v %+v (CSRF must travel with the session)", ok, p)
	}
	if p, ok := a.Authenticate(cookieReq(wall)); !ok || p.Role != Viewer || !p.Kiosk {
		t.Errorf("wall after a restart: %v %+v", ok, p)
	}
	if _, ok := a.Authenticate(cookieReq(gone)); ok {
		t.Error("a logged-out session came back after a restart")
	}
	a.Close()

	// olga's password changed and the wall token was removed from the
	// configuration: their sessions end; vic's stays.
	users[0].PasswordHash = string(h2)
	c.add(time.Hour)
	a = persistentAuth(t, path, c, users, nil)
	if _, ok := a.Authenticate(cookieReq(olga)); ok {
		t.Error("session survived a password change")
	}
	if _, ok := a.Authenticate(cookieReq(wall)); ok {
		t.Error("kiosk session survived the removal of its token")
	}
	if _, ok := a.Authenticate(cookieReq(vic)); !ok {
		t.Error("vic's session ended")
	}
	a.Close()

	// Idle expiry counts across restarts (vic was last seen above).
	c.add(12*time.Hour + 2*time.Minute)
	a = persistentAuth(t, path, c, users, nil)
	defer a.Close()
	if _, ok := a.Authenticate(cookieReq(vic)); ok {
		t.Error("session alive after 12 h idle across a restart")
	}
	a.mu.Lock()
	n := len(a.sessions)
	a.mu.Unlock()
	if n != 0 {
		t.Errorf("%d sessions loaded, want none", n)
	}
}

// TestSessionStoreLocked: a store another process holds is a clear error
// naming the file, not a hang.
func TestSessionStoreLocked(t *testing.T) {
	c := &clock{t: time.Now()}
	path := filepath.Join(t.TempDir(), "sessions.db")
	a := persistentAuth(t, path, c, nil, nil)
	defer a.Close()
	_, err := New(Config{AuditPath: filepath.Join(t.TempDir(), "audit.log"), SessionPath: path})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte(path)) {
		t.Errorf("second open: %v", err)
	}
}

// TestSessionsCappedPerPrincipal: the 33rd session of one wall token evicts
// the least recently used one, in memory and in the store.
func TestSessionsCappedPerPrincipal(t *testing.T) {
	c := &clock{t: time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)}
	path := filepath.Join(t.TempDir(), "sessions.db")
	tokens := []config.Token{{Name: "wall-3", Role: "viewer", Token: wallToken}}
	a := persistentAuth(t, path, c, nil, tokens)
	var ids []string
	for i := 0; i < MaxSessionsPerPrincipal+8; i++ {
		id, _, err := a.Kiosk(wallToken, "10.0.0.3")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		c.add(time.Second)
	}
	a.mu.Lock()
	n := len(a.sessions)
	a.mu.Unlock()
	if n != MaxSessionsPerPrincipal {
		t.Errorf("%d sessions for one token, want %d", n, MaxSessionsPerPrincipal)
	}
	a.Close()
	a = persistentAuth(t, path, c, nil, tokens)
	defer a.Close()
	for i, id := range ids {
		_, ok := a.Authenticate(cookieReq(id))
		if want := i >= 8; ok != want {
			t.Errorf("session %d alive %v after a restart, want %v", i, ok, want)
		}
	}
}

// TestSessionStoreDamaged: a garbage or damaged sessions.db is one clear
// error naming the file and what to do, never a panic.
func TestSessionStoreDamaged(t *testing.T) {
	c := &clock{t: time.Now()}
	tokens := []config.Token{{Name: "wall-3", Role: "viewer", Token: wallToken}}
	for _, tc := range []struct {
		name   string
		damage func(path string) error
	}{
		{"garbage", func(path string) error { return os.WriteFile(path, bytes.Repeat([]byte("lanewatch"), 3000), 0o600) }},
		{"data pages overwritten", func(path string) error {
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			st, _ := f.Stat()
			// Pages 0 and 1 are bbolt's meta pages; everything after them is junk now.
			_, err = f.WriteAt(bytes.Repeat([]byte{0xa5}, int(st.Size())-8192), 8192)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sessions.db")
			a := persistentAuth(t, path, c, nil, tokens)
			for i := 0; i < 40; i++ {
				if _, _, err := a.Kiosk(wallToken, "10.0.0.3"); err != nil {
					t.Fatal(err)
				}
			}
			a.Close()
			if err := tc.damage(path); err != nil {
				t.Fatal(err)
			}
			a2, err := New(Config{Tokens: tokens, AuditPath: filepath.Join(t.TempDir(), "audit.log"), SessionPath: path})
			if err == nil {
				a2.Close()
				t.Fatal("a damaged session store opened without error")
			}
			if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, "move it aside") {
				t.Errorf("error %q: want the file and what to do", msg)
			}
		})
	}
}
