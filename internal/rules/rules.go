// Package rules turns a camera's tracks and motion into incident signals for
// the zones and lines configured on it (contract section 8): intrusion,
// line_crossing, loitering, crowd, fire_lane_blocked, falling_object, and
// camera_tamper for the camera itself.
//
// Positions are the "foot point" of a box, its bottom centre: where a person
// or vehicle stands on the ground, which is what a zone drawn on the ground
// means. Rules whose condition lasts (everything but line_crossing) raise
// again at most once per Options.Interval while it holds; the incident engine
// folds the repeats.
//
// Line direction: for a line p0->p1, "in" is a crossing from the left side to
// the right side as seen on the screen by someone standing at p0 and looking
// towards p1. For a line drawn left to right across the picture, "in" is
// moving down the picture (towards the camera); for a line drawn bottom to top,
// "in" is moving left to right.
package rules

import (
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/detect"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/motion"
	"github.com/lanewatch/lanewatch/internal/schedule"
	"github.com/lanewatch/lanewatch/internal/track"
	"gocv.io/x/gocv"
)

// Rule names of config.Zone.Rule and config.Line.Rule.
const (
	RuleIntrusion       = string(incident.Intrusion)
	RuleLineCrossing    = string(incident.LineCrossing)
	RuleLoitering       = string(incident.Loitering)
	RuleCrowd           = string(incident.Crowd)
	RuleFireLaneBlocked = string(incident.FireLaneBlocked)
	RuleFallingObject   = string(incident.FallingObject)
)

// Frame is what the rules see of one analysed frame.
type Frame struct {
	At          time.Time
	Tracks      []*track.Track
	Motion      []motion.Box // raw motion boxes, for falling objects
	LightChange bool
	// Grey is the motion detector's downscaled grey frame, for camera_tamper;
	// an empty Mat skips the tamper rule for this frame.
	Grey gocv.Mat
}

// Options of an Engine.
type Options struct {
	// Location is the site's time zone for schedules; nil is UTC.
	Location *time.Location
	// Interval: a lasting condition raises at most this often per source; default 1s.
	Interval time.Duration
	// Snapshot returns the annotated JPEG of the current frame; called at
	// most once per frame, only when a rule fires. Nil: no snapshots.
	Snapshot func() []byte
	Tamper   TamperConfig
	Logger   *slog.Logger
}

// ConfigError is a zone or line the engine cannot run.
type ConfigError struct {
	Camera, Item, Msg string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("rules: camera %s: %s: %s", e.Camera, e.Item, e.Msg)
}

// Engine evaluates one camera's rules. Not safe for concurrent use.
type Engine struct {
	cam    config.Camera
	raiser incident.Raiser
	opt    Options
	log    *slog.Logger

	zones  []*zoneRule
	lines  []*lineRule
	tamper *tamper

	// per-frame
	now      time.Time
	snap     []byte
	snapDone bool
	fired    int
	objBuf   []incident.Object
	fallDets []detect.Detection
}

type zoneRule struct {
	z       config.Zone
	sched   *schedule.Schedule
	objects []string
	dwell   time.Duration
	last    time.Time // last raise
	since   map[int]time.Time
	anchor  map[int][3]float64 // fire lane: foot x, y where it stopped, and seconds since epoch
	seen    map[int]bool
	crowdAt time.Time
	falls   *track.Tracker
	fallen  map[int]bool
}

type lineRule struct {
	l       config.Line
	sched   *schedule.Schedule
	objects []string
	dir     int // +1 in, -1 out, 0 any
	prev    map[int][2]float64
	lastHit map[int]time.Time
	seen    map[int]bool
}

// New compiles the camera's zones and lines.
func New(cam config.Camera, r incident.Raiser, opt Options) (*Engine, error) {
	if opt.Interval <= 0 {
		opt.Interval = time.Second
	}
	if opt.Location == nil {
		opt.Location = time.UTC
	}
	// One source of defaults: a camera not from config.Load (tests, the
	// eval) gets the same ones.
	cam = config.ResolveCamera(cam)
	e := &Engine{cam: cam, raiser: r, opt: opt, log: opt.Logger}
	if e.log == nil {
		e.log = slog.Default()
	}
	e.log = e.log.With("camera", cam.ID)
	for _, z := range cam.Zones {
		zr, err := e.compileZone(z)
		if err != nil {
			return nil, err
		}
		e.zones = append(e.zones, zr)
	}
	for _, l := range cam.Lines {
		if len(l.Points) != 2 || l.Points[0] == l.Points[1] {
			return nil, &ConfigError{cam.ID, "line " + l.ID, "needs two distinct points"}
		}
		if l.Rule != "" && l.Rule != RuleLineCrossing {
			return nil, &ConfigError{cam.ID, "line " + l.ID, fmt.Sprintf("rule %q: lines take line_crossing", l.Rule)}
		}
		lr := &lineRule{l: l, objects: l.Objects, prev: map[int][2]float64{}, lastHit: map[int]time.Time{}, seen: map[int]bool{}}
		if len(lr.objects) == 0 {
			lr.objects = []string{detect.Person, detect.Vehicle}
		}
		switch strings.ToLower(l.Direction) {
		case "in":
			lr.dir = 1
		case "out":
			lr.dir = -1
		case "", "any":
		default:
			return nil, &ConfigError{cam.ID, "line " + l.ID, fmt.Sprintf("direction %q: want in, out or any", l.Direction)}
		}
		var err error
		if lr.sched, err = parseSchedule(l.Schedule); err != nil {
			return nil, &ConfigError{cam.ID, "line " + l.ID, err.Error()}
		}
		e.lines = append(e.lines, lr)
	}
	if cam.Tamper == nil || *cam.Tamper {
		e.tamper = newTamper(opt.Tamper)
	}
	return e, nil
}

func parseSchedule(s string) (*schedule.Schedule, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil // always
	}
	return schedule.Parse(s)
}

func (e *Engine) compileZone(z config.Zone) (*zoneRule, error) {
	item := "zone " + z.ID
	if len(z.Polygon) < 3 {
		return nil, &ConfigError{e.cam.ID, item, "polygon needs at least 3 points"}
	}
	// z is resolved (config.ResolveCamera in New): dwell, objects and
	// min_count are the values to use, defaults included.
	zr := &zoneRule{z: z, objects: z.Objects, dwell: z.Dwell, since: map[int]time.Time{}, seen: map[int]bool{}}
	switch z.Rule {
	case RuleIntrusion, RuleLoitering, RuleCrowd, RuleFireLaneBlocked:
	case RuleFallingObject:
		zr.falls = track.New(track.Config{MinHits: 2, MaxAge: 2, MaxDist: 0.15, TrailLen: 16, HoldFor: -1})
		zr.fallen = map[int]bool{}
	default:
		return nil, &ConfigError{e.cam.ID, item, fmt.Sprintf("unknown rule %q", z.Rule)}
	}
	if z.Rule == RuleFireLaneBlocked {
		zr.anchor = map[int][3]float64{}
	}
	var err error
	if zr.sched, err = parseSchedule(z.Schedule); err != nil {
		return nil, &ConfigError{e.cam.ID, item, err.Error()}
	}
	return zr, nil
}

// Close frees the tamper rule's Mats.
func (e *Engine) Close() {
	if e.tamper != nil {
		e.tamper.close()
	}
}

// Evaluate runs every rule on one frame and returns the number of signals raised.
func (e *Engine) Evaluate(f Frame) int {
	e.now, e.snap, e.snapDone, e.fired = f.At, nil, false, 0
	for _, zr := range e.zones {
		active := zr.sched.Active(f.At, e.opt.Location)
		switch zr.z.Rule {
		case RuleFallingObject:
			e.falling(zr, f, active)
		case RuleCrowd:
			e.crowd(zr, f, active)
		default:
			e.dwellRule(zr, f, active)
		}
	}
	for _, lr := range e.lines {
		e.crossing(lr, f)
	}
	if e.tamper != nil && !f.Grey.Empty() {
		cond, fire, clear := e.tamper.step(f.Grey, f.At)
		src := incident.Source{Camera: e.cam.ID}
		switch {
		case fire && e.due(&e.tamper.lastRaise):
			e.raise(incident.Signal{Type: incident.CameraTamper, Source: src,
				Title: "Camera " + cond + ": " + e.name(), Description: e.tamper.describe(cond)}, nil)
		case clear:
			e.raise(incident.Signal{Type: incident.CameraTamper, Source: src, Clear: true,
				Title: "Camera picture back to normal: " + e.name(), Description: e.tamper.describe(TamperNone)}, nil)
		}
	}
	return e.fired
}

func (e *Engine) name() string {
	if e.cam.Name != "" {
		return e.cam.Name
	}
	return e.cam.ID
}

// due says whether a lasting condition may raise again, and records it.
func (e *Engine) due(last *time.Time) bool {
	if !last.IsZero() && e.now.Sub(*last) < e.opt.Interval {
		return false
	}
	*last = e.now
	return true
}

func (e *Engine) raise(s incident.Signal, objs []incident.Object) {
	s.At = e.now
	if s.Source.Zone != "" {
		for _, zr := range e.zones {
			if zr.z.ID == s.Source.Zone {
				s.Cooldown = zr.z.Cooldown // zones[].cooldown: 0 keeps incidents.cooldown of the type
				break
			}
		}
	}
	if len(objs) > 0 {
		s.Objects = slices.Clone(objs)
	}
	if e.opt.Snapshot != nil {
		if !e.snapDone {
			e.snap, e.snapDone = e.opt.Snapshot(), true
		}
		s.Snapshot = e.snap
	}
	e.fired++
	e.raiser.Raise(s)
}

func object(t *track.Track) incident.Object {
	return incident.Object{Label: t.Label, Track: t.ID, Box: t.Box, Confidence: t.Confidence}
}

// present: a confirmed track seen this frame or held in place.
func present(t *track.Track) bool { return t.Confirmed && (t.Missed == 0 || t.Held) }

// forget drops per-track state of tracks that are gone.
func forget[V any](m map[int]V, seen map[int]bool) {
	for id := range m {
		if !seen[id] {
			delete(m, id)
		}
	}
}

// dwellRule runs intrusion, loitering and fire_lane_blocked: objects of the
// zone's classes with their foot point inside for at least the dwell time
// (for fire lanes: standing still for it).
func (e *Engine) dwellRule(zr *zoneRule, f Frame, active bool) {
	clear(zr.seen)
	objs := e.objBuf[:0]
	var longest time.Duration
	for _, t := range f.Tracks {
		// A track missed for a frame or two (occluded, a detector miss) keeps
		// its dwell clock: it only counts again once seen.
		if !t.Confirmed || !slices.Contains(zr.objects, t.Label) {
			continue
		}
		x, y := t.Foot()
		if !inside(zr.z.Polygon, x, y) {
			continue
		}
		zr.seen[t.ID] = true
		if !present(t) {
			if _, ok := zr.since[t.ID]; !ok {
				continue
			}
		}
		since, ok := zr.since[t.ID]
		if !ok {
			since = f.At
			zr.since[t.ID] = since
		}
		if zr.anchor != nil {
			// Fire lane: the clock runs from when it stopped moving.
			a, ok := zr.anchor[t.ID]
			if !ok || math.Hypot(x-a[0], y-a[1]) > 0.03 {
				a = [3]float64{x, y, float64(f.At.UnixNano()) / 1e9}
				zr.anchor[t.ID] = a
			}
			since = time.Unix(0, int64(a[2]*1e9))
		}
		if d := f.At.Sub(since); d >= zr.dwell && present(t) {
			objs = append(objs, object(t))
			longest = max(longest, d)
		}
	}
	forget(zr.since, zr.seen)
	if zr.anchor != nil {
		forget(zr.anchor, zr.seen)
	}
	e.objBuf = objs
	if len(objs) == 0 || !active || !e.due(&zr.last) {
		return
	}
	s := incident.Signal{Type: incident.Type(zr.z.Rule), Severity: incident.Severity(zr.z.Severity),
		Source: incident.Source{Camera: e.cam.ID, Zone: zr.z.ID}}
	what := describeObjects(objs)
	switch zr.z.Rule {
	case RuleIntrusion:
		s.Title = fmt.Sprintf("Intrusion in %s", zr.z.ID)
		s.Description = fmt.Sprintf("%s inside zone %s on %s.", what, zr.z.ID, e.name())
	case RuleLoitering:
		s.Title = fmt.Sprintf("Loitering in %s", zr.z.ID)
		s.Description = fmt.Sprintf("%s in zone %s on %s for %s.", what, zr.z.ID, e.name(), longest.Round(time.Second))
	case RuleFireLaneBlocked:
		s.Title = fmt.Sprintf("Fire lane %s blocked", zr.z.ID)
		s.Description = fmt.Sprintf("%s standing in fire lane %s on %s for %s.", what, zr.z.ID, e.name(), longest.Round(time.Second))
	}
	e.raise(s, objs)
}

func describeObjects(objs []incident.Object) string {
	n := map[string]int{}
	for _, o := range objs {
		n[o.Label]++
	}
	var parts []string
	for _, l := range []string{detect.Person, detect.Vehicle, detect.Motion} {
		switch n[l] {
		case 0:
		case 1:
			parts = append(parts, "1 "+l)
		default:
			parts = append(parts, fmt.Sprintf("%d %ss", n[l], l))
		}
	}
	return strings.Join(parts, " and ")
}

// crowd: at least MinCount people in the zone, for the dwell time.
func (e *Engine) crowd(zr *zoneRule, f Frame, active bool) {
	objs := e.objBuf[:0]
	for _, t := range f.Tracks {
		// Someone missed for a frame or two is still part of the crowd.
		if !t.Confirmed || t.Missed > 2 || !slices.Contains(zr.objects, t.Label) {
			continue
		}
		if x, y := t.Foot(); inside(zr.z.Polygon, x, y) {
			objs = append(objs, object(t))
		}
	}
	e.objBuf = objs
	if len(objs) < zr.z.MinCount {
		zr.crowdAt = time.Time{}
		return
	}
	if zr.crowdAt.IsZero() {
		zr.crowdAt = f.At
	}
	if f.At.Sub(zr.crowdAt) < zr.dwell || !active || !e.due(&zr.last) {
		return
	}
	e.raise(incident.Signal{Type: incident.Crowd, Severity: incident.Severity(zr.z.Severity),
		Source:      incident.Source{Camera: e.cam.ID, Zone: zr.z.ID},
		Title:       fmt.Sprintf("Crowd in %s", zr.z.ID),
		Description: fmt.Sprintf("%d people in zone %s on %s for %s.", len(objs), zr.z.ID, e.name(), f.At.Sub(zr.crowdAt).Round(time.Second))}, objs)
}

// crossing: a track's foot point moved across the line segment since the last frame.
func (e *Engine) crossing(lr *lineRule, f Frame) {
	clear(lr.seen)
	objs := e.objBuf[:0]
	dirs := 0
	for _, t := range f.Tracks {
		if !slices.Contains(lr.objects, t.Label) {
			continue
		}
		// A track missed for a frame or two keeps its last position: were it
		// forgotten, its next sighting would count from where the track
		// began and "cross" every line between there and here.
		lr.seen[t.ID] = true
		if t.Missed > 0 {
			continue
		}
		x, y := t.Foot()
		p, ok := lr.prev[t.ID]
		if !ok {
			// First time seen: start from where the track began, so a line
			// crossed before the track was confirmed is not missed.
			p[0], p[1] = track.Foot(t.Trail[0].Box)
		}
		if !t.Confirmed {
			lr.prev[t.ID] = p
			continue
		}
		if side(lr.l.Points[0], lr.l.Points[1], x, y) == 0 {
			// Exactly on the line: wait for the side it leaves it on.
			lr.prev[t.ID] = p
			continue
		}
		lr.prev[t.ID] = [2]float64{x, y}
		dir, crossed := crosses(lr.l.Points[0], lr.l.Points[1], p[0], p[1], x, y)
		if !crossed || (lr.dir != 0 && dir != lr.dir) {
			continue
		}
		// Someone standing on the line jitters across it: one crossing per
		// track per couple of seconds.
		if last, ok := lr.lastHit[t.ID]; ok && f.At.Sub(last) < 2*time.Second {
			continue
		}
		lr.lastHit[t.ID] = f.At
		objs = append(objs, object(t))
		dirs += dir
	}
	forget(lr.prev, lr.seen)
	forget(lr.lastHit, lr.seen)
	e.objBuf = objs
	if len(objs) == 0 || !lr.sched.Active(f.At, e.opt.Location) {
		return
	}
	way := "in"
	if dirs < 0 {
		way = "out"
	}
	e.raise(incident.Signal{Type: incident.LineCrossing, Severity: incident.Severity(lr.l.Severity),
		Source:      incident.Source{Camera: e.cam.ID, Line: lr.l.ID},
		Title:       fmt.Sprintf("Line %s crossed (%s)", lr.l.ID, way),
		Description: fmt.Sprintf("%s crossed line %s on %s, direction %s.", describeObjects(objs), lr.l.ID, e.name(), way)}, objs)
}

// falling: small motion blobs in the zone, tracked on their own; a track that
// moves down with growing speed over at least 4 frames is a falling object.
// Raw motion is used because a thrown bottle or flower pot is no person or
// vehicle the detector would report.
func (e *Engine) falling(zr *zoneRule, f Frame, active bool) {
	dets := e.fallDets[:0]
	for _, b := range f.Motion {
		cx, cy := b[0]+b[2]/2, b[1]+b[3]/2
		if b[2]*b[3] > 0.02 || b[2] > 0.2 || b[3] > 0.25 || !inside(zr.z.Polygon, cx, cy) {
			continue
		}
		dets = append(dets, detect.Detection{Label: detect.Motion, Box: b, Confidence: 0.5})
	}
	e.fallDets = dets
	if f.LightChange {
		dets = nil
	}
	tracks := zr.falls.Update(f.At, dets, nil)
	objs := e.objBuf[:0]
	clear(zr.seen)
	for _, t := range tracks {
		zr.seen[t.ID] = true
		if t.Missed == 0 && !zr.fallen[t.ID] && accelerating(t.Trail) {
			zr.fallen[t.ID] = true
			objs = append(objs, object(t))
		}
	}
	forget(zr.fallen, zr.seen)
	e.objBuf = objs
	if len(objs) == 0 || !active {
		return
	}
	e.raise(incident.Signal{Type: incident.FallingObject, Severity: incident.Severity(zr.z.Severity),
		Source:      incident.Source{Camera: e.cam.ID, Zone: zr.z.ID},
		Title:       fmt.Sprintf("Falling object at %s", zr.z.ID),
		Description: fmt.Sprintf("An object fell down facade zone %s on %s, accelerating.", zr.z.ID, e.name())}, objs)
}

// accelerating: over the last 4 or more observations the object moved down
// each time, mostly vertically, and its downward speed grew.
func accelerating(trail []track.Point) bool {
	const n = 4
	if len(trail) < n {
		return false
	}
	pts := trail[len(trail)-n:]
	var v [n - 1]float64
	dx, dy := 0.0, 0.0
	for i := 1; i < n; i++ {
		dt := pts[i].At.Sub(pts[i-1].At).Seconds()
		if dt <= 0 || dt > 1 {
			return false
		}
		y0 := pts[i-1].Box[1] + pts[i-1].Box[3]/2
		y1 := pts[i].Box[1] + pts[i].Box[3]/2
		x0 := pts[i-1].Box[0] + pts[i-1].Box[2]/2
		x1 := pts[i].Box[0] + pts[i].Box[2]/2
		if y1 <= y0 {
			return false
		}
		v[i-1] = (y1 - y0) / dt
		dx += math.Abs(x1 - x0)
		dy += y1 - y0
	}
	if dx > 0.5*dy || dy < 0.05 {
		return false
	}
	// Growing speed, with some tolerance for box jitter on each step.
	for i := 1; i < len(v); i++ {
		if v[i] < 0.9*v[i-1] {
			return false
		}
	}
	return v[len(v)-1] > 1.25*v[0]
}
