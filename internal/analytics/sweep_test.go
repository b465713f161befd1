package analytics_test

import (
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/analytics"
	"github.com/lanewatch/lanewatch/internal/detect"
)

// People who stand still from the start never make motion, so the motion
// gate never shows them to the detector. With a model detector the loop
// sweeps the zones now and then and finds them; without sweeps, or with the
// HOG (which is not trusted on still background), it stays blind.
func TestSweepFindsStillPeople(t *testing.T) {
	tests := []struct {
		name     string
		detector func(testing.TB) detect.Detector
		sweep    time.Duration
		want     bool
	}{
		{"model detector, default sweep", bodyDetector, 0, true},
		{"model detector, sweeps off", bodyDetector, -time.Second, false},
		{"hog: no sweeps", func(testing.TB) detect.Detector { return nil }, 0, false},
	}
	still := clipFrames(t, 1)[30] // people on the path, frozen
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cam := campus()
			cam.Detect.Sweep = tc.sweep
			rec := &recorder{}
			l := &analytics.Loop{Camera: cam, Detector: tc.detector(t), Raiser: rec}
			defer l.Close()
			t0 := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
			for i := range 75 { // 15 s at 5 fps
				if err := l.Process(still, t0.Add(time.Duration(i)*200*time.Millisecond)); err != nil {
					t.Fatal(err)
				}
			}
			st := l.Stats()
			zones := rec.byZone()
			t.Logf("signals per zone: path %d, lawn %d, facade %d; stats %+v", len(zones["path"]), len(zones["lawn"]), len(zones["facade"]), st)
			if st.MotionFrames > 2 {
				t.Fatalf("%d frames with motion in a still scene", st.MotionFrames)
			}
			if got := len(zones["path"]) > 0; got != tc.want {
				t.Errorf("intrusion on the path: %v, want %v", got, tc.want)
			}
			if n := len(zones["lawn"]) + len(zones["facade"]); n != 0 {
				t.Errorf("%d intrusions where nobody stands", n)
			}
			// Sweeps of three frames at 0 s and 10 s.
			if want := map[bool]uint64{true: 6, false: 0}[tc.want]; st.SweepFrames != want {
				t.Errorf("%d sweep frames, want %d", st.SweepFrames, want)
			}
		})
	}
}
