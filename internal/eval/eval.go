package eval

import (
	"fmt"
	"image"
	"image/color"
	"io"
	"slices"
	"sort"
	"time"

	"github.com/lanewatch/lanewatch/internal/analytics"
	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/detect"
	"github.com/lanewatch/lanewatch/internal/incident"
	"gocv.io/x/gocv"
)

// Floors the generated clips must reach, per rule.
const (
	MinPrecision = 0.9
	MinRecall    = 0.8
)

// Score counts, for one rule, signals (each raise) and events (each
// expectation). Precision is correct signals over signals, recall is events
// with at least one correct signal over events.
type Score struct {
	Rule             incident.Type
	Signals, Correct int
	Events, Found    int
}

func (s Score) Precision() float64 {
	if s.Signals == 0 {
		return 1
	}
	return float64(s.Correct) / float64(s.Signals)
}

func (s Score) Recall() float64 {
	if s.Events == 0 {
		return 1
	}
	return float64(s.Found) / float64(s.Events)
}

// ClipResult is one clip's outcome.
type ClipResult struct {
	Name    string
	Note    string
	Frames  int
	Signals []Hit
	Missed  []Expect
	Clears  int
	Elapsed time.Duration
	// Loop is the analysis loop's counters at the end (real clips): what
	// a clip without signals did see.
	Loop analytics.Stats
}

// Hit is a raised signal, with its time in the clip and whether it matched
// the ground truth.
type Hit struct {
	T       float64
	Type    incident.Type
	Source  string
	Correct bool
}

// Report is the whole evaluation.
type Report struct {
	Clips  []ClipResult
	Scores map[incident.Type]*Score
}

func (r *Report) score(t incident.Type) *Score {
	if r.Scores == nil {
		r.Scores = map[incident.Type]*Score{}
	}
	s := r.Scores[t]
	if s == nil {
		s = &Score{Rule: t}
		r.Scores[t] = s
	}
	return s
}

var t0 = time.Date(2026, 3, 2, 4, 0, 0, 0, time.UTC)

// LeadIn is the empty scene shown before each generated clip.
const LeadIn = time.Minute

func sourceID(s incident.Source) string {
	if s.Line != "" {
		return s.Line
	}
	return s.Zone
}

// Add matches a clip's signals against its expectations into r.
func (r *Report) Add(cr *ClipResult, sigs []incident.Signal, expect []Expect) {
	found := make([]bool, len(expect))
	for _, s := range sigs {
		if s.Clear {
			cr.Clears++
			continue
		}
		h := Hit{T: s.At.Sub(t0).Seconds(), Type: s.Type, Source: sourceID(s.Source)}
		for i, e := range expect {
			if e.Type == h.Type && e.Source == h.Source && h.T >= e.From && h.T <= e.To {
				h.Correct, found[i] = true, true
			}
		}
		sc := r.score(s.Type)
		sc.Signals++
		if h.Correct {
			sc.Correct++
		}
		cr.Signals = append(cr.Signals, h)
	}
	for i, e := range expect {
		sc := r.score(e.Type)
		sc.Events++
		if found[i] {
			sc.Found++
		} else {
			cr.Missed = append(cr.Missed, e)
		}
	}
}

type collector struct{ got []incident.Signal }

func (c *collector) Raise(s incident.Signal) { c.got = append(c.got, s) }

// RunClip renders a generated clip frame by frame through the real loop
// (motion, detect.Blobs as the object source, tracker, rules).
func RunClip(c Clip) (ClipResult, []incident.Signal, error) {
	return RunClipWith(c, &detect.Blobs{})
}

// RunClipWith is RunClip with another detector (the loop closes it).
func RunClipWith(c Clip, det detect.Detector) (ClipResult, []incident.Signal, error) {
	cr := ClipResult{Name: c.Name, Note: c.Note}
	col := &collector{}
	cam := c.Camera
	cam.Detect.FPS = c.FPS
	l := &analytics.Loop{Camera: cam, Detector: det, Raiser: col}
	defer l.Close()
	s := NewScene(W, H, 1)
	defer s.Close()
	// The sensor noise comes from OpenCV's global RNG: seed it so that every
	// clip sees the same noise whatever ran before it.
	gocv.SetRNGSeed(int(len(c.Name)) + 7)
	frame := gocv.NewMat()
	defer frame.Close()
	start := time.Now()
	// Lead-in: a minute of the empty scene, as a camera that has been running
	// for a while has. A fresh background model learns at 1/frames, so it
	// would swallow a slow object in its first seconds.
	for i := 0; i < int(LeadIn.Seconds()*c.FPS); i++ {
		s.Background(&frame, 0)
		s.Noise(&frame)
		if err := l.Process(frame, t0.Add(-LeadIn+time.Duration(float64(i)/c.FPS*float64(time.Second)))); err != nil {
			return cr, nil, fmt.Errorf("eval: %s lead-in frame %d: %w", c.Name, i, err)
		}
	}
	n := int(c.Seconds * c.FPS)
	for i := 0; i < n; i++ {
		t := float64(i) / c.FPS
		c.Render(s, t, &frame)
		s.Noise(&frame)
		if err := l.Process(frame, t0.Add(time.Duration(t*float64(time.Second)))); err != nil {
			return cr, nil, fmt.Errorf("eval: %s frame %d: %w", c.Name, i, err)
		}
	}
	cr.Frames = n
	cr.Elapsed = time.Since(start)
	return cr, col.got, nil
}

// RunGenerated runs every generated clip.
func RunGenerated(clips []Clip) (Report, error) {
	var r Report
	for _, c := range clips {
		cr, sigs, err := RunClip(c)
		if err != nil {
			return r, err
		}
		r.Add(&cr, sigs, c.Expect)
		r.Clips = append(r.Clips, cr)
	}
	return r, nil
}

// RealCamera is the camera of media/campus-walk-10s.mp4 with zones drawn on
// its frames (see testdata/eval/campus-zones.png, made by lanewatch-eval -zones-png): the paved path and road
// where people walk all along, the lower lawn and the top of the building's
// facade where nobody walks in these 10 s.
func RealCamera() config.Camera {
	return config.Camera{
		ID: "campus", Name: "Campus path", Detect: config.Detect{FPS: 5, Width: 640},
		Zones: []config.Zone{
			{ID: "path", Rule: "intrusion", Objects: []string{"person"},
				Polygon: []config.Point{{0, 0.32}, {0.55, 0.32}, {0.75, 0.2}, {1, 0.15}, {1, 0.85}, {0.6, 0.6}, {0.3, 0.5}, {0, 0.45}}},
			{ID: "lawn", Rule: "intrusion", Objects: []string{"person"},
				Polygon: []config.Point{{0, 0.62}, {0.55, 0.7}, {0.55, 1}, {0, 1}}},
			{ID: "facade", Rule: "intrusion", Objects: []string{"person"},
				Polygon: []config.Point{{0.4, 0}, {0.8, 0}, {0.8, 0.08}, {0.4, 0.08}}},
		},
	}
}

// RealExpect: people are on the path from the first frame; the first
// intrusion can come once a track is confirmed and has dwelt 1 s.
var RealExpect = []Expect{{incident.Intrusion, "path", 1.0, 10.5}}

// RunReal runs a real clip (10 fps) at 5 fps analysed with det (nil: HOG).
func RunReal(path string, det detect.Detector, name string) (ClipResult, []incident.Signal, error) {
	cr := ClipResult{Name: name, Note: "campus-walk-10s.mp4, hand-labelled zones: path (people), lawn and facade (nobody)"}
	return runRealClip(path, RealCamera(), det, cr)
}

// runRealClip analyses a 10 fps clip read every second frame (5 fps
// analysed, frames 200 ms apart) through the real loop with cam and det.
func runRealClip(path string, cam config.Camera, det detect.Detector, cr ClipResult) (ClipResult, []incident.Signal, error) {
	fr, err := ReadClip(path, 2, 0)
	if err != nil {
		if det != nil {
			det.Close()
		}
		return cr, nil, err
	}
	defer CloseAll(fr)
	col := &collector{}
	l := &analytics.Loop{Camera: cam, Detector: det, Raiser: col}
	defer l.Close()
	start := time.Now()
	for i, f := range fr {
		if err := l.Process(f, t0.Add(time.Duration(i)*200*time.Millisecond)); err != nil {
			return cr, nil, err
		}
	}
	cr.Frames = len(fr)
	cr.Elapsed = time.Since(start)
	cr.Loop = l.Stats()
	return cr, col.got, nil
}

// Failures lists the rules below the floors.
func (r Report) Failures() []string {
	var out []string
	for _, s := range r.sorted() {
		if s.Precision() < MinPrecision {
			out = append(out, fmt.Sprintf("%s: precision %.2f < %.2f", s.Rule, s.Precision(), MinPrecision))
		}
		if s.Recall() < MinRecall {
			out = append(out, fmt.Sprintf("%s: recall %.2f < %.2f", s.Rule, s.Recall(), MinRecall))
		}
	}
	return out
}

func (r Report) sorted() []*Score {
	var out []*Score
	for _, s := range r.Scores {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		return slices.Index(incident.Types, out[i].Rule) < slices.Index(incident.Types, out[j].Rule)
	})
	return out
}

// Print writes the per-clip outcome and the per-rule table.
func (r Report) Print(w io.Writer, title string) {
	fmt.Fprintf(w, "== %s\n", title)
	for _, c := range r.Clips {
		ok := 0
		for _, h := range c.Signals {
			if h.Correct {
				ok++
			}
		}
		fmt.Fprintf(w, "%-18s %4d frames %6.2fs  signals %3d (correct %3d)  missed %d  clears %d  -- %s\n",
			c.Name, c.Frames, c.Elapsed.Seconds(), len(c.Signals), ok, len(c.Missed), c.Clears, c.Note)
		for _, h := range c.Signals {
			if !h.Correct {
				fmt.Fprintf(w, "    false: %s on %q at %.1fs\n", h.Type, h.Source, h.T)
			}
		}
		for _, m := range c.Missed {
			fmt.Fprintf(w, "    missed: %s on %q in %.1f-%.1fs\n", m.Type, m.Source, m.From, m.To)
		}
	}
	fmt.Fprintf(w, "%-18s %8s %8s %10s %9s %7s\n", "rule", "signals", "correct", "precision", "events", "recall")
	for _, s := range r.sorted() {
		fmt.Fprintf(w, "%-18s %8d %8d %10.2f %5d/%-3d %7.2f\n", s.Rule, s.Signals, s.Correct, s.Precision(), s.Found, s.Events, s.Recall())
	}
}

// DrawZones writes the annotated frame (zones drawn) of the real clip's
// first frames to out, to check the hand-drawn zones against the picture.
func DrawZones(clip, out string) error {
	fr, err := ReadClip(clip, 2, 5)
	if err != nil {
		return err
	}
	defer CloseAll(fr)
	l := &analytics.Loop{Camera: RealCamera(), Detector: &detect.Blobs{}}
	defer l.Close()
	for i, f := range fr {
		if err := l.Process(f, t0.Add(time.Duration(i)*200*time.Millisecond)); err != nil {
			return err
		}
	}
	m := gocv.NewMat()
	defer m.Close()
	if !l.Annotated(&m) {
		return fmt.Errorf("eval: no annotated frame")
	}
	for _, z := range RealCamera().Zones {
		p := z.Polygon[0]
		gocv.PutText(&m, z.ID, image.Pt(int(p[0]*float64(m.Cols()))+4, int(p[1]*float64(m.Rows()))+14), gocv.FontHersheySimplex, 0.5, color.RGBA{255, 200, 0, 255}, 1)
	}
	if !gocv.IMWrite(out, m) {
		return fmt.Errorf("eval: cannot write %s", out)
	}
	return nil
}
