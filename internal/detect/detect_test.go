package detect

import (
	"bytes"
	"errors"
	"image"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/testenv"
	"gocv.io/x/gocv"
)

// campusFrames reads the given frame indices of the shared campus clip.
func campusFrames(t testing.TB, idx ...int) []gocv.Mat {
	t.Helper()
	path := testenv.SharedFile(t, "media/campus-walk-30s.mp4")
	vc, err := gocv.VideoCaptureFile(path)
	if err != nil {
		t.Fatalf("open clip: %v", err)
	}
	defer vc.Close()
	var out []gocv.Mat
	m := gocv.NewMat()
	defer m.Close()
	for i := 0; len(out) < len(idx); i++ {
		if !vc.Read(&m) || m.Empty() {
			t.Fatalf("clip ended at frame %d", i)
		}
		for _, want := range idx {
			if i == want {
				out = append(out, m.Clone())
			}
		}
	}
	t.Cleanup(func() { closeAll(out) })
	return out
}

var testModels = []string{"yolo-fastest-1.1-xl", "yolox-nano", "yolo-fastest-1.1-body"}

func TestDNNFindsPeopleOnCampus(t *testing.T) {
	models := filepath.Join(testenv.SharedDir(t), "models")
	frames := campusFrames(t, 20, 120, 250)
	for _, name := range testModels {
		t.Run(name, func(t *testing.T) {
			d, err := NewDNN(DefaultModel(models, name))
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			var dets []Detection
			for i, f := range frames {
				// The whole frame, and a motion-sized square in its middle.
				dets, err = d.Detect(f, image.Rectangle{}, dets)
				if err != nil {
					t.Fatal(err)
				}
				people := 0
				for _, det := range dets {
					if det.Label == Person {
						people++
					}
					b := det.Box
					if b[0] < 0 || b[1] < 0 || b[0]+b[2] > 1.0001 || b[1]+b[3] > 1.0001 || b[2] <= 0 || b[3] <= 0 {
						t.Errorf("box outside the frame: %v", b)
					}
					// Pedestrians here are upright and small: taller than wide, under half the frame.
					if det.Label == Person && (b[3] < b[2] || b[3] > 0.5) {
						t.Errorf("implausible person box %v", b)
					}
				}
				t.Logf("frame %d: %d detections, %d people", i, len(dets), people)
				if people < 3 {
					t.Errorf("frame %d: %d people found, the clip shows 3-7", i, people)
				}
			}
		})
	}
}

func TestDNNOnROIMapsBoxesToTheFrame(t *testing.T) {
	models := filepath.Join(testenv.SharedDir(t), "models")
	f := campusFrames(t, 120)[0]
	d, err := NewDNN(DefaultModel(models, "yolo-fastest-1.1-xl"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	full, _ := d.Detect(f, image.Rectangle{}, nil)
	size := image.Pt(f.Cols(), f.Rows())
	// The full frame is squeezed to 320x320, the ROI is seen at full
	// resolution, so boxes of small people differ somewhat: most must agree.
	people, agree := 0, 0
	for _, want := range full {
		if want.Label != Person {
			continue
		}
		people++
		r := image.Rect(int(want.Box[0]*float64(size.X)), int(want.Box[1]*float64(size.Y)),
			int((want.Box[0]+want.Box[2])*float64(size.X)), int((want.Box[1]+want.Box[3])*float64(size.Y)))
		roi := d.Plan([]image.Rectangle{r}, size, nil)
		if len(roi) != 1 || roi[0].Dx() != 320 || roi[0].Dy() != 320 {
			t.Fatalf("plan = %v, want one 320x320 square", roi)
		}
		got, err := d.Detect(f, roi[0], nil)
		if err != nil {
			t.Fatal(err)
		}
		best := 0.0
		for _, g := range got {
			best = max(best, IoU(g.Box, want.Box))
		}
		if best >= 0.4 {
			agree++
		} else {
			t.Logf("person %v: best IoU in the ROI run %.2f", want.Box, best)
		}
	}
	if people < 3 || agree*4 < people*3 {
		t.Fatalf("%d of %d people found at the same place in the ROI run", agree, people)
	}
}

func TestHOGFindsSomePeople(t *testing.T) {
	models := filepath.Join(testenv.SharedDir(t), "models")
	frames := campusFrames(t, 20, 120)
	ref, err := NewDNN(DefaultModel(models, "yolo-fastest-1.1-body"))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	h := NewHOG()
	defer h.Close()
	people, found := 0, 0
	for _, f := range frames {
		size := image.Pt(f.Cols(), f.Rows())
		truth, _ := ref.Detect(f, image.Rectangle{}, nil)
		for _, p := range truth {
			r := image.Rect(int(p.Box[0]*float64(size.X)), int(p.Box[1]*float64(size.Y)),
				int((p.Box[0]+p.Box[2])*float64(size.X)), int((p.Box[1]+p.Box[3])*float64(size.Y)))
			rois := h.Plan([]image.Rectangle{r}, size, nil)
			got, err := h.Detect(f, rois[0], nil)
			if err != nil {
				t.Fatal(err)
			}
			people++
			for _, g := range got {
				if IoU(g.Box, p.Box) > 0.3 {
					found++
					break
				}
			}
		}
	}
	t.Logf("HOG found %d of %d people", found, people)
	if people < 5 || found < people/4 {
		t.Fatalf("HOG found %d of %d people", found, people)
	}
}

// TestBadModels: every broken model is a *ModelError with the right reason,
// never a crash in OpenCV.
func TestBadModels(t *testing.T) {
	models := filepath.Join(testenv.SharedDir(t), "models")
	xl := DefaultModel(models, "yolo-fastest-1.1-xl")
	onnx := DefaultModel(models, "yolox-nano")
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	garbage := make([]byte, 2<<20)
	rand.New(rand.NewSource(7)).Read(garbage)
	weights, cfgText, onnxBytes := read(xl.Model), read(xl.Config), read(onnx.Model)

	with := func(c config.Detector, f func(*config.Detector)) config.Detector { f(&c); return c }
	noSHA := func(c *config.Detector) { c.SHA256 = "" }
	tests := []struct {
		name string
		cfg  config.Detector
		want error
	}{
		{"darknet missing weights", with(xl, func(c *config.Detector) { c.Model = filepath.Join(dir, "nope.weights") }), ErrMissing},
		{"darknet missing cfg", with(xl, func(c *config.Detector) { c.Config = filepath.Join(dir, "nope.cfg") }), ErrMissing},
		{"darknet no cfg configured", with(xl, func(c *config.Detector) { c.Config = "" }), ErrMissing},
		{"darknet tiny weights", with(xl, func(c *config.Detector) { c.Model = write("tiny.weights", weights[:1000]) }), ErrSize},
		{"darknet truncated weights, no sha", with(xl, func(c *config.Detector) {
			noSHA(c)
			c.Model = write("half.weights", weights[:len(weights)/2])
		}), ErrTruncated},
		{"darknet truncated weights, sha", with(xl, func(c *config.Detector) { c.Model = write("half2.weights", weights[:len(weights)-4]) }), ErrChecksum},
		{"darknet garbage weights", with(xl, func(c *config.Detector) { noSHA(c); c.Model = write("garbage.weights", garbage) }), ErrFormat},
		{"darknet garbage cfg", with(xl, func(c *config.Detector) { c.Config = write("garbage.cfg", garbage[:5000]) }), ErrFormat},
		{"darknet cfg of another model", with(xl, func(c *config.Detector) {
			noSHA(c)
			c.Config = DefaultModel(models, "yolo-fastest-1.1-body").Config
		}), ErrTruncated},
		{"darknet cfg without yolo layer", with(xl, func(c *config.Detector) {
			c.Config = write("noyolo.cfg", bytes.ReplaceAll(cfgText, []byte("[yolo]"), []byte("[dropout]")))
		}), ErrFormat},
		{"onnx as darknet weights", with(xl, func(c *config.Detector) { noSHA(c); c.Model = onnx.Model }), ErrFormat},
		{"onnx missing", with(onnx, func(c *config.Detector) { c.Model = filepath.Join(dir, "nope.onnx") }), ErrMissing},
		{"onnx wrong sha", with(onnx, func(c *config.Detector) { c.SHA256 = xl.SHA256 }), ErrChecksum},
		{"onnx truncated", with(onnx, func(c *config.Detector) { noSHA(c); c.Model = write("half.onnx", onnxBytes[:len(onnxBytes)/2]) }), ErrTruncated},
		{"onnx garbage", with(onnx, func(c *config.Detector) { noSHA(c); c.Model = write("garbage.onnx", garbage) }), ErrFormat},
		{"darknet weights as onnx", with(onnx, func(c *config.Detector) { noSHA(c); c.Model = xl.Model }), ErrFormat},
		{"onnx at an input its decoder cannot take", with(onnx, func(c *config.Detector) { c.Input = 100 }), ErrFormat},
		{"unknown kind", with(onnx, func(c *config.Detector) { c.Kind = "caffe" }), ErrFormat},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := NewDNN(tc.cfg)
			if err == nil {
				d.Close()
				t.Fatal("loaded")
			}
			var me *ModelError
			if !errors.As(err, &me) || !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want a *ModelError wrapping %v", err, tc.want)
			}
			t.Log(err)
		})
	}
}

func TestDarknetCfgWeightCount(t *testing.T) {
	models := filepath.Join(testenv.SharedDir(t), "models")
	for _, name := range []string{"yolo-fastest-1.1-xl", "yolo-fastest-1.1-body"} {
		c := DefaultModel(models, name)
		cfgText, _ := os.ReadFile(c.Config)
		dc, err := parseDarknetCfg(c.Config, cfgText)
		if err != nil {
			t.Fatal(err)
		}
		w, _ := os.ReadFile(c.Model)
		if err := checkDarknetWeights(c.Model, w, dc.weights); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if dc.width != 320 || dc.yolo != 2 {
			t.Errorf("%s: %+v", name, dc)
		}
	}
}

func TestBadFrames(t *testing.T) {
	h := NewHOG()
	defer h.Close()
	empty := gocv.NewMat()
	defer empty.Close()
	grey := gocv.NewMatWithSize(100, 100, gocv.MatTypeCV8UC1)
	defer grey.Close()
	bgr := gocv.NewMatWithSize(100, 100, gocv.MatTypeCV8UC3)
	defer bgr.Close()
	for _, tc := range []struct {
		m   gocv.Mat
		roi image.Rectangle
	}{{empty, image.Rectangle{}}, {grey, image.Rectangle{}}, {bgr, image.Rect(200, 200, 300, 300)}, {bgr, image.Rect(0, 0, 3, 3)}} {
		for _, d := range []Detector{h, &Blobs{}} {
			if _, err := d.Detect(tc.m, tc.roi, nil); !errors.Is(err, ErrBadFrame) {
				t.Errorf("%T %v: err = %v", d, tc.roi, err)
			}
		}
	}
}

func TestBlobs(t *testing.T) {
	m := gocv.NewMatWithSize(100, 200, gocv.MatTypeCV8UC3)
	defer m.Close()
	for _, tc := range []struct {
		roi  image.Rectangle
		want string
	}{
		{image.Rect(10, 10, 30, 60), Person},
		{image.Rect(10, 10, 90, 50), Vehicle},
		{image.Rect(10, 10, 40, 40), Motion},
	} {
		got, err := (&Blobs{}).Detect(m, tc.roi, nil)
		if err != nil || len(got) != 1 || got[0].Label != tc.want {
			t.Errorf("%v: %v %v, want %s", tc.roi, got, err, tc.want)
		}
		if b := got[0].Box; b != [4]float64{float64(tc.roi.Min.X) / 200, float64(tc.roi.Min.Y) / 100, float64(tc.roi.Dx()) / 200, float64(tc.roi.Dy()) / 100} {
			t.Errorf("box %v", b)
		}
	}
}

func TestSquareAround(t *testing.T) {
	b := image.Rect(0, 0, 640, 480)
	for _, tc := range []struct {
		r    image.Rectangle
		side int
		want image.Rectangle
	}{
		{image.Rect(100, 100, 140, 200), 320, image.Rect(0, 0, 320, 320)},
		{image.Rect(300, 200, 340, 260), 320, image.Rect(160, 70, 480, 390)},
		{image.Rect(600, 400, 640, 480), 320, image.Rect(320, 160, 640, 480)},
		{image.Rect(0, 0, 600, 100), 320, image.Rect(0, 0, 600, 480)},
	} {
		if got := SquareAround(tc.r, tc.side, b); got != tc.want {
			t.Errorf("SquareAround(%v) = %v, want %v", tc.r, got, tc.want)
		}
	}
}

func benchDetector(b *testing.B, d Detector, roi image.Rectangle) {
	f := campusFrames(b, 120)[0]
	var out []Detection
	out, _ = d.Detect(f, roi, out)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, _ = d.Detect(f, roi, out)
	}
}

// The ROI is a 320x320 square: what the loop hands the DNN for a moving group.
var benchROI = image.Rect(160, 80, 480, 400)

func BenchmarkDNN(b *testing.B) {
	models := filepath.Join(testenv.SharedDir(b), "models")
	for _, name := range testModels {
		b.Run(name, func(b *testing.B) {
			d, err := NewDNN(DefaultModel(models, name))
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			benchDetector(b, d, benchROI)
		})
	}
}

// BenchmarkHOGOnROI: one padded person-sized motion region (60x120 px).
func BenchmarkHOGOnROI(b *testing.B) {
	h := NewHOG()
	defer h.Close()
	roi := h.Plan([]image.Rectangle{image.Rect(300, 200, 340, 290)}, image.Pt(640, 480), nil)[0]
	benchDetector(b, h, roi)
}

// Without a model, a large wide motion blob is a vehicle; a small or tall
// one is not. (What the HOG reports on this blank frame is its business:
// only vehicles are counted.)
func TestPeopleAndVehiclesBlobs(t *testing.T) {
	frame := gocv.NewMatWithSize(360, 640, gocv.MatTypeCV8UC3)
	defer frame.Close()
	d := NewPeopleAndVehicles()
	defer d.Close()
	tests := []struct {
		name   string
		motion image.Rectangle
		want   int
	}{
		{"car-sized and wide", image.Rect(200, 200, 400, 280), 1},
		{"wide but small (a dog)", image.Rect(200, 200, 260, 230), 0},
		{"tall (a person)", image.Rect(300, 100, 340, 220), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rois := d.Plan([]image.Rectangle{tc.motion}, image.Pt(640, 360), nil)
			var got []Detection
			for _, r := range rois {
				out, err := d.Detect(frame, r, nil)
				if err != nil {
					t.Fatal(err)
				}
				for _, o := range out {
					if o.Label == Vehicle {
						got = append(got, o)
					}
				}
			}
			if len(got) != tc.want {
				t.Fatalf("%d detections, want %d: %+v", len(got), tc.want, got)
			}
			if tc.want == 1 && (got[0].Label != Vehicle || got[0].Box[0] != 200.0/640 || got[0].Box[2] != 200.0/640) {
				t.Fatalf("detection %+v", got[0])
			}
		})
	}
}
