package gateway_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/camsim"
	"github.com/lanewatch/lanewatch/internal/gateway"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/incidents"
	"github.com/lanewatch/lanewatch/internal/testenv"
)

// camera_offline end to end: the real gateway reads a camera from a camsim
// server; the camera goes away (the server is closed, as a camera losing
// power drops its connections), a camera_offline incident opens after the
// grace, and when the camera comes back (the server restarted on the same
// address) the incident resolves itself. The grace is shortened from 15 s
// to 2 s; everything else is the gateway's own wiring and defaults.
func TestCameraOfflineIncidentEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the gateway with a camera")
	}
	grace := gateway.OfflineGrace
	gateway.OfflineGrace = 2 * time.Second
	t.Cleanup(func() { gateway.OfflineGrace = grace }) // after the site has stopped

	addr := testenv.FreeAddr(t)
	clip := filepath.Join(testenv.RepoRoot(t), "media", "campus-walk-10s.mp4")
	cam := &camsim.Server{Listen: addr, Streams: map[string]string{"porch": clip}, UDPRTPPort: -1}
	if err := cam.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cam.Close() })
	s := startSite(t, siteOpts{Extra: fmt.Sprintf(`cameras:
  - id: porch
    name: "Porch"
    url: rtsp://%s/porch
    detect: {fps: 2, width: 320}
`, addr)})
	eng := s.Gateway.Incidents
	changes, cancel := eng.Subscribe()
	defer cancel()

	state := func() string { return s.Gateway.Cameras.Cameras()[0].State }
	eventually(t, "camera online", 15*time.Second, func() bool { return state() == "online" })

	if err := cam.Close(); err != nil {
		t.Fatal(err)
	}
	gone := time.Now()
	eventually(t, "camera offline", 5*time.Second, func() bool { return state() == "offline" })
	opened := waitChange(t, changes, incidents.Opened, 10*time.Second)
	if after := time.Since(gone); after < gateway.OfflineGrace {
		t.Errorf("camera_offline opened %v after the camera went, before the %v grace", after, gateway.OfflineGrace)
	}
	if opened.Source.Camera != "porch" {
		t.Errorf("incident source %+v", opened.Source)
	}

	if err := cam.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	resolved := waitChange(t, changes, incidents.ResolvedKind, 15*time.Second)
	t.Logf("offline incident %s opened %v after the camera went, resolved %v after it returned",
		opened.ID, opened.StartedAt.Sub(gone).Round(time.Millisecond), time.Since(back).Round(time.Millisecond))
	if resolved.ID != opened.ID || resolved.State != incident.Resolved {
		t.Errorf("resolved %s (%s), want %s resolved", resolved.ID, resolved.State, opened.ID)
	}
	if got, err := eng.Get(opened.ID); err != nil || got.State != incident.Resolved || got.ResolvedAt == nil {
		t.Errorf("stored incident %+v, %v: want resolved", got, err)
	}
	if state() != "online" {
		t.Errorf("camera %s after its incident resolved", state())
	}
}

// waitChange returns the next camera_offline change of kind.
func waitChange(t *testing.T, ch <-chan incidents.Change, kind incidents.ChangeKind, timeout time.Duration) incident.Incident {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case c, ok := <-ch:
			if !ok {
				t.Fatalf("incident changes closed while waiting for %s", kind)
			}
			if c.Kind == kind && c.Incident.Type == incident.CameraOffline {
				return c.Incident
			}
		case <-deadline:
			t.Fatalf("no camera_offline %s within %v", kind, timeout)
		}
	}
}
