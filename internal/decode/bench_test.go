package decode_test

import (
	"os"
	"syscall"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/lanewatch/lanewatch/internal/camera/camtest"
	"github.com/lanewatch/lanewatch/internal/decode"
)

// benchClip is camera-like footage: 25 fps, 2 s GOP, no B-frames. The
// bench script passes its own files (the same ones it times ffmpeg on)
// through LANEWATCH_BENCH_<NAME>; otherwise they are generated.
func benchClip(b *testing.B, env string, spec camtest.ClipSpec) []camtest.AU {
	if p := os.Getenv(env); p != "" {
		return camtest.LoadAnnexB(b, p, "H264")
	}
	spec.FPS, spec.GOP = 25, 50
	if spec.Seconds == 0 {
		spec.Seconds = 10
	}
	return camtest.Clip(b, spec)
}

// cpuNow is the process's user+system CPU time.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru) //nolint:errcheck // cannot fail for RUSAGE_SELF
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runDecode decodes b.N access units cycling through aus and reports CPU
// time per frame, the figure compared with ffmpeg.
func runDecode(b *testing.B, aus []camtest.AU, width int, scale, keyOnly bool) {
	d, err := decode.New("H264", width)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	d.SetKeyframesOnly(keyOnly)
	m := gocv.NewMat()
	defer m.Close()
	dst := &m
	if !scale {
		dst = nil
	}
	// Warm up: first key frame, sws context, Mat allocation.
	for i := 0; i < len(aus) && i < 60; i++ {
		d.Decode(aus[i].NALUs, 0, dst) //nolint:errcheck
	}
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuNow()
	for i := 0; i < b.N; i++ {
		if _, err := d.Decode(aus[i%len(aus)].NALUs, time.Duration(i)*40*time.Millisecond, dst); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuNow()-c0)/float64(b.N), "cpu-ns/frame")
	if s := d.Stats(); s.Errors != 0 {
		b.Fatalf("%d decode errors", s.Errors)
	}
}

func BenchmarkDecode720p(b *testing.B) {
	aus := benchClip(b, "LANEWATCH_BENCH_720P", camtest.ClipSpec{Width: 1280, Height: 720})
	b.Run("scale640", func(b *testing.B) { runDecode(b, aus, 640, true, false) })
	b.Run("decodeonly", func(b *testing.B) { runDecode(b, aus, 640, false, false) })
}

func BenchmarkDecode1080p(b *testing.B) {
	aus := benchClip(b, "LANEWATCH_BENCH_1080P", camtest.ClipSpec{Width: 1920, Height: 1080})
	b.Run("scale640", func(b *testing.B) { runDecode(b, aus, 640, true, false) })
	b.Run("decodeonly", func(b *testing.B) { runDecode(b, aus, 640, false, false) })
}

// BenchmarkStill720p compares idle key-frame-only decoding with decoding
// every frame of a still scene; cpu-ns/frame is per access unit received,
// so the ratio of the two is the saving.
func BenchmarkStill720p(b *testing.B) {
	aus := benchClip(b, "LANEWATCH_BENCH_STILL720P", camtest.ClipSpec{Width: 1280, Height: 720, Still: true})
	b.Run("all", func(b *testing.B) { runDecode(b, aus, 640, true, false) })
	b.Run("keyframes", func(b *testing.B) { runDecode(b, aus, 640, true, true) })
}

// BenchmarkScale720p converts one decoded 720p picture to 640x360 BGR: the
// two-pass conversion the gateway uses against one scaled pass.
func BenchmarkScale720p(b *testing.B) {
	aus := benchClip(b, "LANEWATCH_BENCH_720P", camtest.ClipSpec{Width: 1280, Height: 720})
	d, err := decode.New("H264", 640)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	pic := decode.NewPicture()
	defer pic.Close()
	for i := 0; i < len(aus) && pic.Empty(); i++ {
		d.DecodePicture(aus[i].NALUs, 0, pic) //nolint:errcheck
	}
	for _, c := range []struct {
		name  string
		one   bool
		flags int
	}{{"twopass", false, 1}, {"onepass", true, 1}, {"twopass-point", false, 0x10}, {"onepass-point", true, 0x10}, {"twopass-area", false, 0x20}} {
		one := c.one
		b.Run(c.name, func(b *testing.B) {
			s := decode.NewScaler(c.flags)
			defer s.Close()
			s.SetOnePass(one)
			m := gocv.NewMat()
			defer m.Close()
			s.Scale(pic, &m, 640) //nolint:errcheck
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, _, err := s.Scale(pic, &m, 640); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
