package camera

import (
	"math/rand/v2"
	"testing"
)

func TestSizeWatch(t *testing.T) {
	still := func(rng *rand.Rand) int { return 200 + rng.IntN(60) } // 200..259 bytes
	tests := []struct {
		name   string
		feed   func(w *sizeWatch, rng *rand.Rand) // before the probe
		size   int
		key    bool
		sigmas float64
		want   bool
	}{
		{"jump over a noisy still level", nil, 600, false, 4, true},
		{"within the noise", nil, 265, false, 4, false},
		{"not judged (sigmas 0: recording only)", nil, 5000, false, 0, false},
		{"key frames are never a jump", nil, 12000, true, 4, false},
		{"the P-frames right after a key frame are left out", func(w *sizeWatch, _ *rand.Rand) {
			w.observe(12000, true, 4)
			w.observe(400, false, 4)
			w.observe(300, false, 4)
		}, 600, false, 4, false},
		{"judged again after them", func(w *sizeWatch, _ *rand.Rand) {
			w.observe(12000, true, 4)
			for i := 0; i < afterKey; i++ {
				w.observe(600, false, 4)
			}
		}, 600, false, 4, true},
		{"too few samples for a level", func(w *sizeWatch, _ *rand.Rand) { w.reset(); w.observe(200, false, 4) }, 600, false, 4, false},
		{"exactly repeated frames: a one-byte change is not a jump", func(w *sizeWatch, _ *rand.Rand) {
			w.reset()
			for i := 0; i < 40; i++ {
				w.observe(100, false, 0)
			}
		}, 101, false, 4, false},
		{"tiny still P-frames: rate control settling is not a jump", func(w *sizeWatch, _ *rand.Rand) {
			w.reset()
			for i := 0; i < 40; i++ {
				w.observe(43, false, 0)
			}
		}, 81, false, 4, false},
		{"tiny still P-frames: an object is", func(w *sizeWatch, _ *rand.Rand) {
			w.reset()
			for i := 0; i < 40; i++ {
				w.observe(43, false, 0)
			}
		}, 160, false, 4, true},
		{"a motion burst does not move the level (median)", func(w *sizeWatch, _ *rand.Rand) {
			for i := 0; i < 10; i++ {
				w.observe(3000, false, 0)
			}
		}, 600, false, 4, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			var w sizeWatch
			for i := 0; i < sizeWindow; i++ {
				w.observe(still(rng), false, 0)
			}
			if tc.feed != nil {
				tc.feed(&w, rng)
			}
			if got := w.observe(tc.size, tc.key, tc.sigmas); got != tc.want {
				lv, sp := w.level()
				t.Errorf("observe(%d) = %v, want %v (level %.0f, spread %.1f)", tc.size, got, tc.want, lv, sp)
			}
		})
	}
}

// A still noisy scene wakes rarely: over 20 000 frames (13 minutes at 25
// fps) drawn from a normal distribution around the level, the estimate of
// level and spread from 64 frames lets through at most one in 2 000 (each
// wake costs WakeHold of full decoding).
func TestSizeWatchFalseWakes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var w sizeWatch
	wakes := 0
	const n = 20000
	for i := 0; i < n; i++ {
		if w.observe(int(210+27*rng.NormFloat64()), i%40 == 0, DefaultWakeSigmas) {
			wakes++
		}
	}
	t.Logf("%d wakes in %d frames", wakes, n)
	if wakes > n/2000 {
		t.Errorf("%d wakes in %d frames of noise, want at most %d", wakes, n, n/2000)
	}
}

func TestSliceBytes(t *testing.T) {
	nal := func(h byte, n int) []byte { b := make([]byte, n); b[0] = h; return b }
	tests := []struct {
		name, codec string
		au          [][]byte
		want        int
	}{
		{"H.264 P slice with AUD, SEI and filler", "H264", [][]byte{nal(9, 2), nal(6, 30), nal(1, 100), nal(12, 500)}, 100},
		{"H.264 IDR with SPS and PPS", "H264", [][]byte{nal(7, 20), nal(8, 5), nal(5, 900)}, 900},
		{"H.264 empty NAL unit", "H264", [][]byte{{}, nal(1, 10)}, 10},
		{"H.265 TRAIL_R with prefix SEI and filler", "H265", [][]byte{nal(39<<1, 40), nal(1<<1, 120), nal(38<<1, 300)}, 120},
		{"H.265 IDR_W_RADL with VPS", "H265", [][]byte{nal(32<<1, 20), nal(19<<1, 800)}, 800},
	}
	for _, tc := range tests {
		if got := sliceBytes(tc.codec, tc.au); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

func BenchmarkSizeWatch(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	var w sizeWatch
	sizes := make([]int, 1024)
	for i := range sizes {
		sizes[i] = 200 + rng.IntN(60)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		w.observe(sizes[i%len(sizes)], false, 4)
	}
}
