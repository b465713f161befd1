package camera

import (
	"fmt"
	"image"
	"time"

	"gocv.io/x/gocv"

	"github.com/lanewatch/lanewatch/internal/avfile"
	"github.com/lanewatch/lanewatch/internal/decode"
)

// Timeline turns a stream's PTS into strictly increasing muxer times.
// Cameras send no B-frames, so decode order is presentation order. A
// reconnect restarts the stream's timestamps: what follows continues after
// the wall-clock gap instead of going back in time.
type Timeline struct {
	started      bool
	last, offset time.Duration
	lastAt       time.Time
}

// Next is the muxer time of a unit with this PTS, arrived at at.
func (t *Timeline) Next(pts time.Duration, at time.Time) time.Duration {
	dts := pts + t.offset
	if t.started && dts <= t.last {
		gap := max(at.Sub(t.lastAt), time.Millisecond)
		t.offset = t.last + gap - pts
		dts = t.last + gap
	}
	t.started, t.last, t.lastAt = true, dts, at
	return dts
}

// ClipUnits are a clip's access units from its first key frame, timed for
// the muxer (Timeline).
func ClipUnits(aus []AU) []avfile.AU {
	var out []avfile.AU
	var tl Timeline
	for _, au := range aus {
		if len(out) == 0 && !au.Key {
			continue
		}
		dts := tl.Next(au.PTS, au.At)
		out = append(out, avfile.AU{NALUs: au.NALUs, PTS: dts, DTS: dts, KeyFrame: au.Key})
	}
	return out
}

func (p Params) list() [][]byte { return avfile.ParamSets{VPS: p.VPS, SPS: p.SPS, PPS: p.PPS}.List() }

// WriteClip muxes a clip (Camera.Clip) into an MP4 at path, copying the
// camera's stream without re-encoding.
func WriteClip(path string, aus []AU, p Params) error {
	w, err := avfile.CreateMP4(path, p.Codec, p.list(), p.Width, p.Height)
	if err != nil {
		return err
	}
	for _, au := range ClipUnits(aus) {
		if err := w.WriteAU(au); err != nil {
			w.Close()
			return err
		}
	}
	return w.Close()
}

// WriteMaskedClip writes a clip that must not show everything the camera
// sees: it decodes the clip's frames, lets mask black out the privacy
// masks, and encodes them again as H.264. Only the clip's own frames are
// decoded and encoded, on the caller's goroutine.
func WriteMaskedClip(path string, aus []AU, p Params, mask func(*gocv.Mat)) error {
	units := ClipUnits(aus)
	if len(units) == 0 {
		return fmt.Errorf("camera: clip: no key frame")
	}
	dec, err := decode.New(p.Codec, 0) // 0: full resolution
	if err != nil {
		return err
	}
	defer dec.Close()
	bgr, yuv := gocv.NewMat(), gocv.NewMat()
	defer bgr.Close()
	defer yuv.Close()
	var enc *avfile.Encoder
	var w *avfile.Writer
	defer func() {
		if enc != nil {
			enc.Close()
		}
	}()
	fps := 10
	if n := len(units); n > 1 {
		if d := units[n-1].DTS - units[0].DTS; d > 0 {
			fps = max(1, int(float64(n-1)/d.Seconds()+0.5))
		}
	}
	write := func(out []avfile.AU) error {
		for _, au := range out {
			if err := w.WriteAU(au); err != nil {
				return err
			}
		}
		return nil
	}
	frame := func(pts time.Duration) error {
		if bgr.Empty() || bgr.Type() != gocv.MatTypeCV8UC3 {
			return nil
		}
		// I420 needs even sizes: drop an odd last row or column.
		even := bgr.Region(imageRect(bgr.Cols()&^1, bgr.Rows()&^1))
		defer even.Close()
		mask(&even)
		if enc == nil {
			if enc, err = avfile.NewEncoder(even.Cols(), even.Rows(), fps); err != nil {
				return err
			}
			if w, err = avfile.CreateMP4(path, avfile.CodecH264, enc.Params(), even.Cols(), even.Rows()); err != nil {
				return err
			}
		}
		gocv.CvtColor(even, &yuv, gocv.ColorBGRToYUVI420)
		b, err := yuv.DataPtrUint8()
		if err != nil {
			return err
		}
		out, err := enc.Encode(b, pts)
		if err != nil {
			return err
		}
		return write(out)
	}
	fail := func(err error) error {
		if w != nil {
			w.Close()
		}
		return fmt.Errorf("camera: masked clip: %w", err)
	}
	for _, u := range units {
		ok, _ := dec.Decode(u.NALUs, u.DTS, &bgr) // a damaged unit is skipped, like on the wall
		if !ok {
			continue
		}
		if err := frame(dec.Frame().PTS); err != nil {
			return fail(err)
		}
	}
	for {
		ok, err := dec.Flush(&bgr)
		if err != nil || !ok {
			break
		}
		if err := frame(dec.Frame().PTS); err != nil {
			return fail(err)
		}
	}
	if enc == nil {
		return fmt.Errorf("camera: masked clip: nothing decoded")
	}
	out, err := enc.Flush()
	if err == nil {
		err = write(out)
	}
	if err != nil {
		return fail(err)
	}
	return w.Close()
}

func imageRect(w, h int) image.Rectangle { return image.Rect(0, 0, w, h) }
