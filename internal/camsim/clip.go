package camsim

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/lanewatch/lanewatch/internal/avfile"
)

// maxClipBytes bounds what one file may hold in memory. Clips are loaded
// whole so that looping never touches the disk or libavformat again; camsim
// is for short demo and test clips, not for hours of footage.
const maxClipBytes = 256 << 20

// clip is a file's access units in memory, ready to loop.
type clip struct {
	path    string
	codec   string
	params  avfile.ParamSets
	width   int
	height  int
	fps     float64
	aus     []avfile.AU   // first is a key frame; times relative to aus[0].DTS
	loopDur time.Duration // media time of one pass, including the last frame
	skipped int           // broken or out-of-order packets left out
}

// ClipError reports a file camsim cannot serve.
type ClipError struct {
	Path string
	Err  error // an *avfile.Error, or a description of what is wrong
}

func (e *ClipError) Error() string { return "camsim: " + e.Path + ": " + e.Err.Error() }
func (e *ClipError) Unwrap() error { return e.Err }

var errNoKeyFrame = errors.New("no key frame in the file")

// loadClip reads path whole. Leading AUs before the first key frame are
// dropped (a TS cut mid-GOP), and in-band parameter sets are put in front
// of every key frame that lacks them, as real cameras do, so that a reader
// joining mid-stream can decode from its first key frame on.
func loadClip(path string, opt avfile.Options) (*clip, error) {
	r, err := avfile.OpenWith(path, opt)
	if err != nil {
		return nil, &ClipError{Path: path, Err: err}
	}
	defer r.Close()
	c := &clip{path: path, codec: r.Codec(), params: r.Params(), width: r.Width(), height: r.Height(), fps: r.FrameRate()}
	size := 0
	for {
		au, err := r.ReadAU()
		if err == io.EOF {
			break
		}
		var ae *avfile.Error
		if errors.As(err, &ae) && errors.Is(err, avfile.ErrInvalidData) {
			c.skipped++
			continue
		}
		if err != nil {
			return nil, &ClipError{Path: path, Err: err}
		}
		if len(c.aus) == 0 && !au.KeyFrame {
			continue
		}
		if n := len(c.aus); n > 0 && au.DTS <= c.aus[n-1].DTS {
			// A damaged file; sending it would make RTP time run backwards.
			c.skipped++
			continue
		}
		for _, n := range au.NALUs {
			size += len(n)
		}
		if size > maxClipBytes {
			return nil, &ClipError{Path: path, Err: fmt.Errorf("larger than %d MiB", maxClipBytes>>20)}
		}
		c.aus = append(c.aus, au)
	}
	if len(c.aus) == 0 {
		return nil, &ClipError{Path: path, Err: errNoKeyFrame}
	}
	base := c.aus[0].DTS
	for i := range c.aus {
		au := &c.aus[i]
		au.DTS -= base
		au.PTS -= base
		if au.KeyFrame && !hasSPS(c.codec, au.NALUs) {
			au.NALUs = append(c.params.List(), au.NALUs...)
		}
	}
	frame := time.Duration(float64(time.Second) / c.fps)
	if n := len(c.aus); n > 1 {
		// The spacing of the file itself beats a rate libavformat may have guessed.
		frame = (c.aus[n-1].DTS - c.aus[0].DTS) / time.Duration(n-1)
	}
	c.loopDur = c.aus[len(c.aus)-1].DTS + frame
	return c, nil
}

func hasSPS(codec string, nalus [][]byte) bool {
	want := 7
	if codec == avfile.CodecH265 {
		want = 33
	}
	for _, n := range nalus {
		if avfile.NALUType(codec, n) == want {
			return true
		}
	}
	return false
}
