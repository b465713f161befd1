package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"gocv.io/x/gocv"

	"github.com/lanewatch/lanewatch/internal/analytics"
	"github.com/lanewatch/lanewatch/internal/camera"
	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/console"
	"github.com/lanewatch/lanewatch/internal/detect"
	"github.com/lanewatch/lanewatch/internal/frames"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/incidents"
	"github.com/lanewatch/lanewatch/internal/motion"
	"github.com/lanewatch/lanewatch/internal/topics"
)

// statusEvery is how often a camera's status is republished while nothing
// changes, so that fps figures on MQTT and in InfluxDB stay current.
const statusEvery = 10 * time.Second

// Cameras runs every configured camera: RTSP ingest and decode into a
// latest-frame slot, the detection loop reading from it, and the status that
// goes to MQTT, InfluxDB, the console and camera_offline incidents.
// It is the console's CameraSource.
type Cameras struct {
	g    *Gateway
	list []*cam
	byID map[string]*cam

	mu   sync.Mutex
	subs map[chan console.CameraStatus]struct{}
}

type cam struct {
	cfg       config.Camera
	latest    *frames.Latest
	ing       *camera.Camera // the camera's (main) stream
	sub       *camera.Camera // with detect.url: the analysed sub-stream (substream.go)
	loop      *analytics.Loop
	mu        sync.Mutex
	offline   *camera.OfflineIncidents
	combState string
	combSince time.Time // when the two streams' combined state last changed
}

func (g *Gateway) startCameras(ctx context.Context) error {
	cs := &Cameras{g: g, byID: map[string]*cam{}, subs: map[chan console.CameraStatus]struct{}{}}
	g.Cameras = cs
	// One pool of networks for all cameras instead of one each (tens of MB
	// apiece); closed after the cameras' loops (closers run in reverse).
	var pool *detect.Pool
	if g.Config.Detector != nil && len(g.Config.Cameras) > 0 {
		p, err := detect.NewPool(*g.Config.Detector, g.Config.Detector.Pool)
		if err != nil {
			return fmt.Errorf("detector: %w", err)
		}
		pool, g.Detector = p, p
		g.onClose("detector pool", func() error { p.Close(); return nil })
		g.log.Info("detector loaded", "model", p.String())
	}
	for _, cc := range g.Config.Cameras {
		c := &cam{cfg: cc, latest: frames.NewLatest()}
		c.ing = camera.FromConfig(cc, c.latest)
		c.ing.Logger = g.log.With("component", "camera")
		c.ing.Registerer = g.Registry
		// The ring covers the clip's pre-roll plus the analysis lag: an
		// incident's start is its frame's time, which trails the stream by
		// up to a few seconds on a loaded box.
		c.ing.PreRoll = g.Config.Evidence.PreRoll + 6*time.Second
		c.ing.OnStatus = func(st camera.Status) {
			if c.sub != nil {
				st = c.status()
			}
			cs.statusChanged(c, st)
		}
		c.ing.Sinks = g.recordingSinks(cc.ID)
		c.offline = &camera.OfflineIncidents{Camera: cc.ID, Name: cc.Name, Grace: OfflineGrace, Raiser: g.Incidents}
		cs.withSubStream(c)

		var det detect.Detector
		if pool != nil {
			det = pool.Detector()
		}
		c.loop = &analytics.Loop{Camera: cc, Location: g.Config.Location(), Source: c.latest, Detector: det,
			Raiser: g.Incidents, OnMotion: c.analysed().SetMotion, OnAnalyzed: c.analysed().MarkAnalyzed,
			Logger: g.log.With("component", "analytics"), Registerer: g.Registry}
		cs.list = append(cs.list, c)
		cs.byID[cc.ID] = c
	}
	for _, c := range cs.list {
		if err := c.ing.Start(ctx); err != nil {
			return fmt.Errorf("camera %s: %w", c.cfg.ID, err)
		}
		if c.sub != nil {
			if err := c.sub.Start(ctx); err != nil {
				return fmt.Errorf("camera %s: sub-stream: %w", c.cfg.ID, err)
			}
		}
		loop := c.loop
		g.goRun("analytics "+c.cfg.ID, func() error {
			err := loop.Run(ctx)
			if errors.Is(err, frames.ErrClosed) {
				return nil
			}
			return err
		})
	}
	g.onClose("cameras", cs.close)
	g.goRun("camera status", func() error { cs.publishLoop(ctx); return nil })
	g.goRun("incident clips", func() error { cs.clips(ctx); return nil })
	return nil
}

func (cs *Cameras) close() error {
	var errs []error
	for _, c := range cs.list {
		c.offline.Close()
		errs = append(errs, c.ing.Close())
		if c.sub != nil {
			errs = append(errs, c.sub.Close())
		}
		c.latest.Close() // wakes the loop, which then returns
	}
	cs.mu.Lock()
	for ch := range cs.subs {
		delete(cs.subs, ch)
		close(ch)
	}
	cs.mu.Unlock()
	return errors.Join(errs...)
}

// OfflineGrace is how long a camera must stay offline before it becomes a
// camera_offline incident: a reconnect that succeeds within it (or a camera
// still connecting at start) pages nobody.
var OfflineGrace = 15 * time.Second

func (cs *Cameras) statusChanged(c *cam, st camera.Status) {
	c.offline.Update(st)
	cs.publish(st)
}

// publish sends one status to MQTT (retained, contract 2.3), the console's
// subscribers and InfluxDB.
func (cs *Cameras) publish(st camera.Status) {
	g := cs.g
	b, _ := json.Marshal(topics.CameraStatus{State: st.State, FPSIn: round1(st.FPSIn), FPSAnalyzed: round1(st.FPSAnalyzed), Since: st.Since})
	g.Bus.PublishAsync(g.Topics.CameraStatus(st.ID), true, b, func(err error) {
		if err != nil {
			g.log.Debug("camera status not published", "camera", st.ID, "err", err)
		}
	})
	cs.mu.Lock()
	for ch := range cs.subs {
		select {
		case ch <- toConsole(st):
		default: // a slow console client loses a status, never blocks the camera
		}
	}
	cs.mu.Unlock()
}

func (cs *Cameras) publishLoop(ctx context.Context) {
	t := time.NewTicker(statusEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, c := range cs.list {
			st := c.status()
			cs.publish(st)
			if w := cs.g.Influx; w != nil {
				as := c.loop.Stats()
				w.Camera(c.cfg.ID, st.FPSIn, st.FPSDecoded, st.FPSAnalyzed, st.DecodeMS, as.DetectMS, st.Reconnects, st.State != "offline", time.Now())
			}
		}
	}
}

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }

func toConsole(st camera.Status) console.CameraStatus {
	cs := console.CameraStatus{ID: st.ID, Name: st.Name, State: st.State, FPSIn: st.FPSIn, FPSDecoded: st.FPSDecoded,
		FPSAnalyzed: st.FPSAnalyzed, Reconnects: st.Reconnects, Reason: st.Reason}
	if !st.LastFrameAt.IsZero() {
		t := st.LastFrameAt
		cs.LastFrameAt = &t
	}
	if !st.Since.IsZero() {
		t := st.Since
		cs.Since = &t
	}
	return cs
}

// Cameras implements console.CameraSource.
func (cs *Cameras) Cameras() []console.CameraStatus {
	out := make([]console.CameraStatus, len(cs.list))
	for i, c := range cs.list {
		out[i] = toConsole(c.status())
		out[i].Streams = c.streams()
	}
	return out
}

func (cs *Cameras) Snapshot(ctx context.Context, id string) ([]byte, error) {
	c, ok := cs.byID[id]
	if !ok {
		return nil, console.ErrNotFound
	}
	b, err := c.ing.Snapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", console.ErrUnavailable, err)
	}
	return maskJPEG(b, c.cfg.Masks)
}

// maskJPEG blacks out the privacy masks of a full-resolution snapshot: the
// camera's own snapshot comes from its encoded stream, before analysis has
// masked anything, and every picture that leaves the gateway must be masked.
func maskJPEG(jpeg []byte, masks []config.Mask) ([]byte, error) {
	if !hasPrivacy(masks) {
		return jpeg, nil
	}
	img, err := gocv.IMDecode(jpeg, gocv.IMReadColor)
	if err != nil || img.Empty() {
		img.Close()
		return nil, fmt.Errorf("%w: snapshot not decodable", console.ErrUnavailable)
	}
	defer img.Close()
	motion.ApplyPrivacy(&img, masks)
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, img, []int{gocv.IMWriteJpegQuality, 90})
	if err != nil {
		return nil, err
	}
	defer buf.Close()
	return append([]byte(nil), buf.GetBytes()...), nil
}

func hasPrivacy(masks []config.Mask) bool {
	for _, m := range masks {
		if m.Kind == "" || m.Kind == "privacy" {
			return true
		}
	}
	return false
}

func (cs *Cameras) Annotated(id string, dst *gocv.Mat) bool {
	c, ok := cs.byID[id]
	if !ok {
		return false
	}
	return c.loop.Annotated(dst)
}

func (cs *Cameras) SubscribeStatus() (<-chan console.CameraStatus, func()) {
	ch := make(chan console.CameraStatus, 64)
	cs.mu.Lock()
	cs.subs[ch] = struct{}{}
	cs.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			cs.mu.Lock()
			if _, ok := cs.subs[ch]; ok {
				delete(cs.subs, ch)
				close(ch)
			}
			cs.mu.Unlock()
		})
	}
}

// clips writes the evidence clip of every video incident: the pre-roll ring
// from PreRoll before the start to PostRoll after it, muxed to MP4 without
// re-encoding, then attached to the incident.
func (cs *Cameras) clips(ctx context.Context) {
	g := cs.g
	changes, cancel := g.Incidents.Subscribe()
	defer cancel()
	for {
		select {
		case <-ctx.Done():
			return
		case ch, ok := <-changes:
			if !ok {
				return
			}
			inc := ch.Incident
			c, isCam := cs.byID[inc.Source.Camera]
			if ch.Kind != incidents.Opened || !isCam || inc.Type == incident.CameraOffline {
				continue
			}
			go cs.writeClip(ctx, c, inc, g.log.With("incident", inc.ID, "camera", c.cfg.ID))
		}
	}
}

func (cs *Cameras) writeClip(ctx context.Context, c *cam, inc incident.Incident, log *slog.Logger) {
	g := cs.g
	from := inc.StartedAt.Add(-g.Config.Evidence.PreRoll)
	to := inc.StartedAt.Add(g.Config.Evidence.PostRoll)
	if err := c.ing.WaitUntil(ctx, to); err != nil {
		return
	}
	aus, p := c.ing.Clip(from, to)
	if len(aus) == 0 {
		log.Info("no clip: nothing buffered for the incident's time")
		return
	}
	// A camera with privacy masks gets its clip decoded, masked and
	// encoded again; any other is copied from the stream as it came.
	err := g.Evidence.PutClip(inc.ID, func(path string) error {
		if hasPrivacy(c.cfg.Masks) {
			return camera.WriteMaskedClip(path, aus, p, func(img *gocv.Mat) { motion.ApplyPrivacy(img, c.cfg.Masks) })
		}
		return camera.WriteClip(path, aus, p)
	})
	if err != nil {
		log.Warn("incident clip not written", "err", err)
		return
	}
	if _, err := g.Incidents.AttachClip(inc.ID); err != nil {
		log.Warn("incident clip not attached", "err", err)
	}
}
