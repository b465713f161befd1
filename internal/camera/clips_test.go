package camera_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/avfile"
	"github.com/lanewatch/lanewatch/internal/camera"
	"github.com/lanewatch/lanewatch/internal/camera/camtest"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/incidents"
)

// clipRig stands in for the incident engine and the evidence store (both
// inside the gateway: the camera package must not depend on them).
type clipRig struct {
	dir      string
	changes  chan incidents.Change
	mu       sync.Mutex
	attached []string
}

func (r *clipRig) Subscribe() (<-chan incidents.Change, func()) { return r.changes, func() {} }

// Closing: the engine stands for one that runs on, so nothing is owed at
// Close (a nil channel is never ready).
func (r *clipRig) Closing() <-chan struct{} { return nil }

func (r *clipRig) AttachClip(id string) (incident.Incident, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attached = append(r.attached, id)
	return incident.Incident{ID: id}, nil
}

func (r *clipRig) PutClip(id string, write func(path string) error) error {
	return write(filepath.Join(r.dir, id+".mp4"))
}

func (r *clipRig) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.attached...)
}

// A video incident of a camera gets a clip from the camera's ring, from
// the pre-roll to the post-roll, muxed without re-encoding and attached;
// camera_offline incidents and other cameras' get none; Close does not
// wait for a post-roll still to come.
func TestClipsForIncidents(t *testing.T) {
	srv := camtest.StartServer(t)
	srv.AddStream("s", "H264", clip(t, "H264", 320), 20)
	h := startCamera(t, srv.URL("s"), nil)
	waitState(t, h, camera.StateOnline, 5*time.Second)
	time.Sleep(time.Second) // pre-roll

	rig := &clipRig{dir: t.TempDir(), changes: make(chan incidents.Change, 8)}
	cl := &camera.Clips{Incidents: rig, Store: rig, Source: func(id string) (camera.ClipSource, bool) {
		return camera.ClipSource{Camera: h.cam}, id == "cam1"
	},
		PreRoll: 800 * time.Millisecond, PostRoll: 300 * time.Millisecond, Logger: h.cam.Logger}
	if err := cl.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, inc := range []incident.Incident{
		{ID: "offline", Type: incident.CameraOffline, StartedAt: now, Source: incident.Source{Camera: "cam1"}},
		{ID: "other", Type: incident.Intrusion, StartedAt: now, Source: incident.Source{Camera: "cam9"}},
		{ID: "video", Type: incident.Intrusion, StartedAt: now, Source: incident.Source{Camera: "cam1"}},
	} {
		rig.changes <- incidents.Change{Kind: incidents.Opened, Incident: inc}
	}
	waitFor(t, 5*time.Second, "the clip attached", func() bool { return len(rig.got()) == 1 })
	if got := rig.got(); got[0] != "video" {
		t.Fatalf("attached %v, want [video]", got)
	}
	rd, err := avfile.Open(filepath.Join(rig.dir, "video.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	if rd.Width() != 320 || rd.Duration() < time.Second {
		t.Errorf("clip %dx%d, %v long; want 320 wide, pre-roll + post-roll", rd.Width(), rd.Height(), rd.Duration())
	}
	for _, id := range []string{"offline", "other"} {
		if _, err := os.Stat(filepath.Join(rig.dir, id+".mp4")); err == nil {
			t.Errorf("%s got a clip", id)
		}
	}
	// Close cuts a post-roll wait short (this one is an hour away: the ring
	// holds nothing of it, so no clip).
	rig.changes <- incidents.Change{Kind: incidents.Opened, Incident: incident.Incident{ID: "later", Type: incident.Intrusion,
		StartedAt: time.Now().Add(time.Hour), Source: incident.Source{Camera: "cam1"}}}
	time.Sleep(50 * time.Millisecond)
	done := make(chan struct{})
	go func() { cl.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("Close waited for a post-roll")
	}
}
