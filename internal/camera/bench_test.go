package camera_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/camera"
	"github.com/lanewatch/lanewatch/internal/camera/camtest"
	"github.com/lanewatch/lanewatch/internal/frames"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru) //nolint:errcheck // cannot fail for RUSAGE_SELF
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// clip720p is camera-like 720p footage (25 fps, 2 s GOP, no B-frames), or
// the bench script's file.
func clip720p(t testing.TB, fps int) string {
	if p := os.Getenv("LANEWATCH_BENCH_720P"); p != "" && fps == 25 {
		return p
	}
	return camtest.ClipFile(t, camtest.ClipSpec{Width: 1280, Height: 720, Seconds: 10, FPS: fps, GOP: 2 * fps})
}

// BenchmarkIngest720p is the whole ingest path of one camera: RTSP over
// loopback TCP, depacketization, pre-roll ring, decode, handover to
// frames.Latest and conversion to 640-wide BGR for the frames a consumer
// takes. The server runs in another process, so cpu-ns/frame is the
// gateway's cost alone, per frame received. Frames arrive in real time
// (25 fps): use -benchtime Nx. "every": the consumer takes every frame
// (the worst case); "analyse5fps": it takes 5 a second like the gateway's
// default analysis rate, so the other frames are decoded but never
// converted. Both read the stream in 100 ms batches (the default);
// "analyse5fps-perpacket" reads every packet as it comes, for comparison.
// cs/frame is the process's context switches per frame.
func BenchmarkIngest720p(b *testing.B) {
	clip := clip720p(b, 25)
	b.Run("every", func(b *testing.B) { benchIngest(b, clip, 0, 0) })
	b.Run("analyse5fps", func(b *testing.B) { benchIngest(b, clip, 200*time.Millisecond, 0) })
	b.Run("analyse5fps-perpacket", func(b *testing.B) { benchIngest(b, clip, 200*time.Millisecond, -1) })
	b.Run("flood1in5", func(b *testing.B) { benchFlood(b, clip) })
}

// BenchmarkIngest1080p is BenchmarkIngest720p for 1920x1080 footage.
func BenchmarkIngest1080p(b *testing.B) {
	clip := os.Getenv("LANEWATCH_BENCH_1080P")
	if clip == "" {
		clip = camtest.ClipFile(b, camtest.ClipSpec{Width: 1920, Height: 1080, Seconds: 10, FPS: 25, GOP: 50})
	}
	b.Run("every", func(b *testing.B) { benchIngest(b, clip, 0, 0) })
	b.Run("analyse5fps", func(b *testing.B) { benchIngest(b, clip, 200*time.Millisecond, 0) })
	b.Run("analyse5fps-perpacket", func(b *testing.B) { benchIngest(b, clip, 200*time.Millisecond, -1) })
	b.Run("flood1in5", func(b *testing.B) { benchFlood(b, clip) })
}

// contextSwitches is the process's voluntary and involuntary context
// switches so far, summed over its threads.
func contextSwitches() int {
	ents, _ := os.ReadDir("/proc/self/task")
	n := 0
	for _, e := range ents {
		b, _ := os.ReadFile("/proc/self/task/" + e.Name() + "/status")
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) == 2 && strings.HasSuffix(f[0], "ctxt_switches:") {
				v, _ := strconv.Atoi(f[1])
				n += v
			}
		}
	}
	return n
}

func benchIngest(b *testing.B, clip string, every, batch time.Duration) {
	runIngest(b, clip, 25, batch, every, 0)
}

// benchFlood is the same path without real time: the server sends as fast
// as TCP lets it (startFloodServer), so the gateway is never idle and pays
// no wake-ups; a consumer converts one frame in five, as analysis at 5 of
// 25 fps does. This is the path's cost per frame beside FFmpeg reading a
// file as fast as it can.
func benchFlood(b *testing.B, clip string) {
	runIngest(b, clip, 0, -1, 0, 4)
}

// runIngest serves clip at fps (0: flat out) to a camera reading with
// batch, and a consumer takes the newest frame after sleeping every and
// after skipping skip frames. cpu-ns/frame is per frame received.
func runIngest(b *testing.B, clip string, fps int, batch, every time.Duration, skip uint64) {
	srv := startServerProc(b, clip, 1, fps)
	out := frames.NewLatest()
	defer out.Close()
	cam := &camera.Camera{ID: "bench", URL: srv.URL(0), DetectWidth: 640, IdleKeyframes: -1, ReadBatch: batch, Out: out, Logger: discardLogger}
	if err := cam.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer cam.Close()
	m := newMat()
	defer m.Close()
	var info frames.Info
	take := func() {
		if every > 0 {
			time.Sleep(every)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var err error
		if info, err = out.Next(ctx, info.Seq+skip, &m); err != nil {
			b.Fatalf("frames stopped: %v (%+v)", err, cam.Status())
		}
	}
	take()
	for fps == 0 && info.Seq < 100 { // flat out: warm up first
		take()
	}
	// Count frames by their sequence numbers: Next skips to the newest.
	b.ReportAllocs()
	b.ResetTimer()
	c0, x0, s0 := cpuNow(), contextSwitches(), info.Seq
	for info.Seq < s0+uint64(b.N) {
		take()
	}
	b.StopTimer()
	n := float64(info.Seq - s0)
	b.ReportMetric(float64(cpuNow()-c0)/n, "cpu-ns/frame")
	b.ReportMetric(float64(contextSwitches()-x0)/n, "cs/frame")
	if st := cam.Status(); st.DecodeErrors != 0 || st.PacketsLost != 0 || st.FramesDropped != 0 {
		b.Errorf("status %+v", st)
	}
}

// BenchmarkIdleWake is the floor under any real-time figure on this
// machine: a process that does nothing but wake up every 40 ms (a 25 fps
// camera's frame interval). On small VMs each wake-up costs a measurable
// share of a frame's decode time before any work is done.
func BenchmarkIdleWake(b *testing.B) {
	c0, x0 := cpuNow(), contextSwitches()
	for range b.N {
		time.Sleep(40 * time.Millisecond)
	}
	b.ReportMetric(float64(cpuNow()-c0)/float64(b.N), "cpu-ns/frame")
	b.ReportMetric(float64(contextSwitches()-x0)/float64(b.N), "cs/frame")
}
