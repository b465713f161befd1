package analytics

import (
	"image"
	"image/color"
	"testing"

	"github.com/lanewatch/lanewatch/internal/track"
	"gocv.io/x/gocv"
)

func TestAppearanceHold(t *testing.T) {
	grey := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(100, 0, 0, 0), 180, 320, gocv.MatTypeCV8UC1)
	defer grey.Close()
	car := image.Rect(100, 120, 165, 150)
	// light brightens everything by the same amount, as a lamp switched on does.
	draw := func(m *gocv.Mat, present bool, light uint8) {
		grey := func(v uint8) color.RGBA { return color.RGBA{v + light, v + light, v + light, 255} }
		m.SetTo(gocv.NewScalar(100+float64(light), 0, 0, 0))
		gocv.Rectangle(m, image.Rect(20, 20, 60, 50), grey(200), -1)
		if present {
			gocv.Rectangle(m, car, grey(30), -1)
			gocv.Rectangle(m, image.Rect(110, 110, 150, 120), grey(60), -1)
		}
	}
	box := [4]float64{90.0 / 320, 105.0 / 180, 85.0 / 320, 50.0 / 180}
	tests := []struct {
		name    string
		present bool
		light   uint8
		speed   float64 // when last seen, frame widths per second
		want    bool
	}{
		{"parked car still there", true, 0, 0.01, true},
		{"still there after the lights came on", true, 40, 0.01, true},
		{"gone: the box shows the road", false, 0, 0.01, false},
		{"fast when last seen: not held", true, 0, 0.3, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newAppearance()
			defer a.close()
			draw(&grey, true, 0)
			a.grey = grey
			tk := &track.Track{ID: 7, Label: "vehicle", Box: box, VX: tc.speed}
			a.update([]*track.Track{tk})
			draw(&grey, tc.present, tc.light)
			tk.Missed = 1
			if got := a.there(tk); got != tc.want {
				t.Fatalf("there = %v, want %v", got, tc.want)
			}
			a.update(nil)
			if len(a.byID) != 0 || len(a.pool) != 1 {
				t.Fatalf("gone track not recycled: %d kept, %d pooled", len(a.byID), len(a.pool))
			}
		})
	}
}
