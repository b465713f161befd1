package detect

import (
	"fmt"
	"image"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"github.com/lanewatch/lanewatch/internal/config"
	"gocv.io/x/gocv"
)

// Model kinds of config.Detector.
const (
	KindDarknet = "darknet"
	KindONNX    = "onnx"
)

// DNN runs a YOLO-family detector on a motion-covering square of the frame at
// the model's input size. Not safe for concurrent use: each camera loop owns one.
type DNN struct {
	kind      string
	input     int
	threshold float32
	nms       float32
	classes   int
	net       gocv.Net
	outNames  []string

	// Reused between frames: fresh large Mats cost milliseconds in page faults.
	padded gocv.Mat // YOLOX letterbox canvas, input x input
	blob   gocv.Mat
	imgs   []gocv.Mat
	grid   []gridCell // YOLOX: one per output row

	boxes  []image.Rectangle
	scores []float32
	labels []string
	idx    []int
}

type gridCell struct{ x, y, stride float32 }

// NewDNN loads and checks a detector. Every failure (missing, truncated,
// wrong checksum, wrong format, unexpected outputs) is a *ModelError; OpenCV
// never sees a file that did not pass the checks.
func NewDNN(cfg config.Detector) (*DNN, error) {
	d := &DNN{kind: strings.ToLower(cfg.Kind), input: cfg.Input, threshold: float32(cfg.Threshold), nms: 0.45}
	if d.input == 0 {
		d.input = config.DefaultDetectorInput
	}
	if d.threshold <= 0 {
		d.threshold = config.DefaultDetectorThresh
	}
	if d.input < 64 || d.input > 1280 || d.input%32 != 0 {
		return nil, modelErr(cfg.Model, fmt.Sprintf("input %d: want a multiple of 32 in 64..1280", d.input), ErrFormat)
	}
	switch d.kind {
	case KindDarknet:
		if err := d.loadDarknet(cfg); err != nil {
			return nil, err
		}
	case KindONNX:
		if err := d.loadONNX(cfg); err != nil {
			return nil, err
		}
	default:
		return nil, modelErr(cfg.Model, fmt.Sprintf("kind %q: want darknet or onnx", cfg.Kind), ErrFormat)
	}
	d.padded = gocv.NewMatWithSizeFromScalar(gocv.NewScalar(114, 114, 114, 0), d.input, d.input, gocv.MatTypeCV8UC3)
	d.blob = gocv.NewMat()
	d.imgs = make([]gocv.Mat, 1)
	if err := d.checkOutputs(cfg.Model); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func (d *DNN) loadDarknet(cfg config.Detector) error {
	if cfg.Config == "" {
		return modelErr(cfg.Model, "darknet needs config: the .cfg file", ErrMissing)
	}
	cfgBytes, err := readModel(cfg.Config, "", 64)
	if err != nil {
		return err
	}
	dc, err := parseDarknetCfg(cfg.Config, cfgBytes)
	if err != nil {
		return err
	}
	weights, err := readModel(cfg.Model, cfg.SHA256, minModelBytes)
	if err != nil {
		return err
	}
	if err := checkDarknetWeights(cfg.Model, weights, dc.weights); err != nil {
		return err
	}
	d.classes = dc.classes
	d.net, err = gocv.ReadNetBytes("darknet", weights, cfgBytes)
	if err != nil || d.net.Empty() {
		return modelErr(cfg.Model, "OpenCV could not load it", errJoin(ErrFormat, err))
	}
	for _, id := range d.net.GetUnconnectedOutLayers() {
		l := d.net.GetLayer(id)
		d.outNames = append(d.outNames, l.GetName())
		l.Close()
	}
	if len(d.outNames) == 0 {
		return modelErr(cfg.Model, "no output layers", ErrOutputs)
	}
	return nil
}

func (d *DNN) loadONNX(cfg config.Detector) error {
	b, err := readModel(cfg.Model, cfg.SHA256, minModelBytes)
	if err != nil {
		return err
	}
	if err := checkONNX(cfg.Model, b); err != nil {
		return err
	}
	d.net, err = gocv.ReadNetFromONNXBytes(b)
	if err != nil || d.net.Empty() {
		return modelErr(cfg.Model, "OpenCV could not load it", errJoin(ErrFormat, err))
	}
	d.classes = 80
	for _, s := range []float32{8, 16, 32} {
		n := d.input / int(s)
		for y := 0; y < n; y++ {
			for x := 0; x < n; x++ {
				d.grid = append(d.grid, gridCell{float32(x), float32(y), s})
			}
		}
	}
	return nil
}

func errJoin(a, b error) error {
	if b == nil {
		return a
	}
	return fmt.Errorf("%w: %w", a, b)
}

// checkOutputs runs one forward pass on a grey frame and checks the output
// shapes the decoder relies on, so a wrong model fails at start, not by
// reading out of bounds later.
func (d *DNN) checkOutputs(path string) error {
	grey := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(114, 114, 114, 0), d.input, d.input, gocv.MatTypeCV8UC3)
	defer grey.Close()
	outs := d.forward(grey)
	defer closeAll(outs)
	for _, o := range outs {
		sz := o.Size()
		switch d.kind {
		case KindDarknet:
			if len(sz) != 2 || sz[1] != 5+d.classes || o.Type() != gocv.MatTypeCV32F {
				return modelErr(path, fmt.Sprintf("output shape %v, want [N %d] float32", sz, 5+d.classes), ErrOutputs)
			}
		case KindONNX:
			if len(sz) != 3 || sz[0] != 1 || sz[1] != len(d.grid) || sz[2] != 85 || o.Type() != gocv.MatTypeCV32F {
				return modelErr(path, fmt.Sprintf("output shape %v, want [1 %d 85] float32 (YOLOX at %d)", sz, len(d.grid), d.input), ErrOutputs)
			}
		}
		if !o.IsContinuous() {
			return modelErr(path, "output not continuous", ErrOutputs)
		}
	}
	return nil
}

func closeAll(ms []gocv.Mat) {
	for i := range ms {
		ms[i].Close()
	}
}

// forward runs the net on img (the model's input, already sized for ONNX).
func (d *DNN) forward(img gocv.Mat) []gocv.Mat {
	d.imgs[0] = img
	sz := image.Pt(d.input, d.input)
	if d.kind == KindDarknet {
		gocv.BlobFromImages(d.imgs, &d.blob, 1.0/255, sz, gocv.NewScalar(0, 0, 0, 0), true, false, gocv.MatTypeCV32F)
		d.net.SetInput(d.blob, "")
		return d.net.ForwardLayers(d.outNames)
	}
	gocv.BlobFromImages(d.imgs, &d.blob, 1, sz, gocv.NewScalar(0, 0, 0, 0), false, false, gocv.MatTypeCV32F)
	d.net.SetInput(d.blob, "")
	return []gocv.Mat{d.net.Forward("")}
}

// Plan runs the DNN once per frame, on a square around all motion.
func (d *DNN) Plan(motion []image.Rectangle, size image.Point, dst []image.Rectangle) []image.Rectangle {
	dst = dst[:0]
	if len(motion) == 0 {
		return dst
	}
	u := Union(motion)
	// A margin, since motion boxes can cut off limbs and still parts.
	u = u.Inset(-max(u.Dx(), u.Dy()) / 10)
	return append(dst, SquareAround(u, d.input, image.Rectangle{Max: size}))
}

// FindsStill: a trained model's detections do not depend on motion.
func (d *DNN) FindsStill() bool { return true }

// Detect runs the detector on roi of frame (empty roi: the whole frame).
func (d *DNN) Detect(frame gocv.Mat, roi image.Rectangle, out []Detection) ([]Detection, error) {
	out = out[:0]
	roi, err := checkFrame(frame, roi)
	if err != nil {
		return out, err
	}
	crop := frame.Region(roi)
	defer crop.Close()
	var outs []gocv.Mat
	var sx, sy float32 // model pixels to crop pixels
	if d.kind == KindDarknet {
		// Darknet models are trained on stretched inputs: no letterbox.
		outs = d.forward(crop)
		sx, sy = float32(roi.Dx()), float32(roi.Dy()) // outputs are normalised
	} else {
		r := math.Min(float64(d.input)/float64(roi.Dx()), float64(d.input)/float64(roi.Dy()))
		w, h := max(1, int(float64(roi.Dx())*r)), max(1, int(float64(roi.Dy())*r))
		d.padded.SetTo(gocv.NewScalar(114, 114, 114, 0))
		dst := d.padded.Region(image.Rect(0, 0, w, h))
		gocv.Resize(crop, &dst, image.Pt(w, h), 0, 0, gocv.InterpolationLinear)
		dst.Close()
		outs = d.forward(d.padded)
		sx, sy = float32(1/r), float32(1/r)
	}
	defer closeAll(outs)
	d.boxes, d.scores, d.labels = d.boxes[:0], d.scores[:0], d.labels[:0]
	for i := range outs {
		data, err := outs[i].DataPtrFloat32()
		if err != nil {
			return out, fmt.Errorf("detect: output: %w", err)
		}
		if d.kind == KindDarknet {
			d.decodeDarknet(data, sx, sy)
		} else {
			d.decodeYOLOX(data, sx, sy)
		}
	}
	return d.suppress(out, roi, image.Pt(frame.Cols(), frame.Rows())), nil
}

func (d *DNN) add(label string, score, cx, cy, w, h float32) {
	// Per-label NMS in one call: shift vehicles far away so they never overlap people.
	off := 0
	if label == Vehicle {
		off = 1 << 15
	}
	x0, y0 := int(cx-w/2), int(cy-h/2)
	d.boxes = append(d.boxes, image.Rect(x0+off, y0, x0+off+int(w+0.5), y0+int(h+0.5)))
	d.scores = append(d.scores, score)
	d.labels = append(d.labels, label)
}

// decodeDarknet reads rows of cx, cy, w, h (normalised), objectness, then
// class scores already multiplied by objectness (OpenCV applied the anchors).
func (d *DNN) decodeDarknet(data []float32, sx, sy float32) {
	cols := 5 + d.classes
	for r := 0; r+cols <= len(data); r += cols {
		row := data[r : r+cols]
		if row[4] < d.threshold {
			continue
		}
		label, score := d.best(row[5:])
		if score < d.threshold {
			continue
		}
		d.add(label, score, row[0]*sx, row[1]*sy, row[2]*sx, row[3]*sy)
	}
}

// decodeYOLOX reads rows of raw x, y offsets, log w, log h, objectness and 80
// sigmoided class scores, per grid cell of strides 8, 16, 32.
func (d *DNN) decodeYOLOX(data []float32, sx, sy float32) {
	for i, g := range d.grid {
		row := data[i*85 : i*85+85]
		obj := row[4]
		if obj < d.threshold {
			continue
		}
		label, cls := d.best(row[5:])
		score := obj * cls
		if score < d.threshold {
			continue
		}
		cx := (row[0] + g.x) * g.stride
		cy := (row[1] + g.y) * g.stride
		w := float32(math.Exp(float64(row[2]))) * g.stride
		h := float32(math.Exp(float64(row[3]))) * g.stride
		d.add(label, score, cx*sx, cy*sy, w*sx, h*sy)
	}
}

// best picks person or vehicle from the class scores of one row.
func (d *DNN) best(cls []float32) (string, float32) {
	if d.classes == 1 { // single-class person ("body") model
		return Person, cls[0]
	}
	label, score := Person, cls[0]
	for _, c := range vehicleClasses {
		if cls[c] > score {
			label, score = Vehicle, cls[c]
		}
	}
	return label, score
}

// suppress runs NMS and maps boxes from crop pixels to frame fractions.
func (d *DNN) suppress(out []Detection, roi image.Rectangle, size image.Point) []Detection {
	if len(d.boxes) == 0 {
		return out
	}
	d.idx = slices.Grow(d.idx[:0], len(d.boxes))[:len(d.boxes)]
	for i := range d.idx {
		d.idx[i] = -1
	}
	gocv.NMSBoxes(d.boxes, d.scores, d.threshold, d.nms, d.idx)
	for _, i := range d.idx {
		if i < 0 {
			break
		}
		b := d.boxes[i]
		if d.labels[i] == Vehicle {
			b = b.Sub(image.Pt(1<<15, 0))
		}
		out = append(out, Detection{
			Label:      d.labels[i],
			Box:        fraction(float64(b.Min.X+roi.Min.X), float64(b.Min.Y+roi.Min.Y), float64(b.Dx()), float64(b.Dy()), size),
			Confidence: float64(d.scores[i]),
		})
	}
	return out
}

// Close frees the net and the buffers.
func (d *DNN) Close() {
	d.net.Close()
	d.padded.Close()
	d.blob.Close()
}

// String names the detector for logs.
func (d *DNN) String() string { return fmt.Sprintf("%s@%d", d.kind, d.input) }

// DefaultModel returns the config.Detector for a model folder laid out like
// shared/models (used by tests, benchmarks and the eval).
func DefaultModel(modelsDir, name string) config.Detector {
	switch name {
	case "yolox-nano":
		return config.Detector{Kind: KindONNX, Model: filepath.Join(modelsDir, "yolox-nano", "yolox_nano.onnx"), Input: 320,
			SHA256: "695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14"}
	case "yolo-fastest-1.1-body":
		return config.Detector{Kind: KindDarknet, Model: filepath.Join(modelsDir, name, "yolo-fastest-1.1_body.weights"),
			Config: filepath.Join(modelsDir, name, "yolo-fastest-1.1_body.cfg"), Input: 320,
			SHA256: "5bbb6d878f6e2eb3deee39e91dc6f9b39700e99ec83fa94d258670a554949728"}
	default: // yolo-fastest-1.1-xl
		return config.Detector{Kind: KindDarknet, Model: filepath.Join(modelsDir, "yolo-fastest-1.1-xl", "yolo-fastest-1.1-xl.weights"),
			Config: filepath.Join(modelsDir, "yolo-fastest-1.1-xl", "yolo-fastest-1.1-xl.cfg"), Input: 320,
			SHA256: "fac5fb41786c1f38f04972a658443b189f48720d7d117f9a044100e98a35b0c5"}
	}
}
