package analytics

import (
	"image"
	"math"

	"github.com/lanewatch/lanewatch/internal/motion"
	"github.com/lanewatch/lanewatch/internal/track"
	"gocv.io/x/gocv"
)

// appearance remembers a small grey picture of each track at its last
// detection, so that an object that stopped (and so vanished from the
// background model and from detection) can be told apart from one that left:
// if its box still shows the same picture, it is still there.
type appearance struct {
	grey  gocv.Mat // the motion detector's grey frame of this analysis
	byID  map[int]*gocv.Mat
	pool  []*gocv.Mat
	patch gocv.Mat
	fa    gocv.Mat // float copies for the zero-mean comparison
	fb    gocv.Mat
	diff  gocv.Mat
	seen  map[int]bool
	// MaxDiff: mean absolute grey difference (after removing the mean, so
	// light changes do not count) under which the picture is the same.
	maxDiff float64
}

const patchSize = 16

func newAppearance() *appearance {
	return &appearance{byID: map[int]*gocv.Mat{}, seen: map[int]bool{}, patch: gocv.NewMat(), fa: gocv.NewMat(), fb: gocv.NewMat(), diff: gocv.NewMat(), maxDiff: 12}
}

// sample resizes the box of the grey frame into dst; false if the box is
// too small or outside.
func (a *appearance) sample(box [4]float64, dst *gocv.Mat) bool {
	if a.grey.Empty() {
		return false
	}
	r := motion.Box(box).Rect(image.Pt(a.grey.Cols(), a.grey.Rows()))
	if r.Dx() < 3 || r.Dy() < 3 {
		return false
	}
	reg := a.grey.Region(r)
	gocv.Resize(reg, dst, image.Pt(patchSize, patchSize), 0, 0, gocv.InterpolationArea)
	reg.Close()
	return true
}

// there is the tracker's Hold hook: the track was slow for its size when
// last seen (something moving fast does not vanish on the spot; its last
// box would show background) and its box still shows the same picture.
func (a *appearance) there(t *track.Track) bool {
	if math.Hypot(t.VX, t.VY) > 0.5*t.Box[2] {
		return false
	}
	ref, ok := a.byID[t.ID]
	if !ok || !a.sample(t.Box, &a.patch) {
		return false
	}
	// Zero-mean comparison: a light switched on shifts both the same way.
	a.patch.ConvertTo(&a.fa, gocv.MatTypeCV32F)
	ref.ConvertTo(&a.fb, gocv.MatTypeCV32F)
	a.fa.SubtractFloat(float32(a.fa.Mean().Val1))
	a.fb.SubtractFloat(float32(a.fb.Mean().Val1))
	gocv.AbsDiff(a.fa, a.fb, &a.diff)
	return a.diff.Mean().Val1 < a.maxDiff
}

// update stores the picture of every track detected in this frame and
// forgets the tracks that are gone.
func (a *appearance) update(tracks []*track.Track) {
	clear(a.seen)
	for _, t := range tracks {
		a.seen[t.ID] = true
		if t.Missed > 0 || t.Held {
			continue
		}
		m, ok := a.byID[t.ID]
		if !ok {
			if n := len(a.pool); n > 0 {
				m, a.pool = a.pool[n-1], a.pool[:n-1]
			} else {
				nm := gocv.NewMat()
				m = &nm
			}
			a.byID[t.ID] = m
		}
		if !a.sample(t.Box, m) {
			a.pool = append(a.pool, m)
			delete(a.byID, t.ID)
		}
	}
	for id, m := range a.byID {
		if !a.seen[id] {
			a.pool = append(a.pool, m)
			delete(a.byID, id)
		}
	}
}

func (a *appearance) close() {
	for _, m := range a.byID {
		m.Close()
	}
	for _, m := range a.pool {
		m.Close()
	}
	a.patch.Close()
	a.fa.Close()
	a.fb.Close()
	a.diff.Close()
}
