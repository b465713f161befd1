package console_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/console"
	"github.com/lanewatch/lanewatch/internal/incident"
	"gocv.io/x/gocv"
)

// sseEvent is one parsed Server-Sent Event.
type sseEvent struct {
	kind string
	data string
}

// openSSE connects c to /api/events and returns parsed events and comments.
func openSSE(t *testing.T, c *client) (<-chan sseEvent, <-chan string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", c.base+"/api/events", nil)
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	resp, err := (&http.Client{Jar: c.hc.Jar}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events, comments := make(chan sseEvent, 100), make(chan string, 100)
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.kind != "" {
					events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
				comments <- strings.TrimSpace(line[1:])
			case strings.HasPrefix(line, "event: "):
				ev.kind = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[6:]
			}
		}
	}()
	if got := <-comments; got != "connected" {
		t.Fatalf("first comment %q", got)
	}
	return events, comments
}

func nextEvent(t *testing.T, ch <-chan sseEvent) sseEvent {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5 s")
	}
	return sseEvent{}
}

func TestSSE(t *testing.T) {
	e := newEnv(t, func(s *console.Server) { s.Heartbeat = 100 * time.Millisecond })
	events, comments := openSSE(t, e.login(t, "vic"))
	wall, _ := openSSE(t, e.token(t, viewerToken))

	inc := sampleIncident("inc-9", incident.Critical)
	e.incs.Put(inc, nil, nil)
	for _, ch := range []<-chan sseEvent{events, wall} {
		ev := nextEvent(t, ch)
		var got incident.Incident
		if err := json.Unmarshal([]byte(ev.data), &got); err != nil || ev.kind != "incident" || got.ID != "inc-9" ||
			got.Severity != incident.Critical || got.State != incident.Open {
			t.Errorf("event %s %s (%v)", ev.kind, ev.data, err)
		}
	}
	// An ack through the API reaches the feed as the incident's new state.
	if resp, body := e.token(t, operatorToken).do("POST", "/api/incidents/inc-9/ack", nil); resp.StatusCode != 200 {
		t.Fatalf("ack: %d %s", resp.StatusCode, body)
	}
	ev := nextEvent(t, events)
	if ev.kind != "incident" || !strings.Contains(ev.data, `"state":"acknowledged"`) {
		t.Errorf("after ack: %s %s", ev.kind, ev.data)
	}
	e.cams.SetStateReason("lawn", "offline", "dial rtsp://admin:s3cret@10.0.0.21/stream1: connection refused")
	ev = nextEvent(t, events)
	var cs map[string]any
	_ = json.Unmarshal([]byte(ev.data), &cs)
	if ev.kind != "camera" || cs["id"] != "lawn" || cs["state"] != "offline" || cs["since"] == nil {
		t.Errorf("camera event %s %s", ev.kind, ev.data)
	}
	if strings.Contains(ev.data, "s3cret") || !strings.Contains(ev.data, "REDACTED") {
		t.Errorf("camera event leaks the camera password: %s", ev.data)
	}
	_, body := e.login(t, "vic").do("GET", "/api/cameras", nil)
	if strings.Contains(string(body), "s3cret") || !strings.Contains(string(body), "connection refused") {
		t.Errorf("/api/cameras leaks the camera password: %s", body)
	}
	select {
	case c := <-comments:
		if c != "heartbeat" {
			t.Errorf("comment %q", c)
		}
	case <-time.After(2 * time.Second):
		t.Error("no heartbeat")
	}
}

// readParts reads n JPEG parts of an MJPEG stream. It returns an error
// rather than failing the test, as it runs on goroutines of its own.
func readParts(resp *http.Response, n int) ([][]byte, error) {
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/x-mixed-replace" {
		return nil, fmt.Errorf("content type %q", resp.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	var out [][]byte
	for len(out) < n {
		p, err := mr.NextPart()
		if err != nil {
			return out, fmt.Errorf("part %d: %w", len(out), err)
		}
		if p.Header.Get("Content-Type") != "image/jpeg" {
			return out, fmt.Errorf("part type %q", p.Header.Get("Content-Type"))
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return out, err
		}
		out = append(out, b)
	}
	return out, nil
}

func decodeJPEG(t *testing.T, b []byte) image.Point {
	t.Helper()
	m, err := gocv.IMDecode(b, gocv.IMReadColor)
	if err != nil || m.Empty() {
		t.Fatalf("not a JPEG (%d bytes): %v", len(b), err)
	}
	defer m.Close()
	return image.Pt(m.Cols(), m.Rows())
}

func TestMJPEGEncodesOncePerCamera(t *testing.T) {
	e := newEnv(t) // 10 fps, width 320
	vic := e.login(t, "vic")
	const viewers = 3
	ctx, cancel := context.WithCancel(context.Background())
	var resps []*http.Response
	for i := 0; i < viewers; i++ {
		req, _ := http.NewRequestWithContext(ctx, "GET", e.base+"/api/cameras/lawn/mjpeg", nil)
		resp, err := vic.hc.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("viewer %d: %v %v", i, err, resp)
		}
		resps = append(resps, resp)
	}
	before := e.cams.AnnotatedCalls()
	start := time.Now()
	var wg sync.WaitGroup
	frames := make([][][]byte, viewers)
	errs := make([]error, viewers)
	for i, resp := range resps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			frames[i], errs[i] = readParts(resp, 8)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("viewer %d: %v", i, err)
		}
	}
	calls, elapsed := e.cams.AnnotatedCalls()-before, time.Since(start)
	// One pull (and encode) per tick for the camera, not one per viewer.
	maxCalls := int(elapsed.Seconds()*10) + 3
	if calls > maxCalls {
		t.Errorf("%d Annotated calls in %v for %d viewers at 10 fps: encoding per viewer?", calls, elapsed, viewers)
	}
	for i := range frames {
		if sz := decodeJPEG(t, frames[i][len(frames[i])-1]); sz != image.Pt(320, 180) {
			t.Errorf("viewer %d frame %v, want scaled to 320x180", i, sz)
		}
	}
	// Viewers got the very same encoded bytes.
	common := 0
	for _, a := range frames[0] {
		for _, b := range frames[1] {
			if bytes.Equal(a, b) {
				common++
			}
		}
	}
	if common < 4 {
		t.Errorf("viewers 0 and 1 share %d identical frames of 8", common)
	}
	_, body := vic.do("GET", "/metrics", nil)
	if !strings.Contains(string(body), "lanewatch_console_mjpeg_viewers 3") {
		t.Error("metrics do not show 3 viewers")
	}
	// The last viewer leaving stops the broadcaster.
	cancel()
	for _, r := range resps {
		r.Body.Close()
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		_, body := vic.do("GET", "/metrics", nil)
		if strings.Contains(string(body), "lanewatch_console_mjpeg_viewers 0") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("viewers not released")
		}
		time.Sleep(20 * time.Millisecond)
	}
	n := e.cams.AnnotatedCalls()
	time.Sleep(400 * time.Millisecond)
	if extra := e.cams.AnnotatedCalls() - n; extra > 1 {
		t.Errorf("broadcaster still pulling frames without viewers: %d calls", extra)
	}
}

func TestMJPEGSlowViewerDoesNotBlockOthers(t *testing.T) {
	e := newEnv(t)
	vic := e.login(t, "vic")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The slow viewer connects and never reads.
	slowReq, _ := http.NewRequestWithContext(ctx, "GET", e.base+"/api/cameras/lawn/mjpeg", nil)
	slow, err := vic.hc.Do(slowReq)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Body.Close()
	time.Sleep(time.Second)
	fastReq, _ := http.NewRequestWithContext(ctx, "GET", e.base+"/api/cameras/lawn/mjpeg", nil)
	fast, err := vic.hc.Do(fastReq)
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Body.Close()
	start := time.Now()
	if _, err := readParts(fast, 10); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("10 frames at 10 fps took %v with a stalled viewer present", d)
	}
}

func TestMJPEGOfflineAndUnknown(t *testing.T) {
	e := newEnv(t)
	vic := e.login(t, "vic")
	if resp, body := vic.do("GET", "/api/cameras/nope/mjpeg", nil); resp.StatusCode != 404 {
		t.Errorf("unknown camera: %d", resp.StatusCode)
	} else {
		errorBody(t, resp, body)
	}
	if resp, _ := vic.do("GET", "/api/cameras/..%2Fetc/snapshot.jpg", nil); resp.StatusCode != 404 {
		t.Errorf("odd camera id: %d", resp.StatusCode)
	}
	resp, raw := vic.do("GET", "/api/cameras/lawn/snapshot.jpg", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("raw snapshot: %d", resp.StatusCode)
	}
	if sz := decodeJPEG(t, raw); sz != image.Pt(640, 360) {
		t.Errorf("raw snapshot %v, want full 640x360", sz)
	}
	resp, ann := vic.do("GET", "/api/cameras/lawn/snapshot.jpg?annotate=1", nil)
	if resp.StatusCode != 200 || decodeJPEG(t, ann) != image.Pt(320, 180) {
		t.Fatalf("annotated snapshot: %d", resp.StatusCode)
	}
	// Polls share the broadcaster's encoding: 20 polls in 1 s at 10 fps
	// encode about 10 frames, not 20.
	before := e.cams.AnnotatedCalls()
	start := time.Now()
	for i := 0; i < 20; i++ {
		if resp, _ := vic.do("GET", "/api/cameras/lawn/snapshot.jpg?annotate=1", nil); resp.StatusCode != 200 {
			t.Fatalf("poll %d: %d", i, resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if calls, max := e.cams.AnnotatedCalls()-before, int(time.Since(start).Seconds()*10)+2; calls > max {
		t.Errorf("%d frames pulled for 20 polls, want at most %d", calls, max)
	}
	e.cams.SetState("lawn", "offline")
	time.Sleep(1100 * time.Millisecond) // the last frame goes stale
	resp, body := vic.do("GET", "/api/cameras/lawn/snapshot.jpg?annotate=1", nil)
	if resp.StatusCode != 503 {
		t.Errorf("annotated snapshot of an offline camera: %d", resp.StatusCode)
	}
	errorBody(t, resp, body)
}
