package incidents

import (
	"errors"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/incident"
)

// A dead gateway's incident adopted by another engine carries on there from
// the version it reached: the ack is its next version, it survives a
// restart, and its repeats fold into it.
func TestAdoptCarriesOn(t *testing.T) {
	dir := t.TempDir()
	src, clk, srcCh := newTestEngine(t, t.TempDir(), config.Incidents{Cooldown: map[string]time.Duration{"intrusion": time.Hour}})
	src.Raise(incident.Signal{Type: incident.Intrusion, Source: lawn, At: clk.Now()})
	orig := next(t, srcCh).Incident

	e, _, ch := newTestEngine(t, dir, config.Incidents{Cooldown: map[string]time.Duration{"intrusion": time.Hour}})
	if _, err := e.Ack(orig.ID, "guard", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ack before adoption: %v, want not found", err)
	}
	orig.Version = 3 // as the site's copy says
	if err := e.Adopt(orig); err != nil {
		t.Fatal(err)
	}
	if err := e.Adopt(orig); err != nil {
		t.Fatalf("second adoption: %v", err)
	}
	none(t, ch, 100*time.Millisecond)
	if !e.IsOpen(orig.ID) {
		t.Fatal("adopted incident not open")
	}
	if v := e.LiveVersions(); len(v) != 1 || v[orig.ID] != 3 {
		t.Fatalf("live versions after adoption: %v", v)
	}
	inc, err := e.Ack(orig.ID, "guard", "seen")
	if err != nil || inc.Version != 4 || inc.State != incident.Acknowledged {
		t.Fatalf("ack after adoption: %+v %v", inc, err)
	}
	if c := next(t, ch); c.Kind != Acked || c.Incident.Version != 4 {
		t.Fatalf("change %s v%d", c.Kind, c.Incident.Version)
	}
	e.Raise(incident.Signal{Type: incident.Intrusion, Source: lawn, At: clk.Now()})
	eventually(t, func() bool { i, _ := e.Get(orig.ID); return i.Count == 2 })

	if v := e.LiveVersions(); v[orig.ID] != 4 {
		t.Fatalf("live versions after the ack: %v", v)
	}
	resolved, err := e.Resolve(orig.ID, "guard", "")
	if err != nil {
		t.Fatal(err)
	}
	if v := e.LiveVersions(); len(v) != 0 {
		t.Fatalf("live versions after the resolve: %v", v)
	}
	if err := e.Adopt(resolved); !errors.Is(err, ErrInvalidTransition) {
		t.Fatalf("adopting a resolved incident: %v", err)
	}
	orig.Version = 2
	if err := e.Adopt(orig); !errors.Is(err, ErrInvalidTransition) {
		t.Fatalf("adopting an older copy of an incident resolved here: %v", err)
	}
	if err := e.Adopt(incident.Incident{ID: "inc_x"}); err == nil {
		t.Fatal("adopting an incident without a version")
	}
}

// A released incident is no longer changed here: an ack is refused as for
// a resolved one (it stays in the store), repeats open a new incident.
func TestReleaseLetsGo(t *testing.T) {
	e, clk, ch := newTestEngine(t, t.TempDir(), config.Incidents{Cooldown: map[string]time.Duration{"intrusion": time.Hour}})
	e.Raise(incident.Signal{Type: incident.Intrusion, Source: lawn, At: clk.Now()})
	inc := next(t, ch).Incident
	e.Release(inc.ID)
	e.Release(inc.ID)
	if e.IsOpen(inc.ID) || len(e.LiveVersions()) != 0 {
		t.Fatal("released incident still live")
	}
	if _, err := e.Ack(inc.ID, "guard", ""); !errors.Is(err, ErrInvalidTransition) {
		t.Fatalf("ack of a released incident: %v", err)
	}
	if got, err := e.Get(inc.ID); err != nil || got.Version != 1 {
		t.Fatalf("stored copy: %+v %v", got, err)
	}
	e.Raise(incident.Signal{Type: incident.Intrusion, Source: lawn, At: clk.Now()})
	if c := next(t, ch); c.Kind != Opened || c.Incident.ID == inc.ID {
		t.Fatalf("repeat after release: %s %s", c.Kind, c.Incident.ID)
	}
	none(t, ch, 100*time.Millisecond)
}
