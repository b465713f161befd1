package gateway_test

import (
	"context"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/incidents"
)

// A shutdown during an incident's post-roll waits for its clip: the wait for
// the post-roll is cut short, the clip is written from what the camera's
// ring holds and attached to the incident before the engine closes. (The
// clip used to be written by a goroutine no one waited for: shutdown
// dropped it.)
func TestShutdownWaitsForInFlightClip(t *testing.T) {
	if testing.Short() {
		t.Skip("real camera")
	}
	s := startSite(t, siteOpts{Camera: true, Extra: "evidence: {pre_roll: 2s, post_roll: 60s}\n"})
	waitCameraFrames(t, s)
	time.Sleep(2 * time.Second) // the pre-roll fills
	g := s.Gateway
	g.Incidents.Raise(incident.Signal{Type: incident.Intrusion, At: time.Now(),
		Source: incident.Source{Camera: "lawn", Zone: "shutdown-zone"}, Title: "shutdown clip test"})
	var id string
	eventually(t, "the incident", 10*time.Second, func() bool {
		list, err := g.Incidents.List(incidents.Filter{})
		for _, inc := range list {
			if inc.Source.Zone == "shutdown-zone" {
				id = inc.ID
			}
		}
		return err == nil && id != ""
	})
	// The clip writer takes the change within milliseconds; its write then
	// waits for a post-roll that ends long after the shutdown.
	time.Sleep(time.Second)
	start := time.Now()
	s.Stop(t)
	if took := time.Since(start); took > 15*time.Second {
		t.Fatalf("shutdown took %v", took)
	}

	eng, err := incidents.New(incidents.EngineConfig{Site: g.Config.Site.ID, DataDir: g.Config.DataDir})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	inc, err := eng.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	if inc.Evidence.Clip == "" {
		t.Fatalf("incident %s has no clip after the shutdown: %+v", id, inc.Evidence)
	}
	if _, err := g.Evidence.ClipPath(id); err != nil {
		t.Fatal(err)
	}
}
