package gateway_test

import (
	"testing"
	"time"
)

// A continuously recorded camera: finished segments are listed and served,
// each a playable MP4 from the camera's stream at its own pace.
func TestContinuousRecording(t *testing.T) {
	if testing.Short() {
		t.Skip("real camera")
	}
	s := startSite(t, siteOpts{Camera: true, Record: "continuous", Extra: "recording: {segment: 10s}\n"})
	eventually(t, "a finished segment", 60*time.Second, func() bool {
		return len(finishedSegments(t, s)) > 0
	})
	seg := finishedSegments(t, s)[0]
	resp := s.api(t, "GET", seg.URL, viewerToken, "")
	body := mustBody(t, resp)
	if resp.StatusCode != 200 || resp.Header.Get("Accept-Ranges") != "bytes" {
		t.Fatalf("segment: %d, Accept-Ranges %q", resp.StatusCode, resp.Header.Get("Accept-Ranges"))
	}
	codec, dur, n := probeMP4(t, body)
	span := seg.End.Sub(seg.Start).Seconds()
	// 10 s up to the next key frame (2 s GOP) at 10 fps, at the camera's pace.
	if codec != "h264" || n < 95 || n > 125 || dur < 0.09*float64(n) || dur > 0.11*float64(n) || span < dur-0.5 || span > dur+0.5 {
		t.Fatalf("segment: %s, %.2f s, %d frames; listed span %.2f s", codec, dur, n, span)
	}
	// The recorder is one of the camera's sinks (camera/stream.go) and kept
	// up; the pre-roll ring holds the stream, outside the Go heap.
	m := scrape(t, s)
	if v, ok := m[`lanewatch_camera_sink_dropped_total{camera="lawn",sink="recorder"}`]; !ok || v != 0 {
		t.Errorf("recorder sink: dropped %v (present %v)", v, ok)
	}
	if held, res := m[`lanewatch_camera_ring_bytes{camera="lawn"}`], m[`lanewatch_camera_ring_resident_bytes{camera="lawn"}`]; held <= 0 || res < held {
		t.Errorf("ring: %v bytes held, %v resident", held, res)
	}
}

type segmentView struct {
	ID    string    `json:"id"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	Live  bool      `json:"live"`
	URL   string    `json:"url"`
}

func finishedSegments(t *testing.T, s *site) []segmentView {
	var list []segmentView
	getJSON(t, s, "/api/cameras/lawn/recordings", viewerToken, &list)
	var out []segmentView
	for _, v := range list {
		if !v.Live {
			out = append(out, v)
		}
	}
	return out
}
