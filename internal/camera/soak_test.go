//go:build soak

package camera_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/camera"
	"github.com/lanewatch/lanewatch/internal/frames"
)

// TestSoak16 runs 16 simulated 720p cameras at 10 fps over loopback (the
// server in a child process) and prints the gateway's CPU share of the
// machine, RSS per camera and the frame accounting:
//
//	go test -tags soak -run TestSoak16 -v ./internal/camera/
//
// LANEWATCH_SOAK_DURATION sets the measured time (default 30s),
// LANEWATCH_SOAK_READ_BATCH the cameras' ReadBatch (default: the camera
// default; -1s reads packet by packet).
func TestSoak16(t *testing.T) {
	const cams, fps = 16, 10
	dur := 30 * time.Second
	if d, err := time.ParseDuration(os.Getenv("LANEWATCH_SOAK_DURATION")); err == nil {
		dur = d
	}
	batch, _ := time.ParseDuration(os.Getenv("LANEWATCH_SOAK_READ_BATCH"))
	clip := clip720p(t, fps)
	runtime.GC()
	rss0 := rssBytes(t)
	srv := startServerProc(t, clip, cams, fps)
	hs := make([]*camera.Camera, cams)
	outs := make([]*frames.Latest, cams)
	for i := range hs {
		outs[i] = frames.NewLatest()
		hs[i] = &camera.Camera{ID: fmt.Sprintf("cam%d", i), URL: srv.URL(i), DetectWidth: 640, NominalFPS: fps,
			IdleKeyframes: -1, ReadBatch: batch, Out: outs[i], Logger: discardLogger}
		if err := hs[i].Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer outs[i].Close()
		defer hs[i].Close()
	}
	// An analysis loop per camera taking every frame it can, as the gateway does.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range outs {
		go func(out *frames.Latest, cam *camera.Camera) {
			m := newMat()
			defer m.Close()
			var seq uint64
			for {
				info, err := out.Next(ctx, seq, &m)
				if err != nil {
					return
				}
				seq = info.Seq
				cam.MarkAnalyzed()
			}
		}(outs[i], hs[i])
	}
	deadline := time.Now().Add(15 * time.Second)
	for _, c := range hs {
		for c.Status().FramesDecoded == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s never decoded: %+v", c.ID, c.Status())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	time.Sleep(3 * time.Second) // warm-up: allocations, sws contexts, steady GC

	// The window starts and ends with the cameras paused and everything in
	// flight delivered, so that every unit sent in it must be received.
	drain := func() []camera.Status {
		prev := statuses(hs)
		for end := time.Now().Add(10 * time.Second); time.Now().Before(end); {
			time.Sleep(300 * time.Millisecond)
			cur := statuses(hs)
			if same(prev, cur) {
				return cur
			}
			prev = cur
		}
		t.Fatalf("cameras still receiving 10s after the server paused")
		return nil
	}
	sent0 := srv.Do(t, "stall")
	st0 := drain()
	srv.Do(t, "go")
	cpu0, wall0, cs0 := cpuNow(), time.Now(), contextSwitches()
	time.Sleep(dur)
	cpu1, wall1, cs1 := cpuNow(), time.Now(), contextSwitches()
	rss1 := rssBytes(t)
	for _, c := range hs {
		if st := c.Status(); st.State != camera.StateOnline {
			t.Errorf("%s: %s %q", st.ID, st.State, st.Reason)
		}
	}
	sent1 := srv.Do(t, "stall")
	st1 := drain()

	cpuPct := 100 * (cpu1 - cpu0).Seconds() / (wall1.Sub(wall0).Seconds() * float64(runtime.NumCPU()))
	rssPerCam := float64(rss1-rss0) / cams / (1 << 20)
	var in, dec, sent uint64
	for i := range hs {
		a, b := st0[i], st1[i]
		in += b.FramesIn - a.FramesIn
		dec += b.FramesDecoded - a.FramesDecoded
		sent += sent1[i] - sent0[i]
		if b.DecodeErrors != 0 || b.FramesDropped != 0 || b.PacketsLost != 0 {
			t.Errorf("%s: errors %d dropped %d lost %d", b.ID, b.DecodeErrors, b.FramesDropped, b.PacketsLost)
		}
		// Every access unit received is decoded (none skipped: idle mode is
		// off); one may be between the two counters as we read them.
		if acc := b.FramesDecoded + b.FramesSkipped + b.FramesDropped; b.FramesIn != acc && b.FramesIn != acc+1 {
			t.Errorf("%s: in %d != decoded %d + skipped %d + dropped %d", b.ID, b.FramesIn, b.FramesDecoded, b.FramesSkipped, b.FramesDropped)
		}
	}
	fmt.Printf("soak: %d cameras 720p@%dfps for %v on %d CPUs: CPU %.1f%% of the machine, RSS %.1f MB per camera, "+
		"frames sent %d received %d decoded %d (%.1f fps per camera), %.1f context switches per frame, read batch %v\n",
		cams, fps, dur, runtime.NumCPU(), cpuPct, rssPerCam, sent, in, dec, float64(dec)/wall1.Sub(wall0).Seconds()/cams,
		float64(cs1-cs0)/float64(max(dec, 1)), hs[0].ReadBatch)
	if sent != in {
		t.Errorf("frames sent %d, received %d", sent, in)
	}
	if cpuPct >= 60 {
		t.Errorf("CPU %.1f%% of the machine, target < 60%%", cpuPct)
	}
	if rssPerCam >= 40 {
		t.Errorf("RSS %.1f MB per camera, target < 40 MB", rssPerCam)
	}
}

func statuses(cs []*camera.Camera) []camera.Status {
	out := make([]camera.Status, len(cs))
	for i, c := range cs {
		out[i] = c.Status()
	}
	return out
}

// same reports whether no camera received anything between two samples.
func same(a, b []camera.Status) bool {
	for i := range a {
		if a[i].FramesIn != b[i].FramesIn {
			return false
		}
	}
	return true
}
