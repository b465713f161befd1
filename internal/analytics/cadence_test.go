package analytics_test

import (
	"image"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/lanewatch/lanewatch/internal/analytics"
	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/detect"
	"github.com/lanewatch/lanewatch/internal/eval"
	"github.com/lanewatch/lanewatch/internal/incident"
)

// countingDetector wraps the shape detector and counts its runs.
type countingDetector struct {
	detect.Blobs
	calls int
}

func (d *countingDetector) Detect(frame gocv.Mat, roi image.Rectangle, out []detect.Detection) ([]detect.Detection, error) {
	d.calls++
	return d.Blobs.Detect(frame, roi, out)
}

// With DetectEvery 2 the detector runs on every other frame with motion, the
// walker keeps one track id throughout, and the line is still crossed.
func TestDetectorCadenceKeepsTracks(t *testing.T) {
	for _, tc := range []struct {
		every    int
		minCalls int
		maxCalls int
	}{
		{1, 40, 60},
		{2, 18, 32},
	} {
		det := &countingDetector{}
		cam := config.Camera{ID: "c", Detect: config.Detect{FPS: 5, Width: 640},
			Lines: []config.Line{{ID: "l", Rule: "line_crossing", Direction: "any", Objects: []string{"person"},
				Points: []config.Point{{0.5, 0.2}, {0.5, 1}}}}}
		var signals int
		l := &analytics.Loop{Camera: cam, Detector: det, DetectEvery: tc.every,
			Raiser: incident.RaiserFunc(func(sig incident.Signal) {
				if sig.Type == incident.LineCrossing {
					signals++
				}
			})}
		s := eval.NewScene(640, 360, 1)
		f := gocv.NewMat()
		t0 := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
		ids := map[int]bool{}
		for i := 0; i < 110; i++ { // 10 s empty (the background settles), then a walker crosses
			s.Background(&f, 0)
			if i >= 50 {
				eval.Person(&f, 40+(i-50)*9, 300)
			}
			s.Noise(&f)
			if err := l.Process(f, t0.Add(time.Duration(i)*200*time.Millisecond)); err != nil {
				t.Fatal(err)
			}
			for _, id := range l.TrackIDs() {
				ids[id] = true
			}
		}
		f.Close()
		s.Close()
		l.Close()
		if det.calls < tc.minCalls || det.calls > tc.maxCalls {
			t.Errorf("DetectEvery %d: detector ran %d times, want %d..%d", tc.every, det.calls, tc.minCalls, tc.maxCalls)
		}
		if len(ids) != 1 {
			t.Errorf("DetectEvery %d: track ids %v, want one walker with one id", tc.every, ids)
		}
		if signals == 0 {
			t.Errorf("DetectEvery %d: the walker crossed the line but no signal was raised", tc.every)
		}
	}
}
