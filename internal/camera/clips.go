package camera

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"gocv.io/x/gocv"

	"github.com/lanewatch/lanewatch/internal/incidents"
)

// ClipIncidents is what Clips needs of the incident engine.
type ClipIncidents interface {
	Subscribe() (<-chan incidents.Change, func())
	AttachClip(id string) (incidents.Incident, error)
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

// Clips writes the evidence clip of every video incident: the camera's
// pre-roll ring from PreRoll before the incident's start to PostRoll after
// it, muxed to MP4 without re-encoding (unless masked), then attached to the
// incident. Set the fields, Start, Close.
type Clips struct {
	Incidents ClipIncidents
	Store     ClipStore
	// Source gives a camera's clip source by its ID; false: no clips (not
	// a camera, or not running here). Asked per incident, since a
	// cluster moves cameras between gateways.
	Source            func(camera string) (ClipSource, bool)
	PreRoll, PostRoll time.Duration
	Logger            *slog.Logger

	log    *slog.Logger
	cancel context.CancelFunc
	wg     sync.WaitGroup
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
	changes, unsub := cl.Incidents.Subscribe()
	ctx, cl.cancel = context.WithCancel(ctx)
	cl.wg.Add(1)
	go func() {
		defer cl.wg.Done()
		defer unsub()
		cl.run(ctx, changes)
	}()
	return nil
}

// Close stops following incidents and waits for the clips being written
// (a clip still waiting for its post-roll is given up).
func (cl *Clips) Close() error {
	if cl.cancel != nil {
		cl.cancel()
	}
	cl.wg.Wait()
	return nil
}

func (cl *Clips) run(ctx context.Context, changes <-chan incidents.Change) {
	for {
		select {
		case <-ctx.Done():
			return
		case ch, ok := <-changes:
			if !ok {
				return
			}
			inc := ch.Incident
			src, isCam := cl.Source(inc.Source.Camera)
			if ch.Kind != incidents.Opened || !isCam || inc.Type == incidents.CameraOffline {
				continue
			}
			cl.wg.Add(1)
			go func() {
				defer cl.wg.Done()
				cl.write(ctx, src, inc, cl.log.With("incident", inc.ID, "camera", inc.Source.Camera))
			}()
		}
	}
}

func (cl *Clips) write(ctx context.Context, src ClipSource, inc incidents.Incident, log *slog.Logger) {
	from := inc.StartedAt.Add(-cl.PreRoll)
	to := inc.StartedAt.Add(cl.PostRoll)
	if err := src.Camera.WaitUntil(ctx, to); err != nil {
		return
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
