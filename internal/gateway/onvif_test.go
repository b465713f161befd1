package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/camsim"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/incidents"
	"github.com/lanewatch/lanewatch/internal/onvif"
	"github.com/lanewatch/lanewatch/internal/testenv"
)

// A camera configured with onvif.events: its own line-crossing event
// becomes a line_crossing incident with source.origin "camera" and a
// snapshot from the main stream, through the engine and the console; after
// the camera reboots the gateway subscribes again and the next event (a
// signal loss) becomes a camera_offline incident.
func TestONVIFEventsBecomeIncidents(t *testing.T) {
	if testing.Short() {
		t.Skip("real camera")
	}
	srv := &camsim.Server{Listen: "127.0.0.1:0", UDPRTPPort: -1,
		Streams: map[string]string{"gate": filepath.Join(testenv.RepoRoot(t), "media", "campus-walk-10s.mp4")}}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ov := &camsim.ONVIF{Listen: "127.0.0.1:0", RTSP: srv, Username: "admin", Password: "onvif-pass"}
	if err := ov.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ov.Close() })
	t.Setenv("LW_TEST_ONVIF_PASSWORD", "onvif-pass")
	s := startSite(t, siteOpts{Extra: fmt.Sprintf(`cameras:
  - id: gate
    url: %q
    onvif: {url: %q, events: true, username: admin, password: "${LW_TEST_ONVIF_PASSWORD}"}
`, srv.URL("gate"), ov.DeviceURL("gate"))})
	eventually(t, "subscribed to the camera's events", 20*time.Second, func() bool { return ov.Subscriptions("gate") == 1 })
	eventually(t, "camera frames", 30*time.Second, func() bool {
		resp := s.api(t, "GET", "/api/cameras/gate/snapshot.jpg", viewerToken, "")
		resp.Body.Close()
		return resp.StatusCode == 200
	})

	if n, err := ov.Emit("gate", onvif.Notification{Topic: "tns1:RuleEngine/LineDetector/Crossed", Operation: "Changed",
		Source: map[string]string{"VideoSourceConfigurationToken": "vsc", "Rule": "Gate Line"}, Data: map[string]string{"ObjectId": "1"}}); err != nil || n != 1 {
		t.Fatalf("emit: %d %v", n, err)
	}
	inc := waitIncident(t, s.Gateway.Incidents, incident.LineCrossing)
	if inc.Source != (incident.Source{Camera: "gate", Line: "gate-line", Origin: "camera"}) || inc.Evidence.Snapshot == "" {
		t.Fatalf("incident %+v", inc)
	}
	resp := s.api(t, "GET", inc.Evidence.Snapshot, viewerToken, "")
	jpeg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(jpeg) < 1000 || jpeg[0] != 0xFF || jpeg[1] != 0xD8 {
		t.Fatalf("snapshot: %d, %d bytes", resp.StatusCode, len(jpeg))
	}
	var list []map[string]any
	getJSON(t, s, "/api/incidents", viewerToken, &list)
	if src, _ := list[0]["source"].(map[string]any); src["origin"] != "camera" {
		t.Fatalf("API source %v", list[0]["source"])
	}

	// The camera reboots: its subscriptions are gone.
	ov.Close()
	time.Sleep(500 * time.Millisecond)
	if err := ov.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "subscribed again after the reboot", 20*time.Second, func() bool { return ov.Subscriptions("gate") == 1 })
	if n, _ := ov.Emit("gate", onvif.Notification{Topic: "tns1:VideoSource/SignalLoss", Operation: "Changed", Data: map[string]string{"State": "true"}}); n != 1 {
		t.Fatal("emit after the reboot reached no subscription")
	}
	off := waitIncident(t, s.Gateway.Incidents, incident.CameraOffline)
	if off.Source.Camera != "gate" || off.State != incident.Open {
		t.Fatalf("offline incident %+v", off)
	}
	if st := s.Gateway.ONVIF[0].Status(); st.Subscriptions != 2 || st.Failures == 0 {
		t.Fatalf("subscriber status %+v", st)
	}
}

func waitIncident(t *testing.T, e *incidents.Engine, typ incident.Type) incident.Incident {
	t.Helper()
	var got incident.Incident
	eventually(t, string(typ)+" incident", 20*time.Second, func() bool {
		list, _ := e.List(incidents.Filter{Type: typ})
		for _, inc := range list {
			if inc.Source.Origin == "camera" {
				got = inc
				return true
			}
		}
		return false
	})
	return got
}
