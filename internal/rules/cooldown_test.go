package rules

import (
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/incident"
)

// TestZoneSignalsCarryTheZoneDefaults: zones[].cooldown travels with the
// zone's signals to the incident engine (which folds by it), and a zone that
// sets no dwell gets the dwell config resolves: crowd 10 s (rules used to
// keep a 5-s copy of its own).
func TestZoneSignalsCarryTheZoneDefaults(t *testing.T) {
	square := []config.Point{{0.2, 0.2}, {0.8, 0.2}, {0.8, 0.9}, {0.2, 0.9}}
	walkIn := path("person", 0.05, 0.15, 0.5, 0.1, 0.5, 0.6, 0, 1, 12)
	cam := config.Camera{ID: "cam1", Tamper: noTamper(), Zones: []config.Zone{
		{ID: "lawn", Rule: RuleIntrusion, Cooldown: 45 * time.Second, Polygon: square}}}
	got := simulate(t, cam, Options{}, []mover{walkIn}, nil, 6)
	if len(got) == 0 {
		t.Fatal("no intrusion")
	}
	for _, s := range got {
		if s.Cooldown != 45*time.Second {
			t.Fatalf("signal cooldown %s, want the zone's 45s", s.Cooldown)
		}
	}

	var group []mover
	for i := range 5 {
		x := 0.25 + 0.1*float64(i)
		group = append(group, path("person", 0.04, 0.12, x, 0.6, x, 0.6, 0, 1, 14))
	}
	crowd := config.Camera{ID: "cam1", Tamper: noTamper(), Zones: []config.Zone{{ID: "square", Rule: RuleCrowd, Polygon: square}}}
	got = simulate(t, crowd, Options{}, group, nil, 14)
	if len(got) == 0 || got[0].Type != incident.Crowd {
		t.Fatalf("no crowd of 5 in 14 s: %+v", got)
	}
	// Confirmed after a few frames, then 10 s of dwell.
	if first := got[0].At.Sub(t0); first < config.ResolveCamera(crowd).Zones[0].Dwell {
		t.Fatalf("crowd signalled after %s: before the resolved dwell of %s", first, config.ResolveCamera(crowd).Zones[0].Dwell)
	}
}
