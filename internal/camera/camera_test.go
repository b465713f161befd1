package camera_test

import (
	"bytes"
	"context"
	"image/jpeg"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/prometheus/client_golang/prometheus"
	"gocv.io/x/gocv"

	"github.com/lanewatch/lanewatch/internal/camera"
	"github.com/lanewatch/lanewatch/internal/camera/camtest"
	"github.com/lanewatch/lanewatch/internal/frames"
	"github.com/lanewatch/lanewatch/internal/testenv"
)

type syncBuffer = testenv.SyncBuffer

type harness struct {
	cam  *camera.Camera
	out  *frames.Latest
	logs *syncBuffer
	mu   sync.Mutex
	seen []camera.Status // every OnStatus call
}

func (h *harness) statuses() []camera.Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]camera.Status(nil), h.seen...)
}

// startCamera starts a camera with test-sized timeouts; mod adjusts fields.
func startCamera(t testing.TB, url string, mod func(*camera.Camera)) *harness {
	t.Helper()
	h := &harness{out: frames.NewLatest(), logs: &syncBuffer{}}
	h.cam = &camera.Camera{
		ID: "cam1", URL: url, DetectWidth: 320,
		ReadTimeout: time.Second, BackoffMin: 50 * time.Millisecond, BackoffMax: 400 * time.Millisecond,
		StatusWindow: time.Second, Out: h.out,
		Logger: slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnStatus: func(s camera.Status) {
			h.mu.Lock()
			h.seen = append(h.seen, s)
			h.mu.Unlock()
		},
	}
	if mod != nil {
		mod(h.cam)
	}
	if err := h.cam.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.cam.Close()
		h.out.Close()
	})
	return h
}

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitState(t testing.TB, h *harness, state string, timeout time.Duration) camera.Status {
	t.Helper()
	var st camera.Status
	waitFor(t, timeout, "state "+state, func() bool {
		st = h.cam.Status()
		return st.State == state
	})
	return st
}

// nextFrame waits for a frame newer than after and returns it.
func nextFrame(t testing.TB, out *frames.Latest, after uint64, dst *gocv.Mat) frames.Info {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := out.Next(ctx, after, dst)
	if err != nil {
		t.Fatalf("no frame: %v", err)
	}
	return info
}

func clip(t testing.TB, codec string, width int) []camtest.AU {
	return camtest.Clip(t, camtest.ClipSpec{Codec: codec, Width: width, Seconds: 3, GOP: 10})
}

func TestNormalStream(t *testing.T) {
	for _, tc := range []struct {
		codec, transport string
	}{
		{"H264", "tcp"},
		{"H265", "tcp"},
		{"H264", "udp"},
	} {
		t.Run(tc.codec+"/"+tc.transport, func(t *testing.T) {
			var srv *camtest.Server
			if tc.transport == "udp" {
				var err error
				if srv, err = camtest.ListenUDP(testenv.FreeAddr(t)); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(srv.Close)
			} else {
				srv = camtest.StartServer(t)
			}
			p := srv.AddStream("live", tc.codec, clip(t, tc.codec, 0), 20)
			h := startCamera(t, srv.URL("live"), func(c *camera.Camera) { c.Transport = tc.transport; c.NominalFPS = 20 })
			st := waitState(t, h, camera.StateOnline, 5*time.Second)
			if st.Reason != "" {
				t.Errorf("online with reason %q", st.Reason)
			}
			m := gocv.NewMat()
			defer m.Close()
			info := nextFrame(t, h.out, 0, &m)
			info = nextFrame(t, h.out, info.Seq, &m)
			if m.Cols() != 320 || m.Rows() != 240 || info.Width != 320 || info.Height != 240 {
				t.Errorf("frame %dx%d info %dx%d, want 320x240", m.Cols(), m.Rows(), info.Width, info.Height)
			}
			waitFor(t, 3*time.Second, "fps measured", func() bool {
				st = h.cam.Status()
				t.Logf("fps in %.1f decoded %.1f sent %d", st.FPSIn, st.FPSDecoded, p.Sent())
				return st.FPSDecoded > 12 && st.FPSIn > 12
			})
			if st.Width != 640 || st.Height != 480 || st.DecodeErrors != 0 || st.LastFrameAt.IsZero() {
				t.Errorf("status %+v", st)
			}
			if st.FPSIn > 25 {
				t.Errorf("fps_in %.1f above the 20 fps sent", st.FPSIn)
			}
			// An analysis loop taking every frame shows up as fps_analyzed.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				m := gocv.NewMat()
				defer m.Close()
				var seq uint64
				for {
					info, err := h.out.Next(ctx, seq, &m)
					if err != nil {
						return
					}
					seq = info.Seq
					h.cam.MarkAnalyzed()
				}
			}()
			waitFor(t, 3*time.Second, "fps_analyzed", func() bool { return h.cam.Status().FPSAnalyzed > 10 })
		})
	}
}

func TestRefusedBackoffGrows(t *testing.T) {
	addr := testenv.FreeAddr(t) // nothing listens: connection refused
	h := startCamera(t, "rtsp://"+addr+"/x", func(c *camera.Camera) {
		c.BackoffMin, c.BackoffMax = 40*time.Millisecond, 320*time.Millisecond
	})
	st := waitState(t, h, camera.StateOffline, time.Second)
	waitFor(t, 5*time.Second, "5 reconnects", func() bool {
		st = h.cam.Status()
		return st.Reconnects >= 5
	})
	if !strings.Contains(st.Reason, "refused") {
		t.Errorf("reason %q does not say refused", st.Reason)
	}
	// Jitter keeps each delay in [d/2, d]; by the 5th attempt d is capped
	// at 320ms, so the delay is at least 160ms, well above the 40ms start.
	if st.Backoff < 160*time.Millisecond || st.Backoff > 320*time.Millisecond {
		t.Errorf("backoff %v after %d attempts, want in [160ms, 320ms]", st.Backoff, st.Reconnects)
	}
}

func TestServerRestart(t *testing.T) {
	// A few failed attempts while it is down.
	h := outage(t, nil, 500*time.Millisecond, func(camera.Status) {})
	if st := h.cam.Status(); st.Reconnects < 1 {
		t.Errorf("reconnects %d", st.Reconnects)
	}
	before := h.cam.Status().FramesDecoded
	waitFor(t, 3*time.Second, "frames after restart", func() bool { return h.cam.Status().FramesDecoded > before+5 })
	// OnStatus saw every transition, in order, each with its own Since.
	var states []string
	for _, s := range h.statuses() {
		if len(states) == 0 || states[len(states)-1] != s.State {
			states = append(states, s.State)
		}
	}
	if got := strings.Join(states, ","); !strings.HasSuffix(got, "online,offline,online") {
		t.Errorf("OnStatus states %s", got)
	}
}

func TestDegradedBelowNominalFPS(t *testing.T) {
	srv := camtest.StartServer(t)
	srv.AddStream("live", "H264", clip(t, "H264", 0), 10)
	h := startCamera(t, srv.URL("live"), func(c *camera.Camera) { c.NominalFPS = 25 })
	st := waitState(t, h, camera.StateDegraded, 5*time.Second)
	if !strings.Contains(st.Reason, "frame rate below half of nominal 25") {
		t.Errorf("reason %q", st.Reason)
	}
}

// A lossy network: lost RTP packets are counted and make the camera
// degraded with that reason; it is online again once the loss stops.
func TestPacketLoss(t *testing.T) {
	srv := camtest.StartServer(t)
	p := srv.AddStream("live", "H264", clip(t, "H264", 0), 20)
	h := startCamera(t, srv.URL("live"), nil)
	waitState(t, h, camera.StateOnline, 5*time.Second)
	p.Loss(7)
	st := waitState(t, h, camera.StateDegraded, 3*time.Second)
	if st.Reason != "packets lost" {
		t.Errorf("reason %q, want packets lost", st.Reason)
	}
	waitFor(t, 3*time.Second, "lost packets counted", func() bool { return h.cam.Status().PacketsLost >= 5 })
	p.Loss(0)
	waitState(t, h, camera.StateOnline, 5*time.Second)
	before := h.cam.Status().FramesDecoded
	waitFor(t, 3*time.Second, "frames after the loss", func() bool { return h.cam.Status().FramesDecoded > before+5 })
}

func TestStall(t *testing.T) {
	srv := camtest.StartServer(t)
	p := srv.AddStream("live", "H264", clip(t, "H264", 0), 20)
	h := startCamera(t, srv.URL("live"), nil)
	waitState(t, h, camera.StateOnline, 5*time.Second)
	p.Stall(true)
	st := waitState(t, h, camera.StateOffline, 3*time.Second)
	if !strings.Contains(st.Reason, "stalled") {
		t.Errorf("reason %q", st.Reason)
	}
	p.Stall(false)
	waitState(t, h, camera.StateOnline, 5*time.Second)
}

func TestGarbage(t *testing.T) {
	srv := camtest.StartServer(t)
	p := srv.AddStream("live", "H264", clip(t, "H264", 0), 20)
	h := startCamera(t, srv.URL("live"), nil)
	waitState(t, h, camera.StateOnline, 5*time.Second)
	p.Garbage(true)
	st := waitState(t, h, camera.StateDegraded, 3*time.Second)
	if st.Reason == "" {
		t.Errorf("degraded without reason")
	}
	waitFor(t, 3*time.Second, "decode errors counted", func() bool { return h.cam.Status().DecodeErrors > 5 })
	p.Garbage(false)
	waitState(t, h, camera.StateOnline, 5*time.Second)
	before := h.cam.Status().FramesDecoded
	waitFor(t, 3*time.Second, "frames after garbage", func() bool { return h.cam.Status().FramesDecoded > before+5 })
}

func TestResolutionChange(t *testing.T) {
	srv := camtest.StartServer(t)
	p := srv.AddStream("live", "H264", clip(t, "H264", 0), 20)
	h := startCamera(t, srv.URL("live"), func(c *camera.Camera) { c.DetectWidth = 0 })
	waitState(t, h, camera.StateOnline, 5*time.Second)
	m := gocv.NewMat()
	defer m.Close()
	info := nextFrame(t, h.out, 0, &m)
	if m.Cols() != 640 {
		t.Fatalf("first frame %dx%d", m.Cols(), m.Rows())
	}
	p.Switch(clip(t, "H264", 320))
	waitFor(t, 5*time.Second, "320x240 frames", func() bool {
		info = nextFrame(t, h.out, info.Seq, &m)
		return m.Cols() == 320 && m.Rows() == 240 && info.Width == 320
	})
	waitFor(t, time.Second, "status 320x240", func() bool {
		st := h.cam.Status()
		return st.Width == 320 && st.Height == 240 && st.State != camera.StateOffline
	})
}

func TestUnsupportedCodec(t *testing.T) {
	srv := camtest.StartServer(t)
	srv.AddMedia("mjpeg", &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{&format.MJPEG{}}})
	srv.AddMedia("aac", &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{&format.MPEG4Audio{
		PayloadTyp: 97, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3,
		Config: &mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 48000, ChannelCount: 2},
	}}})
	for _, tc := range []struct{ path, want string }{
		{"mjpeg", "unsupported codec M-JPEG"},
		{"aac", "unsupported codec MPEG-4 Audio"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			h := startCamera(t, srv.URL(tc.path), nil)
			var st camera.Status
			waitFor(t, 3*time.Second, "reason", func() bool {
				st = h.cam.Status()
				return strings.HasPrefix(st.Reason, "unsupported codec")
			})
			if st.State != camera.StateOffline || !strings.Contains(st.Reason, tc.want) {
				t.Errorf("status %s %q, want offline %q", st.State, st.Reason, tc.want)
			}
		})
	}
}

func TestCredentialsNeverLeak(t *testing.T) {
	const secret = "s3cr3t-Pa55"
	srv := camtest.StartServer(t)
	srv.User, srv.Pass = "admin", secret
	srv.AddStream("live", "H264", clip(t, "H264", 0), 20)
	good := startCamera(t, srv.URL("live"), nil)
	bad := startCamera(t, "rtsp://admin:"+secret+"x@"+srv.Addr+"/live", nil)
	refused := startCamera(t, "rtsp://admin:"+secret+"@"+testenv.FreeAddr(t)+"/live", nil)
	waitState(t, good, camera.StateOnline, 5*time.Second)
	reported := func(h *harness) func() bool {
		return func() bool { st := h.cam.Status(); return st.Reconnects >= 1 && st.Reason != "connecting" }
	}
	waitFor(t, 3*time.Second, "auth failure reported", reported(bad))
	waitFor(t, 3*time.Second, "refusal reported", reported(refused))
	if st := bad.cam.Status(); st.State != camera.StateOffline || !strings.Contains(st.Reason, "401") {
		t.Errorf("wrong password: %s %q", st.State, st.Reason)
	}
	for name, h := range map[string]*harness{"good": good, "bad": bad, "refused": refused} {
		logs := h.logs.String()
		if !strings.Contains(logs, "url=") || !strings.Contains(logs, "admin") {
			t.Errorf("%s: logs do not name the camera URL user: %s", name, logs)
		}
		if strings.Contains(logs, secret) {
			t.Errorf("%s: password in logs:\n%s", name, logs)
		}
		for _, st := range append(h.statuses(), h.cam.Status()) {
			if strings.Contains(st.Reason, secret) {
				t.Errorf("%s: password in status reason %q", name, st.Reason)
			}
		}
	}
}

func TestClipAndSnapshot(t *testing.T) {
	for _, codec := range []string{"H264", "H265"} {
		t.Run(codec, func(t *testing.T) { testClipAndSnapshot(t, codec) })
	}
}

func testClipAndSnapshot(t *testing.T, codec string) {
	srv := camtest.StartServer(t)
	srv.AddStream("live", codec, clip(t, codec, 0), 20)
	h := startCamera(t, srv.URL("live"), func(c *camera.Camera) { c.PreRoll = 2 * time.Second })
	if _, err := h.cam.Snapshot(context.Background()); err == nil {
		// Possible only if a key frame already arrived; fine either way.
		t.Log("snapshot before connect succeeded")
	}
	waitState(t, h, camera.StateOnline, 5*time.Second)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	end := start.Add(1500 * time.Millisecond)
	if err := h.cam.WaitUntil(ctx, end); err != nil {
		t.Fatal(err)
	}
	if time.Now().Before(end) {
		t.Errorf("WaitUntil returned early")
	}
	aus, params := h.cam.Clip(start.Add(-time.Second), end)
	if len(aus) < 20 || !aus[0].Key {
		t.Fatalf("clip: %d units, first key %v", len(aus), len(aus) > 0 && aus[0].Key)
	}
	if params.Codec != codec || len(params.SPS) == 0 || len(params.PPS) == 0 || params.Width != 640 || codec == "H265" && len(params.VPS) == 0 {
		t.Errorf("params %+v", params)
	}
	for i := 1; i < len(aus); i++ {
		if aus[i].At.Before(aus[i-1].At) || aus[i].At.After(end) {
			t.Fatalf("unit %d out of order or after the end", i)
		}
	}
	// The ring holds about PreRoll (plus at most one GOP to start at a key frame).
	all, _ := h.cam.Clip(time.Time{}, time.Now())
	if span := all[len(all)-1].At.Sub(all[0].At); span > 2*time.Second+600*time.Millisecond {
		t.Errorf("ring spans %v, pre-roll 2s with 0.5s GOPs", span)
	}
	jpg, err := h.cam.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(bytes.NewReader(jpg))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 640 || b.Dy() != 480 {
		t.Errorf("snapshot %v, want full 640x480", b)
	}
}

func TestIdleKeyframes(t *testing.T) {
	srv := camtest.StartServer(t)
	srv.AddStream("live", "H264", clip(t, "H264", 0), 20) // key frame every 10 units
	// The footage moves, which the size wake would rightly take for change:
	// this test is about the key-frame mode itself (the wake: TestIdleWake).
	h := startCamera(t, srv.URL("live"), func(c *camera.Camera) { c.IdleKeyframes, c.WakeSigmas = 300*time.Millisecond, -1 })
	waitState(t, h, camera.StateOnline, 5*time.Second)
	waitFor(t, 3*time.Second, "idle key-frame mode", func() bool { return h.cam.Status().KeyframesOnly })
	time.Sleep(200 * time.Millisecond)
	a := h.cam.Status()
	time.Sleep(1500 * time.Millisecond)
	b := h.cam.Status()
	in, dec := b.FramesIn-a.FramesIn, b.FramesDecoded-a.FramesDecoded
	if in < 20 || dec*10 > in+20 || dec == 0 {
		t.Errorf("idle: %d in, %d decoded; want about one in ten", in, dec)
	}
	if b.FramesSkipped == 0 {
		t.Errorf("skipped not counted")
	}
	h.cam.SetMotion(true)
	time.Sleep(400 * time.Millisecond) // Status is refreshed every 250ms
	a = h.cam.Status()
	time.Sleep(time.Second)
	b = h.cam.Status()
	in, dec = b.FramesIn-a.FramesIn, b.FramesDecoded-a.FramesDecoded
	if b.KeyframesOnly || dec+2 < in {
		t.Errorf("motion: %d in, %d decoded, key-frame mode %v", in, dec, b.KeyframesOnly)
	}
	if b.DecodeErrors != 0 || b.FramesDropped > a.FramesDropped || b.FramesSkipped > a.FramesSkipped {
		t.Errorf("resume from idle: %d errors, %d dropped", b.DecodeErrors, b.FramesDropped-a.FramesDropped)
	}
}

// TestClosingServer: a server that accepts and hangs up at once.
func TestClosingServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	h := startCamera(t, "rtsp://"+l.Addr().String()+"/x", nil)
	var st camera.Status
	waitFor(t, 3*time.Second, "reconnects with a reason", func() bool {
		st = h.cam.Status()
		return st.Reconnects >= 2 && st.Reason != "connecting"
	})
	if st.State != camera.StateOffline || !strings.Contains(st.Reason, "describe") {
		t.Errorf("status %s %q", st.State, st.Reason)
	}
}

// TestMetricsSharedRegistry: cameras register per-camera series in one
// registry, a duplicate id is refused, and Close unregisters.
func TestMetricsSharedRegistry(t *testing.T) {
	srv := camtest.StartServer(t)
	srv.AddStream("live", "H264", clip(t, "H264", 0), 20)
	reg := prometheus.NewRegistry()
	a := startCamera(t, srv.URL("live"), func(c *camera.Camera) { c.ID, c.Registerer = "a", reg })
	startCamera(t, srv.URL("live"), func(c *camera.Camera) { c.ID, c.Registerer = "b", reg })
	waitState(t, a, camera.StateOnline, 5*time.Second)
	dup := &camera.Camera{ID: "a", URL: srv.URL("live"), Out: frames.NewLatest(), Registerer: reg, Logger: discardLogger}
	defer dup.Out.Close()
	if err := dup.Start(context.Background()); err == nil {
		dup.Close()
		t.Fatal("duplicate camera id registered")
	}
	count := func(name string) int {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == name {
				return len(mf.GetMetric())
			}
		}
		return 0
	}
	if n := count("lanewatch_camera_frames_decoded_total"); n != 2 {
		t.Errorf("%d frames_decoded series, want 2", n)
	}
	a.cam.Close()
	if n := count("lanewatch_camera_frames_decoded_total"); n != 1 {
		t.Errorf("%d series after Close, want 1", n)
	}
}

// With batched reads a batch's frames are decoded together, yet their times
// must still be the stream's: 40 ms apart at 25 fps, not a burst.
func TestBatchedReadsKeepStreamTimes(t *testing.T) {
	srv := camtest.StartServer(t)
	srv.AddStream("live", "H264", clip(t, "H264", 0), 25)
	h := startCamera(t, srv.URL("live"), func(c *camera.Camera) { c.ReadBatch = 200 * time.Millisecond })
	waitState(t, h, camera.StateOnline, 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := h.cam.WaitUntil(ctx, start.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	aus, _ := h.cam.Clip(start, time.Now())
	// The clip starts at the key frame before start, which may lie in the
	// session's first batch: its frames came in before the stream's clock
	// was anchored and are squeezed together. Judge the units from start on.
	for len(aus) > 0 && aus[0].At.Before(start) {
		aus = aus[1:]
	}
	if len(aus) < 30 {
		t.Fatalf("%d units in 2 s at 25 fps", len(aus))
	}
	bursts := 0
	for i := 1; i < len(aus); i++ {
		dAt, dPTS := aus[i].At.Sub(aus[i-1].At), aus[i].PTS-aus[i-1].PTS
		if dPTS != 40*time.Millisecond {
			t.Fatalf("unit %d: PTS step %v", i, dPTS)
		}
		// Re-anchoring on an earlier-read frame may shorten a step a little.
		if dAt < 30*time.Millisecond || dAt > 50*time.Millisecond {
			bursts++
			t.Logf("unit %d: %v after the previous one", i, dAt)
		}
	}
	if bursts > 2 {
		t.Errorf("%d of %d units not 40 ms apart in wall-clock time", bursts, len(aus)-1)
	}
}
