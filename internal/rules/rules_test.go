package rules

import (
	"image"
	"image/color"
	"math"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/detect"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/motion"
	"github.com/lanewatch/lanewatch/internal/track"
	"gocv.io/x/gocv"
)

const fps = 5

var t0 = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC) // a Monday; 20:00 in Shanghai

// mover is a synthetic object: its box at time s (seconds), or ok=false when absent.
type mover struct {
	label string
	at    func(s float64) (b [4]float64, ok bool)
}

// path moves a w x h box's foot point linearly from (x0,y0) to (x1,y1)
// between seconds from and to, standing still at the end until until.
func path(label string, w, h, x0, y0, x1, y1, from, to, until float64) mover {
	return mover{label, func(s float64) ([4]float64, bool) {
		if s < from || s > until {
			return [4]float64{}, false
		}
		k := min(1, (s-from)/(to-from))
		fx, fy := x0+(x1-x0)*k, y0+(y1-y0)*k
		return [4]float64{fx - w/2, fy - h, w, h}, true
	}}
}

// flicker hides a mover in every frame whose index i has i%every == 0
// (a detector missing someone now and then).
func flicker(m mover, every int) mover {
	return mover{m.label, func(s float64) ([4]float64, bool) {
		if int(math.Round(s*fps))%every == 0 {
			return [4]float64{}, false
		}
		return m.at(s)
	}}
}

type recorder struct{ got []incident.Signal }

func (r *recorder) Raise(s incident.Signal) { r.got = append(r.got, s) }

// simulate runs movers through the tracker and the rules for secs seconds.
func simulate(t *testing.T, cam config.Camera, opt Options, movers []mover, motionAt func(s float64) []motion.Box, secs float64) []incident.Signal {
	t.Helper()
	rec := &recorder{}
	if opt.Location == nil {
		opt.Location, _ = time.LoadLocation("Asia/Shanghai")
	}
	e, err := New(cam, rec, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	tr := track.New(track.Config{})
	for i := 0; float64(i) < secs*fps; i++ {
		s := float64(i) / fps
		at := t0.Add(time.Duration(s * float64(time.Second)))
		var dets []detect.Detection
		var mot []motion.Box
		for _, m := range movers {
			if b, ok := m.at(s); ok {
				dets = append(dets, detect.Detection{Label: m.label, Box: b, Confidence: 0.8})
			}
		}
		if motionAt != nil {
			mot = motionAt(s)
		}
		mm := make([][4]float64, len(mot))
		for k, b := range mot {
			mm[k] = b
		}
		e.Evaluate(Frame{At: at, Tracks: tr.Update(at, dets, mm), Motion: mot})
	}
	return rec.got
}

var square = []config.Point{{0.2, 0.5}, {0.6, 0.5}, {0.6, 0.9}, {0.2, 0.9}}

func noTamper() *bool { f := false; return &f }

func TestZoneRules(t *testing.T) {
	walkIn := path("person", 0.04, 0.12, 0.05, 0.7, 0.4, 0.7, 0, 3, 12) // enters at x=0.2 after ~1.3 s
	passThrough := path("person", 0.04, 0.12, 0.05, 0.7, 0.9, 0.7, 0, 4, 4)
	carParks := path("vehicle", 0.15, 0.1, 0.0, 0.8, 0.4, 0.8, 0, 3, 20)
	carCrawls := path("vehicle", 0.15, 0.1, 0.1, 0.8, 0.7, 0.8, 0, 20, 20)
	group := func(n int) []mover {
		var ms []mover
		for i := 0; i < n; i++ {
			x := 0.25 + 0.08*float64(i)
			ms = append(ms, path("person", 0.04, 0.12, x, 0.6, x, 0.6, 0, 1, 10))
		}
		return ms
	}
	tests := []struct {
		name      string
		zone      config.Zone
		movers    []mover
		secs      float64
		wantType  incident.Type
		wantMin   int     // signals at least
		wantMax   int     // and at most
		firstFrom float64 // no signal before this second
	}{
		{"intrusion after 1 s inside", config.Zone{ID: "lawn", Rule: RuleIntrusion, Polygon: square}, []mover{walkIn}, 12, incident.Intrusion, 8, 11, 2.2},
		{"intrusion while the schedule is active in the site's zone", config.Zone{ID: "lawn", Rule: RuleIntrusion, Schedule: "19:00-21:00", Polygon: square}, []mover{walkIn}, 12, incident.Intrusion, 8, 11, 2.2},
		{"no intrusion outside the schedule (noon UTC is 20:00 in Shanghai)", config.Zone{ID: "lawn", Rule: RuleIntrusion, Schedule: "11:00-13:00", Polygon: square}, []mover{walkIn}, 12, "", 0, 0, 0},
		{"intrusion ignores other classes", config.Zone{ID: "lawn", Rule: RuleIntrusion, Polygon: square}, []mover{carParks}, 12, "", 0, 0, 0},
		{"intrusion counts vehicles when asked", config.Zone{ID: "lawn", Rule: RuleIntrusion, Objects: []string{"vehicle"}, Polygon: square}, []mover{carParks}, 12, incident.Intrusion, 5, 12, 1},
		{"loitering after the dwell", config.Zone{ID: "lawn", Rule: RuleLoitering, Dwell: 5 * time.Second, Polygon: square}, []mover{walkIn}, 12, incident.Loitering, 4, 6, 6},
		{"loitering clock survives detector misses", config.Zone{ID: "lawn", Rule: RuleLoitering, Dwell: 5 * time.Second, Polygon: square}, []mover{flicker(walkIn, 4)}, 12, incident.Loitering, 4, 6, 6},
		{"crowd survives detector misses", config.Zone{ID: "square", Rule: RuleCrowd, MinCount: 3, Dwell: 2 * time.Second, Polygon: square}, []mover{flicker(group(3)[0], 3), group(3)[1], flicker(group(3)[2], 4)}, 10, incident.Crowd, 5, 8, 2.4},
		{"no loitering when passing through", config.Zone{ID: "lawn", Rule: RuleLoitering, Dwell: 5 * time.Second, Polygon: square}, []mover{passThrough}, 12, "", 0, 0, 0},
		{"crowd of 3", config.Zone{ID: "square", Rule: RuleCrowd, MinCount: 3, Dwell: 2 * time.Second, Polygon: square}, group(3), 10, incident.Crowd, 5, 8, 2.4},
		{"two are no crowd of 3", config.Zone{ID: "square", Rule: RuleCrowd, MinCount: 3, Dwell: 2 * time.Second, Polygon: square}, group(2), 10, "", 0, 0, 0},
		{"fire lane blocked by a parked car", config.Zone{ID: "lane", Rule: RuleFireLaneBlocked, Dwell: 5 * time.Second, Polygon: square}, []mover{carParks}, 20, incident.FireLaneBlocked, 10, 13, 7.6},
		{"a car crawling through is no blockage", config.Zone{ID: "lane", Rule: RuleFireLaneBlocked, Dwell: 5 * time.Second, Polygon: square}, []mover{carCrawls}, 20, "", 0, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cam := config.Camera{ID: "cam1", Zones: []config.Zone{tc.zone}, Tamper: noTamper()}
			got := simulate(t, cam, Options{}, tc.movers, nil, tc.secs)
			if len(got) < tc.wantMin || len(got) > tc.wantMax {
				t.Fatalf("%d signals, want %d..%d: %+v", len(got), tc.wantMin, tc.wantMax, got)
			}
			for i, s := range got {
				if s.Type != tc.wantType || s.Source != (incident.Source{Camera: "cam1", Zone: tc.zone.ID}) {
					t.Errorf("signal %d: %s %+v", i, s.Type, s.Source)
				}
				if len(s.Objects) == 0 || s.Objects[0].Track == 0 || s.Title == "" || s.Description == "" {
					t.Errorf("signal %d incomplete: %+v", i, s)
				}
				if i > 0 && s.At.Sub(got[i-1].At) < time.Second {
					t.Errorf("signals %d and %d less than a second apart", i-1, i)
				}
			}
			if len(got) > 0 && got[0].At.Sub(t0).Seconds() < tc.firstFrom {
				t.Errorf("first signal at %.1fs, not before %.1fs", got[0].At.Sub(t0).Seconds(), tc.firstFrom)
			}
		})
	}
}

func TestLineCrossing(t *testing.T) {
	right := path("person", 0.04, 0.12, 0.2, 0.6, 0.8, 0.6, 0, 4, 5)
	left := path("person", 0.04, 0.12, 0.8, 0.6, 0.2, 0.6, 0, 4, 5)
	// Bottom to top: walking left to right goes from its left to its right: "in".
	up := []config.Point{{0.5, 0.9}, {0.5, 0.3}}
	tests := []struct {
		name    string
		line    config.Line
		movers  []mover
		want    int
		wantDir string
	}{
		{"in, crossed left to right", config.Line{ID: "l", Direction: "in", Points: up}, []mover{right}, 1, "in"},
		{"in, crossed right to left", config.Line{ID: "l", Direction: "in", Points: up}, []mover{left}, 0, ""},
		{"out, crossed right to left", config.Line{ID: "l", Direction: "out", Points: up}, []mover{left}, 1, "out"},
		{"any", config.Line{ID: "l", Direction: "any", Points: up}, []mover{left}, 1, "out"},
		{"reversed line flips in", config.Line{ID: "l", Direction: "in", Points: []config.Point{up[1], up[0]}}, []mover{left}, 1, "in"},
		{"passing beyond the segment's end", config.Line{ID: "l", Points: []config.Point{{0.5, 0.1}, {0.5, 0.4}}}, []mover{right}, 0, ""},
		{"class not watched", config.Line{ID: "l", Objects: []string{"vehicle"}, Points: up}, []mover{right}, 0, ""},
		{"detector misses after the crossing are no new crossings", config.Line{ID: "l", Direction: "in", Points: up}, []mover{flicker(right, 3)}, 1, "in"},
		{"two people, two crossings", config.Line{ID: "l", Points: up}, []mover{right, path("person", 0.04, 0.12, 0.2, 0.8, 0.8, 0.8, 2, 6, 7)}, 2, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cam := config.Camera{ID: "cam1", Lines: []config.Line{tc.line}, Tamper: noTamper()}
			got := simulate(t, cam, Options{}, tc.movers, nil, 8)
			if len(got) != tc.want {
				t.Fatalf("%d signals, want %d: %+v", len(got), tc.want, got)
			}
			for _, s := range got {
				if s.Type != incident.LineCrossing || s.Source.Line != "l" || !strings.Contains(s.Title, tc.wantDir) {
					t.Errorf("signal %+v", s)
				}
			}
		})
	}
}

func TestFallingObject(t *testing.T) {
	facade := []config.Point{{0.3, 0}, {0.7, 0}, {0.7, 0.8}, {0.3, 0.8}}
	blob := func(y0, v, a float64, from, to float64) func(s float64) []motion.Box {
		return func(s float64) []motion.Box {
			if s < from || s > to {
				return nil
			}
			d := s - from
			y := y0 + v*d + 0.5*a*d*d
			return []motion.Box{{0.5, y, 0.02, 0.03}, {0.05, 0.9, 0.05, 0.05}}
		}
	}
	tests := []struct {
		name   string
		motion func(s float64) []motion.Box
		want   int
	}{
		{"dropped: accelerating down", blob(0.05, 0, 0.6, 1, 2.5), 1},
		{"thrown down: already moving, still accelerating", blob(0.05, 0.1, 0.5, 1, 2.3), 1},
		{"steady descent (a window cleaner's bucket)", blob(0.05, 0.15, 0, 1, 5), 0},
		{"rising (a bird)", blob(0.7, -0.1, -0.1, 1, 4), 0},
		{"falling outside the facade zone", func(s float64) []motion.Box {
			return []motion.Box{{0.9, 0.05 + 0.3*s*s, 0.02, 0.03}}
		}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cam := config.Camera{ID: "cam1", Zones: []config.Zone{{ID: "facade", Rule: RuleFallingObject, Polygon: facade}}, Tamper: noTamper()}
			got := simulate(t, cam, Options{}, nil, tc.motion, 6)
			if len(got) != tc.want {
				t.Fatalf("%d signals, want %d: %+v", len(got), tc.want, got)
			}
			for _, s := range got {
				if s.Type != incident.FallingObject || s.Objects[0].Label != "motion" {
					t.Errorf("signal %+v", s)
				}
			}
		})
	}
}

// greyScene renders 160x90 grey frames of a textured scene.
type greyScene struct{ a, b gocv.Mat }

func newGreyScene() *greyScene {
	mk := func(seed int64) gocv.Mat {
		m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(100, 0, 0, 0), 90, 160, gocv.MatTypeCV8UC1)
		rng := rand.New(rand.NewSource(seed))
		for i := 0; i < 40; i++ {
			x, y := rng.Intn(160), rng.Intn(90)
			v := uint8(rng.Intn(255))
			gocv.Rectangle(&m, image.Rect(x, y, x+5+rng.Intn(30), y+5+rng.Intn(20)), color.RGBA{v, v, v, 255}, -1)
		}
		return m
	}
	return &greyScene{a: mk(1), b: mk(2)}
}

func TestTamper(t *testing.T) {
	g := newGreyScene()
	defer g.a.Close()
	defer g.b.Close()
	render := func(kind string, dst *gocv.Mat) {
		switch kind {
		case "normal":
			g.a.CopyTo(dst)
		case "black":
			dst.SetTo(gocv.NewScalar(3, 0, 0, 0))
		case "grey cloth":
			dst.SetTo(gocv.NewScalar(140, 0, 0, 0))
		case "blurred":
			gocv.GaussianBlur(g.a, dst, image.Pt(21, 21), 0, 0, gocv.BorderDefault)
		case "turned":
			g.b.CopyTo(dst)
		case "lights on":
			g.a.AddUChar(60)
			g.a.CopyTo(dst)
			g.a.SubtractUChar(60)
		}
	}
	tests := []struct {
		name      string
		bad       string
		badFor    float64 // seconds, from second 4
		wantFire  bool
		wantClear bool
		wantWord  string
	}{
		{"lens covered", "black", 8, true, true, "covered"},
		{"grey cloth over the lens", "grey cloth", 8, true, true, "covered"},
		{"defocused", "blurred", 8, true, true, "defocused"},
		{"turned away", "turned", 8, true, true, "turned"},
		{"covered briefly (a hand passing)", "black", 3, false, false, ""},
		{"lights on is no tamper", "lights on", 8, false, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			e, err := New(config.Camera{ID: "cam1"}, rec, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			m := gocv.NewMatWithSize(90, 160, gocv.MatTypeCV8UC1)
			defer m.Close()
			for i := 0; i < 20*fps; i++ {
				s := float64(i) / fps
				kind := "normal"
				if s >= 4 && s < 4+tc.badFor {
					kind = tc.bad
				}
				render(kind, &m)
				e.Evaluate(Frame{At: t0.Add(time.Duration(s * float64(time.Second))), Grey: m})
			}
			fired, cleared := 0, 0
			for _, s := range rec.got {
				if s.Type != incident.CameraTamper || s.Source != (incident.Source{Camera: "cam1"}) {
					t.Errorf("signal %+v", s)
				}
				if s.Clear {
					cleared++
					continue
				}
				fired++
				if at := s.At.Sub(t0).Seconds(); at < 4+5-0.01 {
					t.Errorf("fired at %.1fs, before the condition lasted 5 s", at)
				}
				if !strings.Contains(s.Title, tc.wantWord) {
					t.Errorf("title %q, want %q", s.Title, tc.wantWord)
				}
			}
			if (fired > 0) != tc.wantFire || (cleared == 1) != tc.wantClear || cleared > 1 {
				t.Fatalf("fired %d, cleared %d; want fire %v, clear %v (%+v)", fired, cleared, tc.wantFire, tc.wantClear, rec.got)
			}
			if tc.wantClear && !rec.got[len(rec.got)-1].Clear {
				t.Errorf("last signal is not the clear")
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cam := range []config.Camera{
		{ID: "c", Zones: []config.Zone{{ID: "z", Rule: "intrusion", Polygon: square[:2]}}},
		{ID: "c", Zones: []config.Zone{{ID: "z", Rule: "picnic", Polygon: square}}},
		{ID: "c", Zones: []config.Zone{{ID: "z", Rule: "intrusion", Schedule: "25:00-26:00", Polygon: square}}},
		{ID: "c", Lines: []config.Line{{ID: "l", Points: []config.Point{{0, 0}}}}},
		{ID: "c", Lines: []config.Line{{ID: "l", Direction: "sideways", Points: []config.Point{{0, 0}, {1, 1}}}}},
	} {
		if _, err := New(cam, &recorder{}, Options{}); err == nil {
			t.Errorf("%+v accepted", cam)
		}
	}
}

func TestGeometry(t *testing.T) {
	for _, tc := range []struct {
		x, y float64
		in   bool
	}{{0.4, 0.7, true}, {0.1, 0.7, false}, {0.4, 0.95, false}, {0.59, 0.51, true}} {
		if got := inside(square, tc.x, tc.y); got != tc.in {
			t.Errorf("inside(%v,%v) = %v", tc.x, tc.y, got)
		}
	}
	// A line left to right across the picture: moving down it is "in".
	p0, p1 := config.Point{0.1, 0.5}, config.Point{0.9, 0.5}
	if dir, ok := crosses(p0, p1, 0.5, 0.4, 0.5, 0.6); !ok || dir != 1 {
		t.Errorf("moving down across a left-to-right line: %d %v, want in", dir, ok)
	}
	if dir, ok := crosses(p0, p1, 0.5, 0.6, 0.5, 0.4); !ok || dir != -1 {
		t.Errorf("moving up: %d %v, want out", dir, ok)
	}
}
