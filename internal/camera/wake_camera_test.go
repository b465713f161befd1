package camera_test

import (
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/camera"
	"github.com/lanewatch/lanewatch/internal/camera/camtest"
	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/frames"
)

// TestIdleWake: an idle camera on a still scene stays on key frames (no
// wake); when the scene starts to move, its P-frames are far bigger, and
// the camera leaves idle mode mid-GOP on one of them, decoding from the ring's key frame so that nothing is dropped or
// broken. With the wake off, the same change leaves it on key frames.
func TestIdleWake(t *testing.T) {
	spec := camtest.ClipSpec{Seconds: 4, GOP: 40} // 2 s GOPs at 20 fps
	still := camtest.Clip(t, camtest.ClipSpec{Seconds: 4, GOP: 40, Still: true})
	moving := camtest.Clip(t, spec)
	for _, tc := range []struct {
		name   string
		sigmas float64
		wake   bool
	}{{"wake", 0, true}, {"off", -1, false}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := camtest.StartServer(t)
			p := srv.AddStream("live", "H264", still, 20)
			h := startCamera(t, srv.URL("live"), func(c *camera.Camera) {
				c.IdleKeyframes, c.WakeSigmas = 300*time.Millisecond, tc.sigmas
			})
			waitState(t, h, camera.StateOnline, 5*time.Second)
			waitFor(t, 3*time.Second, "idle key-frame mode", func() bool { return h.cam.Status().KeyframesOnly })
			time.Sleep(2500 * time.Millisecond) // more than a GOP of still P-frames
			a := h.cam.Status()
			if a.IdleWakes != 0 {
				t.Fatalf("%d wakes on a still scene", a.IdleWakes)
			}
			p.Switch(moving)
			time.Sleep(1500 * time.Millisecond)
			b := h.cam.Status()
			in, dec := b.FramesIn-a.FramesIn, b.FramesDecoded-a.FramesDecoded
			t.Logf("after the scene moved: %d in, %d decoded, %d wakes", in, dec, b.IdleWakes)
			if b.DecodeErrors != 0 || b.FramesDropped != a.FramesDropped {
				t.Errorf("%d decode errors, %d dropped", b.DecodeErrors, b.FramesDropped-a.FramesDropped)
			}
			if !tc.wake {
				if b.IdleWakes != 0 || dec > 2 {
					t.Errorf("wake off: %d wakes, %d of %d decoded", b.IdleWakes, dec, in)
				}
				return
			}
			// Woken on the first P-frame judged after the key frame (the
			// first afterKey are not), decoded from the ring on: at most
			// those few frames are not handed over.
			if b.IdleWakes == 0 || dec+5 < in {
				t.Errorf("%d wakes, %d of %d frames decoded after the scene moved", b.IdleWakes, dec, in)
			}
		})
	}
}

// A camera with a falling_object zone decodes every frame whatever
// keyframes_when_idle says; the others keep idle mode.
func TestFromConfigFallingObjectNeverIdles(t *testing.T) {
	out := frames.NewLatest()
	defer out.Close()
	base := config.Camera{ID: "c", Detect: config.Detect{KeyframesWhenIdle: 30 * time.Second}}
	facade := base
	facade.Zones = []config.Zone{{ID: "yard", Rule: "intrusion"}, {ID: "facade", Rule: "falling_object"}}
	yard := base
	yard.Zones = []config.Zone{{ID: "yard", Rule: "intrusion"}}
	if got := camera.FromConfig(facade, out).IdleKeyframes; got >= 0 {
		t.Errorf("falling_object camera: IdleKeyframes %v, want negative (never idle)", got)
	}
	if got := camera.FromConfig(yard, out).IdleKeyframes; got != 30*time.Second {
		t.Errorf("intrusion camera: IdleKeyframes %v, want 30s", got)
	}
}
