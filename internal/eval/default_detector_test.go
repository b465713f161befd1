package eval

import (
	"testing"

	"github.com/lanewatch/lanewatch/internal/detect"
	"github.com/lanewatch/lanewatch/internal/incident"
)

// Without a model file the gateway runs detect.PeopleAndVehicles. On the
// generated fire-lane clip (a car drives in and parks; a person passes
// behind) it must see the car as a vehicle and raise fire_lane_blocked in
// the expected window, and nothing else.
func TestDefaultDetectorSeesVehicles(t *testing.T) {
	if testing.Short() {
		t.Skip("a minute of lead-in")
	}
	var clip *Clip
	for _, c := range Generated() {
		if c.Name == "fire-lane" {
			clip = &c
		}
	}
	if clip == nil {
		t.Fatal("no fire-lane clip")
	}
	_, sigs, err := RunClipWith(*clip, detect.NewPeopleAndVehicles())
	if err != nil {
		t.Fatal(err)
	}
	exp := clip.Expect[0]
	var hits int
	for _, s := range sigs {
		at := s.At.Sub(t0).Seconds()
		if s.Type != incident.FireLaneBlocked || at < exp.From || at > exp.To {
			t.Errorf("unexpected %s at %.1fs (%s)", s.Type, at, s.Title)
			continue
		}
		hits++
	}
	if hits == 0 {
		t.Fatalf("no fire_lane_blocked from the default detector; signals %+v", sigs)
	}
}
