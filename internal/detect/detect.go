// Package detect finds people and vehicles in regions of a frame: OpenCV's
// HOG people detector (no model file needed), DNN detectors (darknet
// Yolo-Fastest, ONNX YOLOX) loaded from validated model files, and a motion
// blob classifier for scenes without a model.
package detect

import (
	"errors"
	"image"
	"math"

	"gocv.io/x/gocv"
)

// Labels of Detection.
const (
	Person  = "person"
	Vehicle = "vehicle"
	Motion  = "motion"
)

// Detection is one object found in a frame.
type Detection struct {
	Label      string     // person or vehicle (motion for unclassified blobs)
	Box        [4]float64 // x, y, w, h as fractions of the whole frame
	Confidence float64
}

// Detector finds objects in a region of a BGR frame. Detect appends to
// out[:0] and returns it, so that a caller reusing out allocates nothing.
type Detector interface {
	Detect(frame gocv.Mat, roi image.Rectangle, out []Detection) ([]Detection, error)
	Close()
}

// Planner is implemented by detectors that say which regions to run on,
// given the motion boxes (pixels) of a frame of size: per motion box for the
// HOG, one motion-covering square for the DNNs.
type Planner interface {
	Plan(motion []image.Rectangle, size image.Point, dst []image.Rectangle) []image.Rectangle
}

// StillFinder is implemented by detectors that can be trusted on regions
// where nothing moves. The analysis loop sweeps the zones with them now and
// then, so that objects that never move are found. The built-in HOG is not
// one: on still background its false positives would never be weeded out by
// motion, and its vehicles are motion blobs.
type StillFinder interface {
	FindsStill() bool
}

// ErrBadFrame is returned for frames and regions gocv cannot take.
var ErrBadFrame = errors.New("detect: bad frame or region")

// checkFrame validates what gocv would abort on, and clips roi to the frame
// (an empty roi means the whole frame).
func checkFrame(frame gocv.Mat, roi image.Rectangle) (image.Rectangle, error) {
	if frame.Empty() || frame.Type() != gocv.MatTypeCV8UC3 {
		return image.Rectangle{}, ErrBadFrame
	}
	full := image.Rect(0, 0, frame.Cols(), frame.Rows())
	if roi.Empty() {
		return full, nil
	}
	roi = roi.Intersect(full)
	if roi.Dx() < 8 || roi.Dy() < 8 {
		return image.Rectangle{}, ErrBadFrame
	}
	return roi, nil
}

// cocoLabel maps the COCO classes lanewatch cares about.
func cocoLabel(class int) string {
	switch class {
	case 0:
		return Person
	case 1, 2, 3, 5, 7: // bicycle, car, motorcycle, bus, truck
		return Vehicle
	}
	return ""
}

// vehicleClasses are the COCO class ids folded into Vehicle.
var vehicleClasses = [...]int{1, 2, 3, 5, 7}

// Union is the smallest rectangle holding all of rs.
func Union(rs []image.Rectangle) image.Rectangle {
	var u image.Rectangle
	for _, r := range rs {
		u = u.Union(r)
	}
	return u
}

// SquareAround grows r to a square of side at least side (centred on r),
// moved inside bounds; where bounds is too small in one direction the result
// is clipped there and is no longer square.
func SquareAround(r image.Rectangle, side int, bounds image.Rectangle) image.Rectangle {
	s := max(r.Dx(), r.Dy(), side)
	cx, cy := (r.Min.X+r.Max.X)/2, (r.Min.Y+r.Max.Y)/2
	sq := image.Rect(cx-s/2, cy-s/2, cx-s/2+s, cy-s/2+s)
	// Slide inside the bounds before clipping, to keep as much context as fits.
	if sq.Max.X > bounds.Max.X {
		sq = sq.Add(image.Pt(bounds.Max.X-sq.Max.X, 0))
	}
	if sq.Min.X < bounds.Min.X {
		sq = sq.Add(image.Pt(bounds.Min.X-sq.Min.X, 0))
	}
	if sq.Max.Y > bounds.Max.Y {
		sq = sq.Add(image.Pt(0, bounds.Max.Y-sq.Max.Y))
	}
	if sq.Min.Y < bounds.Min.Y {
		sq = sq.Add(image.Pt(0, bounds.Min.Y-sq.Min.Y))
	}
	return sq.Intersect(bounds)
}

// fraction converts a pixel box in a frame of size to fractions, clipped to the frame.
func fraction(x, y, w, h float64, size image.Point) [4]float64 {
	x0, y0 := math.Max(0, x), math.Max(0, y)
	x1, y1 := math.Min(float64(size.X), x+w), math.Min(float64(size.Y), y+h)
	return [4]float64{x0 / float64(size.X), y0 / float64(size.Y), math.Max(0, x1-x0) / float64(size.X), math.Max(0, y1-y0) / float64(size.Y)}
}

// IoU of two fractional boxes.
func IoU(a, b [4]float64) float64 {
	in := overlapArea(a, b)
	if in == 0 {
		return 0
	}
	return in / (a[2]*a[3] + b[2]*b[3] - in)
}

// overlapArea is the area of the intersection of two boxes.
func overlapArea(a, b [4]float64) float64 {
	w := min(a[0]+a[2], b[0]+b[2]) - max(a[0], b[0])
	h := min(a[1]+a[3], b[1]+b[3]) - max(a[1], b[1])
	if w <= 0 || h <= 0 {
		return 0
	}
	return w * h
}
