package camera

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"gocv.io/x/gocv"

	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/incidents"
)

// ClipIncidents is what Clips needs of the incident engine.
type ClipIncidents interface {
	incidents.Source
	AttachClip(id string) (incident.Incident, error)
}

// ClipStore keeps an incident's clip file (evidence.Store).
type ClipStore interface {
	PutClip(id string, write func(path string) error) error
}

// ClipSource is a camera whose incidents get clips.
type ClipSource struct {
	Camera *Camera
	// Mask blacks out the camera's privacy masks on a decoded frame; with
	// it the clip is decoded, masked and encoded again, without it copied
	// from the stream as it came.
	Mask func(*gocv.Mat)
}

// DefaultClipCloseWait bounds how long Close waits for clips being written.
const DefaultClipCloseWait = 5 * time.Second

// Clips writes the evidence clip of every video incident: the camera's
// pre-roll ring from PreRoll before the incident's start to PostRoll after
// it, muxed to MP4 without re-encoding (unless masked), then attached to the
// incident. Set the fields, Start, Close. Each clip is written on a
// goroutine it tracks; Close (before the cameras', the evidence store's and
// the engine's) cuts the post-roll wait short and waits for the clips in
// flight, so an incident just before a shutdown keeps its clip with what the
// ring holds.
type Clips struct {
	Incidents ClipIncidents
	Store     ClipStore
	// Source gives a camera's clip source by its ID; false: no clips (not
	// a camera, or not running here). Asked per incident, since a
	// cluster moves cameras between gateways.
	Source            func(camera string) (ClipSource, bool)
	PreRoll, PostRoll time.Duration
	CloseWait         time.Duration // 0: DefaultClipCloseWait
	Logger            *slog.Logger

	log    *slog.Logger
	follow *incidents.Follower
	ctx    context.Context // ends on Close: post-roll waits end
	cancel context.CancelFunc
	mu     sync.Mutex
	closed bool
	writes sync.WaitGroup
}

// Start follows the incidents in the background.
func (cl *Clips) Start(ctx context.Context) error {
	if cl.Incidents == nil || cl.Store == nil || cl.Source == nil {
		return errors.New("camera: clips: Incidents, Store and Source are required")
	}
	cl.log = cl.Logger
	if cl.log == nil {
		cl.log = slog.Default()
	}
	cl.ctx, cl.cancel = context.WithCancel(context.WithoutCancel(ctx))
	cl.follow = &incidents.Follower{Name: "incident clips", Source: cl.Incidents, Logger: cl.log, Handle: cl.take}
	return cl.follow.Start(ctx)
}

func (cl *Clips) take(_ context.Context, ch incidents.Change) error {
	inc := ch.Incident
	if ch.Kind != incidents.Opened || inc.Type == incident.CameraOffline {
		return nil
	}
	src, isCam := cl.Source(inc.Source.Camera)
	if !isCam {
		return nil
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.closed {
		return nil
	}
	cl.writes.Add(1)
	go func() {
		defer cl.writes.Done()
		cl.write(src, inc, cl.log.With("incident", inc.ID, "camera", inc.Source.Camera))
	}()
	return nil
}

// Close stops taking incidents and waits, up to CloseWait, for the clips
// being written.
func (cl *Clips) Close() error {
	if cl.follow == nil {
		return nil
	}
	cl.follow.Close()
	cl.mu.Lock()
	cl.closed = true
	cl.mu.Unlock()
	cl.cancel()
	wait := cl.CloseWait
	if wait <= 0 {
		wait = DefaultClipCloseWait
	}
	done := make(chan struct{})
	go func() { cl.writes.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(wait):
		return fmt.Errorf("camera: incident clips still being written after %s", wait)
	}
}

func (cl *Clips) write(src ClipSource, inc incident.Incident, log *slog.Logger) {
	from := inc.StartedAt.Add(-cl.PreRoll)
	to := inc.StartedAt.Add(cl.PostRoll)
	if err := src.Camera.WaitUntil(cl.ctx, to); err != nil {
		// Stopping: the clip gets what the ring holds rather than nothing.
		log.Info("clip cut short: stopping", "err", err)
	}
	aus, p := src.Camera.Clip(from, to)
	if len(aus) == 0 {
		log.Info("no clip: nothing buffered for the incident's time")
		return
	}
	err := cl.Store.PutClip(inc.ID, func(path string) error {
		if src.Mask != nil {
			return WriteMaskedClip(path, aus, p, src.Mask)
		}
		return WriteClip(path, aus, p)
	})
	if err != nil {
		log.Warn("incident clip not written", "err", err)
		return
	}
	if _, err := cl.Incidents.AttachClip(inc.ID); err != nil {
		log.Warn("incident clip not attached", "err", err)
	}
}
