package camera

import (
	"slices"

	"github.com/lanewatch/lanewatch/internal/decode"
)

// sizeWatch watches the sizes of a stream's P-frames while the camera
// idles on key frames: on a still scene an encoder sends P-frames of about
// the same size (mostly skipped macroblocks plus sensor noise), and anything
// that moves adds coded blocks. A P-frame well above the recent level is
// change the key frames alone would miss (an object falling between two of
// them), so the camera leaves idle mode on it without decoding anything.
//
// The level is the median of the last sizeWindow P-frames and the spread
// their median absolute deviation (scaled to a standard deviation): both
// robust, so that the jump itself, a burst of loss or one odd frame do not
// move the threshold. The first afterKey P-frames after a key frame are left
// out: encoders send them bigger (x264 on a still scene: 362, 176, 126, then
// 80 bytes; they re-code what the key frame quantised coarsely), and they
// would wake every GOP. A change that starts there is judged from the next
// frame on: a fall lasts 25–50 frames.
type sizeWatch struct {
	sizes   [sizeWindow]int
	n, next int
	afterK  int // P-frames still to leave out after a key frame
	scratch [sizeWindow]int
	// The level moves slowly: it is recomputed every levelEvery judged
	// frames (two sorts of the window cost ~7 µs, 4 % of an idle frame).
	lvl, spread float64
	stale       int
}

const (
	sizeWindow = 64
	afterKey   = 3
	// sizeMinSamples: no verdict before this many P-frames (a new session).
	sizeMinSamples = 16
	levelEvery     = 8
	// minSpread and minSpreadBytes floor the spread at a fraction of the
	// level and at a few bytes: an encoder whose P-frames on a still scene
	// are all 43 bytes would otherwise wake on its own rate control
	// settling (63 and 81 bytes after a stream's first key frame, x264);
	// something that moves adds hundreds.
	minSpread      = 0.05
	minSpreadBytes = 16
)

// reset forgets the level (a new session: another encoder, another level).
func (w *sizeWatch) reset() { *w = sizeWatch{} }

// observe takes one access unit's size and reports whether it is a P-frame
// more than sigmas spreads above the level of the ones before it; sigmas <= 0
// only records the size (the level is computed only when asked: while idle).
func (w *sizeWatch) observe(size int, key bool, sigmas float64) bool {
	if key {
		w.afterK = afterKey
		return false
	}
	if w.afterK > 0 {
		w.afterK--
		return false
	}
	jump := false
	if sigmas <= 0 {
		w.stale = 0 // judged again later: start from a fresh level
	}
	if sigmas > 0 && w.n >= sizeMinSamples {
		if w.stale <= 0 {
			w.lvl, w.spread = w.level()
			w.stale = levelEvery
		}
		w.stale--
		jump = float64(size) > w.lvl+sigmas*w.spread
	}
	w.sizes[w.next] = size
	w.next = (w.next + 1) % sizeWindow
	w.n = min(w.n+1, sizeWindow)
	return jump
}

// level is the median and the spread (1.4826 × median absolute deviation,
// at least minSpread of the median and minSpreadBytes) of the window.
func (w *sizeWatch) level() (median, spread float64) {
	s := w.scratch[:w.n]
	copy(s, w.sizes[:w.n])
	median = medianOf(s)
	for i, v := range s {
		d := float64(v) - median
		if d < 0 {
			d = -d
		}
		s[i] = int(d + 0.5)
	}
	spread = max(1.4826*medianOf(s), minSpread*median, minSpreadBytes)
	return median, spread
}

// medianOf sorts s in place and returns its median.
func medianOf(s []int) float64 {
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return float64(s[n/2])
	}
	return float64(s[n/2-1]+s[n/2]) / 2
}

// sliceBytes is the size of an access unit's coded picture: its slice NAL
// units only. SEI (camera clocks, analytics metadata), delimiters, parameter
// sets and the filler data of constant-bit-rate cameras say nothing about
// the picture and would only add noise to the level.
func sliceBytes(codec string, au [][]byte) int {
	size := 0
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		var vcl bool
		if codec == decode.H265 {
			vcl = (n[0]>>1)&0x3f < 32 // types 0–31 are slice segments
		} else {
			t := n[0] & 0x1f
			vcl = t >= 1 && t <= 5 // non-IDR and IDR slices, data partitions
		}
		if vcl {
			size += len(n)
		}
	}
	return size
}
