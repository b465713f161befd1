package eval

import (
	"math"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/incident"
	"gocv.io/x/gocv"
)

// Expect is one ground-truth event: signals of Type on Source (a zone or
// line id; "" for the camera) are correct between From and To seconds, and at
// least one must come.
type Expect struct {
	Type     incident.Type
	Source   string
	From, To float64
}

// Clip is a generated clip: Render draws the frame at t seconds.
type Clip struct {
	Name    string
	Note    string
	Camera  config.Camera
	FPS     float64
	Seconds float64
	Render  func(s *Scene, t float64, dst *gocv.Mat)
	Expect  []Expect
}

const (
	W, H = 640, 360
)

func rect(x0, y0, x1, y1 float64) []config.Point {
	return []config.Point{{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}}
}

// walk is the x of something moving from x0 to x1 between t0 and t1, and
// whether it is in the picture at t.
func walk(t, t0, t1, x0, x1 float64) (int, bool) {
	if t < t0 || t > t1 {
		return 0, false
	}
	return int(x0 + (x1-x0)*(t-t0)/(t1-t0)), true
}

func camera(id string) config.Camera {
	return config.Camera{ID: id, Detect: config.Detect{FPS: 5, Width: 640}}
}

var notamper = false

// noTamper turns the tamper rule off in clips about other rules, so that
// their precision is about their own rule.
func noTamper(c config.Camera) config.Camera { c.Tamper = &notamper; return c }

// Generated returns the generated clips with their ground truth.
func Generated() []Clip {
	var clips []Clip

	// A person walks across; the yard zone is crossed from x=224 to x=416 px.
	{
		c := noTamper(camera("walker"))
		c.Zones = []config.Zone{
			{ID: "yard", Rule: "intrusion", Polygon: rect(0.35, 0.6, 0.65, 1)},
			{ID: "roof", Rule: "intrusion", Objects: []string{"person", "vehicle", "motion"}, Polygon: rect(0, 0, 1, 0.3)},
		}
		in, out := (224.0-20)/600*9, (416.0-20)/600*9
		clips = append(clips, Clip{Name: "intrusion-walker", Camera: c, FPS: 5, Seconds: 10,
			Note: "person figure walks through the yard zone; nothing on the roof zone",
			Render: func(s *Scene, t float64, dst *gocv.Mat) {
				s.Background(dst, 0)
				if x, ok := walk(t, 0, 9, 20, 620); ok {
					Person(dst, x, 300)
				}
			},
			Expect: []Expect{{incident.Intrusion, "yard", in + 1, out + 1}}})
	}

	// Someone hangs about the entrance, swaying, for 20 s.
	{
		c := noTamper(camera("loiter"))
		c.Zones = []config.Zone{{ID: "entrance", Rule: "loitering", Dwell: 8e9, Polygon: rect(0.3, 0.6, 0.7, 1)}}
		clips = append(clips, Clip{Name: "loitering", Camera: c, FPS: 5, Seconds: 24,
			Note: "person figure walks in and wanders inside the zone; dwell 8 s",
			Render: func(s *Scene, t float64, dst *gocv.Mat) {
				s.Background(dst, 0)
				x, y := 660-340*t/3, 290.0
				if t > 3 {
					x = 320 + 60*math.Sin(0.9*(t-3))
					y = 290 + 15*math.Sin(0.5*(t-3))
				}
				Person(dst, int(x), int(y))
			},
			Expect: []Expect{{incident.Loitering, "entrance", 1.9 + 8 - 0.5, 24.5}}})
	}

	// A group of four strolls slowly across the square.
	{
		c := noTamper(camera("crowd"))
		c.Zones = []config.Zone{{ID: "square", Rule: "crowd", MinCount: 3, Dwell: 3e9, Polygon: rect(0.15, 0.55, 0.85, 1)}}
		// Feet start at x=110..380 px (the zone is 96..544 px) and move at 20 px/s:
		// the fourth leaves at 8.2 s, the third at 12.7 s.
		clips = append(clips, Clip{Name: "crowd", Camera: c, FPS: 5, Seconds: 16,
			Note: "four person figures stroll across side by side at 20 px/s; min_count 3, dwell 3 s",
			Render: func(s *Scene, t float64, dst *gocv.Mat) {
				s.Background(dst, 0)
				for k := 0; k < 4; k++ {
					Person(dst, int(110+90*float64(k)+20*t), 300+8*(k%2))
				}
			},
			Expect: []Expect{{incident.Crowd, "square", 3 + 0.4 - 0.3, 12.7 + 0.5}}})
	}

	// A car drives into the fire lane and parks; someone walks by later.
	{
		c := noTamper(camera("firelane"))
		c.Zones = []config.Zone{{ID: "lane", Rule: "fire_lane_blocked", Dwell: 6e9, Polygon: rect(0.25, 0.7, 0.75, 1)}}
		clips = append(clips, Clip{Name: "fire-lane", Camera: c, FPS: 5, Seconds: 30,
			Note: "car figure drives in, brakes, stops at 4 s and stays 26 s; dwell 6 s; a person passes behind at 12-20 s",
			Render: func(s *Scene, t float64, dst *gocv.Mat) {
				s.Background(dst, 0)
				// 130 px/s, braking evenly over 2 s to stop at x=320 at 4 s.
				x := -70 + 130*t
				if t > 2 {
					u := math.Min(t-2, 2)
					x = 190 + 130*u - 32.5*u*u
				}
				Vehicle(dst, int(x), 330)
				if px, ok := walk(t, 12, 20, 620, 20); ok {
					Person(dst, px, 200)
				}
			},
			Expect: []Expect{{incident.FireLaneBlocked, "lane", 4 + 6 - 1, 30.5}}})
	}

	// Two people cross two directed lines, one each way.
	{
		c := noTamper(camera("lines"))
		c.Lines = []config.Line{
			// Drawn bottom to top: walking left to right is "in".
			{ID: "gate", Rule: "line_crossing", Direction: "in", Points: []config.Point{{0.5, 1}, {0.5, 0.4}}},
			{ID: "exit", Rule: "line_crossing", Direction: "out", Points: []config.Point{{0.25, 1}, {0.25, 0.4}}},
		}
		clips = append(clips, Clip{Name: "line-crossing", Camera: c, FPS: 5, Seconds: 16,
			Note: "A walks left to right (in at gate, in at exit: only gate fires), B right to left (out at gate: no; out at exit: fires)",
			Render: func(s *Scene, t float64, dst *gocv.Mat) {
				s.Background(dst, 0)
				if x, ok := walk(t, 0, 8, 20, 620); ok {
					Person(dst, x, 250)
				}
				if x, ok := walk(t, 8, 16, 620, 20); ok {
					Person(dst, x, 330)
				}
			},
			Expect: []Expect{
				{incident.LineCrossing, "gate", 3.5, 5.5},
				{incident.LineCrossing, "exit", 8 + 460.0/75 - 0.5, 8 + 460.0/75 + 1.5},
			}})
	}

	// Objects fall from the facade; a bird flies across.
	{
		c := noTamper(camera("facade"))
		c.Detect.FPS = 10
		c.Zones = []config.Zone{{ID: "facade", Rule: "falling_object", Polygon: rect(0.05, 0, 0.95, 0.9)}}
		const g = 400.0 // px/s²: a 3 m fall over 280 px
		drop := func(dst *gocv.Mat, t, t0 float64, x int) {
			if t < t0 {
				return
			}
			y := 30 + 0.5*g*(t-t0)*(t-t0)
			Ball(dst, x, int(math.Min(y, 300)), 7)
		}
		clips = append(clips, Clip{Name: "falling-object", Camera: c, FPS: 10, Seconds: 10,
			Note: "two objects dropped under gravity (2 s and 6 s); a bird crossing level at 4 s; a person walking",
			Render: func(s *Scene, t float64, dst *gocv.Mat) {
				s.Background(dst, 0)
				drop(dst, t, 2, 200)
				drop(dst, t, 6, 450)
				if x, ok := walk(t, 4, 6, 50, 600); ok {
					Ball(dst, x, 80-int(10*(t-4)), 5)
				}
				if x, ok := walk(t, 0, 10, 600, 40); ok {
					Person(dst, x, 330)
				}
			},
			Expect: []Expect{{incident.FallingObject, "facade", 2.3, 3.6}, {incident.FallingObject, "facade", 6.3, 7.6}}})
	}

	// Camera tamper: covered, defocused, turned away, each from 6 s to 16 s.
	for _, tc := range []struct {
		name, note string
		bad        func(s *Scene, dst *gocv.Mat)
	}{
		{"lens-covered", "black frames with noise (a hand or tape over the lens)", func(s *Scene, dst *gocv.Mat) {
			dst.SetTo(gocv.NewScalar(4, 4, 4, 0))
			s.Noise(dst)
		}},
		{"defocused", "the picture blurred (31 px Gaussian)", func(s *Scene, dst *gocv.Mat) { s.Blur(dst) }},
		{"turned-away", "another scene (the camera pushed round)", func(s *Scene, dst *gocv.Mat) {
			other := NewScene(W, H, 99)
			defer other.Close()
			gocv.Flip(other.bg, dst, 0) // upside-down building: a different view
		}},
	} {
		c := camera("tamper-" + tc.name)
		bad := tc.bad
		clips = append(clips, Clip{Name: tc.name, Camera: c, FPS: 5, Seconds: 24, Note: tc.note + " from 6 s to 16 s; must persist 5 s",
			Render: func(s *Scene, t float64, dst *gocv.Mat) {
				s.Background(dst, 0)
				if x, ok := walk(t, 0, 24, 20, 620); ok {
					Person(dst, x, 300)
				}
				if t >= 6 && t < 16 {
					bad(s, dst)
				}
			},
			Expect: []Expect{{incident.CameraTamper, "", 6 + 5 - 0.3, 16.3}}})
	}

	// Negative: lights switched on and off over a still scene.
	{
		c := camera("lights")
		all := []string{"person", "vehicle", "motion"}
		c.Zones = []config.Zone{
			{ID: "everywhere", Rule: "intrusion", Objects: all, Polygon: rect(0, 0, 1, 1)},
			{ID: "facade", Rule: "falling_object", Polygon: rect(0, 0, 1, 1)},
		}
		clips = append(clips, Clip{Name: "lights-on", Camera: c, FPS: 5, Seconds: 16,
			Note: "still scene; brightness +50 at 5 s, -40 at 10 s: no motion, no intrusion, no tamper",
			Render: func(s *Scene, t float64, dst *gocv.Mat) {
				light := 0.0
				switch {
				case t >= 10:
					light = 10
				case t >= 5:
					light = 50
				}
				s.Background(dst, light)
			}})
	}

	// Lights switched on while someone walks through: still an intrusion.
	{
		c := noTamper(camera("lights-walker"))
		c.Zones = []config.Zone{{ID: "yard", Rule: "intrusion", Polygon: rect(0.35, 0.6, 0.65, 1)}}
		in, out := (224.0-20)/600*9, (416.0-20)/600*9
		clips = append(clips, Clip{Name: "lights-on-walker", Camera: c, FPS: 5, Seconds: 10,
			Note: "person walks through the yard zone; lights +50 at 3.6 s as they enter",
			Render: func(s *Scene, t float64, dst *gocv.Mat) {
				light := 0.0
				if t >= 3.6 {
					light = 50
				}
				s.Background(dst, light)
				if x, ok := walk(t, 0, 9, 20, 620); ok {
					Person(dst, x, 300)
				}
			},
			Expect: []Expect{{incident.Intrusion, "yard", in + 1, out + 1}}})
	}
	return clips
}
