package auth

import (
	"sync"
	"time"
)

// limiter counts failed logins per key in a sliding window. Auth keeps three:
// per (user, address) pair, per address (a higher limit, against one device
// spraying names), and one key for everyone (the flood detector). There is
// deliberately none per user alone: that one would let anyone lock the real
// user out from every address with a few wrong passwords.
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
		ts := append(l.recent(now, k), now)
		// Only the newest max failures decide a block; older ones need no memory.
		if len(ts) > l.max {
			ts = ts[len(ts)-l.max:]
		}
		l.fails[k] = ts
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

// addrFailureFactor: an address may fail this many times MaxFailures over
// all names before it is blocked (a shared guard-room PC has several users).
const addrFailureFactor = 4

// floodMaxWait bounds how long a login waits for its turn in a flood; beyond
// it the client gets 429 and retries later instead of holding a connection.
const floodMaxWait = 5 * time.Second

// floodGate hands out login turns one interval apart.
type floodGate struct {
	interval time.Duration
	mu       sync.Mutex
	next     time.Time
}

// reserve returns how long to wait for the next turn and takes it, or false
// (with the wait) when that is longer than floodMaxWait.
func (g *floodGate) reserve(now time.Time) (time.Duration, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	slot := g.next
	if slot.Before(now) {
		slot = now
	}
	wait := slot.Sub(now)
	if wait > floodMaxWait {
		return wait, false
	}
	g.next = slot.Add(g.interval)
	return wait, true
}
