package camera

import (
	"context"
	"errors"
	"fmt"

	"gocv.io/x/gocv"

	"github.com/lanewatch/lanewatch/internal/decode"
)

// ErrNoFrame: no key frame has arrived yet to build a snapshot from.
var ErrNoFrame = errors.New("camera: no frame yet")

// Snapshot returns the newest picture at full resolution as JPEG. It decodes
// the pre-roll from the last key frame with a private decoder, so it costs
// nothing until someone asks and needs no cooperation from the live path;
// repeated calls between two frames reuse the result.
func (c *Camera) Snapshot(ctx context.Context) ([]byte, error) {
	if c.closed.Load() || c.ring == nil {
		return nil, ErrClosed
	}
	c.snapMu.Lock()
	defer c.snapMu.Unlock()
	aus, seq, p := c.ring.lastGOP()
	if len(aus) == 0 {
		return nil, ErrNoFrame
	}
	if seq == c.snapSeq && c.snapJPEG != nil {
		return c.snapJPEG, nil
	}
	dec, err := decode.New(p.Codec, 0)
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	full := gocv.NewMat()
	defer full.Close()
	have := false
	for i, au := range aus {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var dst *gocv.Mat
		if i == len(aus)-1 {
			dst = &full
		}
		ok, _ := dec.Decode(au.NALUs, au.PTS, dst)
		have = have || (ok && dst != nil)
	}
	for !have {
		ok, err := dec.Flush(&full)
		if err != nil || !ok {
			break
		}
		have = true
	}
	if !have || full.Empty() {
		return nil, fmt.Errorf("camera %s: snapshot: %w", c.ID, ErrNoFrame)
	}
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, full, []int{gocv.IMWriteJpegQuality, 85})
	if err != nil {
		return nil, fmt.Errorf("camera %s: snapshot: %w", c.ID, err)
	}
	defer buf.Close()
	c.snapJPEG = append([]byte(nil), buf.GetBytes()...)
	c.snapSeq = seq
	return c.snapJPEG, nil
}
