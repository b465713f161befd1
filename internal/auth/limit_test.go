package auth

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/config"
	"golang.org/x/crypto/bcrypt"
)

// TestLoginLockoutKeys: which attempts a run of failures blocks, table-driven.
func TestLoginLockoutKeys(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fails   [][2]string // user, address
		try     [2]string
		blocked bool
	}{
		{"same pair after 5", rep(5, "olga", "10.0.0.9"), [2]string{"olga", "10.0.0.9"}, true},
		{"same pair after 4", rep(4, "olga", "10.0.0.9"), [2]string{"olga", "10.0.0.9"}, false},
		{"same user elsewhere", rep(5, "olga", "10.0.0.9"), [2]string{"olga", "10.0.0.10"}, false},
		{"user from many addresses", spread(40, "olga"), [2]string{"olga", "10.0.1.200"}, false},
		{"other user same address", rep(5, "olga", "10.0.0.9"), [2]string{"vic", "10.0.0.9"}, false},
		{"address spraying names", sprayNames(20, "10.0.0.9"), [2]string{"vic", "10.0.0.9"}, true},
		{"address spraying 19", sprayNames(19, "10.0.0.9"), [2]string{"vic", "10.0.0.9"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &clock{t: time.Date(2026, 11, 26, 23, 0, 0, 0, time.UTC)}
			a := cheapAuth(t, Config{Now: c.now})
			for _, f := range tc.fails {
				if _, _, err := a.Login(f[0], "wrong", f[1]); !errors.Is(err, ErrBadCredentials) {
					t.Fatalf("failure %v: %v", f, err)
				}
			}
			_, _, err := a.Login(tc.try[0], "correct horse", tc.try[1])
			var rl *RateLimitedError
			if got := errors.As(err, &rl); got != tc.blocked {
				t.Errorf("blocked %v (err %v), want %v", got, err, tc.blocked)
			}
		})
	}
}

// cheapAuth has olga and vic with a minimum-cost hash of "correct horse":
// these tests make hundreds of attempts on a shared machine.
func cheapAuth(t *testing.T, cfg Config) *Auth {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Users = []config.User{{Name: "olga", Role: "operator", PasswordHash: string(h)}, {Name: "vic", Role: "viewer", PasswordHash: string(h)}}
	cfg.AuditPath = filepath.Join(t.TempDir(), "audit.log")
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func rep(n int, user, addr string) [][2]string {
	out := make([][2]string, n)
	for i := range out {
		out[i] = [2]string{user, addr}
	}
	return out
}

func spread(n int, user string) [][2]string {
	out := make([][2]string, n)
	for i := range out {
		out[i] = [2]string{user, fmt.Sprintf("10.0.1.%d", i)}
	}
	return out
}

func sprayNames(n int, addr string) [][2]string {
	out := make([][2]string, n)
	for i := range out {
		out[i] = [2]string{fmt.Sprintf("name%d", i), addr}
	}
	return out
}

// TestLoginFloodSlowDown: past flood_failures failed logins over everyone,
// logins are checked one per flood interval; the real user still gets in,
// after waiting her turn, and a crowd beyond the maximum wait gets 429.
func TestLoginFloodSlowDown(t *testing.T) {
	const interval = 100 * time.Millisecond
	a := cheapAuth(t, Config{FloodFailures: 20, FloodInterval: interval})
	// Below the flood threshold, attempts are not delayed.
	start := time.Now()
	for i := 0; i < 19; i++ {
		_, _, _ = a.Login("olga", "wrong", fmt.Sprintf("10.0.2.%d", i))
	}
	before := time.Since(start)
	_, _, _ = a.Login("olga", "wrong", "10.0.2.19") // the 20th: flood from now on
	// Ten logins at once from ten addresses take about ten intervals.
	start = time.Now()
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, _, _ = a.Login("olga", "wrong", fmt.Sprintf("10.0.3.%d", i))
		}(i)
	}
	wg.Wait()
	if d := time.Since(start); d < 9*interval {
		t.Errorf("10 logins in a flood took %s, want at least %s (19 before the flood took %s)", d, 9*interval, before)
	}
	if _, p, err := a.Login("olga", "correct horse", "10.0.0.5"); err != nil || p.Name != "olga" {
		t.Errorf("the real user in a flood: %v", err)
	}
	// More than floodMaxWait of queue: refused at once with 429's error.
	var refused sync.WaitGroup
	n := int(floodMaxWait/interval) + 10
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		refused.Add(1)
		go func(i int) {
			defer refused.Done()
			_, _, err := a.Login("olga", "wrong", fmt.Sprintf("10.0.4.%d", i))
			errs <- err
		}(i)
	}
	refused.Wait()
	close(errs)
	limited := 0
	for err := range errs {
		var rl *RateLimitedError
		if errors.As(err, &rl) {
			limited++
		}
	}
	if limited == 0 {
		t.Errorf("%d logins queued beyond the maximum wait, none refused", n)
	}
}
