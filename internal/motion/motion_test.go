package motion

import (
	"errors"
	"image"
	"image/color"
	"math/rand"
	"testing"

	"github.com/lanewatch/lanewatch/internal/config"
	"gocv.io/x/gocv"
)

// scene draws a fixed textured background (so the model has structure, as a
// real camera has) plus per-frame sensor noise.
type scene struct {
	bg, noise gocv.Mat
	rng       *rand.Rand
}

func newScene(w, h int) *scene {
	s := &scene{bg: gocv.NewMatWithSizeFromScalar(gocv.NewScalar(90, 100, 110, 0), h, w, gocv.MatTypeCV8UC3), noise: gocv.NewMat(), rng: rand.New(rand.NewSource(1))}
	for i := 0; i < 60; i++ {
		x, y := s.rng.Intn(w), s.rng.Intn(h)
		c := color.RGBA{uint8(s.rng.Intn(255)), uint8(s.rng.Intn(255)), uint8(s.rng.Intn(255)), 255}
		gocv.Rectangle(&s.bg, image.Rect(x, y, x+10+s.rng.Intn(60), y+10+s.rng.Intn(40)), c, -1)
	}
	s.noise = gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC3)
	return s
}

// frame renders the background, a brightness offset and an optional object into dst.
func (s *scene) frame(dst *gocv.Mat, obj image.Rectangle, brightness float64) {
	s.bg.CopyTo(dst)
	if brightness != 0 {
		off := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(brightness, brightness, brightness, 0), dst.Rows(), dst.Cols(), gocv.MatTypeCV8UC3)
		gocv.Add(*dst, off, dst)
		off.Close()
	}
	if !obj.Empty() {
		gocv.Rectangle(dst, obj, color.RGBA{230, 230, 240, 255}, -1)
	}
	gocv.RandN(&s.noise, gocv.NewScalar(0, 0, 0, 0), gocv.NewScalar(3, 3, 3, 0))
	gocv.Add(*dst, s.noise, dst)
}

func (s *scene) close() { s.bg.Close(); s.noise.Close() }

func TestMotion(t *testing.T) {
	const w, h = 640, 360
	tests := []struct {
		name       string
		cfg        Config
		object     func(i int) image.Rectangle // frame i's object
		brightness func(i int) float64
		wantMotion bool
		wantLight  bool
		// want is the pixel area the last frame's motion must overlap.
		want image.Rectangle
		// grow is how much larger than the object a box may be (default 3):
		// the running average leaves a trail behind a moving object.
		grow int
	}{
		{name: "moving object mog2", object: walker, wantMotion: true, want: walker(29)},
		{name: "moving object diff", cfg: Config{Method: Diff}, object: walker, wantMotion: true, want: walker(29), grow: 4},
		{name: "static scene", object: func(int) image.Rectangle { return image.Rectangle{} }},
		{name: "ignore mask covers the walker", object: walker,
			cfg: Config{Masks: []config.Mask{{ID: "road", Kind: KindIgnore, Polygon: []config.Point{{0, 0.3}, {1, 0.3}, {1, 0.8}, {0, 0.8}}}}}},
		{name: "privacy mask is not an ignore mask", object: walker, wantMotion: true, want: walker(29),
			cfg: Config{Masks: []config.Mask{{ID: "window", Kind: KindPrivacy, Polygon: []config.Point{{0, 0.3}, {1, 0.3}, {1, 0.8}, {0, 0.8}}}}}},
		{name: "lights on", object: func(int) image.Rectangle { return image.Rectangle{} },
			brightness: func(i int) float64 {
				if i >= 29 {
					return 60
				}
				return 0
			}, wantLight: true},
		{name: "lights on with walker is still no motion on that frame", object: walker,
			brightness: func(i int) float64 {
				if i >= 29 {
					return 60
				}
				return 0
			}, wantLight: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			s := newScene(w, h)
			defer s.close()
			frame := gocv.NewMat()
			defer frame.Close()
			var res Result
			var boxes []Box
			for i := 0; i < 30; i++ {
				b := 0.0
				if tc.brightness != nil {
					b = tc.brightness(i)
				}
				s.frame(&frame, tc.object(i), b)
				res, err = d.Apply(frame, boxes)
				if err != nil {
					t.Fatal(err)
				}
				boxes = res.Boxes
				if i > 5 && i < 29 && tc.object(i).Empty() && res.Motion() {
					t.Fatalf("frame %d: unexpected motion %v", i, res.Boxes)
				}
			}
			if res.Motion() != tc.wantMotion {
				t.Fatalf("motion = %v (%v), want %v", res.Motion(), res.Boxes, tc.wantMotion)
			}
			if res.LightChange != tc.wantLight {
				t.Fatalf("light change = %v, want %v", res.LightChange, tc.wantLight)
			}
			if tc.wantMotion {
				hit := false
				for _, b := range res.Boxes {
					if b.Rect(image.Pt(w, h)).Overlaps(tc.want) {
						hit = true
					}
					grow := max(tc.grow, 3)
					if r := b.Rect(image.Pt(w, h)); r.Dx() > grow*tc.want.Dx() || r.Dy() > grow*tc.want.Dy() {
						t.Errorf("box %v much larger than the object %v", r, tc.want)
					}
				}
				if !hit {
					t.Fatalf("no box over the object %v: %v", tc.want, res.Boxes)
				}
			}
		})
	}
}

// walker is a person-sized block crossing the frame, 8 px per frame.
func walker(i int) image.Rectangle {
	x := 40 + 8*i
	return image.Rect(x, 150, x+30, 240)
}

func TestLightChangeRecovers(t *testing.T) {
	d, _ := New(Config{})
	defer d.Close()
	s := newScene(640, 360)
	defer s.close()
	frame := gocv.NewMat()
	defer frame.Close()
	var res Result
	for i := 0; i < 40; i++ {
		b := 0.0
		if i >= 10 {
			b = 60
		}
		s.frame(&frame, walkerAfter(i, 20), b)
		res, _ = d.Apply(frame, res.Boxes)
		if i >= 10 && i < 20 && res.Motion() {
			t.Fatalf("frame %d: motion after lights on with nothing moving: %v", i, res.Boxes)
		}
	}
	if !res.Motion() {
		t.Fatal("motion after the light change is not seen again")
	}
	if d.LightChanges() != 1 {
		t.Fatalf("light changes = %d, want 1", d.LightChanges())
	}
}

func walkerAfter(i, start int) image.Rectangle {
	if i < start {
		return image.Rectangle{}
	}
	return walker(i - start)
}

func TestBadFrames(t *testing.T) {
	d, _ := New(Config{})
	defer d.Close()
	empty := gocv.NewMat()
	defer empty.Close()
	f32 := gocv.NewMatWithSize(100, 100, gocv.MatTypeCV32F)
	defer f32.Close()
	for _, m := range []gocv.Mat{empty, f32} {
		if _, err := d.Apply(m, nil); !errors.Is(err, ErrBadFrame) {
			t.Errorf("err = %v, want ErrBadFrame", err)
		}
	}
	if _, err := New(Config{Method: "knn"}); err == nil {
		t.Error("unknown method accepted")
	}
}

func TestApplyPrivacy(t *testing.T) {
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(200, 200, 200, 0), 100, 200, gocv.MatTypeCV8UC3)
	defer m.Close()
	ApplyPrivacy(&m, []config.Mask{
		{ID: "win", Kind: KindPrivacy, Polygon: []config.Point{{0, 0}, {0.5, 0}, {0.5, 0.5}, {0, 0.5}}},
		{ID: "ign", Kind: KindIgnore, Polygon: []config.Point{{0.5, 0.5}, {1, 0.5}, {1, 1}, {0.5, 1}}},
	})
	if v := m.GetVecbAt(20, 40); v[0] != 0 || v[1] != 0 || v[2] != 0 {
		t.Errorf("inside the privacy mask = %v, want black", v)
	}
	if v := m.GetVecbAt(80, 160); v[0] != 200 {
		t.Errorf("ignore mask painted: %v", v)
	}
	if v := m.GetVecbAt(80, 20); v[0] != 200 {
		t.Errorf("outside painted: %v", v)
	}
}

func benchMotion(b *testing.B, method Method) {
	d, _ := New(Config{Method: method})
	defer d.Close()
	s := newScene(640, 360)
	defer s.close()
	const n = 32
	frames := make([]gocv.Mat, n)
	for i := range frames {
		frames[i] = gocv.NewMat()
		s.frame(&frames[i], walker(i%60), 0)
		defer frames[i].Close()
	}
	var res Result
	for i := 0; i < n; i++ {
		res, _ = d.Apply(frames[i], res.Boxes)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, _ = d.Apply(frames[i%n], res.Boxes)
	}
}

// BenchmarkMotion640x360: one analysed 640x360 frame with a walker (MOG2).
func BenchmarkMotion640x360(b *testing.B)     { benchMotion(b, MOG2) }
func BenchmarkMotionDiff640x360(b *testing.B) { benchMotion(b, Diff) }
