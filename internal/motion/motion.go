// Package motion finds moving regions in a camera's frames: background
// subtraction on a downscaled grey copy, morphology, contours, with ignore
// masks and suppression of global light changes (lights switched on, clouds,
// auto-exposure), which would otherwise look like motion everywhere.
package motion

import (
	"errors"
	"fmt"
	"image"
	"math"

	"github.com/lanewatch/lanewatch/internal/config"
	"gocv.io/x/gocv"
)

// Method selects the background model.
type Method string

const (
	// MOG2 is OpenCV's Gaussian-mixture background subtractor: robust to
	// swaying leaves and sensor noise; the default.
	MOG2 Method = "mog2"
	// Diff compares against a running average of past frames: cheaper, but
	// slower-moving and noisier scenes produce more false motion.
	Diff Method = "diff"
)

// Box is a motion region as fractions of the frame: x, y, w, h.
type Box [4]float64

// Config tunes a Detector; zero values take the defaults.
type Config struct {
	Method Method
	// Width of the analysed grey frame (aspect kept); default 320.
	Width int
	// MinArea is the smallest motion box as a fraction of the frame; default 0.0005.
	MinArea float64
	// LightChangeFraction: more than this fraction of changed pixels in one
	// frame is a light change, not motion; default 0.4.
	LightChangeFraction float64
	// BrightnessJump: a change of mean grey level by more than this between
	// consecutive frames is a light change; default 18.
	BrightnessJump float64
	// Settle is the number of frames after a light change during which no
	// motion is reported while the model re-learns; default 3.
	Settle int
	// History and VarThreshold of MOG2; defaults 300 and 32.
	History      int
	VarThreshold float64
	// Masks of the camera: "ignore" polygons count no motion. Privacy
	// polygons are blacked out on the frame by the caller before motion.
	Masks []config.Mask
}

func (c Config) withDefaults() Config {
	if c.Method == "" {
		c.Method = MOG2
	}
	if c.Width <= 0 {
		c.Width = 320
	}
	if c.MinArea <= 0 {
		c.MinArea = config.DefaultMinArea
	}
	if c.LightChangeFraction <= 0 {
		c.LightChangeFraction = 0.4
	}
	if c.BrightnessJump <= 0 {
		c.BrightnessJump = 18
	}
	if c.Settle <= 0 {
		c.Settle = 3
	}
	if c.History <= 0 {
		c.History = 300
	}
	if c.VarThreshold <= 0 {
		c.VarThreshold = 32
	}
	return c
}

// Result of one frame.
type Result struct {
	Boxes []Box
	// Changed is the fraction of pixels the background model marked as changed
	// (after ignore masks, before morphology).
	Changed float64
	// Brightness is the mean grey level 0..255 of the frame.
	Brightness float64
	// LightChange is set on frames treated as a global light change (and the
	// settling frames after it): the background is re-learnt, no motion is reported.
	LightChange bool
}

// Motion reports whether any motion box was found.
func (r Result) Motion() bool { return len(r.Boxes) > 0 }

// ErrBadFrame is returned for frames gocv cannot take (empty, wrong type).
var ErrBadFrame = errors.New("motion: bad frame")

// dilateGrow is the radius of the dilation that joins the parts of one
// moving object (at the analysed width): boxes grow by it on every side.
const dilateGrow = 4

// Detector is the motion detector of one camera. Not safe for concurrent use.
type Detector struct {
	cfg    Config
	ignore *Polygons

	mog    gocv.BackgroundSubtractorMOG2
	hasMog bool

	small, grey, fg, tmp gocv.Mat
	bgF, bg8             gocv.Mat // running average for Diff
	kOpen, kDilate       gocv.Mat

	frames      int
	lastMean    float64
	settle      int
	size        image.Point // small frame size
	frameSize   image.Point
	minAreaPx   float64
	lightEvents int
}

// New makes a Detector.
func New(cfg Config) (*Detector, error) {
	cfg = cfg.withDefaults()
	if cfg.Method != MOG2 && cfg.Method != Diff {
		return nil, fmt.Errorf("motion: unknown method %q", cfg.Method)
	}
	d := &Detector{
		cfg:     cfg,
		ignore:  NewPolygons(cfg.Masks, KindIgnore),
		small:   gocv.NewMat(),
		grey:    gocv.NewMat(),
		fg:      gocv.NewMat(),
		tmp:     gocv.NewMat(),
		bgF:     gocv.NewMat(),
		bg8:     gocv.NewMat(),
		kOpen:   gocv.GetStructuringElement(gocv.MorphEllipse, image.Pt(3, 3)),
		kDilate: gocv.GetStructuringElement(gocv.MorphEllipse, image.Pt(2*dilateGrow+1, 2*dilateGrow+1)),
	}
	d.resetModel()
	return d, nil
}

func (d *Detector) resetModel() {
	if d.cfg.Method == MOG2 {
		if d.hasMog {
			d.mog.Close()
		}
		d.mog = gocv.NewBackgroundSubtractorMOG2WithParams(d.cfg.History, d.cfg.VarThreshold, false)
		d.hasMog = true
	}
	d.frames = 0
}

// Grey is the downscaled, blurred grey frame of the last Apply; valid until
// the next Apply. The tamper rule reads it so the frame is converted once.
func (d *Detector) Grey() gocv.Mat { return d.grey }

// LightChanges counts the light changes seen.
func (d *Detector) LightChanges() int { return d.lightEvents }

// Apply finds motion in a BGR (or grey) frame and appends boxes to out[:0].
func (d *Detector) Apply(frame gocv.Mat, out []Box) (Result, error) {
	res := Result{Boxes: out[:0]}
	if frame.Empty() || frame.Cols() < 8 || frame.Rows() < 8 {
		return res, fmt.Errorf("%w: empty or tiny", ErrBadFrame)
	}
	t := frame.Type()
	if t != gocv.MatTypeCV8UC3 && t != gocv.MatTypeCV8UC1 {
		return res, fmt.Errorf("%w: type %v, want 8-bit BGR or grey", ErrBadFrame, t)
	}
	fs := image.Pt(frame.Cols(), frame.Rows())
	w := min(d.cfg.Width, fs.X)
	h := int(math.Round(float64(fs.Y) * float64(w) / float64(fs.X)))
	if fs != d.frameSize {
		// A new stream size invalidates the model (reconnect at another resolution).
		d.frameSize, d.size = fs, image.Pt(w, h)
		d.minAreaPx = d.cfg.MinArea * float64(w*h)
		d.resetModel()
	}
	if t == gocv.MatTypeCV8UC3 {
		gocv.Resize(frame, &d.small, d.size, 0, 0, gocv.InterpolationArea)
		gocv.CvtColor(d.small, &d.tmp, gocv.ColorBGRToGray)
	} else {
		gocv.Resize(frame, &d.tmp, d.size, 0, 0, gocv.InterpolationArea)
	}
	// Blur takes out sensor noise and compression blocking before subtraction.
	gocv.GaussianBlur(d.tmp, &d.grey, image.Pt(5, 5), 0, 0, gocv.BorderDefault)

	mean := d.grey.Mean().Val1
	res.Brightness = mean
	jump := d.frames > 0 && math.Abs(mean-d.lastMean) > d.cfg.BrightnessJump
	d.lastMean = mean

	switch d.cfg.Method {
	case MOG2:
		d.mog.Apply(d.grey, &d.fg)
	case Diff:
		if d.frames == 0 {
			d.grey.ConvertTo(&d.bgF, gocv.MatTypeCV32F)
		}
		d.bgF.ConvertTo(&d.bg8, gocv.MatTypeCV8U)
		gocv.AbsDiff(d.grey, d.bg8, &d.tmp)
		gocv.Threshold(d.tmp, &d.fg, 18, 255, gocv.ThresholdBinary)
		gocv.AccumulatedWeighted(d.grey, &d.bgF, 0.05)
	}
	d.frames++
	if d.frames == 1 {
		// The first frame only seeds the model.
		return res, nil
	}
	d.ignore.Fill(&d.fg)
	res.Changed = float64(gocv.CountNonZero(d.fg)) / float64(d.size.X*d.size.Y)

	if jump || res.Changed > d.cfg.LightChangeFraction {
		d.lightEvents++
		res.LightChange = true
		d.settle = d.cfg.Settle
		d.resetModel()
		// Seed the new model with this frame so the next one compares against the new light.
		switch d.cfg.Method {
		case MOG2:
			d.mog.Apply(d.grey, &d.fg)
		case Diff:
			d.grey.ConvertTo(&d.bgF, gocv.MatTypeCV32F)
		}
		d.frames = 1
		return res, nil
	}
	if d.settle > 0 {
		d.settle--
		res.LightChange = true
		return res, nil
	}

	gocv.MorphologyEx(d.fg, &d.tmp, gocv.MorphOpen, d.kOpen)
	gocv.Dilate(d.tmp, &d.fg, d.kDilate)
	contours := gocv.FindContours(d.fg, gocv.RetrievalExternal, gocv.ChainApproxSimple)
	defer contours.Close()
	sx, sy := float64(d.size.X), float64(d.size.Y)
	for i := 0; i < contours.Size(); i++ {
		r := gocv.BoundingRect(contours.At(i))
		if float64(r.Dx()*r.Dy()) < d.minAreaPx {
			continue
		}
		// Undo the dilation's growth so boxes (and foot points) sit on the object.
		if r.Dx() > 2*dilateGrow && r.Dy() > 2*dilateGrow {
			r = r.Inset(dilateGrow)
		}
		res.Boxes = append(res.Boxes, Box{float64(r.Min.X) / sx, float64(r.Min.Y) / sy, float64(r.Dx()) / sx, float64(r.Dy()) / sy})
	}
	return res, nil
}

// Close frees the Mats and the model.
func (d *Detector) Close() {
	if d.hasMog {
		d.mog.Close()
		d.hasMog = false
	}
	for _, m := range []*gocv.Mat{&d.small, &d.grey, &d.fg, &d.tmp, &d.bgF, &d.bg8, &d.kOpen, &d.kDilate} {
		m.Close()
	}
	d.ignore.Close()
}

// Rect converts a fractional box to pixels of a frame of size, clipped to it.
func (b Box) Rect(size image.Point) image.Rectangle {
	r := image.Rect(int(b[0]*float64(size.X)), int(b[1]*float64(size.Y)),
		int(math.Ceil((b[0]+b[2])*float64(size.X))), int(math.Ceil((b[1]+b[3])*float64(size.Y))))
	return r.Intersect(image.Rectangle{Max: size})
}
