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
	"runtime/pprof"
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
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/testenv"
)

// TestLoop16 is the whole per-camera path as the gateway runs it
// (internal/gateway/cameras.go and substream.go): N cameras (default 16)
// reading the campus footage made camera-like over RTSP on loopback
// (internal/camsim, in a child process so that its CPU is not counted),
// decoding and scaling to 640 wide (internal/camera into a frames.Latest),
// and an analytics.Loop per camera at 5 analysed fps with the campus zones
// (motion, detector on the motion regions, tracker, rules, annotation).
// After a warm-up it measures a window and prints per-camera and total
// analysed fps, the share of the 5 fps schedule slots served, the share of
// results on time (within 1/fps of the frame's decode), p50/p99
// frame-to-result latency, the process's CPU share of the machine, RSS and
// heap allocations per analysed frame:
//
//	go test -tags soak -run 'TestLoop16$' -v -timeout 10m ./internal/analytics/
//
// Environment: LANEWATCH_LOOP16_CAMS (default 16), LANEWATCH_LOOP16_DETECTOR
// (hog, the default config's detector, or body: Yolo-Fastest 1.1 body from
// ../shared/models, one pool of networks for all cameras as the gateway
// loads it), LANEWATCH_LOOP16_SUB=1 (each camera a 1080p main stream read
// without decoding plus a 640x360 sub-stream decoded for analysis, as with
// detect.url), LANEWATCH_LOOP16_MAIN=1080p (one 1080p stream per camera,
// decoded and scaled; default 720p), LANEWATCH_LOOP16_SOURCE_FPS (the
// cameras' frame rate, default 10), LANEWATCH_SOAK_DURATION (measured
// window, default 45s), LANEWATCH_BENCH_CACHE (where the clips are made
// once), LANEWATCH_LOOP16_LOCKSTEP=1 (all streams in phase; by default
// their frames are spread over one frame interval, as independent cameras'
// are).
func TestLoop16(t *testing.T) {
	o := loopOptsFromEnv(16, 45*time.Second)
	o.streams = "720p"
	if os.Getenv("LANEWATCH_LOOP16_MAIN") == "1080p" {
		o.streams = "1080p"
	}
	if os.Getenv("LANEWATCH_LOOP16_SUB") == "1" {
		o.streams = "sub"
	}
	runtime.GC()
	rss0 := loopRSS(t)
	srv := startCamsimProc(t, o.cams, o.sourceFPS, o.streams)
	r := runLoopN(t, srv, o)
	fmt.Printf("loop16: RSS %.0f MB = %.1f MB per camera, %.1f MB per camera over the process before the cameras\n",
		r.rssMB, r.rssMB/float64(o.cams), (r.rssMB-float64(rss0)/(1<<20))/float64(o.cams))
}

// TestLoopSubVsMain measures what a sub-stream saves (issue 15): the same
// N busy cameras (default 8) analysed on their 1080p main stream (decoded
// and scaled to 640 wide), then with a 640x360 sub-stream (the main stream
// read without decoding, the sub-stream decoded and analysed), same footage,
// same detector, same window length, in one process; repeated
// (LANEWATCH_LOOP16_REPEAT, default 2, alternating the order so that a
// change of the machine's load falls on both variants) and reported as the
// ratio of the process's CPU, sub over main:
//
//	go test -tags soak -run 'TestLoopSubVsMain$' -v -timeout 15m ./internal/analytics/
//
// The other LANEWATCH_LOOP16_* variables as for TestLoop16; the window
// defaults to 30s.
func TestLoopSubVsMain(t *testing.T) {
	o := loopOptsFromEnv(8, 30*time.Second)
	reps := 2
	if n, err := strconv.Atoi(os.Getenv("LANEWATCH_LOOP16_REPEAT")); err == nil && n > 0 {
		reps = n
	}
	srv := startCamsimProc(t, o.cams, o.sourceFPS, "sub")
	var ratios, perFrames []float64
	for rep := range reps {
		order := []string{"1080p", "sub"}
		if rep%2 == 1 {
			order = []string{"sub", "1080p"}
		}
		cpu := map[string]loopResult{}
		for _, s := range order {
			o.streams = s
			runtime.GC()
			cpu[s] = runLoopN(t, srv, o)
		}
		m, s := cpu["1080p"], cpu["sub"]
		ratio, perFrame := s.cpuPct/m.cpuPct, s.cpuPerFrameMS/m.cpuPerFrameMS
		ratios, perFrames = append(ratios, ratio), append(perFrames, perFrame)
		// The ratio of CPU shares compares like with like only when both
		// variants serve their slots; a starved variant does less work, so
		// the CPU per analysed frame is printed beside it.
		fmt.Printf("subvsmain: run %d: %d cameras, CPU with sub-streams %.1f%% vs main streams %.1f%% of the machine: %.2fx (target <= 0.6); per analysed frame %.1f vs %.1f ms: %.2fx; slots served %.1f%% vs %.1f%%, p99 %.0f vs %.0f ms; load %s -> %s\n",
			rep+1, o.cams, s.cpuPct, m.cpuPct, ratio, s.cpuPerFrameMS, m.cpuPerFrameMS, perFrame, s.slotsPct, m.slotsPct, s.p99, m.p99, cpu[order[0]].load0, cpu[order[1]].load1)
	}
	fmt.Printf("subvsmain: CPU ratio sub/main over %d runs: %.2f-%.2fx (target <= 0.6); per analysed frame %.2f-%.2fx\n",
		reps, slices.Min(ratios), slices.Max(ratios), slices.Min(perFrames), slices.Max(perFrames))
}

// gatewayPreRoll and subPreRoll are the rings the gateway gives a camera's
// main stream (evidence.pre_roll's default 10 s + 6 s of analysis lag) and
// its sub-stream (gateway.subStreamPreRoll), so that RSS counts them.
const (
	gatewayPreRoll = 16 * time.Second
	subPreRoll     = 4 * time.Second
)

type loopOpts struct {
	cams, sourceFPS int
	// streams: "720p" or "1080p", the camera's one stream decoded and
	// scaled for analysis; "sub", a 1080p main stream read without decoding
	// and a 640x360 sub-stream decoded for analysis.
	streams string
	det     string // hog or body
	dur     time.Duration
}

type loopResult struct {
	slotsPct, p99, cpuPct, rssMB float64
	cpuPerFrameMS                float64 // process CPU per analysed frame
	load0, load1                 string
}

func loopOptsFromEnv(cams int, dur time.Duration) loopOpts {
	o := loopOpts{cams: cams, sourceFPS: 10, dur: dur, det: os.Getenv("LANEWATCH_LOOP16_DETECTOR")}
	if n, err := strconv.Atoi(os.Getenv("LANEWATCH_LOOP16_SOURCE_FPS")); err == nil && n > 0 {
		o.sourceFPS = n
	}
	if n, err := strconv.Atoi(os.Getenv("LANEWATCH_LOOP16_CAMS")); err == nil && n > 0 {
		o.cams = n
	}
	if d, err := time.ParseDuration(os.Getenv("LANEWATCH_SOAK_DURATION")); err == nil {
		o.dur = d
	}
	if o.det == "" {
		o.det = "hog"
	}
	return o
}

// runLoopN runs o.cams cameras against srv's streams for a warm-up and the
// measured window, prints the figures and checks that every camera stayed
// online and kept raising intrusions.
func runLoopN(t *testing.T, srv *camsimProc, o loopOpts) loopResult {
	t.Helper()
	const analysedFPS = 5.0
	cams := o.cams
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var signals atomic.Uint64
	var sigMu sync.Mutex
	perCam := map[string]int{} // intrusion signals per camera
	raiser := incident.RaiserFunc(func(s incident.Signal) {
		signals.Add(1)
		if s.Type == incident.Intrusion {
			sigMu.Lock()
			perCam[s.Source.Camera]++
			sigMu.Unlock()
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// One pool of networks for all cameras, as the gateway loads a model
	// detector; the HOG (nil) is built by each loop.
	var pool *detect.Pool
	if o.det == "body" {
		p, err := detect.NewPool(detect.DefaultModel(filepath.Join(testenv.SharedDir(t), "models"), "yolo-fastest-1.1-body"), 0)
		if err != nil {
			t.Fatal(err)
		}
		pool = p
		defer pool.Close()
	}

	type unit struct {
		main     *camera.Camera // the camera's (main) stream
		analysed *camera.Camera // the stream the loop reads: main, or the sub-stream
		latest   *frames.Latest
		loop     *analytics.Loop
		done     chan error

		mu       sync.Mutex
		on       bool
		lat      []float64 // ms, frame decode to result, in the window
		last     time.Time
		maxGapMS float64
	}
	us := make([]*unit, cams)
	slots := int(o.dur.Seconds()*analysedFPS) + 1
	for i := range us {
		cfg := eval.RealCamera()
		cfg.ID, cfg.Name, cfg.URL = fmt.Sprintf("cam%d", i), fmt.Sprintf("cam%d", i), srv.url(i)
		cfg.Detect = config.Detect{FPS: analysedFPS, Width: 640}
		u := &unit{latest: frames.NewLatest(), done: make(chan error, 1), lat: make([]float64, 0, 2*slots)}
		u.main = camera.FromConfig(cfg, u.latest)
		u.main.Logger, u.main.PreRoll = quiet, gatewayPreRoll
		u.analysed = u.main
		if o.streams == "sub" { // as gateway.withSubStream
			cfg.Detect.URL = srv.subURL(i)
			u.main.NoDecode, u.main.Out = true, nil
			u.analysed = camera.FromConfig(cfg, u.latest)
			u.analysed.ID, u.analysed.URL = cfg.ID+":sub", cfg.Detect.URL
			u.analysed.Logger, u.analysed.PreRoll = quiet, subPreRoll
		}
		var det detect.Detector
		if pool != nil {
			det = pool.Detector()
		}
		u.loop = &analytics.Loop{Camera: cfg, Source: u.latest, Detector: det, Raiser: raiser,
			OnMotion: u.analysed.SetMotion, OnAnalyzed: u.analysed.MarkAnalyzed, Logger: quiet,
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
		if err := u.main.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if u.analysed != u.main {
			if err := u.analysed.Start(ctx); err != nil {
				t.Fatal(err)
			}
		}
		go func() { u.done <- u.loop.Run(ctx) }()
	}
	defer func() {
		cancel()
		for _, u := range us {
			u.main.Close()
			u.analysed.Close()
			u.latest.Close()
			<-u.done
			u.loop.Close()
		}
	}()

	deadline := time.Now().Add(30 * time.Second)
	for _, u := range us {
		for u.loop.Stats().Frames == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: nothing analysed after 30s: %+v", u.main.ID, u.analysed.Status())
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
		cs := u.analysed.Status()
		in0[i], drop0[i] = cs.FramesIn, cs.FramesDropped
	}
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0, wall0 := loopCPU(), time.Now()
	load0 := loadavg()
	time.Sleep(o.dur)
	cpu1, wall1 := loopCPU(), time.Now()
	runtime.ReadMemStats(&ms1)
	for _, u := range us {
		u.mu.Lock()
		u.on = false
		u.mu.Unlock()
	}
	rss1 := loopRSS(t)
	wall := wall1.Sub(wall0).Seconds()
	if f := os.Getenv("LANEWATCH_LOOP16_HEAPPROFILE"); f != "" {
		writeHeapProfile(t, f)
	}

	var all []float64
	var analysed, received, served uint64
	var onTime int
	limit := 1000 / analysedFPS
	desc := map[string]string{
		"720p":  "720p H.264 decoded + scaled to 640x360",
		"1080p": "1080p H.264 (4 Mbit/s) decoded + scaled to 640x360",
		"sub":   "1080p main (4 Mbit/s) read without decoding + 640x360 sub-stream (512 kbit/s) decoded",
	}[o.streams]
	detName := o.det
	if pool != nil {
		detName = "Yolo-Fastest body, pool " + pool.String()
	}
	fmt.Printf("loop16: %d cameras, %s, %d fps over RTSP (loopback), %s detector, %.0f fps analysed target, %.1fs window\n",
		cams, desc, o.sourceFPS, detName, analysedFPS, wall)
	for i, u := range us {
		st, cs := u.loop.Stats(), u.analysed.Status()
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
			u.main.ID, float64(n)/wall, pct(lat, 50), pct(lat, 99), gap, st.MotionMS, st.DetectMS, st.TotalMS, cs.State,
			float64(cs.FramesIn-in0[i])/wall, cs.FramesDropped-drop0[i])
	}
	slices.Sort(all)
	cpuPct := 100 * (cpu1 - cpu0).Seconds() / (wall * float64(runtime.NumCPU()))
	mallocs := ms1.Mallocs - ms0.Mallocs
	r := loopResult{slotsPct: 100 * float64(served) / (float64(cams) * float64(uint64(wall*analysedFPS))),
		p99: pct(all, 99), cpuPct: cpuPct, rssMB: float64(rss1) / (1 << 20), load0: load0, load1: loadavg(),
		cpuPerFrameMS: 1000 * (cpu1 - cpu0).Seconds() / float64(max(analysed, 1))}
	fmt.Printf("loop16: total %.1f fps analysed (target %.0f), schedule slots served %.1f%%, results within %.0f ms of decode %.1f%% (%d of %d), latency p50 %.0f ms p99 %.0f ms max %.0f ms\n",
		float64(analysed)/wall, float64(cams)*analysedFPS, r.slotsPct,
		limit, 100*float64(onTime)/float64(max(len(all), 1)), onTime, len(all), pct(all, 50), r.p99, pct(all, 100))
	fmt.Printf("loop16: CPU %.1f%% of the machine (%d CPUs), %.1f ms per analysed frame, RSS %.0f MB, load average %s at start, %s at end, signals %d\n",
		cpuPct, runtime.NumCPU(), r.cpuPerFrameMS, r.rssMB, load0, r.load1, signals.Load())
	fmt.Printf("loop16: heap allocations in the window %d (%d B): %.1f per analysed frame, %.1f per frame received; GC cycles %d\n",
		mallocs, ms1.TotalAlloc-ms0.TotalAlloc, float64(mallocs)/float64(max(analysed, 1)), float64(mallocs)/float64(max(received, 1)), ms1.NumGC-ms0.NumGC)
	fmt.Printf("loop16: Go memory at the window's end: heap in use %.0f MB, heap from the OS %.0f MB, stacks %.0f MB, runtime total %.0f MB (the rest of RSS is C: FFmpeg, OpenCV, the networks)\n",
		float64(ms1.HeapInuse)/(1<<20), float64(ms1.HeapSys-ms1.HeapReleased)/(1<<20), float64(ms1.StackSys)/(1<<20), float64(ms1.Sys-ms1.HeapReleased)/(1<<20))
	var ringHeld, ringRes int
	for _, u := range us {
		streams := []*camera.Camera{u.main}
		if u.analysed != u.main {
			streams = append(streams, u.analysed)
		}
		for _, c := range streams {
			h, r := c.RingUsage()
			ringHeld, ringRes = ringHeld+h, ringRes+r
		}
	}
	fmt.Printf("loop16: pre-roll rings (outside the Go heap): %.0f MB held, %.0f MB resident = %.1f MB per camera\n",
		float64(ringHeld)/(1<<20), float64(ringRes)/(1<<20), float64(ringRes)/(1<<20)/float64(cams))
	for _, u := range us {
		for _, c := range []*camera.Camera{u.main, u.analysed} {
			if st := c.Status(); st.State != camera.StateOnline {
				t.Errorf("%s: %s %q", st.ID, st.State, st.Reason)
			}
		}
		// Detection under load: people walk the path zone all the time, so
		// every camera, however starved of CPU, must keep raising intrusions.
		sigMu.Lock()
		n := perCam[u.main.ID]
		sigMu.Unlock()
		if n == 0 {
			t.Errorf("%s: no intrusion raised while people walk the path zone", u.main.ID)
		}
	}
	return r
}

// pct is the p-th percentile of sorted v (nearest rank).
func pct(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	i := int(p/100*float64(len(v))+0.5) - 1
	return v[min(max(i, 0), len(v)-1)]
}

// campusClip makes (once, in the bench cache) the campus footage as a
// camera-like stream: scaled to w x h (4:3 stretched to 16:9, people on
// the path in every frame), fps, no B-frames, 2 s GOP, libx264 veryfast;
// at bitrate when one is given (a camera's fixed rate: Hikvision's and
// Dahua's defaults are about 4 Mbit/s at 1080p and 512 kbit/s for a
// 640x360 sub-stream), else x264's default quality (the 720p clip, kept as
// it was for comparison with earlier runs).
func campusClip(t *testing.T, w, h, fps int, bitrate string) string {
	t.Helper()
	cache := os.Getenv("LANEWATCH_BENCH_CACHE")
	if cache == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			t.Fatal(err)
		}
		cache = filepath.Join(dir, "lanewatch", "bench")
	}
	name := fmt.Sprintf("campus%dp-%dfps.mp4", h, fps)
	rate := []string{}
	if bitrate != "" {
		name = fmt.Sprintf("campus%dp-%dfps-%s.mp4", h, fps, bitrate)
		rate = []string{"-b:v", bitrate, "-maxrate", bitrate, "-bufsize", bitrate}
	}
	out := filepath.Join(cache, name)
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
	args := []string{"-hide_banner", "-loglevel", "error", "-y", "-i", src,
		"-vf", fmt.Sprintf("fps=%d,scale=%d:%d", fps, w, h), "-an", "-c:v", "libx264", "-preset", "veryfast"}
	args = append(args, rate...)
	args = append(args, "-bf", "0", "-g", strconv.Itoa(2*fps), "-keyint_min", strconv.Itoa(2*fps), "-sc_threshold", "0", tmp)
	if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	if err := os.Rename(tmp, out); err != nil {
		t.Fatal(err)
	}
	return out
}

const camsimHelperEnv = "LANEWATCH_LOOP16_CAMSIM"

// TestHelperLoop16Camsim is the child process of TestLoop16: a camsim.Server
// serving LANEWATCH_LOOP16_CLIP as cam0..camN-1 (and, when set,
// LANEWATCH_LOOP16_SUBCLIP as their sub-streams cam0-sub..); prints
// "ADDR host:port" and exits when stdin closes.
func TestHelperLoop16Camsim(t *testing.T) {
	if os.Getenv(camsimHelperEnv) == "" {
		t.Skip("helper process for TestLoop16")
	}
	n, _ := strconv.Atoi(os.Getenv(camsimHelperEnv))
	streams := map[string]string{}
	sub := os.Getenv("LANEWATCH_LOOP16_SUBCLIP")
	for i := range n {
		streams[fmt.Sprintf("cam%d", i)] = os.Getenv("LANEWATCH_LOOP16_CLIP")
		if sub != "" {
			streams[fmt.Sprintf("cam%d-sub", i)] = sub
		}
	}
	srv := &camsim.Server{Listen: "127.0.0.1:0", Streams: streams, UDPRTPPort: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	// Real cameras are not phase-locked: restart the streams (no reader yet)
	// spread over one frame interval, so that frames do not arrive at all
	// cameras at the same instant; a camera's main and sub-stream come from
	// the same sensor and stay together. LANEWATCH_LOOP16_LOCKSTEP=1 keeps
	// all in step.
	if fps, _ := strconv.Atoi(os.Getenv("LANEWATCH_LOOP16_FPS")); fps > 0 && os.Getenv("LANEWATCH_LOOP16_LOCKSTEP") != "1" {
		for i := range n {
			names := []string{fmt.Sprintf("cam%d", i)}
			if sub != "" {
				names = append(names, fmt.Sprintf("cam%d-sub", i))
			}
			for _, name := range names {
				if err := srv.StopStream(name); err != nil {
					t.Fatal(err)
				}
				if err := srv.StartStream(name); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(time.Second / time.Duration(fps*n))
		}
	}
	fmt.Printf("ADDR %s\n", srv.Addr())
	io.Copy(io.Discard, os.Stdin) //nolint:errcheck // returns when the parent closes stdin
}

type camsimProc struct{ addr string }

func (p *camsimProc) url(i int) string    { return fmt.Sprintf("rtsp://%s/cam%d", p.addr, i) }
func (p *camsimProc) subURL(i int) string { return fmt.Sprintf("rtsp://%s/cam%d-sub", p.addr, i) }

// startCamsimProc serves n cameras at fps in a child process: streams
// "720p" or "1080p" one stream each, "sub" a 1080p main and a 640x360
// sub-stream each.
func startCamsimProc(t *testing.T, n, fps int, streams string) *camsimProc {
	t.Helper()
	var clip, sub string
	switch streams {
	case "720p":
		clip = campusClip(t, 1280, 720, fps, "")
	case "1080p":
		clip = campusClip(t, 1920, 1080, fps, "4M")
	case "sub":
		clip, sub = campusClip(t, 1920, 1080, fps, "4M"), campusClip(t, 640, 360, fps, "512k")
	default:
		t.Fatalf("streams %q: want 720p, 1080p or sub", streams)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperLoop16Camsim$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", camsimHelperEnv, n), "LANEWATCH_LOOP16_CLIP="+clip,
		"LANEWATCH_LOOP16_SUBCLIP="+sub, fmt.Sprintf("LANEWATCH_LOOP16_FPS=%d", fps))
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

// writeHeapProfile writes the live heap (after a GC) for go tool pprof.
func writeHeapProfile(t *testing.T, path string) {
	runtime.GC()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		t.Fatal(err)
	}
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
