package gateway

import (
	"context"
	"path/filepath"
	"time"

	"github.com/lanewatch/lanewatch/internal/camera"
	"github.com/lanewatch/lanewatch/internal/component"
	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/incidents"
	"github.com/lanewatch/lanewatch/internal/recording"
)

// recordingRoot is where segments live: <data_dir>/recordings/<camera>/.
func (g *Gateway) recordingRoot() string { return filepath.Join(g.Config.DataDir, "recordings") }

// startRecording makes a recorder for every camera whose record.mode is not
// off (startCameras attaches it as the camera's sink) and the janitor that
// keeps the recordings within retention and recording.max_disk.
func (g *Gateway) startRecording(ctx context.Context) error {
	m, err := recording.NewMetrics(g.Registry)
	if err != nil {
		return err
	}
	g.recorders, g.recMetrics = map[string]*recording.Recorder{}, m
	// Stopped after the cameras (the list closes in reverse), so the last
	// segments hold everything the cameras delivered; added before the
	// recorders start so that one failing stops those started before it.
	err = g.owns("recorders", func() error {
		for _, r := range g.recorders {
			r.Close()
		}
		return nil
	})
	if err != nil {
		return err
	}
	policies := map[string]recording.Policy{}
	for _, cc := range g.Config.Cameras {
		if cc.Record.Mode == config.RecordOff {
			continue
		}
		policies[cc.ID] = recording.Policy{Events: cc.Record.Mode == config.RecordEvents, Retain: cc.Record.Retain}
		if g.Config.Cluster != nil {
			continue // recorded while this gateway holds it (cluster.go)
		}
		r, err := g.newRecorder(ctx, cc)
		if err != nil {
			return err
		}
		g.recorders[cc.ID] = r
	}
	if len(policies) == 0 {
		return nil
	}
	j := &recording.Janitor{Root: g.recordingRoot(), Cameras: policies, MaxDisk: g.Config.Recording.MaxDisk,
		Windows: g.incidentWindows, Metrics: m, Logger: g.log.With("component", "recording")}
	return g.use(ctx, component.Named("recording janitor", j))
}

// newRecorder starts a camera's recorder (nil when it records nothing).
func (g *Gateway) newRecorder(ctx context.Context, cc config.Camera) (*recording.Recorder, error) {
	if cc.Record.Mode == config.RecordOff {
		return nil, nil
	}
	r := &recording.Recorder{Camera: cc.ID, Root: g.recordingRoot(), Segment: g.Config.Recording.Segment,
		Metrics: g.recMetrics, Logger: g.log.With("component", "recording")}
	if err := r.Start(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// recordingSinks is what startCameras attaches to a camera besides its ring.
func (g *Gateway) recordingSinks(cameraID string) []camera.Sink {
	if r := g.recorders[cameraID]; r != nil {
		return []camera.Sink{r}
	}
	return nil
}

// incidentWindows spans every incident with its pre- and post-roll on the
// cameras it concerns (its own, or its gate's), for the janitor: open ones
// are never deleted, and events mode keeps them all.
func (g *Gateway) incidentWindows() ([]recording.Window, error) {
	list, err := g.Incidents.List(incidents.Filter{Limit: 1 << 30})
	if err != nil {
		return nil, err
	}
	gateCams := map[string][]string{}
	for _, gt := range g.Config.Gates {
		gateCams[gt.ID] = gt.Cameras
	}
	pre, post := g.Config.Evidence.PreRoll, g.Config.Evidence.PostRoll
	var out []recording.Window
	for _, inc := range list {
		cams := gateCams[inc.Source.Gate]
		if inc.Source.Camera != "" {
			cams = []string{inc.Source.Camera}
		}
		open := inc.State != incident.Resolved
		end := inc.UpdatedAt
		switch {
		case open:
			end = time.Now()
		case inc.ResolvedAt != nil:
			end = *inc.ResolvedAt
		}
		for _, c := range cams {
			out = append(out, recording.Window{Camera: c, From: inc.StartedAt.Add(-pre), To: end.Add(post), Open: open})
		}
	}
	return out, nil
}
