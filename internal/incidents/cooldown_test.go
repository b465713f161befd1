package incidents

import (
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/incident"
)

// TestZoneCooldownFolds: a signal's own cooldown (zones[].cooldown) replaces
// the type's for folding, both shorter and longer than it.
func TestZoneCooldownFolds(t *testing.T) {
	e, clk, ch := newTestEngine(t, t.TempDir(), config.Incidents{Cooldown: map[string]time.Duration{"intrusion": time.Minute}})
	short := incident.Source{Camera: "lawn", Zone: "gate"}
	long := incident.Source{Camera: "lawn", Zone: "pool"}
	raise := func(src incident.Source, cd time.Duration) Change {
		t.Helper()
		e.Raise(incident.Signal{Type: incident.Intrusion, Source: src, At: clk.Now(), Cooldown: cd})
		return next(t, ch)
	}
	first := raise(short, 10*time.Second)
	firstLong := raise(long, 10*time.Minute)
	if first.Kind != Opened || firstLong.Kind != Opened {
		t.Fatalf("first signals: %s %s", first.Kind, firstLong.Kind)
	}
	// 20 s quiet: past the short zone's 10 s, within the type's 1 m.
	clk.Add(20 * time.Second)
	if c := raise(short, 10*time.Second); c.Kind != Opened || c.Incident.ID == first.Incident.ID {
		t.Fatalf("past the zone's 10 s cooldown: %s %s, want a new incident", c.Kind, c.Incident.ID)
	}
	// 3 m quiet: past the type's 1 m, within the long zone's 10 m.
	clk.Add(3 * time.Minute)
	e.Raise(incident.Signal{Type: incident.Intrusion, Source: long, At: clk.Now(), Cooldown: 10 * time.Minute})
	eventually(t, func() bool { inc, _ := e.Get(firstLong.Incident.ID); return inc.Count == 2 })
	clk.Add(time.Second) // the fold's coalesced update
	if c := next(t, ch); c.Kind != Folded || c.Incident.ID != firstLong.Incident.ID {
		t.Fatalf("within the zone's 10 m cooldown: %s %s, want a fold into %s", c.Kind, c.Incident.ID, firstLong.Incident.ID)
	}
	// Without a cooldown of its own the type's 1 m applies: 3 m quiet opens anew.
	clk.Add(3 * time.Minute)
	if c := raise(long, 0); c.Kind != Opened || c.Incident.ID == firstLong.Incident.ID {
		t.Fatalf("type cooldown: %s %s, want a new incident", c.Kind, c.Incident.ID)
	}
}
