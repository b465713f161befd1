package camera_test

import (
	"sync"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/camera"
	"github.com/lanewatch/lanewatch/internal/camera/camtest"
)

// keySink records the key flags of what it gets and the size on key frames.
type keySink struct {
	mu    sync.Mutex
	keys  []bool
	width int
	block chan struct{}
}

func (s *keySink) WriteAU(au camera.AU, p *camera.Params) {
	if s.block != nil {
		<-s.block
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append(s.keys, au.Key)
	if p != nil && s.width == 0 {
		s.width = p.Width
	}
}

func (s *keySink) n() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys)
}

// A sink attached to a running camera gets its access units from a key
// frame on, with the picture size there, while a sink that blocks for good
// stalls neither it nor the decoder; the blocked one's losses are counted,
// and a removed sink gets nothing more.
func TestAddSinkToRunningCamera(t *testing.T) {
	srv := camtest.StartServer(t)
	srv.AddStream("s", "H264", clip(t, "H264", 320), 20)
	stuck := &keySink{block: make(chan struct{})}
	defer close(stuck.block)
	h := startCamera(t, srv.URL("s"), func(c *camera.Camera) {
		c.Sinks = []camera.Sink{stuck}
		c.SinkQueue = 8
	})
	waitState(t, h, camera.StateOnline, 5*time.Second)
	late := &keySink{}
	remove, err := h.cam.AddSink("late", late)
	if err != nil {
		t.Fatal(err)
	}
	decoded := h.cam.Status().FramesDecoded
	waitFor(t, 5*time.Second, "40 units in the late sink", func() bool { return late.n() >= 40 })
	late.mu.Lock()
	first, width := late.keys[0], late.width
	late.mu.Unlock()
	if !first || width != 320 {
		t.Errorf("late sink started with key=%v, width %d; want a key frame, 320", first, width)
	}
	if st := h.cam.Status(); st.FramesDecoded < decoded+30 {
		t.Errorf("decoding stalled behind a blocked sink: %d -> %d", decoded, st.FramesDecoded)
	}
	var stuckStats camera.SinkStats
	for _, s := range h.cam.SinkStats() {
		if s.Name == "late" && s.Dropped != 0 {
			t.Errorf("late sink lost %d units", s.Dropped)
		}
		if s.Name != "late" {
			stuckStats = s
		}
	}
	if stuckStats.Dropped == 0 || stuckStats.Name != "0-keysink" {
		t.Errorf("blocked sink: %+v, want drops counted", stuckStats)
	}
	remove()
	n := late.n()
	time.Sleep(200 * time.Millisecond)
	if late.n() != n {
		t.Errorf("removed sink got %d more units", late.n()-n)
	}
}
