package gateway

import (
	"gocv.io/x/gocv"

	"github.com/lanewatch/lanewatch/internal/camera"
	"github.com/lanewatch/lanewatch/internal/motion"
)

// clips is the incident clips component (camera.Clips): every video
// incident of a camera gets its clip from that camera's (main) stream.
func (cs *Cameras) clips() *camera.Clips {
	g := cs.g
	return &camera.Clips{Incidents: g.Incidents, Store: g.Evidence, Source: cs.clipSource,
		PreRoll: g.Config.Evidence.PreRoll, PostRoll: g.Config.Evidence.PostRoll, Logger: g.log.With("component", "clips")}
}

// clipSource is a camera's main stream while it runs here.
func (cs *Cameras) clipSource(id string) (camera.ClipSource, bool) {
	c, ok := cs.cam(id)
	if !ok || c.ing == nil {
		return camera.ClipSource{}, false
	}
	src := camera.ClipSource{Camera: c.ing}
	if masks := c.cfg.Masks; hasPrivacy(masks) {
		// A camera with privacy masks gets its clip decoded, masked and
		// encoded again.
		src.Mask = func(img *gocv.Mat) { motion.ApplyPrivacy(img, masks) }
	}
	return src, true
}
