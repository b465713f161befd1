package camera_test

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/camera"
	"github.com/lanewatch/lanewatch/internal/camera/camtest"
	"github.com/lanewatch/lanewatch/internal/frames"
)

// rssBytes is the process's resident set size from /proc/self/statm.
func rssBytes(t testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skip("no /proc/self/statm")
	}
	f := strings.Fields(string(b))
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// TestConnectCloseCycles opens and closes cameras 500 times, some closed
// while connecting, some after frames were decoded and a snapshot taken, and
// checks that goroutines, Mats (with -tags matprofile) and memory come back.
func TestConnectCloseCycles(t *testing.T) {
	cycles := 500
	if testing.Short() {
		cycles = 100
	}
	if n, err := strconv.Atoi(os.Getenv("LANEWATCH_LEAK_CYCLES")); err == nil {
		cycles = n
	}
	srv := camtest.StartServer(t)
	// All key frames at 50 fps: the first frame arrives within one packet
	// interval, which keeps a cycle short.
	srv.AddStream("live", "H264", camtest.Clip(t, camtest.ClipSpec{Seconds: 1, GOP: 1, Width: 320}), 50)
	url := srv.URL("live")

	// One warm-up cycle so that lazily started runtime and library
	// goroutines are part of the baseline.
	cycle(t, url, 2)
	runtime.GC()
	baseG := runtime.NumGoroutine()
	baseMats := matCount()
	baseRSS := rssBytes(t)
	start := time.Now()
	for i := 0; i < cycles; i++ {
		cycle(t, url, i%3)
	}
	elapsed := time.Since(start)
	var g int
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC()
		if g = runtime.NumGoroutine(); g <= baseG || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if g > baseG {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines: %d after %d cycles, baseline %d\n%s", g, cycles, baseG, buf[:runtime.Stack(buf, true)])
	}
	if m := matCount(); m != baseMats {
		t.Errorf("Mats: %d after %d cycles, baseline %d", m, cycles, baseMats)
	}
	grow := rssBytes(t) - baseRSS
	t.Logf("%d cycles in %v; RSS %+.1f MB; goroutines %d/%d; mats %d", cycles, elapsed.Round(time.Millisecond), float64(grow)/(1<<20), g, baseG, matCount())
	// A leaked decoder (frames, sws context, buffers) is megabytes a cycle:
	// 500 of them would be far above this bound.
	if grow > 64<<20 {
		t.Errorf("RSS grew %d MB over %d cycles", grow>>20, cycles)
	}
}

// cycle: mode 0 closes while connecting, 1 a few milliseconds in, 2 after
// a decoded frame and a snapshot.
func cycle(t testing.TB, url string, mode int) {
	out := frames.NewLatest()
	defer out.Close()
	cam := &camera.Camera{ID: "leak", URL: url, DetectWidth: 160, ReadTimeout: time.Second,
		BackoffMin: 10 * time.Millisecond, Out: out, Logger: discardLogger}
	if err := cam.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer cam.Close()
	deadline := time.Now().Add(3 * time.Second)
	switch mode {
	case 1:
		// Mid-handshake or first packets, depending on the machine's load.
		time.Sleep(5 * time.Millisecond)
	case 2:
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		m := newMat()
		defer m.Close()
		if _, err := out.Next(ctx, 0, &m); err != nil {
			t.Fatalf("no frame: %v", err)
		}
		if _, err := cam.Snapshot(ctx); err != nil {
			t.Fatalf("snapshot: %v", err)
		}
	}
}
