//go:build soak

package analytics_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/analytics"
	"github.com/lanewatch/lanewatch/internal/camera"
	"github.com/lanewatch/lanewatch/internal/camsim"
	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/detect"
	"github.com/lanewatch/lanewatch/internal/eval"
	"github.com/lanewatch/lanewatch/internal/frames"
	"github.com/lanewatch/lanewatch/internal/incidents"
	"github.com/lanewatch/lanewatch/internal/testenv"
)

// TestLoop16 is the whole per-camera path as the gateway runs it
// (internal/gateway/cameras.go): N cameras (default 16) reading a 720p H.264
// version of the campus footage over RTSP on loopback (internal/camsim, in a
// child process so that its CPU is not counted), decoding and scaling to 640
// wide (internal/camera into a frames.Latest), and an analytics.Loop per
// camera at 5 analysed fps with the campus zones (motion, detector on the
// motion regions, tracker, rules, annotation). After a warm-up it measures a
// window and prints per-camera and total analysed fps, the share of the
// 5 fps schedule slots served, the share of results on time (within 1/fps of
// the frame's decode), p50/p99 frame-to-result latency, the process's CPU
// share of the machine, RSS and heap allocations per analysed frame:
//
//	go test -tags soak -run TestLoop16 -v -timeout 10m ./internal/analytics/
//
// Environment: LANEWATCH_LOOP16_CAMS (default 16), LANEWATCH_LOOP16_DETECTOR
// (hog, the default config's detector, or body: Yolo-Fastest 1.1 body from
// ../shared/models), LANEWATCH_LOOP16_SOURCE_FPS (the cameras' frame rate,
// default 10), LANEWATCH_SOAK_DURATION (measured window, default 45s),
// LANEWATCH_BENCH_CACHE (where the 720p clip is made once),
// LANEWATCH_LOOP16_LOCKSTEP=1 (all streams in phase; by default their frames
// are spread over one frame interval, as independent cameras' are).
func TestLoop16(t *testing.T) {
	const analysedFPS = 5.0
	cams, sourceFPS := 16, 10
	if n, err := strconv.Atoi(os.Getenv("LANEWATCH_LOOP16_SOURCE_FPS")); err == nil && n > 0 {
		sourceFPS = n
	}
	if n, err := strconv.Atoi(os.Getenv("LANEWATCH_LOOP16_CAMS")); err == nil && n > 0 {
		cams = n
	}
	dur := 45 * time.Second
	if d, err := time.ParseDuration(os.Getenv("LANEWATCH_SOAK_DURATION")); err == nil {
		dur = d
	}
	detName := os.Getenv("LANEWATCH_LOOP16_DETECTOR")
	if detName == "" {
		detName = "hog"
	}
	clip := campus720p(t, sourceFPS)
	runtime.GC()
	rss0 := loopRSS(t)
	srv := startCamsimProc(t, clip, cams, sourceFPS)

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var signals atomic.Uint64
	var sigMu sync.Mutex
	perCam := map[string]int{} // intrusion signals per camera
	raiser := incidents.RaiserFunc(func(s incidents.Signal) {
		signals.Add(1)
		if s.Type == incidents.Intrusion {
			sigMu.Lock()
			perCam[s.Source.Camera]++
			sigMu.Unlock()
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	type unit struct {
		ing    *camera.Camera
		latest *frames.Latest
		loop   *analytics.Loop
		done   chan error

		mu       sync.Mutex
		on       bool
		lat      []float64 // ms, frame decode to result, in the window
		last     time.Time
		maxGapMS float64
	}
	us := make([]*unit, cams)
	slots := int(dur.Seconds()*analysedFPS) + 1
	for i := range us {
		cfg := eval.RealCamera()
		cfg.ID, cfg.Name, cfg.URL = fmt.Sprintf("cam%d", i), fmt.Sprintf("cam%d", i), srv.url(i)
		cfg.Detect = config.Detect{FPS: analysedFPS, Width: 640}
		u := &unit{latest: frames.NewLatest(), done: make(chan error, 1), lat: make([]float64, 0, 2*slots)}
		u.ing = camera.FromConfig(cfg, u.latest)
		u.ing.Logger = quiet
		var det detect.Detector
		if detName == "body" {
			det = bodyDetector(t)
		}
		u.loop = &analytics.Loop{Camera: cfg, Source: u.latest, Detector: det, Raiser: raiser,
			OnMotion: u.ing.SetMotion, OnAnalyzed: u.ing.MarkAnalyzed, Logger: quiet,
			OnResult: func(at, done time.Time) {
				u.mu.Lock()
				if u.on && len(u.lat) < cap(u.lat) {
					u.lat = append(u.lat, float64(done.Sub(at))/1e6)
					if !u.last.IsZero() {
						u.maxGapMS = max(u.maxGapMS, float64(done.Sub(u.last))/1e6)
					}
					u.last = done
				}
				u.mu.Unlock()
			}}
		us[i] = u
	}
	for _, u := range us {
		if err := u.ing.Start(ctx); err != nil {
			t.Fatal(err)
		}
		go func() { u.done <- u.loop.Run(ctx) }()
	}
	defer func() {
		cancel()
		for _, u := range us {
			u.ing.Close()
			u.latest.Close()
			<-u.done
			u.loop.Close()
		}
	}()

	deadline := time.Now().Add(30 * time.Second)
	for _, u := range us {
		for u.loop.Stats().Frames == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: nothing analysed after 30s: %+v", u.ing.ID, u.ing.Status())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	time.Sleep(8 * time.Second) // warm-up: background models, tracks, buffers, GC pacing

	frames0 := make([]uint64, cams)
	in0 := make([]uint64, cams)
	drop0 := make([]uint64, cams)
	for i, u := range us {
		u.mu.Lock()
		u.on = true
		u.mu.Unlock()
		frames0[i] = u.loop.Stats().Frames
		cs := u.ing.Status()
		in0[i], drop0[i] = cs.FramesIn, cs.FramesDropped
	}
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0, wall0 := loopCPU(), time.Now()
	load0 := loadavg()
	time.Sleep(dur)
	cpu1, wall1 := loopCPU(), time.Now()
	runtime.ReadMemStats(&ms1)
	for _, u := range us {
		u.mu.Lock()
		u.on = false
		u.mu.Unlock()
	}
	rss1 := loopRSS(t)
	wall := wall1.Sub(wall0).Seconds()

	var all []float64
	var analysed, received, served uint64
	var onTime int
	limit := 1000 / analysedFPS
	fmt.Printf("loop16: %d cameras, 720p H.264 %d fps over RTSP (loopback), decode+scale to 640x360, %s detector, %.0f fps analysed target, %.1fs window\n",
		cams, sourceFPS, detName, analysedFPS, wall)
	for i, u := range us {
		st, cs := u.loop.Stats(), u.ing.Status()
		n := st.Frames - frames0[i]
		analysed += n
		received += cs.FramesIn - in0[i]
		served += min(n, uint64(wall*analysedFPS))
		u.mu.Lock()
		lat := slices.Clone(u.lat)
		gap := u.maxGapMS
		u.mu.Unlock()
		slices.Sort(lat)
		for _, v := range lat {
			if v <= limit {
				onTime++
			}
		}
		all = append(all, lat...)
		fmt.Printf("loop16:   %-5s %5.2f fps analysed, p50 %5.0f ms p99 %5.0f ms, max gap %5.0f ms, motion %.1f ms detect %.1f ms total %.1f ms (smoothed), %s, received %.1f fps, dropped %d\n",
			u.ing.ID, float64(n)/wall, pct(lat, 50), pct(lat, 99), gap, st.MotionMS, st.DetectMS, st.TotalMS, cs.State,
			float64(cs.FramesIn-in0[i])/wall, cs.FramesDropped-drop0[i])
	}
	slices.Sort(all)
	var ru0, ru1 = cpu0, cpu1
	cpuPct := 100 * (ru1 - ru0).Seconds() / (wall * float64(runtime.NumCPU()))
	mallocs := ms1.Mallocs - ms0.Mallocs
	fmt.Printf("loop16: total %.1f fps analysed (target %.0f), schedule slots served %.1f%%, results within %.0f ms of decode %.1f%% (%d of %d), latency p50 %.0f ms p99 %.0f ms max %.0f ms\n",
		float64(analysed)/wall, float64(cams)*analysedFPS, 100*float64(served)/(float64(cams)*float64(uint64(wall*analysedFPS))),
		limit, 100*float64(onTime)/float64(max(len(all), 1)), onTime, len(all), pct(all, 50), pct(all, 99), pct(all, 100))
	fmt.Printf("loop16: CPU %.1f%% of the machine (%d CPUs), RSS %.0f MB (+%.1f MB per camera), load average %s at start, %s at end, signals %d\n",
		cpuPct, runtime.NumCPU(), float64(rss1)/(1<<20), float64(rss1-rss0)/float64(cams)/(1<<20), load0, loadavg(), signals.Load())
	fmt.Printf("loop16: heap allocations in the window %d (%d B): %.1f per analysed frame, %.1f per frame received; GC cycles %d\n",
		mallocs, ms1.TotalAlloc-ms0.TotalAlloc, float64(mallocs)/float64(max(analysed, 1)), float64(mallocs)/float64(max(received, 1)), ms1.NumGC-ms0.NumGC)
	for _, u := range us {
		if st := u.ing.Status(); st.State != camera.StateOnline {
			t.Errorf("%s: %s %q", st.ID, st.State, st.Reason)
		}
		// Detection under load: people walk the path zone all the time, so
		// every camera, however starved of CPU, must keep raising intrusions.
		sigMu.Lock()
		n := perCam[u.ing.ID]
		sigMu.Unlock()
		if n == 0 {
			t.Errorf("%s: no intrusion raised while people walk the path zone", u.ing.ID)
		}
	}
}

// pct is the p-th percentile of sorted v (nearest rank).
func pct(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	i := int(p/100*float64(len(v))+0.5) - 1
	return v[min(max(i, 0), len(v)-1)]
}

// campus720p makes (once, in the bench cache) the campus footage as a
// camera-like stream: 1280x720, fps, no B-frames, 2 s GOP, libx264 veryfast.
func campus720p(t *testing.T, fps int) string {
	t.Helper()
	cache := os.Getenv("LANEWATCH_BENCH_CACHE")
	if cache == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			t.Fatal(err)
		}
		cache = filepath.Join(dir, "lanewatch", "bench")
	}
	out := filepath.Join(cache, fmt.Sprintf("campus720p-%dfps.mp4", fps))
	if fi, err := os.Stat(out); err == nil && fi.Size() > 0 {
		return out
	}
	src := filepath.Join(testenv.SharedDir(t), "media", "campus-walk-30s.mp4")
	if _, err := os.Stat(src); err != nil {
		src = filepath.Join(testenv.RepoRoot(t), "media", "campus-walk-10s.mp4")
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := out + ".tmp.mp4"
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", src,
		"-vf", fmt.Sprintf("fps=%d,scale=1280:720", fps), "-an", "-c:v", "libx264", "-preset", "veryfast",
		"-bf", "0", "-g", strconv.Itoa(2*fps), "-keyint_min", strconv.Itoa(2*fps), "-sc_threshold", "0", tmp)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	if err := os.Rename(tmp, out); err != nil {
		t.Fatal(err)
	}
	return out
}

const camsimHelperEnv = "LANEWATCH_LOOP16_CAMSIM"

// TestHelperLoop16Camsim is the child process of TestLoop16: a camsim.Server
// serving LANEWATCH_LOOP16_CLIP as cam0..camN-1; prints "ADDR host:port" and
// exits when stdin closes.
func TestHelperLoop16Camsim(t *testing.T) {
	if os.Getenv(camsimHelperEnv) == "" {
		t.Skip("helper process for TestLoop16")
	}
	n, _ := strconv.Atoi(os.Getenv(camsimHelperEnv))
	streams := map[string]string{}
	for i := range n {
		streams[fmt.Sprintf("cam%d", i)] = os.Getenv("LANEWATCH_LOOP16_CLIP")
	}
	srv := &camsim.Server{Listen: "127.0.0.1:0", Streams: streams, UDPRTPPort: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	// Real cameras are not phase-locked: restart the streams (no reader yet)
	// spread over one frame interval, so that frames do not arrive at all
	// cameras at the same instant. LANEWATCH_LOOP16_LOCKSTEP=1 keeps them in step.
	if fps, _ := strconv.Atoi(os.Getenv("LANEWATCH_LOOP16_FPS")); fps > 0 && os.Getenv("LANEWATCH_LOOP16_LOCKSTEP") != "1" {
		for i := range n {
			name := fmt.Sprintf("cam%d", i)
			if err := srv.StopStream(name); err != nil {
				t.Fatal(err)
			}
			if err := srv.StartStream(name); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Second / time.Duration(fps*n))
		}
	}
	fmt.Printf("ADDR %s\n", srv.Addr())
	io.Copy(io.Discard, os.Stdin) //nolint:errcheck // returns when the parent closes stdin
}

type camsimProc struct{ addr string }

func (p *camsimProc) url(i int) string { return fmt.Sprintf("rtsp://%s/cam%d", p.addr, i) }

func startCamsimProc(t *testing.T, clip string, n, fps int) *camsimProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperLoop16Camsim$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", camsimHelperEnv, n), "LANEWATCH_LOOP16_CLIP="+clip,
		fmt.Sprintf("LANEWATCH_LOOP16_FPS=%d", fps))
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close()
		cmd.Wait() //nolint:errcheck // exit status of a helper we stopped
	})
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
			go io.Copy(io.Discard, out) //nolint:errcheck // drain the rest
			return &camsimProc{addr: a}
		}
	}
	t.Fatal("camsim helper did not start")
	return nil
}

// loopCPU is the process's user+system CPU time so far (the helper, a
// child not yet waited for, is not included).
func loopCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru) //nolint:errcheck // cannot fail for RUSAGE_SELF
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func loopRSS(t *testing.T) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, ln := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(ln, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
