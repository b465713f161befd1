package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"gocv.io/x/gocv"

	"github.com/lanewatch/lanewatch/internal/camera"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/incidents"
	"github.com/lanewatch/lanewatch/internal/motion"
)

// clipCloseWait bounds how long shutdown waits for clips being written.
const clipCloseWait = 5 * time.Second

// clipWriter writes the evidence clip of every video incident: the pre-roll
// ring from PreRoll before the start to PostRoll after it, muxed to MP4
// without re-encoding, then attached to the incident. It is a component:
// each clip is written on a goroutine it tracks, and Close, which comes
// before the cameras', the evidence store's and the engine's, cuts the
// post-roll wait short and waits for the clips in flight, so that an
// incident just before a shutdown keeps its clip (with what the ring holds).
type clipWriter struct {
	g  *Gateway
	cs *Cameras

	follow *incidents.Follower
	ctx    context.Context // ends on Close: post-roll waits end
	cancel context.CancelFunc
	mu     sync.Mutex
	closed bool
	writes sync.WaitGroup
}

func (w *clipWriter) Start(ctx context.Context) error {
	w.ctx, w.cancel = context.WithCancel(context.WithoutCancel(ctx))
	w.follow = &incidents.Follower{Name: "incident clips", Source: w.g.Incidents, Logger: w.g.log, Handle: w.take}
	return w.follow.Start(ctx)
}

func (w *clipWriter) take(_ context.Context, ch incidents.Change) error {
	inc := ch.Incident
	c, isCam := w.cs.byID[inc.Source.Camera]
	if ch.Kind != incidents.Opened || !isCam || inc.Type == incident.CameraOffline {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.writes.Add(1)
	go func() {
		defer w.writes.Done()
		w.write(c, inc, w.g.log.With("incident", inc.ID, "camera", c.cfg.ID))
	}()
	return nil
}

// Close stops taking incidents and waits, up to clipCloseWait, for the
// clips being written.
func (w *clipWriter) Close() error {
	w.follow.Close()
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.cancel()
	done := make(chan struct{})
	go func() { w.writes.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(clipCloseWait):
		return fmt.Errorf("incident clips still being written after %s", clipCloseWait)
	}
}

func (w *clipWriter) write(c *cam, inc incident.Incident, log *slog.Logger) {
	g := w.g
	from := inc.StartedAt.Add(-g.Config.Evidence.PreRoll)
	to := inc.StartedAt.Add(g.Config.Evidence.PostRoll)
	if err := c.ing.WaitUntil(w.ctx, to); err != nil {
		// Stopping: the clip gets what the ring holds rather than nothing.
		log.Info("clip cut short: the gateway is stopping", "err", err)
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
