package analytics_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/analytics"
	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/detect"
	"github.com/lanewatch/lanewatch/internal/eval"
	"github.com/lanewatch/lanewatch/internal/frames"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/testenv"
	"gocv.io/x/gocv"
)

// campus is the camera of the shipped 10 s clip with the eval's hand-drawn
// zones (people walk on "path", nobody on "lawn" and "facade"), plus a
// privacy mask over some windows.
func campus() config.Camera {
	c := eval.RealCamera()
	c.Masks = []config.Mask{{ID: "windows", Kind: "privacy", Polygon: []config.Point{{0.1, 0}, {0.3, 0}, {0.3, 0.06}, {0.1, 0.06}}}}
	return c
}

type recorder struct {
	mu  sync.Mutex
	got []incident.Signal
}

func (r *recorder) Raise(s incident.Signal) { r.mu.Lock(); r.got = append(r.got, s); r.mu.Unlock() }

func (r *recorder) byZone() map[string][]incident.Signal {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := map[string][]incident.Signal{}
	for _, s := range r.got {
		m[s.Source.Zone] = append(m[s.Source.Zone], s)
	}
	return m
}

func clipFrames(t testing.TB, every int) []gocv.Mat {
	fr, err := eval.ReadClip(filepath.Join(testenv.RepoRoot(t), "media", "campus-walk-10s.mp4"), every, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eval.CloseAll(fr) })
	return fr
}

func bodyDetector(t testing.TB) detect.Detector {
	d, err := detect.NewDNN(detect.DefaultModel(filepath.Join(testenv.SharedDir(t), "models"), "yolo-fastest-1.1-body"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestCampusClip(t *testing.T) {
	tests := []struct {
		name     string
		detector func(testing.TB) detect.Detector
		minPath  int
	}{
		{"dnn", bodyDetector, 5},
		{"hog", func(testing.TB) detect.Detector { return nil }, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fr := clipFrames(t, 2) // 10 fps clip analysed at 5 fps
			rec := &recorder{}
			var motionCalls []bool
			analysed := 0
			l := &analytics.Loop{Camera: campus(), Detector: tc.detector(t), Raiser: rec,
				OnMotion: func(m bool) { motionCalls = append(motionCalls, m) }, OnAnalyzed: func() { analysed++ }}
			defer l.Close()
			t0 := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
			for i, f := range fr {
				if err := l.Process(f, t0.Add(time.Duration(i)*200*time.Millisecond)); err != nil {
					t.Fatal(err)
				}
			}
			zones := rec.byZone()
			t.Logf("signals per zone: path %d, lawn %d, facade %d; stats %+v", len(zones["path"]), len(zones["lawn"]), len(zones["facade"]), l.Stats())
			if len(zones["path"]) < tc.minPath {
				t.Errorf("path: %d intrusions, want at least %d (people walk there all along)", len(zones["path"]), tc.minPath)
			}
			if n := len(zones["lawn"]) + len(zones["facade"]); n != 0 {
				t.Errorf("%d intrusions where nobody walks: %+v", n, zones)
			}
			for _, s := range zones["path"] {
				if !bytes.HasPrefix(s.Snapshot, []byte{0xff, 0xd8, 0xff}) {
					t.Fatalf("snapshot is not a JPEG: % x", s.Snapshot[:min(4, len(s.Snapshot))])
				}
				if len(s.Objects) == 0 || s.Objects[0].Label != "person" || s.Objects[0].Track == 0 {
					t.Fatalf("objects %+v", s.Objects)
				}
			}
			st := l.Stats()
			if st.Frames != uint64(len(fr)) || analysed != len(fr) || st.MotionFrames < uint64(len(fr))*3/4 || st.Detections == 0 {
				t.Errorf("stats %+v after %d frames (OnAnalyzed %d)", st, len(fr), analysed)
			}
			if len(motionCalls) != 1 || !motionCalls[0] {
				t.Errorf("OnMotion calls %v, want [true]", motionCalls)
			}
			ann := gocv.NewMat()
			defer ann.Close()
			if !l.Annotated(&ann) || ann.Cols() != 640 || ann.Rows() != 480 {
				t.Fatalf("annotated frame %dx%d", ann.Cols(), ann.Rows())
			}
			if v := ann.GetVecbAt(10, 130); v[0]+v[1]+v[2] != 0 {
				t.Errorf("privacy mask not black on the annotated frame: %v", v)
			}
		})
	}
}

// TestRun drives the loop through frames.Latest like the gateway does:
// latest-frame semantics, analysis rate, stop on cancel and on close.
func TestRun(t *testing.T) {
	fr := clipFrames(t, 1)[:40]
	src := frames.NewLatest()
	cam := campus()
	cam.Detect.FPS = 20
	analysed := make(chan struct{}, 100)
	l := &analytics.Loop{Camera: cam, Source: src, Detector: &detect.Blobs{}, OnAnalyzed: func() { analysed <- struct{}{} }}
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	start := time.Now()
	// Feed at 100 fps: the loop takes at most 20 fps of it.
	for i, f := range fr {
		src.Put(f, frames.Info{Seq: uint64(i + 1), At: time.Now(), Width: 640, Height: 480})
		time.Sleep(10 * time.Millisecond)
	}
	elapsed := time.Since(start)
	time.Sleep(100 * time.Millisecond)
	n := len(analysed)
	if max := int(elapsed.Seconds()*20) + 2; n == 0 || n > max {
		t.Errorf("%d frames analysed in %v, want 1..%d", n, elapsed, max)
	}
	if src.Dropped() == 0 {
		t.Errorf("no frames dropped although the loop analyses at 20 fps of 100")
	}
	if st := l.Stats(); st.LatencyMS <= 0 || st.TotalMS <= 0 {
		t.Errorf("stats %+v", st)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop on cancel")
	}
	src.Close()
}

func TestBadInput(t *testing.T) {
	l := &analytics.Loop{Camera: campus(), Detector: &detect.Blobs{}}
	defer l.Close()
	empty := gocv.NewMat()
	defer empty.Close()
	grey := gocv.NewMatWithSize(100, 100, gocv.MatTypeCV8UC1)
	defer grey.Close()
	for _, m := range []gocv.Mat{empty, grey} {
		if err := l.Process(m, time.Now()); !errors.Is(err, analytics.ErrBadFrame) {
			t.Errorf("err = %v", err)
		}
	}
	bad := campus()
	bad.Zones[0].Rule = "picnic"
	l2 := &analytics.Loop{Camera: bad, Detector: &detect.Blobs{}, Source: frames.NewLatest()}
	defer l2.Close()
	if err := l2.Run(context.Background()); err == nil {
		t.Error("a zone with an unknown rule ran")
	}
}

// BenchmarkLoop: the whole loop per analysed frame (motion, detector on the
// motion regions, tracking, rules, annotation), fed through frames.Latest
// from the campus clip as the gateway does.
func BenchmarkLoop(b *testing.B) {
	for _, bc := range []struct {
		name string
		det  func(testing.TB) detect.Detector
	}{
		{"hog", func(testing.TB) detect.Detector { return nil }},
		{"yolo-fastest-body", bodyDetector},
	} {
		b.Run(bc.name, func(b *testing.B) {
			fr := clipFrames(b, 2)
			src := frames.NewLatest()
			cam := campus()
			cam.Detect.FPS = 1000
			analysed := make(chan struct{}, 1)
			l := &analytics.Loop{Camera: cam, Source: src, Detector: bc.det(b), OnAnalyzed: func() { analysed <- struct{}{} }}
			defer l.Close()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- l.Run(ctx) }()
			seq := uint64(0)
			step := func(i int) {
				seq++
				src.Put(fr[i%len(fr)], frames.Info{Seq: seq, At: time.Now(), Width: 640, Height: 480})
				<-analysed
			}
			for i := 0; i < len(fr); i++ { // warm up: background model, tracks, buffers
				step(i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				step(i)
			}
			b.StopTimer()
			st := l.Stats()
			b.ReportMetric(st.MotionMS, "motion-ms")
			b.ReportMetric(st.DetectMS, "detect-ms")
			cancel()
			<-done
			src.Close()
		})
	}
}

// TestOnMotion: motion starts key-frame-only mode off at once and back on
// after Detect.KeyframesWhenIdle without motion.
func TestOnMotion(t *testing.T) {
	tests := []struct {
		name string
		idle time.Duration
		want []bool
	}{
		{"idle after 2s", 2 * time.Second, []bool{true, false, true}},
		{"disabled", -1, []bool{true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cam := config.Camera{ID: "c", Detect: config.Detect{FPS: 5, KeyframesWhenIdle: tc.idle}}
			var got []bool
			l := &analytics.Loop{Camera: cam, Detector: &detect.Blobs{}, OnMotion: func(m bool) { got = append(got, m) }}
			defer l.Close()
			s := eval.NewScene(640, 360, 1)
			defer s.Close()
			f := gocv.NewMat()
			defer f.Close()
			t0 := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
			for i := 0; i < 70; i++ { // 14 s: still 4 s, walker 3 s, still 5 s, walker 2 s
				s.Background(&f, 0)
				sec := float64(i) / 5
				if (sec >= 4 && sec < 7) || sec >= 12 {
					eval.Person(&f, 40+i%35*15, 300)
				}
				s.Noise(&f)
				if err := l.Process(f, t0.Add(time.Duration(i)*200*time.Millisecond)); err != nil {
					t.Fatal(err)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("OnMotion calls %v, want %v", got, tc.want)
			}
		})
	}
}

// flakySource fails to convert its first picture, then serves one frame,
// then closes: what a camera's frames.Latest does with a bad picture.
type flakySource struct {
	frame gocv.Mat
	n     int
}

func (s *flakySource) Next(ctx context.Context, after uint64, dst *gocv.Mat) (frames.Info, error) {
	s.n++
	switch s.n {
	case 1:
		return frames.Info{Seq: 1}, &frames.ConvertError{Err: errors.New("scale: Invalid argument")}
	case 2:
		s.frame.CopyTo(dst)
		return frames.Info{Seq: 2, At: time.Now()}, nil
	}
	return frames.Info{}, frames.ErrClosed
}

// A picture that cannot be converted costs that frame only: counted as an
// error, and the loop analyses the next one instead of stopping.
func TestRunSurvivesConvertError(t *testing.T) {
	fr := clipFrames(t, 1)
	src := &flakySource{frame: fr[0]}
	l := &analytics.Loop{Camera: campus(), Source: src, Detector: &detect.Blobs{}}
	defer l.Close()
	if err := l.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st := l.Stats(); st.Errors != 1 || st.Frames != 1 {
		t.Fatalf("errors %d frames %d, want 1 and 1", st.Errors, st.Frames)
	}
}
