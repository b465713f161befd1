package eval

import (
	"image"
	"image/color"
	"math"
	"math/rand"

	"gocv.io/x/gocv"
)

// Scene draws generated clips: a fixed textured background (a building with
// windows, a yard, a road) with sensor noise, and simple figures whose
// positions are known exactly. Figures are drawn so that the motion detector
// finds them and the shape-only detect.Blobs labels them: people are tall,
// vehicles wide. They are not meant to fool the HOG or a DNN.
type Scene struct {
	W, H  int
	bg    gocv.Mat
	noise gocv.Mat
	tmp   gocv.Mat
}

// NewScene makes the background for a w x h clip; seed varies the texture.
func NewScene(w, h int, seed int64) *Scene {
	s := &Scene{W: w, H: h, noise: gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC3), tmp: gocv.NewMat()}
	s.bg = gocv.NewMatWithSizeFromScalar(gocv.NewScalar(95, 120, 105, 0), h, w, gocv.MatTypeCV8UC3)
	rng := rand.New(rand.NewSource(seed))
	// Building across the top third, with rows of windows.
	gocv.Rectangle(&s.bg, image.Rect(0, 0, w, h/3), color.RGBA{150, 120, 110, 255}, -1)
	for y := 10; y < h/3-20; y += 30 {
		for x := 15; x < w-20; x += 45 {
			v := uint8(40 + rng.Intn(60))
			gocv.Rectangle(&s.bg, image.Rect(x, y, x+25, y+18), color.RGBA{v, v, v + 20, 255}, -1)
		}
	}
	// Yard texture: paving stones and bushes.
	for i := 0; i < 80; i++ {
		x, y := rng.Intn(w), h/3+rng.Intn(h*2/3)
		v := uint8(70 + rng.Intn(120))
		gocv.Rectangle(&s.bg, image.Rect(x, y, x+8+rng.Intn(30), y+6+rng.Intn(16)), color.RGBA{v, v + 10, v, 255}, -1)
	}
	return s
}

// Close frees the Mats.
func (s *Scene) Close() { s.bg.Close(); s.noise.Close(); s.tmp.Close() }

// Background copies the background, shifted in brightness by light (grey levels).
func (s *Scene) Background(dst *gocv.Mat, light float64) {
	s.bg.CopyTo(dst)
	if light != 0 {
		lm := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(math.Abs(light), math.Abs(light), math.Abs(light), 0), s.H, s.W, gocv.MatTypeCV8UC3)
		if light > 0 {
			gocv.Add(*dst, lm, dst)
		} else {
			gocv.Subtract(*dst, lm, dst)
		}
		lm.Close()
	}
}

// Noise adds sensor noise, as every real camera has.
func (s *Scene) Noise(dst *gocv.Mat) {
	gocv.RandN(&s.noise, gocv.NewScalar(0, 0, 0, 0), gocv.NewScalar(3, 3, 3, 0))
	gocv.Add(*dst, s.noise, dst)
}

var (
	coat  = color.RGBA{40, 40, 70, 255}
	skin  = color.RGBA{150, 170, 200, 255}
	paint = color.RGBA{30, 30, 200, 255}
	tyre  = color.RGBA{20, 20, 20, 255}
	ball  = color.RGBA{230, 230, 240, 255}
)

// checker fills r with an 8 px checker pattern: clothes have texture, and a background model only sees the parts of a uniform patch
// that change, which breaks a moving figure into fragments.
func checker(dst *gocv.Mat, r image.Rectangle, a, b color.RGBA) {
	gocv.Rectangle(dst, r, a, -1)
	const c = 8 // survives the motion detector's halving and blur
	for y := r.Min.Y; y < r.Max.Y; y += c {
		for x := r.Min.X + ((y-r.Min.Y)/c%2)*c; x < r.Max.X; x += 2 * c {
			gocv.Rectangle(dst, image.Rect(x, y, min(x+c, r.Max.X), min(y+c, r.Max.Y)), b, -1)
		}
	}
}

var (
	coat2  = color.RGBA{90, 60, 30, 255}
	paint2 = color.RGBA{80, 80, 240, 255}
)

// Person draws a standing figure 30x80 px whose feet are at (x, y).
func Person(dst *gocv.Mat, x, y int) {
	checker(dst, image.Rect(x-14, y-64, x+14, y-26), coat, coat2) // body
	checker(dst, image.Rect(x-12, y-26, x-2, y), coat2, coat)     // legs
	checker(dst, image.Rect(x+2, y-26, x+12, y), coat2, coat)
	gocv.Circle(dst, image.Pt(x, y-72), 9, skin, -1) // head
}

// Vehicle draws a car 130x55 px whose bottom centre is at (x, y).
func Vehicle(dst *gocv.Mat, x, y int) {
	gocv.Rectangle(dst, image.Rect(x-65, y-45, x+65, y-10), paint, -1)
	gocv.Rectangle(dst, image.Rect(x-35, y-60, x+35, y-45), paint2, -1)
	gocv.Circle(dst, image.Pt(x-40, y-10), 10, tyre, -1)
	gocv.Circle(dst, image.Pt(x+40, y-10), 10, tyre, -1)
}

// Ball draws a small object (a flower pot, a bottle) of radius r at (x, y).
func Ball(dst *gocv.Mat, x, y, r int) {
	gocv.Circle(dst, image.Pt(x, y), r, ball, -1)
}

// Blur defocuses the frame (a lens sprayed or turned out of focus).
func (s *Scene) Blur(dst *gocv.Mat) {
	gocv.GaussianBlur(*dst, &s.tmp, image.Pt(31, 31), 0, 0, gocv.BorderDefault)
	s.tmp.CopyTo(dst)
}
