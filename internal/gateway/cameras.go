package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"gocv.io/x/gocv"

	"github.com/lanewatch/lanewatch/internal/analytics"
	"github.com/lanewatch/lanewatch/internal/camera"
	"github.com/lanewatch/lanewatch/internal/component"
	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/console"
	"github.com/lanewatch/lanewatch/internal/detect"
	"github.com/lanewatch/lanewatch/internal/frames"
	"github.com/lanewatch/lanewatch/internal/motion"
	"github.com/lanewatch/lanewatch/internal/recording"
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
	ctx  context.Context // the run context, for cameras started later (cluster.go)
	pool *detect.Pool

	loops sync.WaitGroup // the cameras' analysis loops

	camMu sync.RWMutex // guards list and byID (replaced in a cluster)
	list  []*cam
	byID  map[string]*cam
	// remote is the status of cameras run by other gateways, from their
	// retained MQTT status (cluster.go).
	remote map[string]console.CameraStatus

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
	combSince time.Time           // when the two streams' combined state last changed
	loopDone  chan struct{}       // closed when the loop's Run has returned
	rec       *recording.Recorder // in a cluster: its recorder while held here
}

func (g *Gateway) startCameras(ctx context.Context) error {
	cs := &Cameras{g: g, byID: map[string]*cam{}, subs: map[chan console.CameraStatus]struct{}{}, ctx: ctx}
	g.Cameras = cs
	// One pool of networks for all cameras instead of one each (tens of MB
	// apiece); closed after the cameras' loops (the list closes in reverse).
	if g.Config.Detector != nil && len(g.Config.Cameras) > 0 {
		p, err := detect.NewPool(*g.Config.Detector, g.Config.Detector.Pool)
		if err != nil {
			return fmt.Errorf("detector: %w", err)
		}
		cs.pool, g.Detector = p, p
		if err := g.owns("detector pool", func() error { p.Close(); return nil }); err != nil {
			return err
		}
		g.log.Info("detector loaded", "model", p.String())
	}
	for _, cc := range g.Config.Cameras {
		// In a cluster a camera runs only while this gateway holds it
		// (cluster.go starts it); until then it is a placeholder.
		c := &cam{cfg: cc}
		if g.Config.Cluster == nil {
			c = cs.newCam(cc, g.recordingSinks(cc.ID))
		}
		cs.list = append(cs.list, c)
		cs.byID[cc.ID] = c
	}
	// Closes every camera, started or not (Close of one never started does
	// nothing), so a camera that fails to start stops the ones before it.
	if err := g.owns("cameras", cs.close); err != nil {
		return err
	}
	for _, c := range cs.list {
		if c.ing == nil {
			continue
		}
		if err := cs.run(ctx, c); err != nil {
			return err
		}
	}
	return g.use(ctx,
		component.Named("camera status", component.Run(func(ctx context.Context) error { cs.publishLoop(ctx); return nil })),
		component.Named("incident clips", cs.clips()))
}

// newCam builds a camera's ingest, sub-stream and analysis loop, not started.
func (cs *Cameras) newCam(cc config.Camera, sinks []camera.Sink) *cam {
	g := cs.g
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
	c.ing.Sinks = sinks
	c.offline = &camera.OfflineIncidents{Camera: cc.ID, Name: cc.Name, Grace: OfflineGrace, Raiser: g.Incidents}
	cs.withSubStream(c)

	var det detect.Detector
	if cs.pool != nil {
		det = cs.pool.Detector()
	}
	c.loop = &analytics.Loop{Camera: cc, Location: g.Config.Location(), Source: c.latest, Detector: det,
		Raiser: g.Incidents, OnMotion: c.analysed().SetMotion, OnAnalyzed: c.analysed().MarkAnalyzed,
		Logger: g.log.With("component", "analytics"), Registerer: g.Registry}
	return c
}

// run starts a camera built by newCam.
func (cs *Cameras) run(ctx context.Context, c *cam) error {
	if err := c.ing.Start(ctx); err != nil {
		return fmt.Errorf("camera %s: %w", c.cfg.ID, err)
	}
	if c.sub != nil {
		if err := c.sub.Start(ctx); err != nil {
			return fmt.Errorf("camera %s: sub-stream: %w", c.cfg.ID, err)
		}
	}
	// The loop ends when its frames do (close closes them, and so does
	// a cluster handing the camera over); close waits for it.
	loop, done := c.loop, make(chan struct{})
	c.loopDone = done
	cs.loops.Add(1)
	go func() {
		defer cs.loops.Done()
		defer close(done)
		err := loop.Run(ctx)
		loop.Close() // its Mats and detector, once Run has returned
		if err != nil && !errors.Is(err, frames.ErrClosed) {
			cs.g.log.Error("analysis stopped", "camera", c.cfg.ID, "err", err)
		}
	}()
	return nil
}

// cam is the camera's current entry (cluster.go swaps entries as the
// camera comes and goes).
func (cs *Cameras) cam(id string) (*cam, bool) {
	cs.camMu.RLock()
	defer cs.camMu.RUnlock()
	c, ok := cs.byID[id]
	return c, ok
}

// cams is every camera's current entry, in configuration order.
func (cs *Cameras) cams() []*cam {
	cs.camMu.RLock()
	defer cs.camMu.RUnlock()
	return slices.Clone(cs.list)
}

func (cs *Cameras) close() error {
	var errs []error
	for _, c := range cs.cams() {
		if c.ing == nil {
			continue // not run here
		}
		c.offline.Close()
		errs = append(errs, c.ing.Close())
		if c.sub != nil {
			errs = append(errs, c.sub.Close())
		}
		c.latest.Close() // wakes the loop, which then returns
	}
	cs.loops.Wait()
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
	if cur, _ := cs.cam(c.cfg.ID); cur != c {
		return // stopped because another gateway took it: its "stopped" is not the camera's state
	}
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
		for _, c := range cs.cams() {
			if c.ing == nil {
				continue // run by another gateway, which publishes its status
			}
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
	list := cs.cams()
	out := make([]console.CameraStatus, len(list))
	for i, c := range list {
		if c.ing == nil {
			out[i] = cs.remoteStatus(c.cfg)
			continue
		}
		out[i] = toConsole(c.status())
		out[i].Streams = c.streams()
		out[i].Gateway = cs.g.holder(c.cfg.ID)
	}
	return out
}

func (cs *Cameras) Snapshot(ctx context.Context, id string) ([]byte, error) {
	c, ok := cs.cam(id)
	if !ok {
		return nil, console.ErrNotFound
	}
	if c.ing == nil {
		return cs.g.remoteSnapshot(ctx, id) // siteview.go
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
	c, ok := cs.cam(id)
	if ok && c.ing == nil {
		return cs.g.remoteFrame(id, dst) // run by another gateway (siteview.go)
	}
	if !ok || c.loop == nil {
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
