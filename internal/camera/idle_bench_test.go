package camera_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/camera"
	"github.com/lanewatch/lanewatch/internal/camera/camtest"
	"github.com/lanewatch/lanewatch/internal/frames"
)

// BenchmarkIngestStill720p is the idle saving through the whole camera: a
// still 720p scene (the bench script's still clip, 25 fps, 2 s GOP) over
// RTSP, "all" decoding every frame, "idle" in idle key-frame mode from the
// start with the P-frame size wake watching every unit (the gateway's
// default), "idle-nowake" the same with the wake off (its cost is the
// difference). A consumer takes frames at 5 fps. cpu-ns/frame is per access
// unit received, so idle/all is the saving; wakes/op must stay 0 on a still
// scene (a wake would decode every frame for a while).
func BenchmarkIngestStill720p(b *testing.B) {
	clip := os.Getenv("LANEWATCH_BENCH_STILL720P")
	if clip == "" {
		clip = camtest.ClipFile(b, camtest.ClipSpec{Width: 1280, Height: 720, Seconds: 10, FPS: 25, GOP: 50, Still: true})
	}
	b.Run("all", func(b *testing.B) { runIngestStill(b, clip, -1, 0) })
	b.Run("idle", func(b *testing.B) { runIngestStill(b, clip, time.Millisecond, 0) })
	b.Run("idle-nowake", func(b *testing.B) { runIngestStill(b, clip, time.Millisecond, -1) })
}

func runIngestStill(b *testing.B, clip string, idle time.Duration, wake float64) {
	srv := startServerProc(b, clip, 1, 25)
	out := frames.NewLatest()
	defer out.Close()
	cam := &camera.Camera{ID: "bench", URL: srv.URL(0), DetectWidth: 640, IdleKeyframes: idle, WakeSigmas: wake, Out: out, Logger: discardLogger}
	if err := cam.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer cam.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { // the analysis loop's part: take the newest frame at 5 fps
		defer close(done)
		m := newMat()
		defer m.Close()
		var seq uint64
		for ctx.Err() == nil {
			if info, err := out.Next(ctx, seq, &m); err == nil {
				seq = info.Seq
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	defer func() { cancel(); out.Close(); <-done }()
	// Warm up: connected, two GOPs in (idle mode on, the size level known).
	for deadline := time.Now().Add(20 * time.Second); cam.Status().FramesIn < 100; {
		if time.Now().After(deadline) {
			b.Fatalf("no frames: %+v", cam.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.ResetTimer()
	s0 := cam.Status()
	c0 := cpuNow()
	for cam.Status().FramesIn < s0.FramesIn+uint64(b.N) {
		time.Sleep(10 * time.Millisecond)
	}
	b.StopTimer()
	s1 := cam.Status()
	n := float64(s1.FramesIn - s0.FramesIn)
	b.ReportMetric(float64(cpuNow()-c0)/n, "cpu-ns/frame")
	b.ReportMetric(float64(s1.FramesDecoded-s0.FramesDecoded)/n, "decoded/frame")
	b.ReportMetric(float64(s1.IdleWakes-s0.IdleWakes), "wakes/op")
	if s1.DecodeErrors != 0 || s1.PacketsLost != 0 {
		b.Errorf("status %+v", s1)
	}
}
