package gateway

import (
	"strings"
	"time"

	"github.com/lanewatch/lanewatch/internal/camera"
	"github.com/lanewatch/lanewatch/internal/console"
)

// subStreamPreRoll: the analysis stream's ring only rebuilds references
// when analysis wakes mid-GOP; clips and recordings come from the main one.
const subStreamPreRoll = 4 * time.Second

// withSubStream makes a camera with detect.url read two streams: the
// sub-stream is decoded for analysis (and the wall's live tiles, which are
// the analysis frames), the main stream is read without decoding for the
// ring, clips, recordings and full-resolution snapshots. Zones and boxes
// are fractions of the frame, and a camera's streams show the same field of
// view, so they map between the two whatever their sizes and aspects.
func (cs *Cameras) withSubStream(c *cam) {
	cc := c.cfg
	if cc.Detect.URL == "" {
		return
	}
	c.ing.NoDecode, c.ing.Out = true, nil
	sub := camera.FromConfig(cc, c.latest)
	// ":" is not allowed in camera ids: the sub-stream's metrics cannot
	// collide with another camera's.
	sub.ID, sub.Name, sub.URL = cc.ID+":sub", cc.Name+" (sub-stream)", cc.Detect.URL
	sub.PreRoll = subStreamPreRoll
	sub.Logger, sub.Registerer = c.ing.Logger, c.ing.Registerer
	sub.OnStatus = func(camera.Status) { cs.statusChanged(c, c.status()) }
	c.sub = sub
}

// analysed is the stream the analysis loop reads.
func (c *cam) analysed() *camera.Camera {
	if c.sub != nil {
		return c.sub
	}
	return c.ing
}

// status is the camera's status; with a sub-stream, both streams in one:
// online when both are, offline when both are, degraded otherwise.
func (c *cam) status() camera.Status {
	main := c.ing.Status()
	if c.sub == nil {
		return main
	}
	sub := c.sub.Status()
	st := main
	st.FPSDecoded, st.FPSAnalyzed, st.LastFrameAt = sub.FPSDecoded, sub.FPSAnalyzed, sub.LastFrameAt
	st.DecodeMS = sub.DecodeMS // with a sub-stream only it is decoded
	st.FramesDecoded, st.FramesSkipped, st.FramesDropped = sub.FramesDecoded, sub.FramesSkipped, sub.FramesDropped
	st.DecodeErrors += sub.DecodeErrors
	st.PacketsLost += sub.PacketsLost
	st.Reconnects += sub.Reconnects
	st.KeyframesOnly = sub.KeyframesOnly
	var why []string
	if main.State != camera.StateOnline {
		why = append(why, "main stream: "+main.Reason)
	}
	if sub.State != camera.StateOnline {
		why = append(why, "sub-stream: "+sub.Reason)
	}
	switch {
	case main.State == camera.StateOnline && sub.State == camera.StateOnline:
		st.State = camera.StateOnline
	case main.State == camera.StateOffline && sub.State == camera.StateOffline:
		st.State = camera.StateOffline
	default:
		st.State = camera.StateDegraded
	}
	st.Reason = strings.Join(why, "; ")
	c.mu.Lock()
	if st.State != c.combState || c.combSince.IsZero() {
		c.combState, c.combSince = st.State, time.Now()
	}
	st.Since = c.combSince
	c.mu.Unlock()
	return st
}

// streams lists a two-stream camera's streams for the console.
func (c *cam) streams() []console.StreamStatus {
	if c.sub == nil {
		return nil
	}
	out := make([]console.StreamStatus, 0, 2)
	for _, s := range []struct {
		name string
		cam  *camera.Camera
	}{{"main", c.ing}, {"sub", c.sub}} {
		st := s.cam.Status()
		out = append(out, console.StreamStatus{Name: s.name, State: st.State, Reason: st.Reason,
			FPSIn: st.FPSIn, Width: st.Width, Height: st.Height})
	}
	return out
}

// AnalysedFrames is how many frames the camera's analysis loop has taken
// (0 for an unknown camera).
func (cs *Cameras) AnalysedFrames(id string) uint64 {
	if c, ok := cs.cam(id); ok && c.loop != nil {
		return c.loop.Stats().Frames
	}
	return 0
}
