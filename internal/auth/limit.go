package auth

import (
	"sync"
	"time"
)

// limiter counts failed logins per key (an IP, a user name) in a sliding
// window. Both keys of an attempt are checked, so an attacker spreading over
// many names from one address, or over many addresses against one name, is
// stopped either way.
type limiter struct {
	max    int
	window time.Duration

	mu    sync.Mutex
	fails map[string][]time.Time
}

// maxKeys bounds the limiter's memory against a flood of distinct names; when
// reached, expired entries are swept.
const maxKeys = 10000

func newLimiter(max int, window time.Duration) *limiter {
	return &limiter{max: max, window: window, fails: map[string][]time.Time{}}
}

// blocked returns how long the caller must wait, or 0 if no key is blocked.
func (l *limiter) blocked(now time.Time, keys ...string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait time.Duration
	for _, k := range keys {
		ts := l.recent(now, k)
		if len(ts) >= l.max {
			// Blocked until the oldest failure that still counts leaves the window.
			if w := ts[len(ts)-l.max].Add(l.window).Sub(now); w > wait {
				wait = w
			}
		}
	}
	return wait
}

func (l *limiter) fail(now time.Time, keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.fails) >= maxKeys {
		for k := range l.fails {
			l.recent(now, k)
		}
	}
	for _, k := range keys {
		l.fails[k] = append(l.recent(now, k), now)
	}
}

// recent drops failures older than the window; called with l.mu held.
func (l *limiter) recent(now time.Time, k string) []time.Time {
	ts := l.fails[k]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= l.window {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(l.fails, k)
		return nil
	}
	l.fails[k] = ts
	return ts
}
