package console_test

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/console"
	"github.com/lanewatch/lanewatch/internal/incident"
)

// The wall pages back through history with before= (the last id shown) and
// filters by source camera or gate and time range.
func TestIncidentHistoryPaging(t *testing.T) {
	e := newEnv(t)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	for i := range 5 {
		inc := sampleIncident("inc-"+string(rune('a'+i)), incident.Medium)
		inc.StartedAt, inc.UpdatedAt = base.Add(time.Duration(i)*time.Minute), base.Add(time.Duration(i)*time.Minute)
		if i%2 == 1 {
			inc.Source = incident.Source{Gate: "north", Camera: "gate-north"}
		}
		e.incs.Put(inc, nil, nil)
	}
	vic := e.login(t, "vic")
	ids := func(q string) string {
		t.Helper()
		resp, body := vic.do("GET", "/api/incidents"+q, nil)
		var list []incident.Incident
		if err := json.Unmarshal(body, &list); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", q, resp.StatusCode, body)
		}
		var out []string
		for _, inc := range list {
			out = append(out, inc.ID)
		}
		return strings.Join(out, ",")
	}
	cases := []struct{ q, want string }{
		{"?limit=2", "inc-e,inc-d"},
		{"?limit=2&before=inc-d", "inc-c,inc-b"},
		{"?limit=2&before=inc-b", "inc-a"},
		{"?before=inc-a", ""},
		{"?camera=lawn", "inc-e,inc-c,inc-a"},
		{"?gate=north", "inc-d,inc-b"},
		{"?gate=north&before=inc-d", "inc-b"},
		{"?camera=gate-north&gate=north&limit=1", "inc-d"},
		{"?until=" + url.QueryEscape(base.Add(90*time.Second).Format(time.RFC3339)), "inc-b,inc-a"},
		{"?since=" + url.QueryEscape(base.Add(90*time.Second).Format(time.RFC3339)) +
			"&until=" + url.QueryEscape(base.Add(150*time.Second).Format(time.RFC3339)), "inc-c"},
	}
	for _, tc := range cases {
		if got := ids(tc.q); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.q, got, tc.want)
		}
	}
	for _, q := range []string{"?camera=Lawn%20Cam", "?gate=%3Cb%3E", "?before=a%2Fb", "?until=noon",
		"?since=2026-11-26T10:00:00Z&until=2026-11-25T10:00:00Z", "?camera=lawn&camera=gate-north"} {
		resp, body := vic.do("GET", "/api/incidents"+q, nil)
		if resp.StatusCode != 400 {
			t.Errorf("%s: %d %s, want 400", q, resp.StatusCode, body)
			continue
		}
		errorBody(t, resp, body)
	}
}

// A passage the vehicle log records reaches the wall's event stream.
func TestPassageEvent(t *testing.T) {
	e := newEnv(t)
	events, _ := openSSE(t, e.token(t, viewerToken))
	at := time.Now().Truncate(time.Second)
	e.srv.PublishPassage(console.Passage{ID: "p-7", Site: "s", Gate: "north", Direction: "in", Plate: "沪B99999",
		Class: "visitor", At: at, Snapshot: "/api/vehicles/passages/p-7/snapshot.jpg"})
	ev := nextEvent(t, events)
	var got console.Passage
	if err := json.Unmarshal([]byte(ev.data), &got); err != nil || ev.kind != "passage" || got.ID != "p-7" ||
		got.Plate != "沪B99999" || !got.At.Equal(at) || got.Snapshot == "" {
		t.Errorf("event %s %s (%v)", ev.kind, ev.data, err)
	}
}

// GET /api/gates lists each gate's cameras: the pop-up of a gate incident
// shows the first one live.
func TestGatesListCameras(t *testing.T) {
	e := newEnv(t, func(s *console.Server) {
		s.GateList = func() []console.GateInfo {
			return []console.GateInfo{{ID: "north", Name: "North gate", Cameras: []string{"gate-north"}}}
		}
	})
	_, body := e.login(t, "vic").do("GET", "/api/gates", nil)
	if want := `[{"id":"north","name":"North gate","cameras":["gate-north"]}]`; strings.TrimSpace(string(body)) != want {
		t.Errorf("gates %s, want %s", body, want)
	}
}

// planPNG writes a 1200x800 PNG plan and returns its path and bytes.
func planPNG(t testing.TB) (string, []byte) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 1200, 800))
	draw.Draw(img, img.Bounds(), &image.Uniform{color.RGBA{60, 70, 60, 255}}, image.Point{}, draw.Src)
	for _, r := range []image.Rectangle{image.Rect(100, 100, 500, 350), image.Rect(650, 120, 1100, 380), image.Rect(100, 480, 1100, 700)} {
		draw.Draw(img, r, &image.Uniform{color.RGBA{150, 150, 140, 255}}, image.Point{}, draw.Src)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "plan.png")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, buf.Bytes()
}

func withPlan(path string) envOpt {
	return func(s *console.Server) {
		s.SitePlan = &console.SitePlan{ImagePath: path,
			Cameras: map[string][2]float64{"lawn": {0.3, 0.35}, "gate-north": {0.8, 0.1}},
			Gates:   map[string][2]float64{"north": {0.85, 0.05}}}
	}
}

func TestSitePlanAPI(t *testing.T) {
	path, img := planPNG(t)
	e := newEnv(t, withPlan(path))
	vic := e.login(t, "vic")
	resp, body := vic.do("GET", "/api/site/plan", nil)
	want := `{"image":"/api/site/plan.png","cameras":{"gate-north":[0.8,0.1],"lawn":[0.3,0.35]},"gates":{"north":[0.85,0.05]}}`
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != want {
		t.Errorf("plan: %d %s, want %s", resp.StatusCode, body, want)
	}
	resp, body = vic.do("GET", "/api/site/plan.png", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" || !bytes.Equal(body, img) {
		t.Errorf("plan.png: %d %s, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}
	for _, p := range []string{"/api/site/plan.jpg", "/api/site/other.png", "/api/site/..%2f..%2fetc%2fpasswd"} {
		if resp, body := vic.do("GET", p, nil); resp.StatusCode != 404 {
			t.Errorf("%s: %d %s, want 404", p, resp.StatusCode, body)
		}
	}
	if resp, _ := e.anon(t).do("GET", "/api/site/plan.png", nil); resp.StatusCode != 401 {
		t.Errorf("plan image without login: %d", resp.StatusCode)
	}
	// The file replaced by something else after the start: a clear 500, no crash.
	os.WriteFile(path, []byte("<svg/>"), 0o644)
	if resp, body := vic.do("GET", "/api/site/plan", nil); resp.StatusCode != 500 {
		t.Errorf("plan after the image went bad: %d %s", resp.StatusCode, body)
	}
	// No plan configured.
	if resp, body := newEnv(t).login(t, "vic").do("GET", "/api/site/plan", nil); resp.StatusCode != 404 || errorBody(t, resp, body) != "no site plan configured" {
		t.Errorf("no plan: %d %s", resp.StatusCode, body)
	}
}
