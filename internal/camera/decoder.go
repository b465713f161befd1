package camera

import (
	"time"

	"github.com/lanewatch/lanewatch/internal/decode"
	"github.com/lanewatch/lanewatch/internal/frames"
)

// decodeSink is the reader that decodes the stream for analysis: idle
// key-frame mode and its wakes (sizeWatch), decoding into the camera's
// picture and the hand-over to Out. It runs inline on the source's
// goroutine, after the ring (a frame handed over is in the ring for a
// snapshot): decoding there (rather than queueing) applies back-pressure on
// TCP and keeps the frame order trivially right, the decoder is far faster
// than real time at camera resolutions, and a wake mid-GOP rebuilds its
// references from the ring's units before this one.
type decodeSink struct {
	c     *Camera
	ring  *ringSink
	dec   *decode.Decoder // per session: the codec may change on reconnect
	watch sizeWatch
}

// begin makes the session's decoder.
func (d *decodeSink) begin(codec string) error {
	dec, err := decode.New(codec, d.c.DetectWidth)
	if err != nil {
		return err
	}
	d.dec = dec
	d.watch.reset()
	return nil
}

// end frees the session's decoder; the source has stopped writing.
func (d *decodeSink) end() {
	if d.dec != nil {
		d.dec.Close()
		d.dec = nil
	}
}

func (d *decodeSink) WriteAU(au AU, _ *Params) {
	c, dec := d.c, d.dec
	if dec == nil {
		return
	}
	now := time.Now()
	sigmas := 0.0
	if dec.KeyframesOnly() {
		sigmas = c.WakeSigmas // judged while idle only; recorded always
	}
	if d.watch.observe(sliceBytes(dec.Codec(), au.NALUs), au.Key, sigmas) {
		c.wakeUntil.Store(now.Add(c.WakeHold).UnixNano())
		c.wakes.Add(1)
	}
	idle := c.idleMode(now)
	if idle != dec.KeyframesOnly() {
		dec.SetKeyframesOnly(idle)
		if !idle && !au.Key {
			// Motion is back mid-GOP (the loop saw it, or this unit's size
			// woke us): rebuild the references from the pre-roll so that
			// this very unit decodes, instead of waiting up to a GOP for
			// the next key frame.
			c.ring.sinceKey(d.ring.last, func(a AU) { dec.Decode(a.NALUs, a.PTS, nil) }) //nolint:errcheck // counted below
		}
	}
	before := dec.Stats()
	t0 := time.Now()
	ok, _ := dec.DecodePicture(au.NALUs, au.PTS, c.pic)
	c.decodeNanos.Add(uint64(time.Since(t0)))
	after := dec.Stats()
	if n := after.Skipped - before.Skipped; n > 0 {
		if dec.KeyframesOnly() {
			c.framesSkipped.Add(n)
		} else {
			c.framesDropped.Add(n)
		}
	}
	c.decodeErrors.Add(after.Errors - before.Errors)
	if !ok {
		return
	}
	// Before the queued sinks: a recorder starting at this key frame needs
	// its size.
	f := dec.Frame()
	c.srcW.Store(int32(f.Width))
	c.srcH.Store(int32(f.Height))
	c.framesDecoded.Add(1)
	c.lastFrame.Store(now.UnixNano())
	c.seq++
	w, h := decode.OutputSize(f.Width, f.Height, c.DetectWidth)
	c.pic = c.Out.PutPicture(c.pic, c.DetectWidth, frames.Info{Seq: c.seq, PTS: f.PTS, At: au.At, Width: w, Height: h, KeyFrame: f.KeyFrame})
}

// ringSink keeps the stream's units for clips, snapshots and wakes.
type ringSink struct {
	r    *ring
	last uint64 // the current unit's number in the ring (0: not kept)
}

func (s *ringSink) WriteAU(au AU, _ *Params) { s.last = s.r.push(au.NALUs, au.PTS, au.At, au.Key) }
