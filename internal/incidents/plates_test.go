package incidents

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/incident"
)

// TestPlatesFollowVehicleRetention: incidents with a plate follow
// vehicles.retention, not the incidents' own retention: resolved ones older
// than it are deleted, open ones keep their record with the plate blanked
// (field, title, description); recent ones and
// incidents without a plate are untouched.
func TestPlatesFollowVehicleRetention(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	e, err := New(EngineConfig{DataDir: dir, Now: clk.Now, Retention: 365 * 24 * time.Hour, PlateRetention: 90 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ch, cancel := e.Subscribe()
	defer cancel()
	raise := func(s incident.Signal) string {
		s.At = clk.Now()
		e.Raise(s)
		for {
			if c := next(t, ch); c.Kind == Opened {
				return c.Incident.ID
			}
		}
	}
	plated := func(gate, p string) incident.Signal {
		return incident.Signal{Type: incident.BlacklistedVehicle, Source: incident.Source{Gate: gate}, Plate: p,
			Title: "Watch-list vehicle " + p, Description: "Plate " + p + " read at " + gate + "."}
	}
	oldResolved := raise(plated("north", "沪A12345"))
	oldOpen := raise(plated("south", "苏E99999"))
	noPlate := raise(incident.Signal{Type: incident.SOS, Source: incident.Source{Gate: "north"}})
	if _, err := e.Resolve(oldResolved, "p", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Resolve(noPlate, "p", ""); err != nil {
		t.Fatal(err)
	}
	clk.Add(100 * 24 * time.Hour)
	recent := raise(plated("east", "浙B55555"))
	e.prune()

	if _, err := e.Get(oldResolved); err == nil {
		t.Error("a resolved incident with a plate past vehicles.retention was kept")
	}
	inc, err := e.Get(oldOpen)
	if err != nil {
		t.Fatalf("open incident past vehicles.retention: %v", err)
	}
	if inc.Plate != "" || strings.Contains(inc.Title+inc.Description, "苏E99999") || !strings.Contains(inc.Title, PlateRemoved) {
		t.Errorf("open incident keeps its plate: %+v", inc)
	}
	if _, err := e.Get(noPlate); err != nil {
		t.Errorf("an incident without a plate went with vehicles.retention: %v", err)
	}
	if inc, err := e.Get(recent); err != nil || inc.Plate != "浙B55555" {
		t.Errorf("recent plate incident: %+v %v", inc, err)
	}
	e.Close()
}
