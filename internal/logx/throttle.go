package logx

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Throttle lets through at most one line per key and Interval, and says on
// the next line let through how many were held back (suppressed=N). For log
// lines a client can provoke: they must not let it fill the disk. The key
// set is bounded: a flood of distinct keys resets it, costing at most a few
// extra lines.
type Throttle struct {
	Log      *slog.Logger
	Interval time.Duration

	mu   sync.Mutex
	keys map[string]*throttled
}

type throttled struct {
	last       time.Time
	suppressed int
}

const maxThrottleKeys = 4096

// Logf writes msg at level unless key was logged within the interval.
func (t *Throttle) Logf(level slog.Level, key, msg string, args ...any) {
	t.LogAt(time.Now(), level, key, msg, args...)
}

// LogAt is Logf with the caller's clock (a component with its own Now).
func (t *Throttle) LogAt(now time.Time, level slog.Level, key, msg string, args ...any) {
	t.mu.Lock()
	if t.keys == nil || len(t.keys) >= maxThrottleKeys {
		t.keys = map[string]*throttled{}
	}
	st := t.keys[key]
	if st == nil {
		st = &throttled{}
		t.keys[key] = st
	} else if now.Sub(st.last) < t.Interval {
		st.suppressed++
		t.mu.Unlock()
		return
	}
	held := st.suppressed
	st.last, st.suppressed = now, 0
	t.mu.Unlock()
	if held > 0 {
		args = append(args, "suppressed", held)
	}
	t.Log.Log(context.Background(), level, msg, args...)
}
