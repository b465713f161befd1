// Package track follows detections from frame to frame: greedy association on
// IoU with a constant-velocity prediction (and centre distance as a fallback
// for small, fast objects), stable ids, confirmation after a few hits,
// trajectories and velocity estimates.
package track

import (
	"math"
	"slices"
	"time"

	"github.com/lanewatch/lanewatch/internal/detect"
)

// Point is one observation of a track.
type Point struct {
	At  time.Time
	Box [4]float64
}

// Track is one followed object. Boxes are fractions of the frame.
type Track struct {
	ID         int
	Label      string
	Box        [4]float64 // last observed (or held) box
	Confidence float64
	Hits       int // frames with a matching detection
	Missed     int // consecutive frames without one
	Confirmed  bool
	FirstSeen  time.Time
	LastSeen   time.Time
	// Held: not seen this frame, but kept because nothing moved where it
	// stands (a parked car stops producing motion, not existing).
	Held bool
	// VX, VY: velocity of the box centre in frame fractions per second,
	// smoothed over recent observations.
	VX, VY float64
	// Trail holds the last observations, oldest first, at most Config.TrailLen.
	Trail []Point
}

// Foot is the bottom centre of the box: where the object stands.
func (t *Track) Foot() (x, y float64) { return Foot(t.Box) }

// Foot is the bottom centre of a box.
func Foot(b [4]float64) (x, y float64) { return b[0] + b[2]/2, b[1] + b[3] }

func centre(b [4]float64) (x, y float64) { return b[0] + b[2]/2, b[1] + b[3]/2 }

// Config tunes a Tracker; zero values take the defaults.
type Config struct {
	MinHits int     // hits before a track is confirmed; default 3
	MaxAge  int     // missed frames before a track is dropped; default 5
	MinIoU  float64 // with the predicted box, to match; default 0.1
	MaxDist float64 // centre distance (frame fractions) matched when IoU fails; default 0.08
	// MaxSpeed (frame fractions per second) widens that reach when frames
	// are far apart: a loop on a loaded box analyses a frame a second, and
	// a walker then moves further than MaxDist between frames; default 0.3.
	MaxSpeed float64
	TrailLen int // default 64
	// HoldFor: how long a confirmed track is held without detections while
	// it is still there; default 10m. 0 keeps the default; negative disables.
	HoldFor time.Duration
	// Hold, when set, decides whether an undetected confirmed track is still
	// there (the analytics loop compares its picture with the one at its last
	// detection). Unset: it is held when it was still and no motion touches it.
	Hold func(t *Track) bool
}

func (c Config) withDefaults() Config {
	if c.MinHits <= 0 {
		c.MinHits = 3
	}
	if c.MaxAge <= 0 {
		c.MaxAge = 5
	}
	if c.MinIoU <= 0 {
		c.MinIoU = 0.1
	}
	if c.MaxSpeed <= 0 {
		c.MaxSpeed = 0.3
	}
	if c.MaxDist <= 0 {
		c.MaxDist = 0.08
	}
	if c.TrailLen <= 0 {
		c.TrailLen = 64
	}
	if c.HoldFor == 0 {
		c.HoldFor = 10 * time.Minute
	}
	return c
}

// Tracker is the multi-object tracker of one camera. Not safe for concurrent use.
type Tracker struct {
	cfg    Config
	tracks []*Track
	nextID int
	last   time.Time
	pairs  []pair
	used   []bool
	free   []*Track // dropped tracks, reused to keep allocation flat
}

type pair struct {
	t, d  int
	score float64
}

// New makes a Tracker.
func New(cfg Config) *Tracker { return &Tracker{cfg: cfg.withDefaults(), nextID: 1} }

// Tracks are the live tracks (confirmed or not), valid until the next Update.
func (tr *Tracker) Tracks() []*Track { return tr.tracks }

// Update feeds one analysed frame's detections. motion is the frame's motion
// boxes: a confirmed track that is not detected but stands where nothing
// moves is held instead of aged (nil motion: no holding).
func (tr *Tracker) Update(at time.Time, dets []detect.Detection, motion [][4]float64) []*Track {
	return tr.update(at, dets, motion, true)
}

// Carry feeds a frame on which the detector did not run (the loop runs it
// on every Nth frame): dets are the confirmed tracks the caller carried
// forward. A track not yet confirmed was given no chance to be detected on
// such a frame, so it is not aged: otherwise a single detector miss after a
// carried frame would kill every track still waiting for confirmation, and
// at a low analysis rate nothing would ever be confirmed.
func (tr *Tracker) Carry(at time.Time, dets []detect.Detection, motion [][4]float64) []*Track {
	return tr.update(at, dets, motion, false)
}

func (tr *Tracker) update(at time.Time, dets []detect.Detection, motion [][4]float64, detected bool) []*Track {
	dt := 0.0
	if !tr.last.IsZero() {
		dt = at.Sub(tr.last).Seconds()
	}
	tr.last = at

	// Score every plausible (track, detection) pair against the predicted box.
	tr.pairs = tr.pairs[:0]
	for ti, t := range tr.tracks {
		pred := t.Box
		pred[0] += t.VX * dt
		pred[1] += t.VY * dt
		px, py := centre(pred)
		reach := max(tr.cfg.MaxDist, tr.cfg.MaxSpeed*dt) * float64(1+t.Missed)
		for di := range dets {
			d := &dets[di]
			if d.Label != t.Label {
				continue
			}
			iou := detect.IoU(pred, d.Box)
			score := 0.0
			if iou >= tr.cfg.MinIoU {
				score = 1 + iou
			} else {
				dx, dy := centre(d.Box)
				if dist := math.Hypot(dx-px, dy-py); dist < reach && sizeRatio(pred, d.Box) < 2.5 {
					score = 1 - dist/reach // always below any IoU match
				}
			}
			if score > 0 {
				tr.pairs = append(tr.pairs, pair{ti, di, score})
			}
		}
	}
	slices.SortFunc(tr.pairs, func(a, b pair) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return 0
	})
	tr.used = slices.Grow(tr.used[:0], len(dets)+len(tr.tracks))[:len(dets)+len(tr.tracks)]
	clear(tr.used)
	usedDet, usedTrack := tr.used[:len(dets)], tr.used[len(dets):]
	for _, p := range tr.pairs {
		if usedDet[p.d] || usedTrack[p.t] {
			continue
		}
		usedDet[p.d], usedTrack[p.t] = true, true
		tr.observe(tr.tracks[p.t], at, dt, dets[p.d])
	}

	// Age the unmatched tracks; drop the old ones.
	keep := tr.tracks[:0]
	for ti, t := range tr.tracks {
		if !usedTrack[ti] && (detected || t.Confirmed) {
			if t.Confirmed && tr.cfg.HoldFor > 0 && at.Sub(t.LastSeen) < tr.cfg.HoldFor && tr.there(t, motion) {
				// The velocity is kept: it is the speed it had when last seen,
				// which the Hold hook may judge on every frame.
				t.Held, t.Missed = true, 0
			} else {
				t.Held = false
				t.Missed++
			}
		}
		if t.Missed > tr.cfg.MaxAge || (!t.Confirmed && t.Missed > 1) {
			tr.free = append(tr.free, t)
			continue
		}
		keep = append(keep, t)
	}
	clear(tr.tracks[len(keep):])
	tr.tracks = keep

	// New tracks for what nothing matched.
	for di := range dets {
		if usedDet[di] {
			continue
		}
		t := tr.newTrack()
		d := dets[di]
		*t = Track{ID: tr.nextID, Label: d.Label, Box: d.Box, Confidence: d.Confidence, Hits: 1,
			FirstSeen: at, LastSeen: at, Trail: append(t.Trail[:0], Point{at, d.Box})}
		t.Confirmed = t.Hits >= tr.cfg.MinHits
		tr.nextID++
		tr.tracks = append(tr.tracks, t)
	}
	return tr.tracks
}

func (tr *Tracker) newTrack() *Track {
	if n := len(tr.free); n > 0 {
		t := tr.free[n-1]
		tr.free = tr.free[:n-1]
		return t
	}
	return &Track{Trail: make([]Point, 0, tr.cfg.TrailLen)}
}

func (tr *Tracker) observe(t *Track, at time.Time, dt float64, d detect.Detection) {
	if dt > 0 {
		// Velocity from the last real observation, smoothed: one noisy box
		// should not swing the prediction.
		last := t.Trail[len(t.Trail)-1]
		span := at.Sub(last.At).Seconds()
		if span > 0 {
			ox, oy := centre(last.Box)
			nx, ny := centre(d.Box)
			vx, vy := (nx-ox)/span, (ny-oy)/span
			if t.Hits == 1 {
				t.VX, t.VY = vx, vy
			} else {
				t.VX, t.VY = 0.5*t.VX+0.5*vx, 0.5*t.VY+0.5*vy
			}
		}
	}
	t.Box, t.Confidence, t.LastSeen = d.Box, d.Confidence, at
	t.Hits++
	t.Missed, t.Held = 0, false
	if t.Hits >= tr.cfg.MinHits {
		t.Confirmed = true
	}
	if len(t.Trail) == tr.cfg.TrailLen {
		copy(t.Trail, t.Trail[1:])
		t.Trail = t.Trail[:len(t.Trail)-1]
	}
	t.Trail = append(t.Trail, Point{at, d.Box})
}

// there decides whether an undetected track is held.
func (tr *Tracker) there(t *Track, motion [][4]float64) bool {
	if tr.cfg.Hold != nil {
		return tr.cfg.Hold(t)
	}
	return motion != nil && still(t) && !touched(t.Box, motion)
}

// still: the track's speed is below a tenth of its width per second.
func still(t *Track) bool {
	return math.Hypot(t.VX, t.VY) < 0.1*math.Max(t.Box[2], 0.01)
}

// touched: a motion box overlaps the (slightly grown) box.
func touched(b [4]float64, motion [][4]float64) bool {
	g := [4]float64{b[0] - b[2]*0.1, b[1] - b[3]*0.1, b[2] * 1.2, b[3] * 1.2}
	for _, m := range motion {
		if detect.IoU(g, m) > 0 {
			return true
		}
	}
	return false
}

func sizeRatio(a, b [4]float64) float64 {
	aa, bb := a[2]*a[3], b[2]*b[3]
	if aa <= 0 || bb <= 0 {
		return math.Inf(1)
	}
	return math.Max(aa/bb, bb/aa)
}
