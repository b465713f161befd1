package analytics_test

import (
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/analytics"
	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/incident"
)

// A loop on a loaded box gets far fewer frames than its configured 5 fps.
// People then move far between frames; tracking must still follow them
// across a line. Campus footage, the gateway tests' line, three passes of
// the clip: at 5 fps it sees 11 crossings. Before the tracker widened its
// reach with the time between frames and the loop stopped skipping the
// detector when behind, a loop at 1 fps saw none (no incident in 90 s on a
// loaded CI box).
func TestStarvedLoopStillTracks(t *testing.T) {
	fr := clipFrames(t, 1) // 10 fps
	for _, tc := range []struct {
		every, min int // take every Nth frame; crossings at least
	}{{5, 8}, {10, 2}} {
		rec := &recorder{}
		cam := config.Camera{ID: "lawn", Detect: config.Detect{FPS: 5, Width: 640},
			Lines: []config.Line{{ID: "path", Rule: "line_crossing", Direction: "any", Objects: []string{"person"}, Points: []config.Point{{0.6, 0.3}, {0.6, 0.8}}}}}
		l := &analytics.Loop{Camera: cam, Raiser: rec}
		at := time.Unix(1e9, 0)
		for pass := 0; pass < 3; pass++ {
			for i := 0; i < len(fr); i += tc.every {
				if err := l.Process(fr[i], at); err != nil {
					t.Fatal(err)
				}
				at = at.Add(time.Duration(tc.every) * 100 * time.Millisecond)
			}
		}
		l.Close()
		n := 0
		for _, s := range rec.got {
			if s.Type == incident.LineCrossing {
				n++
			}
		}
		t.Logf("%.0f fps analysed: %d crossings", 10/float64(tc.every), n)
		if n < tc.min {
			t.Errorf("%.0f fps analysed: %d crossings in three passes, want at least %d", 10/float64(tc.every), n, tc.min)
		}
	}
}

// The default detector (no model) takes large wide motion blobs for
// vehicles; people walking, also side by side, must not become vehicles.
// Campus footage (pedestrians only), three passes, a vehicle zone over the
// whole picture: no vehicle intrusion.
func TestDefaultDetectorNoVehiclesFromPedestrians(t *testing.T) {
	fr := clipFrames(t, 2)
	rec := &recorder{}
	cam := config.Camera{ID: "lawn", Detect: config.Detect{FPS: 5, Width: 640},
		Zones: []config.Zone{{ID: "all", Rule: "intrusion", Objects: []string{"vehicle"}, Polygon: []config.Point{{0, 0}, {1, 0}, {1, 1}, {0, 1}}}}}
	l := &analytics.Loop{Camera: cam, Raiser: rec}
	defer l.Close()
	at := time.Unix(1e9, 0)
	for pass := 0; pass < 3; pass++ {
		for i := range fr {
			if err := l.Process(fr[i], at); err != nil {
				t.Fatal(err)
			}
			at = at.Add(200 * time.Millisecond)
		}
	}
	if st := l.Stats(); st.Detections < 100 {
		t.Fatalf("only %d detections: the detector did not run", st.Detections)
	}
	for _, s := range rec.got {
		t.Errorf("vehicle intrusion on pedestrian footage: %s (%+v)", s.Title, s.Objects)
	}
}
