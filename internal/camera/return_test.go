package camera_test

import (
	"strings"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/camera"
	"github.com/lanewatch/lanewatch/internal/camera/camtest"
	"github.com/lanewatch/lanewatch/internal/testenv"
)

// outage runs a camera (mod adjusts it) against a server that goes away for
// away, checks with premise what the camera's state is just before the
// server returns, and fails unless the camera is online within 5 s of the
// return.
func outage(t *testing.T, mod func(*camera.Camera), away time.Duration, premise func(camera.Status)) *harness {
	t.Helper()
	srv := camtest.StartServer(t)
	aus := clip(t, "H264", 0)
	srv.AddStream("live", "H264", aus, 20)
	h := startCamera(t, srv.URL("live"), mod)
	waitState(t, h, camera.StateOnline, 5*time.Second)
	srv.Close()
	waitState(t, h, camera.StateOffline, 3*time.Second)
	time.Sleep(away)
	st := h.cam.Status()
	t.Logf("after %v away: %d reconnects, back-off %v", away, st.Reconnects, st.Backoff)
	premise(st)
	srv2 := camtest.StartServerAt(t, srv.Addr, "", "")
	srv2.AddStream("live", "H264", aus, 20)
	back := time.Now()
	waitState(t, h, camera.StateOnline, 5*time.Second)
	t.Logf("online %v after the server returned", time.Since(back).Round(time.Millisecond))
	return h
}

// A camera that comes back is online within 5 s whatever its back-off has
// grown to: here the back-off is pinned at the default cap (30 s, where a
// long outage leaves it), so without the reachability probe the camera
// would wait 15–30 s after the server returned. The durations are the
// gateway's defaults (probe every second, 30 s cap); only the outage is
// short, since the back-off, not the outage, is what delays the return
// (the full 40-s outage: TestSoakBackWithin5sAfter40sOutage, -tags soak).
func TestBackWithinSecondsAfterOutage(t *testing.T) {
	h := outage(t, func(c *camera.Camera) {
		c.BackoffMin, c.BackoffMax = camera.DefaultBackoffMax, camera.DefaultBackoffMax
	}, 3*time.Second, func(st camera.Status) {
		if st.Backoff < camera.DefaultBackoffMax/2 {
			t.Fatalf("back-off %v, want the cap's range (the test's premise)", st.Backoff)
		}
	})
	if !strings.Contains(h.logs.String(), "camera reachable again") {
		t.Error("no log of the reachability probe")
	}
}

// A host that answers TCP but refuses the stream (wrong password) keeps its
// back-off: the probe gets through every time, which is not a return.
func TestRefusingHostKeepsBackoff(t *testing.T) {
	srv := camtest.StartServerAt(t, testenv.FreeAddr(t), "admin", "right")
	srv.AddStream("live", "H264", clip(t, "H264", 0), 20)
	url := strings.Replace(srv.URL("live"), "admin:right@", "admin:wrong@", 1)
	h := startCamera(t, url, func(c *camera.Camera) {
		c.BackoffMin, c.BackoffMax, c.ProbeEvery = 200*time.Millisecond, 30*time.Second, 50*time.Millisecond
	})
	time.Sleep(4 * time.Second)
	st := h.cam.Status()
	// 0.2, 0.4, 0.8, 1.6, 3.2 s (each jittered to [d/2, d]): at most 5
	// attempts in 4 s; a probe that reset the back-off would make ~80.
	if st.Reconnects > 5 || st.Backoff < 400*time.Millisecond {
		t.Errorf("%d reconnects, back-off %v in 4 s: the back-off was reset for a host refusing the stream", st.Reconnects, st.Backoff)
	}
	if strings.Contains(h.logs.String(), "camera reachable again") {
		t.Error("a refusing host was taken for a returning one")
	}
}
