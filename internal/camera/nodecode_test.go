package camera_test

import (
	"bytes"
	"context"
	"image/jpeg"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/camera"
	"github.com/lanewatch/lanewatch/internal/camera/camtest"
)

type countSink struct{ units, keys atomic.Int64 }

func (s *countSink) WriteAU(au camera.AU, p *camera.Params) {
	s.units.Add(1)
	if p != nil && p.Width == 640 && p.Height == 480 {
		s.keys.Add(1)
	}
}

// A main stream read without decoding (its analysis runs on a sub-stream):
// nothing is decoded, yet the ring, the sinks, the size (from the SPS) and
// full-resolution snapshots all work.
func TestNoDecodeMainStream(t *testing.T) {
	for _, codec := range []string{"H264", "H265"} {
		t.Run(codec, func(t *testing.T) {
			srv := camtest.StartServer(t)
			srv.AddStream("main", codec, clip(t, codec, 0), 20)
			sink := &countSink{}
			cam := &camera.Camera{ID: "main", URL: srv.URL("main"), NoDecode: true, Sinks: []camera.Sink{sink},
				ReadTimeout: time.Second, StatusWindow: time.Second, Logger: slog.New(slog.DiscardHandler)}
			if err := cam.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			defer cam.Close()
			waitFor(t, 5*time.Second, "online with frames", func() bool {
				st := cam.Status()
				return st.State == camera.StateOnline && st.FramesIn > 20
			})
			st := cam.Status()
			if st.FramesDecoded != 0 || st.Width != 640 || st.Height != 480 {
				t.Errorf("status: %d decoded, %dx%d; want 0 decoded, 640x480 from the SPS", st.FramesDecoded, st.Width, st.Height)
			}
			if sink.units.Load() < 20 || sink.keys.Load() == 0 {
				t.Errorf("sink got %d units, %d key frames with the size", sink.units.Load(), sink.keys.Load())
			}
			_, p := cam.Clip(time.Now().Add(-time.Second), time.Now())
			if p.Width != 640 || p.Height != 480 || len(p.SPS) == 0 {
				t.Errorf("clip params %dx%d", p.Width, p.Height)
			}
			jpg, err := cam.Snapshot(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			img, err := jpeg.Decode(bytes.NewReader(jpg))
			if err != nil || img.Bounds().Dx() != 640 {
				t.Fatalf("snapshot: %v %v", err, img)
			}
		})
	}
}
