package gateway_test

import (
	"strings"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/camera/camtest"
)

type streamView struct {
	Name   string `json:"name"`
	State  string `json:"state"`
	Reason string `json:"reason"`
	Width  int    `json:"width"`
}

type cameraView struct {
	ID          string       `json:"id"`
	State       string       `json:"state"`
	Reason      string       `json:"reason"`
	FPSDecoded  float64      `json:"fps_decoded"`
	FPSAnalyzed float64      `json:"fps_analyzed"`
	Streams     []streamView `json:"streams"`
}

func lawn(t *testing.T, s *site) cameraView {
	var list []cameraView
	getJSON(t, s, "/api/cameras", viewerToken, &list)
	for _, c := range list {
		if c.ID == "lawn" {
			return c
		}
	}
	t.Fatal("no lawn camera")
	return cameraView{}
}

// A camera analysed on its sub-stream: both streams in its status; the
// sub-stream dying while the main lives degrades the camera (snapshots
// still come from the main stream) and analysis resumes when it returns.
func TestSubStreamForAnalysis(t *testing.T) {
	if testing.Short() {
		t.Skip("real cameras")
	}
	subAUs := camtest.Clip(t, camtest.ClipSpec{Codec: "H264", Width: 320, Seconds: 3, GOP: 10})
	sub := camtest.StartServer(t)
	sub.AddStream("sub", "H264", subAUs, 10)
	s := startSite(t, siteOpts{Camera: true, SubURL: sub.URL("sub")})

	var c cameraView
	eventually(t, "both streams online and the sub-stream analysed", 30*time.Second, func() bool {
		c = lawn(t, s)
		return c.State == "online" && c.FPSAnalyzed > 0 && len(c.Streams) == 2 &&
			c.Streams[0].State == "online" && c.Streams[1].State == "online"
	}, func() { t.Logf("camera: %+v", c) })
	if c.Streams[0].Name != "main" || c.Streams[0].Width != 640 || c.Streams[1].Name != "sub" || c.Streams[1].Width != 320 {
		t.Fatalf("streams %+v: want main 640 wide, sub 320", c.Streams)
	}
	if c.FPSDecoded > 15 {
		t.Errorf("fps_decoded %.1f: only the 10 fps sub-stream should be decoded", c.FPSDecoded)
	}

	sub.Close()
	eventually(t, "degraded by the sub-stream", 15*time.Second, func() bool {
		c = lawn(t, s)
		return c.State == "degraded" && strings.Contains(c.Reason, "sub-stream") && c.Streams[0].State == "online"
	}, func() { t.Logf("camera: %+v", c) })
	eventually(t, "a full-resolution snapshot from the main stream while the sub is down", 10*time.Second, func() bool {
		resp := s.api(t, "GET", "/api/cameras/lawn/snapshot.jpg", viewerToken, "")
		b := mustBody(t, resp)
		return resp.StatusCode == 200 && len(b) > 1000
	})

	sub2 := camtest.StartServerAt(t, sub.Addr, "", "")
	sub2.AddStream("sub", "H264", subAUs, 10)
	before := s.Gateway.Cameras.AnalysedFrames("lawn")
	eventually(t, "online again and analysing", 40*time.Second, func() bool {
		c = lawn(t, s)
		return c.State == "online" && s.Gateway.Cameras.AnalysedFrames("lawn") > before+5
	}, func() { t.Logf("camera: %+v", c) })
}
