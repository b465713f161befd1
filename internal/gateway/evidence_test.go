package gateway_test

import (
	"fmt"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/lanewatch/lanewatch/internal/incident"
)

// A video incident gets a clip: pre-roll and post-roll from the camera's ring
// of encoded frames, muxed to MP4 without re-encoding, attached to the
// incident and served by the console.
func TestVideoIncidentGetsClip(t *testing.T) {
	if testing.Short() {
		t.Skip("real camera")
	}
	s := startSite(t, siteOpts{Camera: true, Extra: "evidence: {pre_roll: 2s, post_roll: 2s}\n"})
	body := incidentClip(t, s)
	codec, dur, n := probeMP4(t, body)
	// 2 s before and after at 10 fps, from the key frame before the start;
	// played at the camera's pace (its frames 100 ms apart, not squeezed).
	if codec != "h264" || n < 20 || dur < 0.08*float64(n) || dur > 0.12*float64(n) {
		t.Fatalf("clip: %s, %.2f s, %d frames", codec, dur, n)
	}
}

// incidentClip raises a video rule hit on the lawn camera once it streams
// and returns the incident's clip as served by the console.
func incidentClip(t *testing.T, s *site) []byte {
	t.Helper()
	waitCameraFrames(t, s)
	// A video rule hit on the camera (detection itself is covered by the
	// analytics tests and make eval; this test is about the clip path).
	s.Gateway.Incidents.Raise(incident.Signal{Type: incident.Intrusion, At: time.Now(),
		Source: incident.Source{Camera: "lawn", Zone: "test-zone"}, Title: "clip test"})
	var id string
	var seen []string
	eventually(t, "the video incident's clip", 60*time.Second, func() bool {
		var list []map[string]any
		getJSON(t, s, "/api/incidents", viewerToken, &list)
		seen = seen[:0]
		for _, inc := range list {
			src, _ := inc["source"].(map[string]any)
			ev, _ := inc["evidence"].(map[string]any)
			seen = append(seen, fmt.Sprintf("%v/%v clip=%v", inc["type"], src["camera"], ev["clip"]))
			if src["zone"] == "test-zone" && ev["clip"] != nil && ev["clip"] != "" {
				id = inc["id"].(string)
				return true
			}
		}
		return false
	}, func() { t.Logf("incidents seen: %v", seen) })
	resp := s.api(t, "GET", "/api/incidents/"+id+"/clip.mp4", viewerToken, "")
	body := mustBody(t, resp)
	if resp.StatusCode != 200 || len(body) < 1000 {
		t.Fatalf("clip: %d, %d bytes", resp.StatusCode, len(body))
	}
	return body
}

// waitCameraFrames waits until the lawn camera's ring holds frames: until it
// serves a full-resolution snapshot.
func waitCameraFrames(t *testing.T, s *site) {
	t.Helper()
	eventually(t, "camera frames", 30*time.Second, func() bool {
		resp := s.api(t, "GET", "/api/cameras/lawn/snapshot.jpg", viewerToken, "")
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

// A camera with a privacy mask gets a clip too: decoded, masked and encoded
// again, so the masked corner is black in every frame.
func TestMaskedCameraGetsMaskedClip(t *testing.T) {
	if testing.Short() {
		t.Skip("real camera")
	}
	s := startSite(t, siteOpts{Camera: true, Privacy: true, Extra: "evidence: {pre_roll: 2s, post_roll: 2s}\n"})
	body := incidentClip(t, s)
	codec, dur, n := probeMP4(t, body)
	if codec != "h264" || n < 20 || dur < 0.08*float64(n) || dur > 0.12*float64(n) {
		t.Fatalf("masked clip: %s, %.2f s, %d frames", codec, dur, n)
	}
	path := filepath.Join(t.TempDir(), "masked.mp4")
	os.WriteFile(path, body, 0o600)
	vc, err := gocv.VideoCaptureFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	img := gocv.NewMat()
	defer img.Close()
	frames := 0
	for vc.Read(&img) && !img.Empty() {
		frames++
		if !checkMaskedCorner(t, img, fmt.Sprintf("clip frame %d", frames)) {
			break
		}
	}
	if frames != n {
		t.Fatalf("read %d frames, ffprobe counted %d", frames, n)
	}
}

// probeMP4 reads an MP4's codec, duration and decoded frame count with ffprobe.
func probeMP4(t *testing.T, body []byte) (codec string, dur float64, frames int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "probe.mp4")
	os.WriteFile(path, body, 0o600)
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,nb_read_frames,duration", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	parts := strings.Split(strings.TrimSpace(string(out)), ",")
	if len(parts) < 3 {
		t.Fatalf("ffprobe: %q", out)
	}
	frames, _ = strconv.Atoi(parts[len(parts)-1])
	dur, _ = strconv.ParseFloat(parts[1], 64)
	return parts[0], dur, frames
}

// Privacy masks are black in every picture that leaves the gateway,
// including the full-resolution snapshot that comes from the camera's stream.
func TestPrivacyMaskOnSnapshots(t *testing.T) {
	if testing.Short() {
		t.Skip("real camera")
	}
	s := startSite(t, siteOpts{Camera: true, Privacy: true})
	for _, q := range []string{"", "?annotate=1"} {
		var img gocv.Mat
		eventually(t, "snapshot"+q, 20*time.Second, func() bool {
			resp := s.api(t, "GET", "/api/cameras/lawn/snapshot.jpg"+q, viewerToken, "")
			b := mustBody(t, resp)
			if resp.StatusCode != 200 {
				return false
			}
			m, err := gocv.IMDecode(b, gocv.IMReadColor)
			if err != nil || m.Empty() {
				return false
			}
			img = m
			return true
		})
		checkMaskedCorner(t, img, "snapshot"+q)
		img.Close()
	}
}

// checkMaskedCorner checks that the top-left corner (the test's privacy
// mask) is black while the middle of the picture is not.
func checkMaskedCorner(t *testing.T, img gocv.Mat, what string) bool {
	t.Helper()
	w, h := img.Cols(), img.Rows()
	inside := img.Region(imageRect(w/40, h/40, w/5, h/5))
	outside := img.Region(imageRect(w/2, h/2, w*3/4, h*3/4))
	in, out := inside.Mean(), outside.Mean()
	inside.Close()
	outside.Close()
	if in.Val1+in.Val2+in.Val3 > 15 {
		t.Errorf("%s: masked corner not black (mean %.1f %.1f %.1f)", what, in.Val1, in.Val2, in.Val3)
		return false
	}
	if out.Val1+out.Val2+out.Val3 < 60 {
		t.Errorf("%s: the unmasked picture is dark too (mean %.1f); the check proves nothing", what, out.Val1)
		return false
	}
	return true
}

func imageRect(x0, y0, x1, y1 int) image.Rectangle { return image.Rect(x0, y0, x1, y1) }
