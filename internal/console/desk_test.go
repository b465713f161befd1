package console_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/console"
	"github.com/lanewatch/lanewatch/internal/incidents"
)

// The wall pages back through history with before= (the last id shown) and
// filters by source camera or gate and time range.
func TestIncidentHistoryPaging(t *testing.T) {
	e := newEnv(t)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	for i := range 5 {
		inc := sampleIncident("inc-"+string(rune('a'+i)), incidents.Medium)
		inc.StartedAt, inc.UpdatedAt = base.Add(time.Duration(i)*time.Minute), base.Add(time.Duration(i)*time.Minute)
		if i%2 == 1 {
			inc.Source = incidents.Source{Gate: "north", Camera: "gate-north"}
		}
		e.incs.Put(inc, nil, nil)
	}
	vic := e.login(t, "vic")
	ids := func(q string) string {
		t.Helper()
		resp, body := vic.do("GET", "/api/incidents"+q, nil)
		var list []incidents.Incident
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
