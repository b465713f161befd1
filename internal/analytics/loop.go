// Package analytics is the per-camera detection loop: it takes the newest
// decoded frame at the configured analysis rate, blacks out privacy masks,
// finds motion, runs the detector on the moving regions only, tracks objects,
// evaluates the camera's rules and keeps an annotated picture for the monitor
// wall and incident snapshots.
package analytics

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/detect"
	"github.com/lanewatch/lanewatch/internal/frames"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/motion"
	"github.com/lanewatch/lanewatch/internal/rules"
	"github.com/lanewatch/lanewatch/internal/track"
	"github.com/prometheus/client_golang/prometheus"
	"gocv.io/x/gocv"
)

// Loop analyses one camera. Set the fields, then call Run (or Process
// frame by frame, as the eval and benchmarks do); Close when done.
type Loop struct {
	Camera config.Camera
	// Location is the site's time zone, for zone schedules; nil is UTC.
	Location *time.Location
	Source   frames.Source
	// Detector finds objects in motion regions; nil uses the HOG people
	// detector. The Loop closes it.
	Detector detect.Detector
	Raiser   incident.Raiser
	// OnMotion(true) is called when motion starts, OnMotion(false) after no
	// motion for Camera.Detect.KeyframesWhenIdle (default 30s; negative:
	// never): ingest may decode key frames only while idle.
	OnMotion func(bool)
	// OnAnalyzed is called after each analysed frame (for fps_analyzed).
	OnAnalyzed func()
	// OnResult, if set, is called by Run after each frame analysed without
	// error, with the frame's decode time (frames.Info.At) and the time its
	// results were ready: per-frame latency for soak tests and metrics.
	OnResult func(frameAt, doneAt time.Time)
	Logger   *slog.Logger
	// Registerer takes the loop's Prometheus collectors (nil: a private
	// registry); Close unregisters them.
	Registerer prometheus.Registerer

	// Optional tuning; zero values take the packages' defaults.
	Motion motion.Config
	Track  track.Config
	Tamper rules.TamperConfig
	// JPEGQuality of incident snapshots; default 80.
	JPEGQuality int
	// DetectEvery runs the detector on every Nth analysed frame with motion
	// (default 2); on the frames between, the tracks that motion still covers
	// are carried to their predicted place. The detector is about half of
	// the loop's CPU, and at 5 analysed fps a person moves a few pixels
	// between two frames. Only while frames come at about the configured
	// rate: a loop far behind (under half of it, on a loaded box) detects on
	// every frame it gets, since objects then move far between frames; a
	// loop only a little behind keeps the cadence, so that a brief overload
	// does not feed itself. 1 detects on every frame.
	DetectEvery int

	init    sync.Once
	initErr error
	log     *slog.Logger
	privacy *motion.Polygons
	zonesPx *motion.Polygons
	motion  *motion.Detector
	tracker *track.Tracker
	look    *appearance
	rules   *rules.Engine
	planner detect.Planner
	metrics *metrics

	// Sweeps: the zones' boxes (frame fractions), searched on sweepFrames
	// analysed frames in a row every sweepEvery.
	sweepZones  [][4]float64
	sweepEvery  time.Duration
	sweepFrames int
	sweepLeft   int
	nextSweep   time.Time

	raw, work gocv.Mat
	boxes     []motion.Box
	rects     []image.Rectangle
	rois      []image.Rectangle
	dets      []detect.Detection
	lastAt    time.Time
	lastDet   bool // the detector ran on the previous analysed frame
	lastDetAt time.Time
	prev      []*track.Track
	roiDets   []detect.Detection
	motionF   [][4]float64
	labels    map[int]string

	moving     bool
	lastMotion time.Time
	idleAfter  time.Duration
	interval   time.Duration

	frameMu      sync.Mutex
	draw, shown  gocv.Mat // annotated: being drawn, last finished
	hasAnnotated bool
	snapParams   []int

	statsMu sync.Mutex
	stats   Stats
}

// Stats are the loop's counters. Durations are exponentially smoothed
// (about the last 10 frames).
type Stats struct {
	Frames       uint64 // analysed
	MotionFrames uint64
	SweepFrames  uint64 // frames whose zones were searched without motion (see Camera.Detect.Sweep)
	LightChanges uint64
	Detections   uint64
	Signals      uint64
	Errors       uint64
	MotionMS     float64 // downscale + background model + contours
	DetectMS     float64 // detector on the motion regions (frames with motion only)
	TotalMS      float64 // whole analysis of one frame
	LatencyMS    float64 // from the frame's decode to its results
	Tracks       int     // live tracks
	LastAt       time.Time
}

// ErrBadFrame: the source handed a frame the loop cannot analyse.
var ErrBadFrame = errors.New("analytics: bad frame")

func (l *Loop) setup() error {
	l.init.Do(func() {
		l.log = l.Logger
		if l.log == nil {
			l.log = slog.Default()
		}
		// One source of defaults: a camera not from config.Load (the eval,
		// tests) gets the same ones; below, its values are used as they are.
		l.Camera = config.ResolveCamera(l.Camera)
		l.log = l.log.With("camera", l.Camera.ID)
		var err error
		if l.metrics, err = newMetrics(l.Registerer, l.Camera.ID); err != nil {
			l.initErr = err
			return
		}
		mc := l.Motion
		mc.Masks = l.Camera.Masks
		if mc.MinArea == 0 {
			mc.MinArea = l.Camera.Detect.MinArea
		}
		if l.motion, err = motion.New(mc); err != nil {
			l.initErr = err
			return
		}
		l.privacy = motion.NewPolygons(l.Camera.Masks, motion.KindPrivacy)
		var zones []config.Mask
		for _, z := range l.Camera.Zones {
			zones = append(zones, config.Mask{ID: z.ID, Polygon: z.Polygon})
		}
		l.zonesPx = motion.NewPolygons(zones, "")
		l.look = newAppearance()
		tc := l.Track
		if tc.Hold == nil {
			tc.Hold = l.look.there
		}
		l.tracker = track.New(tc)
		if l.Detector == nil {
			l.Detector = detect.NewPeopleAndVehicles()
		}
		l.planner, _ = l.Detector.(detect.Planner)
		l.setupSweeps(tc.MinHits)
		raiser := l.Raiser
		if raiser == nil {
			raiser = incident.RaiserFunc(func(incident.Signal) {})
		}
		counted := incident.RaiserFunc(func(s incident.Signal) {
			l.statsMu.Lock()
			l.stats.Signals++
			l.statsMu.Unlock()
			l.metrics.signal(s)
			raiser.Raise(s)
		})
		if l.rules, err = rules.New(l.Camera, counted, rules.Options{Location: l.Location, Snapshot: l.snapshot, Tamper: l.Tamper, Logger: l.log}); err != nil {
			l.initErr = err
			return
		}
		l.raw, l.work, l.draw, l.shown = gocv.NewMat(), gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
		l.labels = map[int]string{}
		l.idleAfter = l.Camera.Detect.KeyframesWhenIdle
		l.interval = time.Duration(float64(time.Second) / l.Camera.Detect.FPS)
		q := l.JPEGQuality
		if q <= 0 {
			q = 80
		}
		l.snapParams = []int{gocv.IMWriteJpegQuality, q}
	})
	return l.initErr
}

// Run analyses frames from Source until ctx ends or the source closes. It
// takes the newest frame, analyses it, then waits out the rest of the
// analysis interval; frames arriving meanwhile are skipped (latest-frame
// semantics, counted as dropped by the source).
func (l *Loop) Run(ctx context.Context) error {
	if err := l.setup(); err != nil {
		return err
	}
	if l.Source == nil {
		return errors.New("analytics: no frame source")
	}
	var seq uint64
	var slot time.Time // when the current analysis slot started
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		info, err := l.Source.Next(ctx, seq, &l.raw)
		var convErr *frames.ConvertError
		switch {
		case errors.Is(err, frames.ErrClosed), ctx.Err() != nil:
			return nil
		case errors.As(err, &convErr):
			// That picture is lost; the camera's next one may be fine.
			seq = info.Seq
			l.countError(err)
			continue
		case err != nil:
			return fmt.Errorf("analytics: camera %s: %w", l.Camera.ID, err)
		}
		if seq != 0 && info.Seq > seq+1 {
			l.metrics.skipped.Add(float64(info.Seq - seq - 1))
		}
		seq = info.Seq
		start := time.Now()
		at := info.At
		if at.IsZero() {
			at = start
		}
		if err := l.Process(l.raw, at); err != nil {
			l.countError(err)
		} else if !info.At.IsZero() {
			done := time.Now()
			l.statsMu.Lock()
			l.stats.LatencyMS = smooth(l.stats.LatencyMS, ms(done.Sub(info.At)), l.stats.Frames)
			l.statsMu.Unlock()
			if l.OnResult != nil {
				l.OnResult(info.At, done)
			}
		}
		// Pace by a schedule, not by "interval after this frame": time spent
		// waiting for a frame or over budget on one frame is made up on the
		// next, so the loop holds its rate on average instead of slipping a
		// little every cycle. A loop more than one interval behind starts a
		// new schedule rather than bursting to catch up.
		if slot.IsZero() {
			slot = start
		}
		slot = slot.Add(l.interval)
		now := time.Now()
		if now.Sub(slot) > l.interval {
			slot = now
		}
		if wait := slot.Sub(now); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return nil
			case <-timer.C:
			}
		}
	}
}

// countError counts a frame that was not analysed and logs the first and
// every hundredth.
func (l *Loop) countError(err error) {
	l.statsMu.Lock()
	l.stats.Errors++
	n := l.stats.Errors
	l.statsMu.Unlock()
	if n == 1 || n%100 == 0 {
		l.log.Warn("frame not analysed", "err", err, "errors", n)
	}
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func smooth(old, v float64, n uint64) float64 {
	if n <= 1 {
		return v
	}
	return old + (v-old)/10
}

// Process analyses one BGR frame taken at at.
func (l *Loop) Process(frame gocv.Mat, at time.Time) error {
	if err := l.setup(); err != nil {
		return err
	}
	if frame.Empty() || frame.Type() != gocv.MatTypeCV8UC3 || frame.Cols() < 16 || frame.Rows() < 16 {
		return ErrBadFrame
	}
	t0 := time.Now()
	width := l.Camera.Detect.Width
	if frame.Cols() > width {
		h := (frame.Rows()*width + frame.Cols()/2) / frame.Cols()
		gocv.Resize(frame, &l.work, image.Pt(width, h), 0, 0, gocv.InterpolationArea)
	} else {
		frame.CopyTo(&l.work)
	}
	// Privacy first: nothing after this point, analysis or pictures, sees the masked areas.
	l.privacy.Fill(&l.work)
	size := image.Pt(l.work.Cols(), l.work.Rows())

	mres, err := l.motion.Apply(l.work, l.boxes)
	if err != nil {
		return err
	}
	l.boxes = mres.Boxes
	t1 := time.Now()
	l.noteMotion(mres.Motion(), at)

	l.dets = l.dets[:0]
	var detErr error
	ranDetector := false
	every := l.DetectEvery
	if every <= 0 {
		every = 2
	}
	sweep := l.sweeping(at)
	// Between detector runs, carry the confirmed tracks that motion still
	// covers. A new object waits at most one analysed frame for the detector.
	carry := !sweep && every > 1 && l.lastDet && at.Sub(l.lastDetAt) <= l.interval*5/2 && mres.Motion() && !mres.LightChange
	if carry {
		l.carryTracks(at)
		l.lastDet = false
	} else if (mres.Motion() || sweep) && !mres.LightChange {
		ranDetector = true
		l.lastDet, l.lastDetAt = true, at
		l.rects = l.rects[:0]
		for _, b := range l.boxes {
			l.rects = append(l.rects, b.Rect(size))
		}
		if sweep {
			for _, z := range l.sweepZones {
				l.rects = append(l.rects, motion.Box(z).Rect(size))
			}
		}
		if l.planner != nil {
			l.rois = l.planner.Plan(l.rects, size, l.rois)
		} else {
			l.rois = append(l.rois[:0], detect.Union(l.rects))
		}
		for _, roi := range l.rois {
			if roi.Dx() < 8 || roi.Dy() < 8 {
				continue // too small for any detector; the rules still see the raw motion
			}
			l.roiDets, err = l.Detector.Detect(l.work, roi, l.roiDets)
			if err != nil {
				detErr = err
				continue
			}
			l.dets = append(l.dets, l.roiDets...)
		}
	}
	if !mres.Motion() || mres.LightChange {
		l.lastDet = false
	}
	t2 := time.Now()
	if ranDetector {
		l.metrics.detect.Observe(t2.Sub(t1).Seconds())
	}
	l.motionF = l.motionF[:0]
	for _, b := range l.boxes {
		l.motionF = append(l.motionF, b)
	}
	l.look.grey = l.motion.Grey()
	var tracks []*track.Track
	if carry {
		tracks = l.tracker.Carry(at, l.dets, l.motionF)
	} else {
		tracks = l.tracker.Update(at, l.dets, l.motionF)
	}
	l.prev, l.lastAt = tracks, at
	if !mres.LightChange {
		l.look.update(tracks)
	}
	l.annotate(tracks)
	l.rules.Evaluate(rules.Frame{At: at, Tracks: tracks, Motion: l.boxes, LightChange: mres.LightChange, Grey: l.motion.Grey()})

	l.statsMu.Lock()
	s := &l.stats
	s.Frames++
	s.MotionMS = smooth(s.MotionMS, ms(t1.Sub(t0)), s.Frames)
	if mres.Motion() {
		s.MotionFrames++
		s.DetectMS = smooth(s.DetectMS, ms(t2.Sub(t1)), s.MotionFrames)
	}
	if mres.LightChange {
		s.LightChanges++
	}
	s.Detections += uint64(len(l.dets))
	s.TotalMS = smooth(s.TotalMS, ms(time.Since(t0)), s.Frames)
	s.Tracks = len(tracks)
	s.LastAt = at
	l.statsMu.Unlock()
	l.metrics.analysed.Inc()
	if l.OnAnalyzed != nil {
		l.OnAnalyzed()
	}
	if detErr != nil {
		return fmt.Errorf("analytics: detector: %w", detErr)
	}
	return nil
}

// TrackIDs are the ids of the confirmed tracks after the last frame.
func (l *Loop) TrackIDs() []int {
	var ids []int
	for _, t := range l.prev {
		if t.Confirmed {
			ids = append(ids, t.ID)
		}
	}
	return ids
}

// carryTracks turns the confirmed tracks that motion still overlaps into
// this frame's detections, each moved by its velocity since the last frame.
func (l *Loop) carryTracks(at time.Time) {
	dt := at.Sub(l.lastAt).Seconds()
	if dt < 0 || dt > 2 {
		dt = 0
	}
	for _, t := range l.prev {
		if !t.Confirmed {
			continue
		}
		box := t.Box
		box[0] += t.VX * dt
		box[1] += t.VY * dt
		for _, b := range l.boxes {
			if overlaps([4]float64(b), box) {
				l.dets = append(l.dets, detect.Detection{Label: t.Label, Box: box, Confidence: t.Confidence})
				break
			}
		}
	}
}

func overlaps(a, b [4]float64) bool {
	return a[0] < b[0]+b[2] && b[0] < a[0]+a[2] && a[1] < b[1]+b[3] && b[1] < a[1]+a[3]
}

func (l *Loop) noteMotion(m bool, at time.Time) {
	if m {
		l.lastMotion = at
		if !l.moving {
			l.moving = true
			if l.OnMotion != nil {
				l.OnMotion(true)
			}
		}
		return
	}
	if l.moving && l.idleAfter > 0 && at.Sub(l.lastMotion) >= l.idleAfter {
		l.moving = false
		if l.OnMotion != nil {
			l.OnMotion(false)
		}
	}
}

var (
	colZone   = color.RGBA{255, 200, 0, 255}
	colLine   = color.RGBA{255, 0, 255, 255}
	colMotion = color.RGBA{0, 160, 255, 255}
	colPerson = color.RGBA{0, 255, 0, 255}
	colOther  = color.RGBA{0, 80, 255, 255}
)

// annotate draws zones, lines, motion and tracks on a copy of the (privacy
// masked) frame and publishes it for Annotated.
func (l *Loop) annotate(tracks []*track.Track) {
	l.work.CopyTo(&l.draw)
	size := image.Pt(l.draw.Cols(), l.draw.Rows())
	l.zonesPx.Outline(&l.draw, colZone, 1)
	for _, ln := range l.Camera.Lines {
		if len(ln.Points) == 2 {
			// The arrow shows the line's direction: "in" is crossing it from its left to its right.
			a := image.Pt(int(ln.Points[0][0]*float64(size.X)), int(ln.Points[0][1]*float64(size.Y)))
			b := image.Pt(int(ln.Points[1][0]*float64(size.X)), int(ln.Points[1][1]*float64(size.Y)))
			gocv.ArrowedLine(&l.draw, a, b, colLine, 2)
		}
	}
	for _, b := range l.boxes {
		gocv.Rectangle(&l.draw, b.Rect(size), colMotion, 1)
	}
	for _, t := range tracks {
		if !t.Confirmed || (t.Missed > 0 && !t.Held) {
			continue
		}
		c := colOther
		if t.Label == detect.Person {
			c = colPerson
		}
		r := motion.Box(t.Box).Rect(size)
		gocv.Rectangle(&l.draw, r, c, 2)
		gocv.PutText(&l.draw, l.label(t), image.Pt(r.Min.X, max(r.Min.Y-3, 10)), gocv.FontHersheySimplex, 0.4, c, 1)
	}
	l.frameMu.Lock()
	l.draw, l.shown = l.shown, l.draw
	l.hasAnnotated = true
	l.frameMu.Unlock()
}

// label is "person 12", cached per track so that drawing allocates nothing.
func (l *Loop) label(t *track.Track) string {
	if s, ok := l.labels[t.ID]; ok {
		return s
	}
	if len(l.labels) > 512 {
		clear(l.labels)
	}
	s := t.Label + " " + strconv.Itoa(t.ID)
	l.labels[t.ID] = s
	return s
}

// Annotated copies the latest annotated frame (privacy masks blacked out,
// zones, lines, motion and tracked objects drawn) into dst; false before the
// first analysed frame. Safe to call from any goroutine.
func (l *Loop) Annotated(dst *gocv.Mat) bool {
	l.frameMu.Lock()
	defer l.frameMu.Unlock()
	if !l.hasAnnotated {
		return false
	}
	l.shown.CopyTo(dst)
	return true
}

// snapshot encodes the latest annotated frame; the rules call it only when
// one fires.
func (l *Loop) snapshot() []byte {
	l.frameMu.Lock()
	defer l.frameMu.Unlock()
	if !l.hasAnnotated {
		return nil
	}
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, l.shown, l.snapParams)
	if err != nil {
		l.log.Warn("snapshot not encoded", "err", err)
		return nil
	}
	defer buf.Close()
	return append([]byte(nil), buf.GetBytes()...)
}

// Stats returns a copy of the counters.
func (l *Loop) Stats() Stats {
	l.statsMu.Lock()
	defer l.statsMu.Unlock()
	return l.stats
}

// Close frees everything the loop holds, the detector included. Call it
// after Run has returned.
func (l *Loop) Close() {
	if l.metrics != nil {
		l.metrics.close()
		l.metrics = nil
	}
	if l.motion != nil {
		l.motion.Close()
		l.motion = nil
	}
	l.privacy.Close()
	l.zonesPx.Close()
	if l.look != nil {
		l.look.close()
		l.look = nil
	}
	if l.rules != nil {
		l.rules.Close()
		l.rules = nil
	}
	if l.Detector != nil {
		l.Detector.Close()
		l.Detector = nil
	}
	l.frameMu.Lock()
	if l.labels != nil { // the Mats exist once setup got that far
		for _, m := range []*gocv.Mat{&l.raw, &l.work, &l.draw, &l.shown} {
			m.Close()
		}
		l.labels = nil
	}
	l.hasAnnotated = false
	l.frameMu.Unlock()
}

// setupSweeps notes the zones to sweep when the detector finds still
// objects: all but falling_object, a motion rule. A sweep lasts minHits
// frames, enough for the tracker to confirm what it finds; the appearance
// hold keeps it afterwards.
func (l *Loop) setupSweeps(minHits int) {
	sf, ok := l.Detector.(detect.StillFinder)
	l.sweepEvery = l.Camera.Detect.Sweep
	if !ok || !sf.FindsStill() || l.sweepEvery < 0 {
		return
	}
	for _, z := range l.Camera.Zones {
		if z.Rule == "falling_object" || len(z.Polygon) == 0 {
			continue
		}
		x0, y0, x1, y1 := 1.0, 1.0, 0.0, 0.0
		for _, p := range z.Polygon {
			x0, y0, x1, y1 = min(x0, p[0]), min(y0, p[1]), max(x1, p[0]), max(y1, p[1])
		}
		l.sweepZones = append(l.sweepZones, [4]float64{x0, y0, x1 - x0, y1 - y0})
	}
	l.sweepFrames = max(minHits, 3)
}

// sweeping says whether this frame belongs to a sweep; the first starts
// with the first frame, so that what stands still at start-up is found.
func (l *Loop) sweeping(at time.Time) bool {
	if len(l.sweepZones) == 0 {
		return false
	}
	if l.sweepLeft == 0 && !at.Before(l.nextSweep) {
		l.sweepLeft, l.nextSweep = l.sweepFrames, at.Add(l.sweepEvery)
		l.metrics.sweeps.Inc()
	}
	if l.sweepLeft == 0 {
		return false
	}
	l.sweepLeft--
	l.statsMu.Lock()
	l.stats.SweepFrames++
	l.statsMu.Unlock()
	return true
}
