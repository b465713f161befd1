package console_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/console"
	"github.com/lanewatch/lanewatch/internal/recording"
)

func TestRecordingsAPI(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "gate-north")
	os.MkdirAll(dir, 0o750)
	base := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	body := make([]byte, 10000)
	for i := range body {
		body[i] = byte(i)
	}
	var ids []string
	for i := 0; i < 3; i++ {
		s, e := base.Add(time.Duration(i)*time.Minute), base.Add(time.Duration(i+1)*time.Minute)
		id := fmt.Sprintf("%d-%d", s.UnixMilli(), e.UnixMilli())
		ids = append(ids, id)
		os.WriteFile(filepath.Join(dir, id+".mp4"), body, 0o600)
	}
	e := newEnv(t, func(s *console.Server) { s.Recordings = recording.Store{Root: root} })
	c := e.token(t, viewerToken)

	from := base.Add(90 * time.Second).Format(time.RFC3339)
	resp, b := c.do("GET", "/api/cameras/gate-north/recordings?from="+from, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("list: %d %s", resp.StatusCode, b)
	}
	var list []console.RecordingView
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != ids[1] || list[1].URL != "/api/cameras/gate-north/recordings/"+ids[2]+".mp4" {
		t.Fatalf("list from 01:30 = %s", b)
	}

	// A player seeks with a range request.
	resp, b = c.doHeaders("GET", list[0].URL, nil, map[string]string{"Range": "bytes=1000-1099"})
	if resp.StatusCode != http.StatusPartialContent || len(b) != 100 || b[0] != byte(1000%256) ||
		resp.Header.Get("Content-Type") != "video/mp4" {
		t.Fatalf("range: %d, %d bytes, first %d, type %q", resp.StatusCode, len(b), b[0], resp.Header.Get("Content-Type"))
	}

	for _, tc := range []struct {
		path string
		code int
	}{
		{"/api/cameras/lawn/recordings", 200}, // a camera with nothing recorded: []
		{"/api/cameras/nope/recordings", 404},
		{"/api/cameras/gate-north/recordings/" + ids[0], 404},                 // no .mp4
		{"/api/cameras/gate-north/recordings/..%2f..%2fsecret.mp4", 404},      // not an id
		{"/api/cameras/gate-north/recordings/1-2.mp4", 404},                   // no such segment
		{"/api/cameras/gate-north/recordings?from=yesterday", 400},            // bad time
		{"/api/cameras/gate-north/recordings?from=2026-01-01T00:00:00Z", 400}, // span over 7 days
		{"/api/cameras/gate-north/recordings?camera=x", 400},                  // unknown parameter
	} {
		resp, b := c.do("GET", tc.path, nil)
		if resp.StatusCode != tc.code {
			t.Errorf("GET %s: %d %s, want %d", tc.path, resp.StatusCode, b, tc.code)
		} else if tc.code != 200 {
			errorBody(t, resp, b)
		}
	}
	if resp, _ := e.anon(t).do("GET", list[0].URL, nil); resp.StatusCode != 401 {
		t.Errorf("anonymous segment: %d, want 401", resp.StatusCode)
	}
}

// A player reading a segment at its own pace outlasts the write timeout;
// without the per-write deadline the download would be cut at it.
func TestRecordingOutlastsWriteTimeout(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "lawn"), 0o750)
	body := make([]byte, 16<<20)
	id := fmt.Sprintf("%d-%d", time.Now().Add(-time.Hour).UnixMilli(), time.Now().Add(-59*time.Minute).UnixMilli())
	os.WriteFile(filepath.Join(root, "lawn", id+".mp4"), body, 0o600)
	e := newEnv(t, func(s *console.Server) {
		s.Recordings = recording.Store{Root: root}
		s.Limits.WriteTimeout = 300 * time.Millisecond
		s.Limits.StreamStall = 5 * time.Second
	})
	req, _ := http.NewRequest("GET", e.base+"/api/cameras/lawn/recordings/"+id+".mp4", nil)
	req.Header.Set("Authorization", "Bearer "+viewerToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	start := time.Now()
	n, buf := 0, make([]byte, 256<<10)
	for {
		k, err := resp.Body.Read(buf)
		n += k
		if err != nil {
			break
		}
		time.Sleep(40 * time.Millisecond) // a player's pace
	}
	if n != len(body) {
		t.Fatalf("read %d of %d bytes in %v (write timeout 300 ms)", n, len(body), time.Since(start))
	}
	if time.Since(start) < 300*time.Millisecond {
		t.Logf("read faster than the write timeout (%v): the test proved nothing this time", time.Since(start))
	}
}
