// Package recordingtest reads a video file as the access units a camera
// hands its recorder, for tests that need real recorded segments.
package recordingtest

import (
	"io"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/avfile"
	"github.com/lanewatch/lanewatch/internal/camera"
)

// Feed is a camera stream read from a file: units with arrival times
// base + DTS, and the stream's parameter sets.
type Feed struct {
	AUs    []camera.AU
	Params camera.Params
}

// Load reads the file at path loops times back to back, as a camera that
// started at base would have delivered it.
func Load(t testing.TB, path string, base time.Time, loops int) Feed {
	t.Helper()
	var f Feed
	var offset time.Duration
	for range loops {
		r, err := avfile.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		ps := r.Params()
		f.Params = camera.Params{Codec: r.Codec(), VPS: ps.VPS, SPS: ps.SPS, PPS: ps.PPS, Width: r.Width(), Height: r.Height()}
		var last time.Duration
		for {
			au, err := r.ReadAU()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			pts := offset + au.DTS
			f.AUs = append(f.AUs, camera.AU{NALUs: au.NALUs, PTS: pts, At: base.Add(pts), Key: au.KeyFrame})
			last = au.DTS
		}
		offset += last + r.FrameDuration()
		r.Close()
	}
	return f
}

// Play hands every unit to w, with the parameter sets on key frames.
func (f Feed) Play(w interface {
	WriteAU(camera.AU, *camera.Params)
}) {
	for _, au := range f.AUs {
		var p *camera.Params
		if au.Key {
			cp := f.Params
			p = &cp
		}
		w.WriteAU(au, p)
	}
}
