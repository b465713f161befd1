package rules

import (
	"math"
	"math/rand"
	"testing"

	"gocv.io/x/gocv"
)

// The one-pass correlation equals OpenCV's TM_CCOEFF_NORMED for a template
// the size of the image, which the rule used before.
func TestCorrelateMatchesMatchTemplate(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	a := gocv.NewMatWithSize(180, 320, gocv.MatTypeCV8UC1)
	defer a.Close()
	b := gocv.NewMatWithSize(180, 320, gocv.MatTypeCV8UC1)
	defer b.Close()
	ncc := gocv.NewMat()
	defer ncc.Close()
	noMask := gocv.NewMat()
	defer noMask.Close()
	da, _ := a.DataPtrUint8()
	db, _ := b.DataPtrUint8()
	for trial, mix := range []float64{0, 0.3, 0.7, 1} {
		for i := range da {
			x := byte(rng.Intn(256))
			da[i] = x
			db[i] = byte(mix*float64(x) + (1-mix)*float64(rng.Intn(256)))
		}
		tp := newTamper(TamperConfig{})
		b.CopyTo(&tp.ref)
		got := tp.correlate(a)
		tp.close()
		gocv.MatchTemplate(a, b, &ncc, gocv.TmCcoeffNormed, noMask)
		want := float64(ncc.GetFloatAt(0, 0))
		if math.Abs(got-want) > 1e-4 {
			t.Errorf("trial %d: correlation %.6f, MatchTemplate %.6f", trial, got, want)
		}
	}
	if !math.IsNaN(pearson([]byte{5, 5, 5}, []byte{1, 2, 3})) {
		t.Error("a constant series must give NaN")
	}
}

func BenchmarkCorrelate(b *testing.B) {
	a := gocv.NewMatWithSize(180, 320, gocv.MatTypeCV8UC1)
	defer a.Close()
	tp := newTamper(TamperConfig{})
	defer tp.close()
	gocv.RandU(&a, gocv.NewScalar(0, 0, 0, 0), gocv.NewScalar(255, 0, 0, 0))
	a.CopyTo(&tp.ref)
	b.Run("onepass", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			tp.correlate(a)
		}
	})
	b.Run("matchtemplate", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			gocv.MatchTemplate(a, tp.ref, &tp.ncc, gocv.TmCcoeffNormed, tp.noMask)
		}
	})
}
