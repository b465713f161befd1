package detect

import (
	"cmp"
	"image"
	"slices"

	"gocv.io/x/gocv"
)

// HOG is OpenCV's default HOG+SVM people detector, run on motion regions only:
// on a whole 640x360 frame it costs ~0.5 s. It finds upright people of roughly
// 50 px and more; it reports no score, so Confidence is a fixed 0.5.
type HOG struct {
	hog    gocv.HOGDescriptor
	svm    gocv.Mat
	scaled gocv.Mat
	// MinHeight: regions are upscaled to at least this many pixels high, so a
	// person filling the region fills the 64x128 detection window; default 160.
	MinHeight int
	// MaxHeight: taller regions are downscaled (cost grows with area); default 320.
	MaxHeight int
}

// NewHOG makes the HOG people detector; it needs no model file.
func NewHOG() *HOG {
	h := &HOG{hog: gocv.NewHOGDescriptor(), svm: gocv.HOGDefaultPeopleDetector(), scaled: gocv.NewMat(), MinHeight: 160, MaxHeight: 320}
	h.hog.SetSVMDetector(h.svm)
	return h
}

// Plan pads each motion box to a person-shaped window and merges the ones
// that overlap, so one person moving in parts is looked at once.
func (h *HOG) Plan(motion []image.Rectangle, size image.Point, dst []image.Rectangle) []image.Rectangle {
	dst = dst[:0]
	bounds := image.Rectangle{Max: size}
	for _, m := range motion {
		w := max(m.Dx(), m.Dy()/2)
		pad := image.Pt(w/2+8, m.Dy()/4+8)
		r := image.Rect(m.Min.X-pad.X, m.Min.Y-pad.Y, m.Max.X+pad.X, m.Max.Y+pad.Y).Intersect(bounds)
		dst = append(dst, r)
	}
	return mergeOverlapping(dst)
}

// mergeOverlapping replaces overlapping rectangles by their union, in place.
func mergeOverlapping(rs []image.Rectangle) []image.Rectangle {
	for merged := true; merged; {
		merged = false
		for i := 0; i < len(rs); i++ {
			for j := i + 1; j < len(rs); j++ {
				if rs[i].Overlaps(rs[j]) {
					rs[i] = rs[i].Union(rs[j])
					rs[j] = rs[len(rs)-1]
					rs = rs[:len(rs)-1]
					merged = true
					j--
				}
			}
		}
	}
	return rs
}

// Detect finds people in roi.
func (h *HOG) Detect(frame gocv.Mat, roi image.Rectangle, out []Detection) ([]Detection, error) {
	out = out[:0]
	roi, err := checkFrame(frame, roi)
	if err != nil {
		return out, err
	}
	crop := frame.Region(roi)
	defer crop.Close()
	scale := 1.0
	switch {
	case roi.Dy() < h.MinHeight:
		scale = float64(h.MinHeight) / float64(roi.Dy())
	case roi.Dy() > h.MaxHeight:
		scale = float64(h.MaxHeight) / float64(roi.Dy())
	}
	// The detection window is 64x128: the image must hold at least one.
	scale = max(scale, 64/float64(roi.Dx()), 128/float64(roi.Dy()))
	sz := image.Pt(int(float64(roi.Dx())*scale+0.5), int(float64(roi.Dy())*scale+0.5))
	gocv.Resize(crop, &h.scaled, sz, 0, 0, gocv.InterpolationLinear)
	rects := h.hog.DetectMultiScaleWithParams(h.scaled, 0, image.Pt(8, 8), image.Pt(8, 8), 1.05, 2, false)
	// OpenCV collects the windows of its parallel scale passes in whatever
	// order the threads finish, and the grouped boxes come out in that
	// order; the tracker pairs detections greedily, so an unordered list
	// made the same footage give different tracks from run to run.
	slices.SortFunc(rects, func(a, b image.Rectangle) int {
		return cmp.Or(cmp.Compare(a.Min.Y, b.Min.Y), cmp.Compare(a.Min.X, b.Min.X), cmp.Compare(a.Max.Y, b.Max.Y), cmp.Compare(a.Max.X, b.Max.X))
	})
	size := image.Pt(frame.Cols(), frame.Rows())
	for _, r := range rects {
		// The SVM window has a margin around the person: trim it for a tighter box.
		x := float64(r.Min.X)/scale + float64(roi.Min.X)
		y := float64(r.Min.Y)/scale + float64(roi.Min.Y)
		w, hh := float64(r.Dx())/scale, float64(r.Dy())/scale
		out = append(out, Detection{Label: Person, Box: fraction(x+w*0.15, y+hh*0.07, w*0.7, hh*0.86, size), Confidence: 0.5})
	}
	return out, nil
}

// Close frees the descriptor.
func (h *HOG) Close() {
	h.hog.Close()
	h.svm.Close()
	h.scaled.Close()
}

// Blobs labels motion regions by shape alone: tall is a person, wide is a
// vehicle, anything else is motion. It needs no model and is exact on drawn
// test scenes; on real footage it is a crude fallback (a group of people is
// wide), which is why the gateway defaults to the HOG without a model.
type Blobs struct {
	// MinConfidence given to every blob; default 0.5.
	Confidence float64
}

// Plan keeps each motion box as its own region.
func (b *Blobs) Plan(motion []image.Rectangle, size image.Point, dst []image.Rectangle) []image.Rectangle {
	return append(dst[:0], motion...)
}

// Detect returns roi itself, labelled by its aspect ratio.
func (b *Blobs) Detect(frame gocv.Mat, roi image.Rectangle, out []Detection) ([]Detection, error) {
	out = out[:0]
	roi, err := checkFrame(frame, roi)
	if err != nil {
		return out, err
	}
	label := Motion
	switch ar := float64(roi.Dy()) / float64(roi.Dx()); {
	case ar >= 1.4:
		label = Person
	case ar <= 0.77:
		label = Vehicle
	}
	c := b.Confidence
	if c == 0 {
		c = 0.5
	}
	size := image.Pt(frame.Cols(), frame.Rows())
	return append(out, Detection{Label: label, Box: fraction(float64(roi.Min.X), float64(roi.Min.Y), float64(roi.Dx()), float64(roi.Dy()), size), Confidence: c}), nil
}

// Close does nothing; Blobs holds no resources.
func (b *Blobs) Close() {}

// PeopleAndVehicles is the detector without a model file: OpenCV's HOG for
// people, and for vehicles the large, wide motion blobs that no person
// found by the HOG explains. Neither OpenCV nor opencv-data ships a vehicle
// model, and vehicles are what fire_lane_blocked and vehicle zones watch, so
// a gateway without a DNN must still see them; a DNN (Yolo-Fastest, YOLOX)
// classifies them properly and is the better choice where one is supplied.
type PeopleAndVehicles struct {
	HOG *HOG
	// MinVehicleWidth: a vehicle blob is at least this fraction of the
	// frame's width; default 0.12 (77 px at 640: a car across a compound
	// road, not a person or two).
	MinVehicleWidth float64
	// MaxVehicleAspect: height over width at most this; default 0.77.
	MaxVehicleAspect float64
	cand             []image.Rectangle
}

// NewPeopleAndVehicles makes the default detector.
func NewPeopleAndVehicles() *PeopleAndVehicles {
	return &PeopleAndVehicles{HOG: NewHOG(), MinVehicleWidth: 0.12, MaxVehicleAspect: 0.77}
}

// Plan notes the vehicle-shaped motion boxes and plans the HOG's regions;
// every motion box lies inside exactly one of them.
func (p *PeopleAndVehicles) Plan(motion []image.Rectangle, size image.Point, dst []image.Rectangle) []image.Rectangle {
	p.cand = p.cand[:0]
	for _, m := range motion {
		if m.Dx() > 0 && float64(m.Dx()) >= p.MinVehicleWidth*float64(size.X) && float64(m.Dy())/float64(m.Dx()) <= p.MaxVehicleAspect {
			p.cand = append(p.cand, m)
		}
	}
	return p.HOG.Plan(motion, size, dst)
}

// Detect finds people in roi with the HOG, then adds the vehicle candidates
// whose centre lies in roi and that the people found do not cover.
func (p *PeopleAndVehicles) Detect(frame gocv.Mat, roi image.Rectangle, out []Detection) ([]Detection, error) {
	out, err := p.HOG.Detect(frame, roi, out)
	if err != nil {
		return out, err
	}
	roi, _ = checkFrame(frame, roi)
	size := image.Pt(frame.Cols(), frame.Rows())
	people := len(out)
	for _, c := range p.cand {
		centre := image.Pt((c.Min.X+c.Max.X)/2, (c.Min.Y+c.Max.Y)/2)
		if !centre.In(roi) {
			continue
		}
		box := fraction(float64(c.Min.X), float64(c.Min.Y), float64(c.Dx()), float64(c.Dy()), size)
		covered := 0.0
		for _, d := range out[:people] {
			covered += overlapArea(box, d.Box)
		}
		if covered > 0.3*box[2]*box[3] {
			continue // people walking side by side, not a vehicle
		}
		out = append(out, Detection{Label: Vehicle, Box: box, Confidence: 0.5})
	}
	return out, nil
}

// Close frees the HOG.
func (p *PeopleAndVehicles) Close() { p.HOG.Close() }
